//! Table 2: compare dataset versions by test accuracy. Each version trains the competition's
//! final model (reference network, batch 8, up to 100 epochs, early stopping on validation,
//! no augmentation) on its samples outside the test split, and is scored on the one fixed
//! test split — the store's current test samples with their human-checked labels, so every
//! version meets the same, cleanest truth. The test split is never trained on.

use super::versions;
use crate::augment::{AugmentConfig, Img};
use crate::model::ClassifierConfig;
use crate::store::{now_secs, Id, Split, State, Store};
use crate::train::backend::Compute;
use crate::train::data::{split_indices, Dataset};
use crate::train::{concurrent, fit, score, TrainError, TrainEvent};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct EvalConfig {
    pub train: fit::TrainConfig,
    pub val_fraction: f64,
    /// Also train once per fold (validating on it) and report test accuracy mean ± std.
    pub folds: bool,
}

impl EvalConfig {
    /// The paper's final model: reference network, batch 8, up to 100 epochs, early stopping.
    pub fn paper(classes: usize, channels: usize) -> Self {
        let mut train = fit::TrainConfig::new(ClassifierConfig::reference(classes, channels));
        train.batch = 8;
        train.epochs = 100;
        train.patience = 10;
        train.augment = AugmentConfig::none();
        EvalConfig {
            train,
            val_fraction: 0.1,
            folds: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    pub version: String,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub train_acc: f32,
    pub val_acc: f32,
    pub test_acc: f32,
    pub epochs: usize,
    pub wall_s: f32,
    pub evaluated: u64,
    /// With folds: test accuracy (mean, std) over the N fold models, and N.
    #[serde(default)]
    pub folds: Option<(f32, f32, usize)>,
}

/// The fixed test set: test-split samples a human certified (or, when none is, every
/// test-split sample in the data), with their current labels.
/// Also returns the ids of every test-split sample, whatever its state: none is trained on.
fn test_set(store: &Store) -> Result<(Dataset, bool, HashSet<Id>)> {
    let meta = store.meta();
    let (side, channels) = (meta.size as usize, meta.channels as usize);
    let in_test: Vec<_> = store
        .samples_by_seq()?
        .into_iter()
        .filter(|s| s.split == Some(Split::Test))
        .collect();
    let ids = in_test.iter().map(|s| s.id).collect();
    let all: Vec<_> = in_test
        .into_iter()
        .filter(|s| s.label.is_some())
        // A pseudo-label is the model's word, not a person's: never what a model is judged by.
        .filter(|s| s.origin != crate::store::Origin::Pseudo)
        .filter(|s| {
            !matches!(s.state, State::Rejected | State::Duplicate) && !s.pending_synthetic()
        })
        .collect();
    let certified: Vec<_> = all.iter().filter(|s| s.state.is_certified()).collect();
    let (chosen, clean): (Vec<_>, bool) = if certified.is_empty() {
        (all.iter().collect(), false)
    } else {
        (certified, true)
    };
    let mut d = Dataset::default();
    for s in chosen {
        let Some(c) = meta
            .classes
            .iter()
            .position(|c| Some(c) == s.label.as_ref())
        else {
            continue;
        };
        let px = store
            .pixels(&s.id)?
            .ok_or_else(|| anyhow!("pixels of {} are missing", s.id.short()))?;
        d.push(s.id, Img::from_u8(&px, side, channels), c);
    }
    Ok((d, clean, ids))
}

fn accuracy(
    model: &crate::model::Classifier,
    data: &Dataset,
    device: &burn::tensor::Device,
) -> Result<f32, TrainError> {
    if data.is_empty() {
        return Ok(0.0);
    }
    let s = score::score(model, data, device)?;
    let hits = s
        .iter()
        .zip(&data.labels)
        .filter(|(s, &l)| s.suggested == l)
        .count();
    Ok(hits as f32 / data.len() as f32)
}

/// What an evaluation needs, read from the store: the fixed test set and, per version, its
/// train and validation samples.
pub struct EvalJob {
    pub test: Dataset,
    /// The test labels are human-certified (else as imported).
    pub clean: bool,
    pub versions: Vec<VersionData>,
    pub config: EvalConfig,
}

/// One version's samples outside the test split.
pub struct VersionData {
    pub name: String,
    pub train: Dataset,
    pub val: Dataset,
    /// Everything, with each sample's fold (for the per-fold models).
    pub pool: Dataset,
    pub fold_of: Vec<Option<u32>>,
}

pub fn prepare(store: &Store, names: &[String], cfg: &EvalConfig) -> Result<EvalJob> {
    if names.is_empty() {
        bail!("name at least one version (`thresh version NAME` freezes one)");
    }
    let (test, clean, test_ids) = test_set(store)?;
    if test.is_empty() {
        bail!("there is no test split: run `thresh split` first");
    }
    let meta = store.meta().clone();
    let (side, channels) = (meta.size as usize, meta.channels as usize);
    let mut out = Vec::new();
    for name in names {
        let v = versions::get(store, name)?;
        let mut pool = Dataset::default();
        let mut fold_of = Vec::new();
        for e in &v.entries {
            if test_ids.contains(&e.id) {
                continue;
            }
            let Some(c) = meta.classes.iter().position(|c| *c == e.label) else {
                continue;
            };
            let Some(px) = store.pixels(&e.id)? else {
                continue;
            };
            pool.push(e.id, Img::from_u8(&px, side, channels), c);
            fold_of.push(e.fold);
        }
        if pool.class_count() < 2 {
            bail!("version {name} has fewer than two classes outside the test split");
        }
        let (tr, va) = split_indices(&pool.labels, cfg.val_fraction, cfg.train.seed);
        out.push(VersionData {
            name: name.clone(),
            train: pool.select(&tr),
            val: pool.select(&va),
            pool,
            fold_of,
        });
    }
    let mut config = cfg.clone();
    config.train.model.classes = meta.classes.len();
    config.train.model.channels = channels;
    Ok(EvalJob {
        test,
        clean,
        versions: out,
        config,
    })
}

/// Train and test every version of a prepared job (no store access).
pub fn run(
    job: &EvalJob,
    device: &burn::tensor::Device,
    on: &mut dyn FnMut(&str, TrainEvent),
    cancel: &AtomicBool,
) -> Result<Vec<EvalRow>, TrainError> {
    let mut rows = Vec::new();
    for v in &job.versions {
        let (name, train, val) = (&v.name, &v.train, &v.val);
        let started = Instant::now();
        let fitted = fit::fit(
            device,
            &job.config.train,
            train,
            val,
            &mut |e| on(name, e),
            cancel,
        )?;
        rows.push(EvalRow {
            version: name.clone(),
            train: train.len(),
            val: val.len(),
            test: job.test.len(),
            train_acc: accuracy(&fitted.model, train, device)?,
            val_acc: fitted.val_acc,
            test_acc: accuracy(&fitted.model, &job.test, device)?,
            epochs: fitted.epochs_run,
            wall_s: started.elapsed().as_secs_f32(),
            evaluated: now_secs(),
            folds: if job.config.folds {
                fold_scores(job, v, device, on, cancel)?
            } else {
                None
            },
        });
    }
    Ok(rows)
}

/// Test accuracy (mean, std, n) of one model per fold — trained on the other folds,
/// early-stopped on its own — or `None` when the version has fewer than two folds.
fn fold_scores(
    job: &EvalJob,
    v: &VersionData,
    device: &burn::tensor::Device,
    on: &mut dyn FnMut(&str, TrainEvent),
    cancel: &AtomicBool,
) -> Result<Option<(f32, f32, usize)>, TrainError> {
    let mut folds: Vec<u32> = v.fold_of.iter().flatten().copied().collect();
    folds.sort_unstable();
    folds.dedup();
    if folds.len() < 2 {
        return Ok(None);
    }
    // Each fold model trains on the other folds: independent, so side by side on the
    // compute pool (`train::concurrent`), progress still reported fold by fold.
    let labels: Vec<String> = folds
        .iter()
        .map(|f| format!("{} fold {}", v.name, f + 1))
        .collect();
    let one = |k: usize, on: &mut dyn FnMut(TrainEvent), stop: &AtomicBool| {
        let f = folds[k];
        let held: Vec<usize> = (0..v.pool.len())
            .filter(|&i| v.fold_of[i] == Some(f))
            .collect();
        let rest: Vec<usize> = (0..v.pool.len())
            .filter(|&i| v.fold_of[i].is_some_and(|g| g != f))
            .collect();
        let fitted = fit::fit(
            device,
            &job.config.train,
            &v.pool.select(&rest),
            &v.pool.select(&held),
            on,
            stop,
        )?;
        accuracy(&fitted.model, &job.test, device)
    };
    let workers = concurrent::workers(0, folds.len());
    let accs = concurrent::in_order(
        folds.len(),
        workers,
        one,
        &mut |k, e| on(&labels[k], e),
        cancel,
    )?;
    let n = accs.len() as f32;
    let mean = accs.iter().sum::<f32>() / n;
    let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n).sqrt();
    Ok(Some((mean, std, accs.len())))
}

pub fn record(store: &Store, rows: &[EvalRow]) -> Result<()> {
    for row in rows {
        store.put_record(&format!("eval:{}", row.version), row)?;
    }
    Ok(())
}

/// Evaluate `names` in order; each row is also stored (record `eval:<name>`).
pub fn evaluate(
    store: &Store,
    compute: &Compute,
    names: &[String],
    cfg: &EvalConfig,
    on: &mut dyn FnMut(&str, TrainEvent),
    cancel: &AtomicBool,
) -> Result<(Vec<EvalRow>, bool)> {
    let job = prepare(store, names, cfg)?;
    let rows = match run(&job, &compute.device, on, cancel) {
        Ok(r) => r,
        Err(TrainError::Cancelled) => bail!("evaluation cancelled"),
        Err(e) => return Err(e.into()),
    };
    record(store, &rows)?;
    Ok((rows, job.clean))
}

/// The stored result of every version evaluated so far, in version-name order.
pub fn stored(store: &Store) -> Result<Vec<EvalRow>> {
    versions::records(store, "eval")
}

/// Table 2's layout.
pub fn render(rows: &[EvalRow]) -> String {
    let mut s = String::from(
        "name              train    val   test  train acc  val acc  test acc  epochs  wall (s)  folds: test mean ± std\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{:<16} {:>6} {:>6} {:>6} {:>9.1}% {:>7.1}% {:>8.1}% {:>7} {:>9.0}\n",
            r.version,
            r.train,
            r.val,
            r.test,
            r.train_acc * 100.0,
            r.val_acc * 100.0,
            r.test_acc * 100.0,
            r.epochs,
            r.wall_s
        ));
        if let Some((m, sd, n)) = r.folds {
            s.pop();
            s.push_str(&format!("  {:.1}% ± {:.1} ({n})\n", m * 100.0, sd * 100.0));
        }
    }
    s
}
