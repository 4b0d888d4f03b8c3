//! Multi-index hashing: every pair of 64-bit hashes within a Hamming radius, without
//! comparing all pairs.
//!
//! The hash is cut into 4 bands of 16 bits. If two hashes differ in at most `r` bits, then
//! by pigeonhole some band differs in at most `r / 4` bits. So each band gets a table
//! (counting-sorted by band value), and a query looks up, in each band, the values within
//! `r / 4` flips of its own — nearest first, stopping once it holds the nearest it keeps
//! (see [`pairs_within`]); only those candidates get a full distance check.
//!
//! A band value shared by more than [`DENSE`] hashes is a cluster of look-alikes (smooth
//! product shots on white, a thousand plain "I"s): scanning it for every member costs the
//! square of its size — at a million images, hours. Such a bucket is kept sorted by the
//! rest of the hash, and a member looks only at the [`WINDOW`] hashes on either side of its
//! own place there, and only from its own bucket (not from the buckets a flip or two away).
//! A copy differs from its original in a few bits, so in some band it has the same value and
//! sits next to it in that band's order; a look-alike ten bits away may be passed over. Below
//! [`DENSE`] the search is exact.
//!
//! Norouzi et al. advise bands of about log2(n) bits (3 of 21 at a million hashes) so that
//! buckets stay near one hash each. Tried on the hashes of 1M generated photos it was twice
//! as slow as 4 of 16 (111 s, 57 s): photo hashes cluster, so the hashes compared fell by
//! only a quarter while the buckets looked up, C(21, s) instead of C(16, s) per band and
//! stage, rose 5.5 times.

use rayon::prelude::*;

const BANDS: usize = 4;
const BAND_BITS: u32 = 16;
/// Members above which a bucket is searched by window, not in full.
pub const DENSE: usize = 64;
/// Hashes looked at on either side of a member's place in a dense bucket.
pub const WINDOW: usize = 32;

/// The order of a dense bucket of `band`: the hash turned so that `band` leads (its bits are
/// the same throughout the bucket) and the others follow as bands `band - 1`, `band - 2`,
/// `band + 1`. So each band is the last of the order in exactly one other band's buckets: a
/// copy that differs from its original in one band only sits next to it in that bucket,
/// among the few that share the other three bands with it.
fn order(h: u64, band: usize) -> u64 {
    h.rotate_left(BAND_BITS * (BANDS - 1 - band) as u32)
}

struct BandTable {
    /// `start[v]..start[v + 1]` indexes `items` and `hashes` for band value `v`.
    start: Vec<u32>,
    /// The bucket members; a dense bucket sorted by `order`.
    items: Vec<u32>,
    /// The members' hashes, in the same places: a bucket is scanned in order rather than by
    /// jumping around the whole hash list, a cache miss per member at a million hashes (the
    /// search of 1M photos' hashes, both kinds: 50.8 s that way, 29.2 s this way; 100k:
    /// 2.4 s, 1.6 s).
    hashes: Vec<u64>,
}

