//! Duplicate detection in three stages, cheapest first:
//! 1. identical file bytes — already one sample with several sources (the id is their blake3);
//! 2. identical normalised pixels — the same image re-encoded or renamed;
//! 3. perceptual hashes within a Hamming radius — re-encoded JPEG, small shifts, brightness,
//!    resizes — found by multi-index hashing, never by comparing all pairs, for each of two
//!    hashes (`phash::Hashes`), and checked on the pixels (`verify::is_copy`: gray, and in
//!    colour for a pair the gray check refuses narrowly).
//!
//! Groups are the connected components (union-find). The kept sample of a group is its first
//! certified member, else its first imported one; unreviewed members become `duplicate`.
//! A sample a person decided (certified, rejected, marked a duplicate by hand, or restored
//! from a duplicate) keeps its state and link whatever dedup finds: dedup only proposes, and
//! reports how many such samples it left alone.

pub mod mih;
pub mod phash;
pub mod quality;
pub mod verify;

use crate::store::{DupLink, Id, Sample, Stage, State, Store};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Default Hamming radius for stage 3, chosen with `cargo bench --bench pipeline` on both
/// demos' truth (see README "Dedup"): at radius 2 the numerals lost a sixth of their near
/// copies and textured colour images almost half (a copy's hash flips up to 10 bits there);
/// with candidates bounded per image (`MOST_CANDIDATES`) the wider radius costs pixel checks
/// in proportion to the images, not to the square of a look-alike cluster.
pub const DEFAULT_RADIUS: u32 = 10;

/// Minimal union-find with path halving and union by size.
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }

    /// Components with more than one member, each ascending, ordered by first member.
    pub fn groups(&mut self) -> Vec<Vec<usize>> {
        let n = self.parent.len();
        let mut by_root: HashMap<u32, Vec<usize>> = HashMap::new();
        for i in 0..n {
            let root = self.find(i as u32);
            by_root.entry(root).or_default().push(i);
        }
        let mut groups: Vec<Vec<usize>> = by_root.into_values().filter(|g| g.len() > 1).collect();
        groups.sort_by_key(|g| g[0]);
        groups
    }
}

/// How strict stage 3 is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Params {
    /// Hamming radius of the perceptual-hash candidate search.
    pub radius: u32,
    /// Minimum pixel similarity for a candidate to count (see `verify::same_picture`).
    pub min_similarity: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            radius: DEFAULT_RADIUS,
            min_similarity: verify::DEFAULT_MIN_SIMILARITY,
        }
    }
}

/// Candidate pairs (indices into the inputs, `i < j`).
pub struct Candidates {
    /// Stage 2: identical normalised pixels; certain.
    pub same_pixels: Vec<(usize, usize)>,
    /// Stage 3: perceptual hashes within the radius; to be verified on pixels.
    pub near: Vec<(usize, usize, u32)>,
}

/// Stage-3 candidates kept per image and hash: its nearest hashes within the radius (see
/// `mih::pairs_within`), so the pixel checks grow with the images, not with the square of a
/// cluster of look-alikes.
pub const MOST_CANDIDATES: usize = 8;

/// Stage-2 pairs, and stage-3 pairs within `radius` by any of `hashes` (one slice per kind of
/// hash, each as long as `pixel_hash`); a pair two hashes find is listed once, at its smaller
/// distance.
pub fn candidates(pixel_hash: &[Id], hashes: &[&[u64]], radius: u32) -> Candidates {
    let mut first: HashMap<Id, usize> = HashMap::with_capacity(pixel_hash.len());
    let mut reps: Vec<usize> = Vec::new();
    let mut same_pixels = Vec::new();
    for (i, h) in pixel_hash.iter().enumerate() {
        match first.get(h) {
            Some(&f) => same_pixels.push((f, i)),
            None => {
                first.insert(*h, i);
                reps.push(i);
            }
        }
    }
    // One representative per pixel class: its copies follow it through union-find.
    let mut near: Vec<(usize, usize, u32)> = Vec::new();
    for h in hashes {
        let rep_hashes: Vec<u64> = reps.iter().map(|&i| h[i]).collect();
        near.extend(
            mih::pairs_within(&rep_hashes, radius, MOST_CANDIDATES)
                .into_iter()
                .map(|(a, b, d)| (reps[a as usize], reps[b as usize], d)),
        );
    }
    near.sort_unstable();
    near.dedup_by_key(|&mut (a, b, _)| (a, b));
    Candidates { same_pixels, near }
}

