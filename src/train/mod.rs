//! Training, scoring and evaluation on Burn (paper steps 2–3).
//!
//! Two ways to score the data:
//! - `seed`: train on the human-certified samples (90/10 train/val) and score the rest —
//!   the paper's auxiliary model;
//! - `crossval`: k-fold, every labelled sample scored by a model that never saw it — no
//!   certification needed (confident-learning style).
//!
//! `run` works on in-memory `Dataset`s and knows nothing of the store; `plan` and `record`
//! are the two places that read and write it.

pub mod backend;
pub mod concurrent;
pub mod confident;
pub mod data;
pub mod fit;
pub mod gan;
pub mod prune;
pub mod quality;
pub mod score;
pub mod vote;
pub mod warm;

use crate::feature::embed::quantise_rows;
use crate::feature::{Embedded, Neighbours};
use crate::model::checkpoint::{self, Checkpoint};
use crate::model::{Classifier, ClassifierConfig};
use crate::store::{now_secs, Id, State, Store};
use anyhow::Result;
use burn::tensor::Device;
use data::Dataset;
pub use fit::{TrainConfig, TrainError, TrainEvent};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use score::SampleScore;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

/// `op` (a training step on `device`) run on a thread of the compute pool when the CPU
/// backend computes it, the caller waiting: there each kernel's parallel loop goes to the
/// other thread directly. From a thread outside the pool (the CLI's, the jobs worker's)
/// every one of a step's few hundred parallel loops was injected into the pool with the
/// caller asleep until it ended, and woken again for the serial glue in between: GAN
/// bench 10.70 → 11.31 it/s at γ = 0 and 8.23 → 8.63 with the classifier term (means of
/// six interleaved runs), classifier epoch 2.48 → 2.37 s. Consecutive steps may run on
/// different threads: the CPU path's BatchNorm syncs its running statistics every step
/// for that (`model::norm`); Burn's own, which other backends train with, keeps them per
/// thread, so they stay on the caller.
pub(crate) fn on_pool<R: Send>(device: &Device, op: impl FnOnce() -> R + Send) -> R {
    if crate::model::runs_on_cpu(device) {
        rayon::scope(|_| op())
    } else {
        op()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Seed,
    Crossval,
}

/// What to train on and what to score, read from the store.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: Mode,
    /// Seed: the certified samples. Crossval: every usable labelled sample.
    pub pool: Dataset,
    /// Seed: the unreviewed samples. Crossval: empty (the pool is scored fold by fold).
    pub to_score: Dataset,
    /// The unreviewed samples without a label, scored against the model's own suggestion
    /// (pseudo-labels): seed, by the trained model; crossval, by the mean of the fold models
    /// (none of which saw them).
    pub unlabelled: Dataset,
    pub classes: Vec<String>,
    pub channels: usize,
}

impl Plan {
    /// Read the plan for `mode`. In seed mode at most `seed_set` certified samples are used
    /// (a random subset, fixed by `seed`).
    pub fn from_store(
        store: &Store,
        mode: Mode,
        seed_set: Option<usize>,
        seed: u64,
    ) -> Result<Plan> {
        let classes = store.meta().classes.clone();
        let channels = store.meta().channels as usize;
        let unlabelled = data::unlabelled_from_store(store)?;
        let (mut pool, to_score) = match mode {
            Mode::Seed => (
                // The test split is never trained on.
                data::from_store(store, |s| {
                    s.state.is_certified() && s.split != Some(crate::store::Split::Test)
                })?,
                data::from_store(store, |s| s.state == State::Unreviewed)?,
            ),
            Mode::Crossval => (data::from_store(store, |_| true)?, Dataset::default()),
        };
        if let (Mode::Seed, Some(n)) = (mode, seed_set) {
            if n < pool.len() {
                let mut idx: Vec<usize> = (0..pool.len()).collect();
                idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                idx.truncate(n);
                idx.sort_unstable();
                pool = pool.select(&idx);
            }
        }
        Ok(Plan {
            mode,
            pool,
            to_score,
            unlabelled,
            classes,
            channels,
        })
    }