impl BandTable {
    fn build(hashes: &[u64], band: usize) -> Self {
        let key = |h: u64| ((h >> (band as u32 * BAND_BITS)) & 0xffff) as usize;
        let mut start = vec![0u32; (1 << BAND_BITS) + 1];
        for &h in hashes {
            start[key(h) + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; hashes.len()];
        for (i, &h) in hashes.iter().enumerate() {
            let k = key(h);
            items[fill[k] as usize] = i as u32;
            fill[k] += 1;
        }
        for v in 0..1 << BAND_BITS {
            let bucket = &mut items[start[v] as usize..start[v + 1] as usize];
            if bucket.len() > DENSE {
                bucket.sort_unstable_by_key(|&j| (order(hashes[j as usize], band), j));
            }
        }
        let hashes = items.iter().map(|&j| hashes[j as usize]).collect();
        BandTable {
            start,
            items,
            hashes,
        }
    }

    /// The members of bucket `v` and their hashes.
    fn bucket(&self, v: usize) -> (&[u32], &[u64]) {
        let range = self.start[v] as usize..self.start[v + 1] as usize;
        (&self.items[range.clone()], &self.hashes[range])
    }

    /// The members of dense bucket `v` within `WINDOW` places of hash `i` (`h`) in its
    /// order, and their hashes.
    fn window(&self, v: usize, band: usize, i: u32, h: u64) -> (&[u32], &[u64]) {
        let (items, hashes) = self.bucket(v);
        let key = (order(h, band), i);
        // The first place not before `key`: a binary search over the two parallel lists.
        let (mut at, mut end) = (0, items.len());
        while at < end {
            let mid = (at + end) / 2;
            if (order(hashes[mid], band), items[mid]) < key {
                at = mid + 1;
            } else {
                end = mid;
            }
        }
        let range = at.saturating_sub(WINDOW)..(at + WINDOW + 1).min(items.len());
        (&items[range.clone()], &hashes[range])
    }
}

/// All 16-bit values exactly `flips` bit flips away from `v` (`v` itself for 0).
fn at_flips(v: u16, flips: u32, out: &mut Vec<u16>) {
    fn go(x: u16, lowest: u32, left: u32, out: &mut Vec<u16>) {
        if left == 0 {
            out.push(x);
            return;
        }
        // Flip only bits above the last flipped one, so each set is produced once.
        for bit in lowest..=BAND_BITS - left {
            go(x ^ (1 << bit), bit + 1, left - 1, out);
        }
    }
    out.clear();
    go(v, 0, flips, out);
}

/// Pairs `(i, j, distance)` with `i < j` and the hashes within `radius` bits, sorted, each
/// once — but for each hash only its `most` nearest others (by distance, then index): a pair
/// is kept when either side counts the other among its nearest. In a cluster of look-alikes
/// (a thousand plain "I"s) every member is within the radius of every other, so unbounded
/// pairs grow with the square of the cluster; bounded, they stay under `most` per hash, and a
/// copy — nearer to its original than any look-alike is — is still found. `usize::MAX`
/// keeps every pair.
///
/// Each hash is searched in stages, nearest first (Norouzi et al.'s k-nearest search by
/// multi-index hashing): stage `s` looks in every band at the values exactly `s` flips from
/// its own. After stage `s` every hash within `4(s + 1) - 1` bits has been met (pigeonhole),
/// so once the `most` nearest found so far are all that close, no later stage can improve
/// them and the search stops. Where images are crowded (the case that grows with the store)
/// most searches end after the first stage, which looks at one bucket per band; the 137
/// values per band of a full radius-10 search are paid only by hashes with few near others,
/// in sparse buckets.
pub fn pairs_within(hashes: &[u64], radius: u32, most: usize) -> Vec<(u32, u32, u32)> {
    pairs_counted(hashes, radius, most).0
}

/// What a search cost: buckets looked in and hashes compared, in all.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Cost {
    buckets: u64,
    compared: u64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            buckets: self.buckets + o.buckets,
            compared: self.compared + o.compared,
        }
    }
}

/// `pairs_within`, and what the search cost.
fn pairs_counted(hashes: &[u64], radius: u32, most: usize) -> (Vec<(u32, u32, u32)>, Cost) {
    let tables: Vec<BandTable> = (0..BANDS)
        .into_par_iter()
        .map(|b| BandTable::build(hashes, b))
        .collect();
    let search = Search {
        tables: &tables,
        radius,
        most,
    };
    let (mut pairs, cost) = (0..hashes.len())
        .into_par_iter()
        .fold(
            || (Vec::new(), Scratch::default()),
            |(mut found, mut scratch), i| {
                search.nearest(i as u32, hashes[i], &mut scratch);
                for &(d, j) in scratch.near.iter() {
                    let (a, b) = if (i as u32) < j {
                        (i as u32, j)
                    } else {
                        (j, i as u32)
                    };
                    found.push((a, b, d));
                }
                (found, scratch)
            },
        )
        .map(|(found, scratch)| (found, scratch.cost))
        .reduce(
            || (Vec::new(), Cost::default()),
            |(mut a, ca), (mut b, cb)| {
                a.append(&mut b);
                (a, ca + cb)
            },
        );
    pairs.par_sort_unstable();
    pairs.dedup();
    (pairs, cost)
}

/// One search thread's buffers and counts.
#[derive(Default)]
struct Scratch {
    /// The band values of one stage.
    keys: Vec<u16>,
    /// The nearest found so far: (distance, index).
    near: Vec<(u32, u32)>,
    cost: Cost,
}

/// The search of one hash's nearest (`pairs_within`).
struct Search<'a> {
    tables: &'a [BandTable],
    radius: u32,
    most: usize,
}

