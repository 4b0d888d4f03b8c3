//! Honest splits (paper step 5): a random test split, then N folds of the rest, drawn by
//! duplicate group so that no group straddles two splits; and a leakage report of any
//! near-duplicate pair that does cross (e.g. pairs dedup was not run for, or left apart).

use super::decide::{self, Applied};
use crate::dedup::{self, verify, Params};
use crate::store::{Id, Origin, Sample, Split, State, Store};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

pub const DEFAULT_TEST: f64 = 0.2;
pub const DEFAULT_FOLDS: u32 = 8;

#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    pub test: usize,
    /// Samples per fold (fold 1 first).
    pub folds: Vec<usize>,
    pub leaks: Vec<Leak>,
    pub applied: Option<Applied>,
}

/// A near-duplicate pair whose members are in different splits or folds.
#[derive(Clone, Debug, Serialize)]
pub struct Leak {
    pub a: Id,
    pub b: Id,
    pub a_split: String,
    pub b_split: String,
    pub distance: u32,
    pub similarity: f32,
}

/// Samples that take part in splitting: everything not rejected (duplicates follow their
/// group, surplus keeps its place for when it returns).
fn splittable(s: &Sample) -> bool {
    s.state != State::Rejected
}

/// Where a sample is: "test", "fold-3", "train" (no fold) or "none".
pub fn place(split: Option<Split>, fold: Option<u32>) -> String {
    match (split, fold) {
        (Some(Split::Test), _) => "test".into(),
        (_, Some(f)) => format!("fold-{}", f + 1),
        (Some(Split::Train), None) => "train".into(),
        (Some(Split::Val), None) => "val".into(),
        (None, _) => "none".into(),
    }
}

/// Split the store: `test` of the samples (by group) to the test split, the rest into
/// `folds` folds of near-equal size. The test split, once drawn, is kept: later calls only
/// deal new samples into it in proportion, so it never changes under evaluation.
pub fn split(store: &Store, test: f64, folds: u32, seed: u64) -> Result<SplitReport> {
    if !(0.0..1.0).contains(&test) {
        bail!("--test {test}: the test share must be in [0, 1)");
    }
    if folds == 0 {
        bail!("--folds must be at least 1");
    }
    let samples: Vec<Sample> = store
        .samples_by_seq()?
        .into_iter()
        .filter(splittable)
        .collect();
    if samples.is_empty() {
        bail!("no samples to split");
    }
    // Units: a duplicate group, or a single sample. A group already touching the test split
    // stays there whole.
    // Keyed by group or by the sample's own id, never by import number.
    let mut units: BTreeMap<(Option<u64>, Option<Id>), Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let key = match s.group {
            Some(g) => (Some(g), None),
            None => (None, Some(s.id)),
        };
        units.entry(key).or_default().push(i);
    }
    let mut units: Vec<Vec<usize>> = units.into_values().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    units.shuffle(&mut rng);
    let in_test = |u: &Vec<usize>| u.iter().any(|&i| samples[i].split == Some(Split::Test));
    let kept_test: usize = units.iter().filter(|u| in_test(u)).map(Vec::len).sum();
    let want_test = (samples.len() as f64 * test).round() as usize;
    let mut test_n = kept_test;
    let mut fold_n = vec![0usize; folds as usize];
    let mut place_of: Vec<(Option<Split>, Option<u32>)> = vec![(None, None); samples.len()];
    for u in &units {
        // A pseudo-labelled sample (and so its duplicate group) never joins the test split.
        let pseudo = u.iter().any(|&i| samples[i].origin == Origin::Pseudo);
        let to_test = in_test(u)
            || (test_n < want_test && !pseudo && !u.iter().any(|&i| samples[i].split.is_some()));
        let slot = if to_test {
            if !in_test(u) {
                test_n += u.len();
            }
            (Some(Split::Test), None)
        } else {
            let f = (0..folds as usize).min_by_key(|&f| fold_n[f]).unwrap_or(0);
            fold_n[f] += u.len();
            (Some(Split::Train), Some(f as u32))
        };
        for &i in u {
            place_of[i] = slot;
        }
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (s, (split, fold)) in samples.iter().zip(place_of) {
        if s.split != split || s.fold != fold {
            let mut a = s.clone();
            a.split = split;
            a.fold = fold;
            before.push(s.clone());
            after.push(a);
        }
    }
    let applied = if after.is_empty() {
        None
    } else {
        Some(decide::commit(
            store,
            "split",
            &before,
            &after,
            vec![],
            None,
        )?)
    };
    Ok(SplitReport {
        test: test_n,
        folds: fold_n,
        leaks: leakage(store, Params::default())?,
        applied,
    })
}

/// Near-duplicate pairs (perceptual candidates that pass pixel verification) whose members
/// sit in different splits or folds.
pub fn leakage(store: &Store, params: Params) -> Result<Vec<Leak>> {
    let samples: Vec<Sample> = store
        .samples_by_seq()?
        .into_iter()
        .filter(|s| splittable(s) && s.split.is_some())
        .collect();
    let pixel_hash: Vec<Id> = samples.iter().map(|s| s.pixel_hash).collect();
    let [centred, plain] = dedup::hashes_of(store, &samples)?;
    let cands = dedup::candidates(&pixel_hash, &[&centred, &plain], params.radius);
    let side = store.meta().size as usize;
    let channels = store.meta().channels;
    let gray = |i: usize| -> Result<Vec<u8>> {
        let px = store.pixels(&samples[i].id)?.unwrap_or_default();
        Ok(dedup::to_gray(&px, channels))
    };
    let mut leaks = Vec::new();
    let pairs = cands
        .same_pixels
        .iter()
        .map(|&(a, b)| (a, b, 0))
        .chain(cands.near.iter().copied());
    for (a, b, distance) in pairs {
        let place_of = |s: &Sample| place(s.split, s.fold);
        let (pa, pb) = (place_of(&samples[a]), place_of(&samples[b]));
        if pa == pb {
            continue;
        }
        let (ga, gb) = (
            verify::Picture::new(gray(a)?, side),
            verify::Picture::new(gray(b)?, side),
        );
        let colours = || {
            let rgb = |i: usize| dedup::colour_pixels(store, &samples[i].id, channels);
            Ok([rgb(a)?, rgb(b)?])
        };
        if verify::is_copy(&ga, &gb, params.min_similarity, colours)? {
            let sim = verify::similarity(ga.pixels(), gb.pixels(), side);
            leaks.push(Leak {
                a: samples[a].id,
                b: samples[b].id,
                a_split: pa,
                b_split: pb,
                distance,
                similarity: sim,
            });
        }
    }
    Ok(leaks)
}