    /// Refuse what cannot train: nothing certified, one class, fewer samples than folds.
    pub fn check(&self, folds: usize) -> Result<(), TrainError> {
        let invalid = |s: String| Err(TrainError::Invalid(s));
        if self.classes.len() < 2 {
            return invalid(format!(
                "the store has {} class(es): a classifier needs at least two",
                self.classes.len()
            ));
        }
        match self.mode {
            Mode::Seed if self.pool.is_empty() => invalid(
                "no certified samples to train on: certify a seed set first, or use --mode crossval".into(),
            ),
            Mode::Seed if self.to_score.is_empty() && self.unlabelled.is_empty() => {
                invalid("no unreviewed samples left to score".into())
            }
            Mode::Crossval if folds < 2 => invalid(format!("--folds {folds}: cross-validation needs at least 2 folds")),
            Mode::Crossval if self.pool.len() < folds => invalid(format!(
                "{} labelled samples are fewer than the {folds} folds",
                self.pool.len()
            )),
            _ if self.pool.class_count() < 2 => invalid(format!(
                "the {} training samples all have one label ({}): a classifier needs at least two classes",
                self.pool.len(),
                self.classes.get(self.pool.labels[0]).map_or("?", String::as_str)
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub train: TrainConfig,
    /// Crossval folds.
    pub folds: usize,
    /// Share of the training pool held out for validation and early stopping.
    pub val_fraction: f64,
    /// Crossval: score each held-out sample by the mean softmax of this many epochs'
    /// weights around the best one (1 = the best epoch's alone). A run stored before the
    /// field existed used the best epoch alone.
    #[serde(default = "one")]
    pub snapshots: usize,
    /// Crossval: weight of the neighbours' vote in each held-out sample's probabilities
    /// (`vote`; 0 = the model's alone, as runs stored before the field existed).
    #[serde(default)]
    pub knn_weight: f32,
    /// Crossval: folds trained at once (`concurrent`); 0 = one per core. The scores do not
    /// depend on it.
    #[serde(default)]
    pub fold_workers: usize,
}

fn one() -> usize {
    1
}

impl RunConfig {
    pub fn new(classes: usize, channels: usize) -> Self {
        RunConfig {
            train: TrainConfig::new(ClassifierConfig::reference(classes, channels)),
            folds: 5,
            val_fraction: 0.1,
            snapshots: 5,
            knn_weight: vote::WEIGHT,
            fold_workers: 0,
        }
    }

    /// The defaults for a store: its classes, channels and augmentation preset.
    pub fn for_store(meta: &crate::store::Meta) -> Self {
        let mut cfg = RunConfig::new(meta.classes.len(), meta.channels as usize);
        cfg.train.augment = meta.augment().config();
        cfg
    }
}

/// The result of a run: scores for every scored sample and the models that made them.
pub struct Outcome {
    pub mode: Mode,
    pub scores: Vec<(Id, SampleScore)>,
    pub train_size: usize,
    pub val_size: usize,
    pub train_acc: f32,
    pub val_acc: f32,
    pub epochs: usize,
    pub epoch_secs: f32,
    pub models: Vec<Classifier>,
    pub model_config: ClassifierConfig,
    /// Pooled features, all from one model so they share a space (seed: the trained model,
    /// of the scored samples and then of the ones it trained on; crossval: the first fold's,
    /// of every scored sample). The first `scores.len()` are the scored ones, in order.
    pub embeddings: Vec<Embedded>,
    /// Each scored sample's neighbourhood among `embeddings`, in the order of `scores`
    /// (empty when nothing was embedded).
    pub neighbours: Vec<Neighbours>,
}

/// Samples embedded together: their ids, labels (none: unlabelled) and pooled features
/// (row-major).
struct Group<'a> {
    ids: &'a [Id],
    labels: Vec<Option<usize>>,
    features: &'a [f32],
}

impl<'a> Group<'a> {
    fn labelled(data: &'a Dataset, features: &'a [f32]) -> Group<'a> {
        Group {
            ids: &data.ids,
            labels: data.labels.iter().map(|&l| Some(l)).collect(),
            features,
        }
    }

    fn unlabelled(data: &'a Dataset, features: &'a [f32]) -> Group<'a> {
        Group {
            ids: &data.ids,
            labels: vec![None; data.len()],
            features,
        }
    }
}

/// `groups` as a round keeps them, in order, and the neighbourhoods of the first `scored`
/// of them (the scored samples come first) among all.
fn embedded(
    groups: &[Group],
    scored: usize,
    dims: usize,
    on: &mut dyn FnMut(TrainEvent),
) -> (Vec<Embedded>, Vec<Neighbours>) {
    let mut out: Vec<Embedded> = Vec::new();
    for g in groups {
        let rows = quantise_rows(g.features, dims);
        if rows.len() != g.ids.len() {
            return (Vec::new(), Vec::new());
        }
        out.extend(
            g.ids
                .iter()
                .zip(&g.labels)
                .zip(rows)
                .map(|((&id, &label), embedding)| Embedded {
                    id,
                    label,
                    embedding,
                }),
        );
    }
    on(TrainEvent::Stage {
        text: format!(
            "finding the {} nearest of {} samples among {}",
            crate::feature::knn::K,
            scored,
            out.len()
        ),
    });
    let near = crate::feature::neighbours(&out, scored);
    (out, near)
}

/// Train and score as `plan` says. Progress goes to `on`; `cancel` stops between batches.
pub fn run(
    device: &Device,
    plan: &Plan,
    cfg: &RunConfig,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<Outcome, TrainError> {
    let folds = cfg.folds;
    plan.check(folds)?;
    let mut tc = cfg.train.clone();
    tc.model.classes = plan.classes.len();
    tc.model.channels = plan.channels;
    if tc.init.is_some() {
        tc.class_names = plan.classes.clone();
    }
    match plan.mode {
        Mode::Seed => {
            let (train, val) = plan.pool.split(cfg.val_fraction, tc.seed);
            on(TrainEvent::Stage {
                text: format!(
                    "training on {} certified samples ({} for validation)",
                    train.len(),
                    val.len()
                ),
            });
            let fitted = fit::fit(device, &tc, &train, &val, on, cancel)?;
            on(TrainEvent::Stage {
                text: format!("scoring {} samples", plan.to_score.len()),
            });
            let (mut scores, feats, dims) =
                score::score_embedded(&fitted.model, &plan.to_score, device)?;
            score::flag(&mut scores, &plan.to_score.labels, tc.model.classes);
            if !plan.unlabelled.is_empty() {
                on(TrainEvent::Stage {
                    text: format!(
                        "suggesting labels for {} unlabelled samples",
                        plan.unlabelled.len()
                    ),
                });
            }
            let (pseudo, pseudo_feats, pseudo_dims) =
                score::pseudo_embedded(&fitted.model, &plan.unlabelled, device)?;
            // The certified samples too, so a scored sample's neighbours include them.
            let trained = score::outputs(&fitted.model, &plan.pool, device, 256, true)?;
            let groups = [
                Group::labelled(&plan.to_score, &feats),
                Group::unlabelled(&plan.unlabelled, &pseudo_feats),
                Group::labelled(&plan.pool, &trained.features),
            ];
            let scored = plan.to_score.len() + plan.unlabelled.len();
            let (embeddings, neighbours) =
                embedded(&groups, scored, dims.max(pseudo_dims).max(trained.dims), on);
            let scores = plan
                .to_score
                .ids
                .iter()
                .chain(&plan.unlabelled.ids)
                .copied()
                .zip(scores.into_iter().chain(pseudo))
                .collect();
            Ok(Outcome {
                mode: Mode::Seed,
                scores,
                train_size: train.len(),
                val_size: val.len(),
                train_acc: fitted.train_acc,
                val_acc: fitted.val_acc,
                epochs: fitted.epochs_run,
                epoch_secs: fitted.mean_epoch_secs,
                models: vec![fitted.model],
                model_config: tc.model,
                embeddings,
                neighbours,
            })
        }
        Mode::Crossval => {
            let n = plan.pool.len();
            let fold_of = assign_folds(&plan.pool.labels, folds, tc.seed);
            let mut scores: Vec<Option<SampleScore>> = vec![None; n];
            let mut forgetting = vec![0u32; n];
            let (mut tr_acc, mut va_acc, mut secs, mut epochs) = (0f32, 0f32, 0f32, 0usize);
            let (mut train_size, mut val_size) = (0, 0);
            let workers = concurrent::workers(cfg.fold_workers, folds);
            let fold = |f: usize, on: &mut dyn FnMut(TrainEvent), stop: &AtomicBool| {
                train_fold(device, plan, cfg, &tc, &fold_of, f, on, stop)
            };
            let mut models = Vec::new();
            for done in concurrent::in_order(folds, workers, fold, &mut |_, e| on(e), cancel)? {
                for (k, &p) in done.tr_pos.iter().enumerate() {
                    forgetting[done.rest[p]] += done.fitted.forgetting[k];
                }
                for (&i, s) in done.held.iter().zip(done.held_scores) {
                    scores[i] = Some(s);
                }
                tr_acc += done.fitted.train_acc;
                va_acc += done.fitted.val_acc;
                secs += done.fitted.mean_epoch_secs;
                epochs += done.fitted.epochs_run;
                train_size = done.train_size;
                val_size = done.val_size;
                models.push(done.fitted.model);
            }
            // The neighbours' vote needs every fold model's features of the pool; the
            // first model's also serve as the round's embedding.
            let (votes, first_features) = if cfg.knn_weight > 0.0 && !models.is_empty() {
                on(TrainEvent::Stage {
                    text: format!(
                        "asking each sample's neighbours ({} fold spaces)",
                        models.len()
                    ),
                });
                let v = vote::votes(
                    &models,
                    &plan.pool,
                    &fold_of,
                    tc.model.classes,
                    device,
                    cancel,
                )?;
                (v.votes, Some((v.features, v.dims)))
            } else {
                (vec![Vec::new(); n], None)
            };
            let (mut ids, mut labels, mut scored) = (Vec::new(), Vec::new(), Vec::new());
            for (i, s) in scores.into_iter().enumerate() {
                if let Some(s) = s {
                    let mut s = vote::blend(&s, &votes[i], cfg.knn_weight, plan.pool.labels[i]);
                    s.forgetting = forgetting[i];
                    ids.push(plan.pool.ids[i]);
                    labels.push(plan.pool.labels[i]);
                    scored.push(s);
                }
            }
            score::flag(&mut scored, &labels, tc.model.classes);
            let pseudo = pseudo_by_ensemble(&models, &plan.unlabelled, device, on)?;
            // Every pool sample is held out by exactly one fold, so `scores` is the pool in
            // order, then the unlabelled ones; one model embeds them all so the map and
            // neighbours share one space.
            on(TrainEvent::Stage {
                text: format!("embedding {} samples", ids.len() + pseudo.len()),
            });
            let (embeddings, neighbours) = match models.first() {
                Some(m) if ids.len() == n => {
                    let (features, dims) = match first_features {
                        Some(fd) => fd,
                        None => {
                            let o = score::outputs(m, &plan.pool, device, 256, true)?;
                            (o.features, o.dims)
                        }
                    };
                    let u = if plan.unlabelled.is_empty() {
                        Vec::new()
                    } else {
                        score::outputs(m, &plan.unlabelled, device, 256, true)?.features
                    };
                    embedded(
                        &[
                            Group::labelled(&plan.pool, &features),
                            Group::unlabelled(&plan.unlabelled, &u),
                        ],
                        n + pseudo.len(),
                        dims,
                        on,
                    )
                }
                _ => (Vec::new(), Vec::new()),
            };
            let scores = ids
                .into_iter()
                .zip(scored)
                .chain(plan.unlabelled.ids.iter().copied().zip(pseudo))
                .collect();
            let k = folds as f32;
            Ok(Outcome {
                mode: Mode::Crossval,
                scores,
                train_size,
                val_size,
                train_acc: tr_acc / k,
                val_acc: va_acc / k,
                epochs: epochs / folds,
                epoch_secs: secs / k,
                models,
                model_config: tc.model,
                embeddings,
                neighbours,
            })
        }
    }
}

/// One crossval fold, trained and scored: what `run` folds into the round.
struct Fold {
    /// Pool positions of the samples it trained or validated on.
    rest: Vec<usize>,
    /// Positions within `rest` it trained on (`fitted.forgetting` is in this order).
    tr_pos: Vec<usize>,
    /// Pool positions it held out and scored, with their scores.
    held: Vec<usize>,
    held_scores: Vec<SampleScore>,
    fitted: fit::Fitted,
    train_size: usize,
    val_size: usize,
}

/// Train fold `f` on the other folds (less a validation share) and score its own samples.
#[allow(clippy::too_many_arguments)]
fn train_fold(
    device: &Device,
    plan: &Plan,
    cfg: &RunConfig,
    tc: &TrainConfig,
    fold_of: &[usize],
    f: usize,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<Fold, TrainError> {
    let n = plan.pool.len();
    let rest: Vec<usize> = (0..n).filter(|&i| fold_of[i] != f).collect();
    let held: Vec<usize> = (0..n).filter(|&i| fold_of[i] == f).collect();
    // Split positions within `rest`, so forgetting maps back to pool indices; the images
    // are copied once, straight into the fold's train and validation sets.
    let labels: Vec<usize> = rest.iter().map(|&i| plan.pool.labels[i]).collect();
    let (tr_pos, va_pos) = data::split_indices(&labels, cfg.val_fraction, tc.seed + f as u64);
    let of_pool = |pos: &[usize]| {
        plan.pool
            .select(&pos.iter().map(|&p| rest[p]).collect::<Vec<_>>())
    };
    let (train, val) = (of_pool(&tr_pos), of_pool(&va_pos));
    on(TrainEvent::Stage {
        text: format!(
            "fold {}/{}: training on {}, validating on {}, scoring {}",
            f + 1,
            cfg.folds,
            train.len(),
            val.len(),
            held.len()
        ),
    });
    let mut fold_cfg = tc.clone();
    fold_cfg.seed = tc.seed.wrapping_add(f as u64 * 1000);
    let held_data = plan.pool.select(&held);
    let probe = (cfg.snapshots > 1).then_some(&held_data);
    let mut fitted = fit::fit_probing(device, &fold_cfg, &train, &val, probe, on, cancel)?;
    let held_scores = match probe {
        Some(_) => score::averaged(
            &fitted.probe_probs,
            fitted.best_epoch,
            cfg.snapshots,
            &held_data.labels,
        ),
        None => score::score(&fitted.model, &held_data, device)?,
    };
    fitted.probe_probs = Vec::new();
    Ok(Fold {
        rest,
        tr_pos,
        held,
        held_scores,
        fitted,
        train_size: train.len(),
        val_size: val.len(),
    })
}

/// Crossval's pseudo-labels: each unlabelled sample scored against the class the fold models'
/// mean softmax prefers (an ensemble none of whose members saw it).
fn pseudo_by_ensemble(
    models: &[Classifier],
    unlabelled: &Dataset,
    device: &Device,
    on: &mut dyn FnMut(TrainEvent),
) -> Result<Vec<SampleScore>, TrainError> {
    if unlabelled.is_empty() || models.is_empty() {
        return Ok(Vec::new());
    }
    on(TrainEvent::Stage {
        text: format!(
            "suggesting labels for {} unlabelled samples (mean of {} fold models)",
            unlabelled.len(),
            models.len()
        ),
    });
    let share = 1.0 / models.len() as f32;
    let mut mean: Vec<f32> = Vec::new();
    for m in models {
        let (logits, k) = score::logits(m, unlabelled, device, 256)?;
        mean.resize(logits.len(), 0.0);
        let probs = logits
            .chunks(k)
            .flat_map(|row| score::log_softmax_row(row).into_iter().map(f32::exp));
        for (acc, p) in mean.iter_mut().zip(probs) {
            *acc += p * share;
        }
    }
    let k = mean.len() / unlabelled.len();
    let suggested: Vec<usize> = mean.chunks(k).map(|p| score::argmax(p).0).collect();
    Ok(score::averaged(&[mean], 1, 1, &suggested))
}

/// Fold of each sample: stratified by label, shuffled by `seed`.
pub fn assign_folds(labels: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF01D);
    let mut fold = vec![0; labels.len()];
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut next = 0;
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            fold[i] = next % folds;
            next += 1;
        }
    }
    fold
}

