//! Work on the store whose cost grows with it — counting, dedup, balance, split, seed set,
//! ranking, whole rounds, the GAN, generation, evaluation, versions — as jobs for a worker,
//! so the UI thread only ever reads what they return.
//!
//! A task writes through the same library calls the CLI uses; decisions it makes go through
//! `Store::commit` / `Store::replace_sample`, which refuse to overwrite a sample a person
//! changed while the task ran. Every task ends with a fresh count of the store, so the UI's
//! counters are exact after each job and kept by deltas in between.

use crate::dedup::{self, Params};
use crate::pipeline::counts::Counts;
use crate::pipeline::eval::{self, EvalConfig};
use crate::pipeline::prune::{self, PruneConfig};
use crate::pipeline::{balance, queues, rounds, split, synth, versions};
use crate::store::{QueueName, Store};
use crate::train::backend::Compute;
use crate::train::gan::GanEvent;
use crate::train::prune::PruneBy;
use crate::train::{RunConfig, TrainError, TrainEvent};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a store task does.
#[derive(Clone, Debug)]
pub enum Task {
    /// Only count (at start-up).
    Counts,
    Dedup(Params),
    Balance,
    Split,
    /// Draw a seed set of this many samples.
    Seed(usize),
    /// Fill the queues from the latest scores; unlabelled samples whose suggestion has at
    /// least probability `pseudo` go to the pseudo queue.
    Rank {
        pseudo: f32,
    },
    /// Train on the certified samples for at most `epochs`, score, record, fill the queues
    /// (`pseudo` as in `Rank`).
    Round {
        epochs: usize,
        /// Start from the latest round's weights (warm start).
        warm: bool,
        pseudo: f32,
    },
    /// Train the GAN for `iters` iterations against the latest classifier, and record it.
    Gan {
        iters: usize,
    },
    /// Generate `n` samples into the synthetic queue.
    Generate {
        n: usize,
    },
    /// Evaluate every version (Table 2) with at most `epochs` per model, and record it.
    Eval {
        epochs: usize,
    },
    /// Freeze the current dataset as a version.
    Freeze(String),
    /// Freeze the `keep` share of each class's samples outside the test split that EL2N
    /// (over `inits` trainings of `epochs`) finds most informative, with the test split, as
    /// version `pruned` (or the next free `pruned-N`), and the full data beside it.
    Prune {
        keep: f64,
        epochs: usize,
        inits: usize,
    },
    /// Count the validated share of a round whose queues were just decided.
    CloseRound(u32),
    /// Fill the `similar` queue with the sample's nearest neighbours in embedding space.
    Similar(crate::store::Id),
    /// The 2-D map of the latest embedded round (laid out once, then read back).
    Map,
}

impl Task {
    pub fn name(&self) -> &'static str {
        match self {
            Task::Counts => "counting",
            Task::Dedup(_) => "dedup",
            Task::Balance => "balance",
            Task::Split => "split",
            Task::Seed(_) => "seed set",
            Task::Rank { .. } => "ranking",
            Task::Round { .. } => "training round",
            Task::Gan { .. } => "GAN training",
            Task::Generate { .. } => "generation",
            Task::Eval { .. } => "evaluation",
            Task::Freeze(_) => "version",
            Task::Prune { .. } => "pruning",
            Task::CloseRound(_) => "closing the round",
            Task::Similar(_) => "finding similar samples",
            Task::Map => "the map",
        }
    }

    /// Tasks that train a model (and so run on the compute worker, with progress).
    pub fn trains(&self) -> bool {
        matches!(
            self,
            Task::Round { .. } | Task::Gan { .. } | Task::Eval { .. } | Task::Prune { .. }
        )
    }
}

/// What a finished task tells the UI.
#[derive(Clone, Debug)]
pub struct Done {
    /// The task's name (`Task::name`).
    pub task: &'static str,
    /// One line for the status bar.
    pub summary: String,
    /// The queue to show next, when the task filled one.
    pub show: Option<QueueName>,
    /// The store's counters after the task.
    pub counts: Counts,
    /// The map, when the task drew it.
    pub map: Option<std::sync::Arc<crate::feature::map::Map>>,
}

/// Progress of a task: training events, GAN events, or evaluation events per version.
pub enum Progress {
    Train(TrainEvent),
    Gan(GanEvent),
    Eval(String, TrainEvent),
}

/// The seed that makes the UI's draws repeatable (the CLI's default is 7 too).
const SEED: u64 = 7;

