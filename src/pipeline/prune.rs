//! Data pruning (seed `002`): score how much each sample outside the test split teaches
//! the model (`train::prune`), and freeze a version without the least informative ones,
//! next to a version of the full data, so `eval` can judge the smaller set against it
//! (Table 2). Pruning never changes a sample: it only writes versions, so no decision a
//! person made is touched. Test-split samples are never scored and never dropped.

use super::versions::{self, Entry, Version};
use crate::store::{now_secs, Id, Split, Store};
use crate::train::backend::Compute;
use crate::train::data::{self, Dataset};
use crate::train::prune::{self, Informativeness, PruneBy};
use crate::train::{TrainConfig, TrainError, TrainEvent};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub const DEFAULT_KEEP: f64 = 0.65;
pub const DEFAULT_INITS: usize = 4;
pub const DEFAULT_NAME: &str = "pruned";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneConfig {
    pub by: PruneBy,
    /// Share of each class's samples outside the test split to keep.
    pub keep: f64,
    /// Trainings from different initialisations the scores are averaged over.
    pub inits: usize,
    /// The short trainings (epochs: how long each runs).
    pub train: TrainConfig,
}

impl PruneConfig {
    /// The defaults for a store: its network and augmentation, `by`'s epochs.
    pub fn for_store(meta: &crate::store::Meta, by: PruneBy) -> Self {
        let mut train = crate::train::RunConfig::for_store(meta).train;
        train.epochs = by.default_epochs();
        PruneConfig {
            by,
            keep: DEFAULT_KEEP,
            inits: DEFAULT_INITS,
            train,
        }
    }
}

/// What a pruning needs, read from the store.
pub struct PruneJob {
    pub name: String,
    /// Every sample in the data outside the test split.
    pub pool: Dataset,
    pub classes: Vec<String>,
    pub config: PruneConfig,
}

/// What a pruning did (stored as record `prune:<name>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRecord {
    pub name: String,
    /// The version of the full data it is to be compared with (frozen now unless one with
    /// the same samples and labels existed).
    pub base: String,
    pub base_frozen: bool,
    pub by: PruneBy,
    pub keep: f64,
    pub inits: usize,
    pub epochs: usize,
    /// Samples scored (the data outside the test split), kept and dropped among them.
    pub pool: usize,
    pub kept: usize,
    pub dropped: usize,
    /// Test-split samples, all kept.
    pub test: usize,
    /// Per class: (name, scored, kept).
    pub classes: Vec<(String, usize, usize)>,
    pub wall_s: f32,
    pub created: u64,
}

/// Check the request and read the pool. Refused before any training: a name taken, a keep
/// share outside (0, 1], no test split (pruning must be judged on samples it never saw),
/// fewer than two classes.
pub fn prepare(store: &Store, name: &str, config: &PruneConfig) -> Result<PruneJob> {
    versions::check_name(store, name)?;
    if !(config.keep > 0.0 && config.keep <= 1.0) {
        bail!("--keep {}: give the share to keep, in (0, 1]", config.keep);
    }
    if config.by != PruneBy::Random && (config.inits == 0 || config.train.epochs == 0) {
        bail!("--inits and --epochs must be at least 1");
    }
    if !store
        .samples_by_seq()?
        .iter()
        .any(|s| s.in_data() && s.split == Some(Split::Test))
    {
        bail!("no test split: run `thresh split` first, so pruning is judged on samples it never scored");
    }
    let pool = data::from_store(store, |s| s.split != Some(Split::Test))?;
    if pool.class_count() < 2 {
        bail!("the data outside the test split has fewer than two classes: nothing to learn from");
    }
    let meta = store.meta();
    let mut config = config.clone();
    if config.by == PruneBy::Random {
        // Nothing trains: say so in the record.
        config.inits = 0;
        config.train.epochs = 0;
    }
    config.train.model.classes = meta.classes.len();
    config.train.model.channels = meta.channels as usize;
    Ok(PruneJob {
        name: name.trim().to_string(),
        pool,
        classes: meta.classes.clone(),
        config,
    })
}

/// The samples to drop: in each class, everything after the `keep` share of its samples
/// (rounded, at least one kept) in the ranking. Per class, because early in training an
/// easy class scores low as a whole: on the 2,000-file demo a global EL2N cut kept 17 of
/// 147 samples of one class and tested at 66.6% against the full data's 87.2%.
pub fn dropped(
    pool: &[Id],
    labels: &[usize],
    scores: &Informativeness,
    by: PruneBy,
    keep: f64,
) -> HashSet<Id> {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut size = vec![0usize; classes];
    for &l in labels {
        size[l] += 1;
    }
    let quota: Vec<usize> = size
        .iter()
        .map(|&n| ((n as f64 * keep).round() as usize).clamp(1.min(n), n))
        .collect();
    let mut taken = vec![0usize; classes];
    let mut drop = HashSet::new();
    for i in scores.ranking(by) {
        let c = labels[i];
        if taken[c] < quota[c] {
            taken[c] += 1;
        } else {
            drop.insert(pool[i]);
        }
    }
    drop
}