/// A sample's score as stored, with the suggestion as a class name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredScore {
    pub loss: f32,
    pub margin: f32,
    pub el2n: f32,
    pub forgetting: u32,
    pub suggested: String,
    pub probability: f32,
    /// Flagged by confident learning as a likely label error (rounds before it: false).
    #[serde(default)]
    pub flagged: bool,
    /// The three most probable classes, most probable first (empty in older rounds).
    #[serde(default)]
    pub top: Vec<(String, f32)>,
    /// Its neighbourhood in the round's embedding space (none in older rounds).
    #[serde(default)]
    pub neighbours: Option<Neighbours>,
}

/// The `n` most probable classes of `probs`, named, most probable first.
fn top_classes(probs: &[f32], classes: &[String], n: usize) -> Vec<(String, f32)> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(n)
        .map(|c| (classes.get(c).cloned().unwrap_or_default(), probs[c]))
        .collect()
}

/// What a training round did (Table-1 figures are added by the pipeline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    pub round: u32,
    pub mode: Mode,
    pub backend: String,
    pub finished: u64,
    pub train_size: usize,
    pub val_size: usize,
    pub train_acc: f32,
    pub val_acc: f32,
    pub epochs: usize,
    pub epoch_secs: f32,
    pub scored: usize,
    /// Of those, flagged as likely label errors by confident learning (`None` in rounds
    /// recorded before flags existed).
    #[serde(default)]
    pub flagged: Option<usize>,
    pub checkpoints: Vec<Checkpoint>,
    pub config: RunConfig,
    /// Filled by the pipeline once the round's queues are decided (Table 1).
    #[serde(default)]
    pub review: Option<ReviewStats>,
}