/// Run `task` on `store`. Errors are one line; a cancelled training is `Cancelled`.
pub fn run(
    store: &Store,
    compute: &Compute,
    task: &Task,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<Done, TrainError> {
    let done = execute(store, compute, task, on, cancel).map_err(|e| {
        if cancel.load(Ordering::Relaxed) {
            TrainError::Cancelled
        } else {
            TrainError::Invalid(format!("{e:#}"))
        }
    })?;
    Ok(done)
}

fn execute(
    store: &Store,
    compute: &Compute,
    task: &Task,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> anyhow::Result<Done> {
    let mut show = None;
    let mut map = None;
    let summary = match task {
        Task::Counts => String::new(),
        Task::Dedup(params) => {
            let r = dedup::dedup(store, *params)?;
            show = Some(QueueName::Duplicates);
            format!(
                "dedup: {} groups, {} newly marked, {} released, left {} reviewer decisions alone",
                r.groups, r.marked, r.released, r.left_alone
            )
        }
        Task::Balance => {
            let r = balance::balance(store, None, SEED)?;
            let moved: usize = r.classes.iter().map(|c| c.2).sum();
            let back: usize = r.classes.iter().map(|c| c.3).sum();
            format!(
                "balanced to {} per class: {moved} to surplus, {back} back",
                r.target
            )
        }
        Task::Split => {
            let r = split::split(store, split::DEFAULT_TEST, split::DEFAULT_FOLDS, SEED)?;
            format!(
                "test {} / {} folds; {} leaking pair(s)",
                r.test,
                r.folds.len(),
                r.leaks.len()
            )
        }
        Task::Seed(n) => {
            let q = rounds::seed_set(store, *n, SEED)?;
            show = Some(QueueName::Certify);
            format!(
                "{} samples to certify: `a` accepts the page, space marks exceptions",
                q.ids.len()
            )
        }
        Task::Rank { pseudo } => {
            let (_, total) = rounds::validated(store)?;
            let (k, l) = rounds::scaled_k_l(total);
            let r = queues::rank_with(store, k, l, *pseudo)?;
            show = Some(QueueName::Accept);
            format!(
                "queues filled from round {}: {} to accept, {} to review, {} outliers, {} pseudo-labels at p ≥ {}",
                r.round, r.accept, r.review, r.outliers, r.pseudo, r.pseudo_threshold
            )
        }
        Task::Round {
            epochs,
            warm,
            pseudo,
        } => {
            let mut cfg = RunConfig::for_store(store.meta());
            cfg.train.epochs = *epochs;
            if *warm {
                cfg.train.init = Some(crate::train::warm::last(store)?);
            }
            let (_, total) = rounds::validated(store)?;
            let (k, l) = rounds::scaled_k_l(total);
            let (rec, r) = rounds::train_round(
                store,
                compute,
                &cfg,
                k,
                l,
                *pseudo,
                &mut |e| on(Progress::Train(e)),
                cancel,
            )?;
            show = Some(if r.review > 0 {
                QueueName::Review
            } else {
                QueueName::Accept
            });
            format!(
                "round {}: val acc {:.1}%, {} to accept, {} to review",
                rec.round,
                rec.val_acc * 100.0,
                r.accept,
                r.review
            )
        }
        Task::Gan { iters } => {
            let rec = synth::train(
                store,
                compute,
                *iters,
                Default::default(),
                &mut |e| on(Progress::Gan(e)),
                cancel,
            )?;
            format!(
                "GAN trained ({:.1} it/s); intended-class rate {}: m → generate",
                rec.iters_per_sec,
                rec.checks
                    .iter()
                    .map(|(i, r)| format!("{:.0}% at {i}", r * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Task::Generate { n } => {
            let g = synth::generate(store, compute, *n, None, 0.7)?;
            show = Some(QueueName::Synthetic);
            format!(
                "{} synthetic samples to approve: `a` approves the page, space marks rejects",
                g.ids.len()
            )
        }
        Task::Eval { epochs } => {
            let names = store.version_names()?;
            let meta = store.meta();
            let mut cfg = EvalConfig::paper(meta.classes.len(), meta.channels as usize);
            cfg.train.epochs = *epochs;
            let job = eval::prepare(store, &names, &cfg)?;
            let rows = eval::run(
                &job,
                &compute.device,
                &mut |v, e| on(Progress::Eval(v.to_string(), e)),
                cancel,
            )?;
            eval::record(store, &rows)?;
            format!("{} version(s) evaluated", rows.len())
        }
        Task::Freeze(name) => {
            let v = versions::freeze(store, name)?;
            format!("version {} frozen: {} samples", v.name, v.entries.len())
        }
        Task::Prune {
            keep,
            epochs,
            inits,
        } => {
            let mut cfg = PruneConfig::for_store(store.meta(), PruneBy::El2n);
            cfg.keep = *keep;
            cfg.train.epochs = *epochs;
            cfg.inits = *inits;
            let name = versions::free_name(store, prune::DEFAULT_NAME)?;
            let p = prune::prune(
                store,
                compute,
                &name,
                &cfg,
                &mut |e| on(Progress::Train(e)),
                cancel,
            )?;
            let r = p.record;
            format!(
                "version {}: the {} most informative of {} samples (EL2N) and {} test samples; full data: {} — Evaluate compares them",
                r.name, r.kept, r.pool, r.test, r.base
            )
        }
        Task::Similar(id) => {
            let s =
                crate::feature::similar::fill_queue(store, id, crate::feature::similar::DEFAULT_K)?;
            show = Some(QueueName::Similar);
            format!(
                "{} samples like {} (round {}, nearest at distance {:.3}): the first is the sample itself",
                s.near.len(),
                id.short(),
                s.round,
                s.near.first().map_or(0.0, |n| n.1)
            )
        }
        Task::Map => {
            let m = crate::feature::map::load_or_compute(
                store,
                &Default::default(),
                &mut |stage, done, total| {
                    on(Progress::Train(TrainEvent::Stage {
                        text: format!("the map: {stage} {done}/{total}"),
                    }))
                },
                cancel,
            )?;
            let summary = format!(
                "map of round {}: {} samples{}",
                m.round,
                m.points.len(),
                if m.computed {
                    " (laid out now, kept)"
                } else {
                    ""
                }
            );
            map = Some(std::sync::Arc::new(m));
            summary
        }
        Task::CloseRound(round) => {
            rounds::close(store, *round)?;
            let ratio = store
                .round::<crate::train::RoundRecord>(*round)?
                .and_then(|r| r.review)
                .and_then(|s| s.validated_ratio);
            match ratio {
                Some(v) => format!(
                    "round {round} closed: {:.0}% of the data validated",
                    v * 100.0
                ),
                // Reopened (an undo) before the count ran.
                None => String::new(),
            }
        }
    };
    Ok(Done {
        task: task.name(),
        summary,
        show,
        counts: Counts::scan(store)?,
        map,
    })
}