/// Score the pool (no store access).
pub fn run(
    job: &PruneJob,
    device: &burn::tensor::Device,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<Informativeness, TrainError> {
    prune::informativeness(
        device,
        &job.config.train,
        job.config.by,
        job.config.inits,
        &job.pool,
        on,
        cancel,
    )
}

/// Freeze the pruned version — the data now, without `drop` — and, unless a version of
/// the full data exists, the full data as `<name>-full`; record what was done.
pub fn apply(
    store: &Store,
    job: &PruneJob,
    drop: &HashSet<Id>,
    wall_s: f32,
) -> Result<PruneRecord> {
    // One read of the data for both versions, so a decision made meanwhile cannot put a
    // sample in one and not the other.
    let now = versions::current(store)?;
    let kept: Vec<Entry> = now
        .iter()
        .filter(|e| e.split == Some(Split::Test) || !drop.contains(&e.id))
        .cloned()
        .collect();
    let (base, base_frozen) = match same_as(store, &now)? {
        Some(existing) => (existing, false),
        None => {
            let name = versions::free_name(store, &format!("{}-full", job.name))?;
            versions::freeze_entries(store, &name, now)?;
            (name, true)
        }
    };
    let v = versions::freeze_entries(store, &job.name, kept)?;
    let test = v
        .entries
        .iter()
        .filter(|e| e.split == Some(Split::Test))
        .count();
    let mut classes: Vec<(String, usize, usize)> =
        job.classes.iter().map(|c| (c.clone(), 0, 0)).collect();
    for (id, &l) in job.pool.ids.iter().zip(&job.pool.labels) {
        classes[l].1 += 1;
        classes[l].2 += !drop.contains(id) as usize;
    }
    classes.retain(|c| c.1 > 0);
    let rec = PruneRecord {
        name: job.name.clone(),
        base,
        base_frozen,
        by: job.config.by,
        keep: job.config.keep,
        inits: job.config.inits,
        epochs: job.config.train.epochs,
        pool: job.pool.len(),
        kept: job.pool.len() - drop.len(),
        dropped: drop.len(),
        test,
        classes,
        wall_s,
        created: now_secs(),
    };
    store.put_record(&format!("prune:{}", job.name), &rec)?;
    Ok(rec)
}

/// Every pruning recorded so far, in version-name order.
pub fn stored(store: &Store) -> Result<Vec<PruneRecord>> {
    versions::records(store, "prune")
}

impl PruneRecord {
    /// What the version is, in a few words: "el2n, 65% of each class of pruned-full".
    pub fn describe(&self) -> String {
        format!(
            "{}, {:.0}% of each class of {}",
            self.by.name(),
            self.keep * 100.0,
            self.base
        )
    }
}

/// A version whose samples and labels are exactly `entries`', if one exists.
fn same_as(store: &Store, entries: &[Entry]) -> Result<Option<String>> {
    let key = |e: &[Entry]| {
        let mut k: Vec<(Id, String)> = e.iter().map(|e| (e.id, e.label.clone())).collect();
        k.sort_unstable();
        k
    };
    let now = key(entries);
    for name in store.version_names()? {
        if let Some(v) = store.version::<Version>(&name)? {
            if key(&v.entries) == now {
                return Ok(Some(name));
            }
        }
    }
    Ok(None)
}

/// A finished pruning: its record and every scored sample's scores.
pub struct Pruned {
    pub record: PruneRecord,
    /// The scored samples (outside the test split) with their class indices, in the order
    /// of `scores`.
    pub ids: Vec<Id>,
    pub labels: Vec<usize>,
    pub scores: Informativeness,
    pub dropped: HashSet<Id>,
}

/// Prepare, score and freeze: `thresh prune` and the menu's pruning.
pub fn prune(
    store: &Store,
    compute: &Compute,
    name: &str,
    config: &PruneConfig,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<Pruned> {
    let started = Instant::now();
    let job = prepare(store, name, config)?;
    let scores = match run(&job, &compute.device, on, cancel) {
        Ok(s) => s,
        Err(TrainError::Cancelled) => bail!("pruning cancelled"),
        Err(e) => return Err(e.into()),
    };
    let drop = dropped(
        &job.pool.ids,
        &job.pool.labels,
        &scores,
        config.by,
        config.keep,
    );
    let record = apply(store, &job, &drop, started.elapsed().as_secs_f32())?;
    Ok(Pruned {
        record,
        ids: job.pool.ids,
        labels: job.pool.labels,
        scores,
        dropped: drop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_share_asked_for_of_each_class_and_drops_the_least_informative() {
        // Class 0: the first 20 samples, all scoring below class 1's 10.
        let n = 30;
        let ids: Vec<Id> = (0..n as u8).map(|i| Id([i; 32])).collect();
        let labels: Vec<usize> = (0..n).map(|i| usize::from(i >= 20)).collect();
        let scores = Informativeness {
            el2n: (0..n).map(|i| i as f32 / n as f32).collect(),
            loss: vec![0.0; n],
            forgetting: vec![0; n],
            never_learned: vec![false; n],
            random: vec![0.0; n],
        };
        for (keep, kept) in [
            (0.65, (13, 7)),
            (0.5, (10, 5)),
            (1.0, (20, 10)),
            (0.01, (1, 1)),
        ] {
            let d = dropped(&ids, &labels, &scores, PruneBy::El2n, keep);
            assert_eq!(n - d.len(), kept.0 + kept.1, "keep {keep}");
            // In each class, the lowest EL2N go first.
            assert!((0..20 - kept.0).all(|i| d.contains(&ids[i])), "keep {keep}");
            assert!(
                (20..30 - kept.1).all(|i| d.contains(&ids[i])),
                "keep {keep}"
            );
            assert!(
                (30 - kept.1..30).all(|i| !d.contains(&ids[i])),
                "keep {keep}"
            );
        }
    }
}