/// Connected components of `pairs` over `n` items with more than one member, each in
/// ascending order, ordered by first member.
pub fn components(n: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Vec<Vec<usize>> {
    let mut uf = UnionFind::new(n);
    for (a, b) in pairs {
        uf.union(a as u32, b as u32);
    }
    uf.groups()
}

/// Duplicate groups from hashes and gray pixels (`gray(i)` is only asked for candidates).
pub fn group_indices(
    pixel_hash: &[Id],
    phash: &[&[u64]],
    params: Params,
    gray: &(dyn Fn(usize) -> Vec<u8> + Sync),
    side: usize,
) -> Vec<Vec<usize>> {
    let c = candidates(pixel_hash, phash, params.radius);
    let images = fetch(&c.near, side, &|i| Ok(gray(i)), &|i| i).expect("infallible");
    let no_colour = |_: usize| Ok(None);
    link(
        pixel_hash.len(),
        c,
        params.min_similarity,
        &images,
        &no_colour,
    )
    .expect("infallible")
    .0
}

/// A sample's RGB pixels for the colour check (`verify::same_colours`), `None` in a gray
/// store. Read only for the few pairs the gray check leaves to it, so they are not held.
type Colour<'a> = dyn Fn(usize) -> Result<Option<Vec<u8>>> + Sync + 'a;

/// Every sample named by a candidate pair, from its gray pixels (`side` x `side`), ready
/// for the pixel check. They are read in the order of `key` (the store's key of each):
/// at a million samples the pixels no longer fit sled's cache, and reads in key order
/// find the next one in the page the last one brought in.
fn fetch<K: Ord + Send>(
    near: &[(usize, usize, u32)],
    side: usize,
    gray: &(dyn Fn(usize) -> Result<Vec<u8>> + Sync),
    key: &(dyn Fn(usize) -> K + Sync),
) -> Result<HashMap<usize, verify::Picture>> {
    let mut needed: Vec<usize> = near.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    needed.sort_unstable();
    needed.dedup();
    needed.par_sort_by_cached_key(|&i| key(i));
    needed
        .par_iter()
        .map(|&i| Ok((i, verify::Picture::new(gray(i)?, side))))
        .collect()
}

/// Union the identical-pixel pairs, then the candidate pairs whose pixels are similar enough.
///
/// Candidates are taken closest first, a chunk at a time, and a pair whose two samples are
/// already in one group is not verified again: a cluster of k copies costs about k
/// verifications instead of k²/2.
fn link(
    n: usize,
    c: Candidates,
    min_similarity: f32,
    images: &HashMap<usize, verify::Picture>,
    colour: &Colour,
) -> Result<(Vec<Vec<usize>>, usize)> {
    let mut uf = UnionFind::new(n);
    for (a, b) in c.same_pixels {
        uf.union(a as u32, b as u32);
    }
    let mut near = c.near;
    near.sort_unstable_by_key(|&(a, b, d)| (d, a, b));
    let mut checked = 0;
    for chunk in near.chunks(4096) {
        let todo: Vec<(usize, usize)> = chunk
            .iter()
            .filter(|&&(a, b, _)| uf.find(a as u32) != uf.find(b as u32))
            .map(|&(a, b, _)| (a, b))
            .collect();
        checked += todo.len();
        let verified: Vec<Option<(usize, usize)>> = todo
            .into_par_iter()
            .map(|(a, b)| {
                let colours = || Ok([colour(a)?, colour(b)?]);
                let same = verify::is_copy(&images[&a], &images[&b], min_similarity, colours)?;
                Ok(same.then_some((a, b)))
            })
            .collect::<Result<_>>()?;
        for (a, b) in verified.into_iter().flatten() {
            uf.union(a as u32, b as u32);
        }
    }
    Ok((uf.groups(), checked))
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DedupReport {
    pub samples: usize,
    pub radius: u32,
    pub min_similarity: f32,
    /// Groups with more than one sample or more than one source.
    pub groups: usize,
    /// Extra sources with identical bytes (stage 1).
    pub byte_duplicates: usize,
    /// Non-kept samples with identical normalised pixels (stage 2).
    pub pixel_duplicates: usize,
    /// Non-kept samples tied by the perceptual stage (stage 3).
    pub perceptual_duplicates: usize,
    /// Samples newly moved to the `duplicate` state.
    pub marked: usize,
    /// Samples a previous run had marked that are no longer duplicates (back to unreviewed).
    pub released: usize,
    /// Samples a person decided that this run would otherwise have marked or released.
    pub left_alone: usize,
    /// Samples decided while dedup ran, and so left as they were.
    pub changed_meanwhile: usize,
    /// Groups whose members or sources disagree on the label.
    pub label_conflicts: usize,
    /// What the run cost, for the scale benchmark.
    pub cost: Cost,
}

/// What a dedup run cost: work done and wall seconds per phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Stage-3 candidate pairs (both hashes, each image's nearest).
    pub candidates: usize,
    /// Candidate pairs checked on the pixels (the others were already in one group).
    pub checked: usize,
    /// Of those, pairs the gray check left to the colour check (read again in colour).
    pub colour_checked: usize,
    /// Reading the sample records.
    pub read_s: f64,
    /// Both hashes of every sample.
    pub hash_s: f64,
    /// The candidate search (`mih`).
    pub search_s: f64,
    /// Loading the candidates' pixels.
    pub fetch_s: f64,
    /// The pixel checks and union-find.
    pub check_s: f64,
    /// Writing the changed records and the queue.
    pub write_s: f64,
}

/// Seconds since `*t`, and `*t` moved to now.
fn lap(t: &mut std::time::Instant) -> f64 {
    let now = std::time::Instant::now();
    let secs = (now - *t).as_secs_f64();
    *t = now;
    secs
}

/// A sample's RGB pixels for the colour check (`verify::is_copy`), `None` in a gray store
/// (or when they are missing: the pair is then refused).
pub fn colour_pixels(store: &Store, id: &Id, channels: u8) -> Result<Option<Vec<u8>>> {
    Ok(match channels {
        3 => store.pixels(id)?,
        _ => None,
    })
}

/// Luma of RGB pixels; gray pixels unchanged.
pub fn to_gray(px: &[u8], channels: u8) -> Vec<u8> {
    if channels == 3 {
        px.chunks_exact(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect()
    } else {
        px.to_vec()
    }
}

/// Stage and distance of `member` relative to `kept`.
pub fn relation(kept: &Sample, member: &Sample) -> (Stage, u32) {
    if member.id == kept.id {
        (Stage::Bytes, 0)
    } else if member.pixel_hash == kept.pixel_hash {
        (Stage::Pixels, 0)
    } else {
        (Stage::Perceptual, phash::hamming(kept.phash, member.phash))
    }
}

/// Each sample's two hashes, by kind (`phash::Hashes`): the plain one is computed from the
/// pixels for a record made before it was stored (and is the centred one when the pixels
/// are missing, so it adds no candidate).
pub fn hashes_of(store: &Store, samples: &[Sample]) -> Result<[Vec<u64>; 2]> {
    let (side, channels) = (store.meta().size as usize, store.meta().channels);
    let centred = samples.iter().map(|s| s.phash).collect();
    let plain = samples
        .par_iter()
        .map(|s| {
            if let Some(h) = s.phash_plain {
                return Ok(h);
            }
            let gray = to_gray(&store.pixels(&s.id)?.unwrap_or_default(), channels);
            Ok(if gray.len() == side * side {
                phash::hash(phash::HashKind::Dct, &gray, side)
            } else {
                s.phash
            })
        })
        .collect::<Result<_>>()?;
    Ok([centred, plain])
}

/// Find duplicate groups among all samples and write them to the store.
pub fn dedup(store: &Store, params: Params) -> Result<DedupReport> {
    let mut clock = std::time::Instant::now();
    let mut cost = Cost::default();
    let all = store.samples_by_seq()?;
    cost.read_s = lap(&mut clock);
    let pixel: Vec<Id> = all.iter().map(|s| s.pixel_hash).collect();
    let [centred, plain] = hashes_of(store, &all)?;
    cost.hash_s = lap(&mut clock);
    let (side, channels) = (store.meta().size as usize, store.meta().channels);
    let c = candidates(&pixel, &[&centred, &plain], params.radius);
    drop((centred, plain));
    cost.candidates = c.near.len();
    cost.search_s = lap(&mut clock);
    // Load the pixels of the stage-3 candidates only.
    let images = fetch(
        &c.near,
        side,
        &|i| {
            let px = store
                .pixels(&all[i].id)?
                .with_context(|| format!("pixels of sample {} are missing", all[i].id.short()))?;
            Ok(to_gray(&px, channels))
        },
        &|i| all[i].id,
    )?;
    cost.fetch_s = lap(&mut clock);
    let colour_reads = std::sync::atomic::AtomicUsize::new(0);
    let colour = |i: usize| -> Result<Option<Vec<u8>>> {
        colour_reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        colour_pixels(store, &all[i].id, channels)
    };
    let (mut groups, checked) = link(all.len(), c, params.min_similarity, &images, &colour)?;
    drop(images);
    cost.checked = checked;
    cost.colour_checked = colour_reads.into_inner() / 2;
    cost.check_s = lap(&mut clock);
    // A lone sample with several sources is a (stage 1) group of its own.
    let mut in_group = vec![false; all.len()];
    for g in &groups {
        for &i in g {
            in_group[i] = true;
        }
    }
    for (i, s) in all.iter().enumerate() {
        if !in_group[i] && s.sources.len() > 1 {
            groups.push(vec![i]);
        }
    }
    groups.sort_by_key(|g| g[0]);

    let mut report = DedupReport {
        samples: all.len(),
        radius: params.radius,
        min_similarity: params.min_similarity,
        groups: groups.len(),
        ..Default::default()
    };
    // Per sample: its group (0 for none) and whether this run ties it to the group's kept
    // sample; per group: the kept member and whether labels disagree. The new records are
    // made one at a time below — a second copy of every sample would double dedup's memory.
    let mut group_of = vec![0u32; all.len()];
    let mut kept_of: Vec<usize> = Vec::with_capacity(groups.len());
    let mut conflicted: Vec<bool> = Vec::with_capacity(groups.len());
    for (g, members) in groups.iter().enumerate() {
        // A sample a person marked as a duplicate or rejected is never the one kept.
        let kept = members
            .iter()
            .copied()
            .find(|&i| all[i].state.is_certified())
            .or_else(|| members.iter().copied().find(|&i| !all[i].human_decided()))
            .unwrap_or(members[0]);
        let mut labels: BTreeSet<Option<&str>> = BTreeSet::new();
        for &i in members {
            group_of[i] = g as u32 + 1;
            labels.insert(all[i].label.as_deref());
            for src in &all[i].sources {
                labels.insert(src.given.as_deref());
            }
        }
        report.label_conflicts += (labels.len() > 1) as usize;
        kept_of.push(kept);
        conflicted.push(labels.len() > 1);
    }
    drop(groups);
    let linked = |i: usize| group_of[i] != 0 && kept_of[group_of[i] as usize - 1] != i;
    let mut linked_ids: Vec<Id> = Vec::new();
    for (i, before) in all.iter().enumerate() {
        report.byte_duplicates += before.sources.len().saturating_sub(1);
        let mut after = before.clone();
        after.group = None;
        if !before.human_decided() {
            after.dup = None;
        }
        after.conflict = before.sources_disagree();
        if group_of[i] != 0 {
            let g = group_of[i] as usize - 1;
            after.group = Some(g as u64 + 1);
            after.conflict |= conflicted[g];
            if linked(i) && !before.human_decided() {
                let kept = &all[kept_of[g]];
                let (stage, distance) = relation(kept, before);
                match stage {
                    Stage::Pixels => report.pixel_duplicates += 1,
                    _ => report.perceptual_duplicates += 1,
                }
                after.dup = Some(DupLink {
                    of: kept.id,
                    stage,
                    distance,
                });
            }
        }
        let is_dup = after.dup.is_some();
        if before.human_decided() {
            // A person's decision stands: count what this run would have changed.
            let would_mark = linked(i) && before.state == State::Unreviewed;
            let would_release = !linked(i) && before.state == State::Duplicate;
            report.left_alone += (would_mark || would_release) as usize;
        } else if is_dup && after.state == State::Unreviewed {
            after.state = State::Duplicate;
        } else if !is_dup && after.state == State::Duplicate && before.dup.is_some() {
            after.state = State::Unreviewed;
        }
        // The duplicates queue: every sample tied to a kept one (by this run or by a
        // person), in import order.
        if linked(i) || after.dup.is_some() {
            linked_ids.push(after.id);
        }
        if after != *before {
            // A sample decided meanwhile (dedup may run beside the reviewer) is left as is.
            if !store.replace_sample(before, &after)? {
                report.changed_meanwhile += 1;
                continue;
            }
            report.marked +=
                (after.state == State::Duplicate && before.state != State::Duplicate) as usize;
            report.released +=
                (before.state == State::Duplicate && after.state == State::Unreviewed) as usize;
            if after.state != before.state {
                store.append_log(
                    Some(after.id),
                    "dedup",
                    Some(serde_json::json!({"state": before.state, "dup": before.dup})),
                    Some(serde_json::json!({"state": after.state, "dup": after.dup})),
                    None,
                )?;
            }
        }
    }
    store.put_queue(
        crate::store::QueueName::Duplicates,
        &crate::store::Queue::new(0, linked_ids),
    )?;
    store.append_log(
        None,
        "dedup",
        None,
        Some(serde_json::to_value(&report)?),
        None,
    )?;
    store.flush()?;
    cost.write_s = lap(&mut clock);
    report.cost = cost;
    Ok(report)
}

/// One row of `dups --csv`: one per source path of every sample in a duplicate group.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DupRow {
    pub path: String,
    pub group: u64,
    /// `kept` for the kept path, else the stage that ties it to the kept sample.
    pub stage: String,
    pub distance: u32,
    pub kept: bool,
}

/// The duplicate groups as the last `dedup` left them, kept path first in each group.
pub fn dup_rows(store: &Store) -> Result<Vec<DupRow>> {
    let mut by_group: HashMap<u64, Vec<Sample>> = HashMap::new();
    for s in store.samples() {
        let s = s?;
        if let Some(g) = s.group {
            by_group.entry(g).or_default().push(s);
        }
    }
    let mut gids: Vec<u64> = by_group.keys().copied().collect();
    gids.sort_unstable();
    let mut rows = Vec::new();
    for gid in gids {
        let mut members = by_group.remove(&gid).unwrap_or_default();
        members.sort_by_key(|s| s.seq);
        // The kept sample is the one the others point to (a group of one has none).
        let kept_id = members
            .iter()
            .find_map(|s| s.dup.map(|d| d.of))
            .unwrap_or(members[0].id);
        let kept_at = members.iter().position(|s| s.id == kept_id).unwrap_or(0);
        let kept = members.remove(kept_at);
        for (k, src) in kept.sources.iter().enumerate() {
            rows.push(DupRow {
                path: src.path.clone(),
                group: gid,
                stage: if k == 0 {
                    "kept".into()
                } else {
                    Stage::Bytes.name().into()
                },
                distance: 0,
                kept: k == 0,
            });
        }
        for m in &members {
            let (stage, distance) = relation(&kept, m);
            for src in &m.sources {
                rows.push(DupRow {
                    path: src.path.clone(),
                    group: gid,
                    stage: stage.name().into(),
                    distance,
                    kept: false,
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_radius_and_no_candidates_groups_only_identical_pixels() {
        let a = Id([1; 32]);
        let b = Id([2; 32]);
        let pixel = vec![a, b, a, b, Id([3; 32])];
        let ph = vec![0b1000, 0b1001, 0b1000, 0b1001, 0b0110];
        let params = Params {
            radius: 0,
            min_similarity: 0.0,
        };
        let flat = |_| vec![0u8; 16];
        assert_eq!(
            group_indices(&pixel, &[&ph], params, &flat, 4),
            vec![vec![0, 2], vec![1, 3]]
        );
    }

    #[test]
    fn near_candidates_need_verification() {
        let pixel: Vec<Id> = (0..3).map(|i| Id([i; 32])).collect();
        let ph = vec![0u64, 0b111, u64::MAX];
        let same = |_| (0..64).map(|v| (v * 37 % 251) as u8).collect::<Vec<u8>>();
        let p = Params {
            radius: 3,
            min_similarity: 0.9,
        };
        assert_eq!(group_indices(&pixel, &[&ph], p, &same, 8), vec![vec![0, 1]]);
        let p2 = Params { radius: 2, ..p };
        assert!(group_indices(&pixel, &[&ph], p2, &same, 8).is_empty());
        // Within the radius but different pixels: not a duplicate.
        let differ = |i: usize| {
            (0..64u64)
                .map(|v| ((v + 1) * (i as u64 + 3)).wrapping_mul(0x9E37_79B9_7F4A_7C15) as u8)
                .collect::<Vec<u8>>()
        };
        assert!(group_indices(&pixel, &[&ph], p, &differ, 8).is_empty());
    }

    #[test]
    fn candidates_come_from_either_hash_once() {
        let pixel: Vec<Id> = (0..3).map(|i| Id([i; 32])).collect();
        // 0-1 near by both hashes, 0-2 and 1-2 only by the second.
        let first = [0u64, 0b1, u64::MAX];
        let second = [0u64, 0b11, 0b111];
        let c = candidates(&pixel, &[&first], 3);
        assert_eq!(c.near, vec![(0, 1, 1)]);
        let c = candidates(&pixel, &[&first, &second], 3);
        assert_eq!(c.near, vec![(0, 1, 1), (0, 2, 3), (1, 2, 1)]);
    }

    #[test]
    fn union_find_components() {
        let mut uf = UnionFind::new(6);
        uf.union(0, 1);
        uf.union(2, 3);
        uf.union(1, 3);
        assert_eq!(uf.find(0), uf.find(2));
        assert_ne!(uf.find(4), uf.find(0));
    }
}