impl Search<'_> {
    /// Hash `i`'s (`h`) `most` nearest others within the radius, as (distance, index), into
    /// `scratch.near`. Counting bits is much of the work: where the CPU has the
    /// instruction for it (every x86-64 since 2008, but not the baseline Rust builds for),
    /// the search is compiled with it (1M photos' hashes: 29.2 s without, 20.7 s with;
    /// 100k: 1.6 s, 1.3 s).
    fn nearest(&self, i: u32, h: u64, scratch: &mut Scratch) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has the feature the function is compiled for.
            return unsafe { self.nearest_popcnt(i, h, scratch) };
        }
        self.nearest_any(i, h, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn nearest_popcnt(&self, i: u32, h: u64, scratch: &mut Scratch) {
        self.nearest_any(i, h, scratch)
    }

    #[inline(always)]
    fn nearest_any(&self, i: u32, h: u64, scratch: &mut Scratch) {
        let Scratch { keys, near, cost } = scratch;
        near.clear();
        let band_of = |x: u64, band: usize| ((x >> (band as u32 * BAND_BITS)) & 0xffff) as u16;
        for stage in 0..=self.radius / BANDS as u32 {
            for (band, table) in self.tables.iter().enumerate() {
                at_flips(band_of(h, band), stage, keys);
                cost.buckets += keys.len() as u64;
                for &k in keys.iter() {
                    let bucket = table.bucket(k as usize);
                    let (members, their) = if bucket.0.len() <= DENSE {
                        bucket
                    } else if stage == 0 {
                        table.window(k as usize, band, i, h)
                    } else {
                        continue;
                    };
                    cost.compared += members.len() as u64;
                    for (&j, &x) in members.iter().zip(their) {
                        let d = (h ^ x).count_ones();
                        if j != i && d <= self.radius {
                            near.push((d, j));
                        }
                    }
                }
            }
            // A hash may be met in several bands; keep the `most` nearest.
            near.sort_unstable();
            near.dedup();
            near.truncate(self.most);
            let met_all_within = BANDS as u32 * (stage + 1) - 1;
            if self.most > 0 && near.len() >= self.most && near[self.most - 1].0 <= met_all_within {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute(h: &[u64], r: u32) -> Vec<(u32, u32, u32)> {
        let mut v = Vec::new();
        for i in 0..h.len() {
            for j in i + 1..h.len() {
                let d = (h[i] ^ h[j]).count_ones();
                if d <= r {
                    v.push((i as u32, j as u32, d));
                }
            }
        }
        v
    }

    /// Every hash's `most` nearest in `all` (by distance, then index) are in `got`.
    fn keeps_each_nearest(all: &[(u32, u32, u32)], got: &[(u32, u32, u32)], n: usize, most: usize) {
        let got: std::collections::HashSet<_> = got.iter().copied().collect();
        for i in 0..n as u32 {
            let mut mine: Vec<(u32, u32)> = all
                .iter()
                .filter(|p| p.0 == i || p.1 == i)
                .map(|p| (p.2, if p.0 == i { p.1 } else { p.0 }))
                .collect();
            mine.sort_unstable();
            for &(d, j) in mine.iter().take(most) {
                assert!(
                    got.contains(&(i.min(j), i.max(j), d)),
                    "{i}'s near {j} lost"
                );
            }
        }
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Clusters of near hashes plus random ones.
        let mut h: Vec<u64> = Vec::new();
        for _ in 0..300 {
            let base: u64 = rng.random();
            h.push(base);
            for _ in 0..rng.random_range(0..4) {
                let mut x = base;
                for _ in 0..rng.random_range(0..14) {
                    x ^= 1 << rng.random_range(0..64);
                }
                h.push(x);
            }
        }
        for r in [0, 3, 4, 7, 8, 12] {
            assert_eq!(pairs_within(&h, r, usize::MAX), brute(&h, r), "radius {r}");
        }
    }

    /// Bounded: each hash keeps (at least) its `most` nearest within the radius, nothing
    /// beyond the radius, and the count stays under `most` per hash — in a cluster as large
    /// as an exactly searched bucket may be (`DENSE`) too.
    #[test]
    fn bounded_pairs_keep_each_hash_nearest() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let base: u64 = rng.random();
        let h: Vec<u64> = (0..DENSE)
            .map(|_| {
                let mut x = base;
                for _ in 0..rng.random_range(0..6) {
                    x ^= 1 << rng.random_range(0..64);
                }
                x
            })
            .collect();
        let all = brute(&h, 10);
        let most = 1;
        let got = pairs_within(&h, 10, most);
        assert!(got.len() <= most * h.len(), "{} pairs", got.len());
        assert!(
            all.len() > 20 * got.len(),
            "the cluster is dense: {} pairs",
            all.len()
        );
        for p in &got {
            assert!(all.contains(p));
        }
        keeps_each_nearest(&all, &got, h.len(), most);
    }

    /// Every band dense (each band takes one of 10 values, so each bucket holds ≈600 of the
    /// 6,000 hashes — past `DENSE` — and exact search would cost their square): every
    /// planted copy (one to three bits flipped in one band) is still found with its original
    /// through the window of the band whose order puts that band last, and each hash keeps
    /// at most its 8 nearest. (Copies that differ in two or more bands of a dense cluster
    /// may be passed over: the price of not comparing the cluster with itself.)
    #[test]
    fn a_dense_cluster_is_searched_by_window_and_keeps_its_copies() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let values: Vec<[u64; 10]> = (0..BANDS).map(|_| rng.random()).collect();
        let mut h: Vec<u64> = (0..6000)
            .map(|_| {
                (0..BANDS).fold(0u64, |acc, b| {
                    acc | (values[b][rng.random_range(0..10)] & 0xffff) << (16 * b)
                })
            })
            .collect();
        let mut planted = Vec::new();
        for i in 0..200 {
            let mut x = h[i * 30];
            let band = rng.random_range(0..BANDS);
            for _ in 0..rng.random_range(1..=3) {
                x ^= 1 << (16 * band + rng.random_range(0..16));
            }
            if x != h[i * 30] {
                planted.push((i * 30, h.len()));
                h.push(x);
            }
        }
        let tables: Vec<BandTable> = (0..BANDS).map(|b| BandTable::build(&h, b)).collect();
        assert!(tables
            .iter()
            .all(|t| (0..1 << 16).any(|v| t.bucket(v).0.len() > DENSE)));
        let got: std::collections::HashSet<(u32, u32)> = pairs_within(&h, 10, 8)
            .into_iter()
            .map(|(a, b, _)| (a, b))
            .collect();
        for &(a, b) in &planted {
            assert!(got.contains(&(a as u32, b as u32)), "copy {b} of {a} lost");
        }
        assert!(got.len() <= 8 * h.len());
    }

    #[test]
    fn flips_count_is_binomial() {
        let mut out = Vec::new();
        for (flips, count) in [(0, 1), (1, 16), (2, 120), (3, 560)] {
            at_flips(0xabcd, flips, &mut out);
            assert!(out.iter().all(|&x| (x ^ 0xabcd).count_ones() == flips));
            out.sort();
            out.dedup();
            assert_eq!(out.len(), count, "{flips} flips");
        }
    }

    /// Where every hash has its `most` nearest within 3 bits (crowded look-alikes, not one
    /// dense bucket), the search stops after its first stage: it looks at one bucket per
    /// band, not at the 137 of a radius-10 search — and the result is the exact one.
    #[test]
    fn crowded_hashes_stop_after_the_first_stage() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut h: Vec<u64> = Vec::new();
        for _ in 0..400 {
            let base: u64 = rng.random();
            for _ in 0..12 {
                let mut x = base;
                x ^= 1 << rng.random_range(0..64);
                h.push(x);
            }
        }
        let (got, cost) = pairs_counted(&h, 10, 8);
        let n = h.len() as u64;
        assert_eq!(cost.buckets, n * 4);
        // Each hash meets its cluster (≤ 12) in each of the 4 bands' own bucket.
        assert!(cost.compared <= n * 4 * 12, "{cost:?}");
        let all = brute(&h, 10);
        keeps_each_nearest(&all, &got, h.len(), 8);
        // Every pair, or a cluster too small to fill `most`: all 137 values of each band.
        assert_eq!(pairs_counted(&h, 10, usize::MAX).1.buckets, n * 4 * 137);
        assert_eq!(pairs_counted(&h, 10, 12).1.buckets, n * 4 * 137);
    }
}