/// How the human's decisions on a round's queues went (the Table-1 columns the training
/// run cannot know).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewStats {
    /// Queue sizes (K and L as filled).
    pub accept: usize,
    pub review: usize,
    /// Accept-queue samples certified with their label unchanged.
    pub accepted: usize,
    /// Review-queue samples the human relabelled or rejected.
    pub corrected: usize,
    /// (accepted + corrected) / (accept + review).
    pub pipeline_accuracy: f32,
    /// Samples decided by a human (certified, relabelled or rejected) / all non-duplicates,
    /// when the round closed: `None` until `rounds::close` has counted them.
    #[serde(default)]
    pub validated: Option<usize>,
    #[serde(default)]
    pub total: Option<usize>,
    #[serde(default)]
    pub validated_ratio: Option<f32>,
    /// Unix seconds.
    pub closed: u64,
}

impl ReviewStats {
    /// The same queue decisions (the validated share and the time aside).
    pub fn same_decisions(&self, other: &ReviewStats) -> bool {
        (self.accept, self.review, self.accepted, self.corrected)
            == (other.accept, other.review, other.accepted, other.corrected)
    }
}

/// Write an outcome to the store as a new round: checkpoints first (files), then scores and
/// the round record, then one flush.
pub fn record(
    store: &Store,
    outcome: &Outcome,
    cfg: &RunConfig,
    backend: &str,
) -> Result<RoundRecord> {
    let round = store.next_round()?;
    let mut checkpoints = Vec::new();
    for (i, m) in outcome.models.iter().enumerate() {
        let name = match outcome.mode {
            Mode::Seed => format!("round-{round}"),
            Mode::Crossval => format!("round-{round}-fold-{}", i + 1),
        };
        checkpoints.push(checkpoint::save(
            m,
            &outcome.model_config,
            store.dir(),
            &name,
        )?);
    }
    let classes = &store.meta().classes;
    let stored: Vec<(Id, StoredScore)> = outcome
        .scores
        .iter()
        .enumerate()
        .map(|(i, (id, s))| {
            (
                *id,
                StoredScore {
                    loss: s.loss,
                    margin: s.margin,
                    el2n: s.el2n,
                    forgetting: s.forgetting,
                    suggested: classes.get(s.suggested).cloned().unwrap_or_default(),
                    probability: s.probability,
                    flagged: s.flagged,
                    top: top_classes(&s.probs, classes, 3),
                    neighbours: outcome.neighbours.get(i).cloned(),
                },
            )
        })
        .collect();
    store.put_scores(round, &stored)?;
    let rows: Vec<(Id, Vec<u8>)> = outcome
        .embeddings
        .iter()
        .map(|e| (e.id, e.embedding.to_bytes()))
        .collect();
    store.put_embeddings(round, &rows)?;
    let rec = RoundRecord {
        round,
        mode: outcome.mode,
        backend: backend.to_string(),
        finished: now_secs(),
        train_size: outcome.train_size,
        val_size: outcome.val_size,
        train_acc: outcome.train_acc,
        val_acc: outcome.val_acc,
        epochs: outcome.epochs,
        epoch_secs: outcome.epoch_secs,
        scored: stored.len(),
        flagged: Some(stored.iter().filter(|(_, s)| s.flagged).count()),
        checkpoints,
        config: cfg.clone(),
        review: None,
    };
    store.put_round(round, &rec)?;
    store.append_log(
        None,
        "train",
        None,
        Some(serde_json::to_value(&rec)?),
        Some(round),
    )?;
    store.flush()?;
    Ok(rec)
}
