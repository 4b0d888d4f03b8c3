//! `thresh train`, `rank` and `scores`: the training engine driven from the shell, through
//! the same jobs worker the UI uses, with progress bars on stderr.

use crate::jobs::{Event, JobResult, Request, Worker};
use crate::pipeline::queues;
use crate::store::{Id, Store};
use crate::train::backend::{self, BackendChoice};
use crate::train::{self, Mode, Plan, RunConfig, StoredScore, TrainEvent};
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[arg(long, value_enum, default_value_t = Mode::Seed)]
    pub mode: Mode,
    /// Most epochs (early stopping may end sooner).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Seed mode: use at most N certified samples (a seeded random subset).
    #[arg(long)]
    pub seed_set: Option<usize>,
    /// Crossval folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Network width (64 = the reference network).
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// Bottleneck blocks (3 = the reference network).
    #[arg(long, default_value_t = 3)]
    pub blocks: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn train(store: &Store, choice: BackendChoice, json: bool, a: TrainArgs) -> Result<()> {
    let compute = backend::select(choice)?;
    if let Some(n) = &compute.notice {
        eprintln!("thresh: {n}");
    }
    if !json {
        eprintln!("thresh: training on {}", compute.label());
    }
    let plan = Plan::from_store(store, a.mode, a.seed_set, a.seed)?;
    let mut cfg = RunConfig::new(plan.classes.len(), plan.channels);
    cfg.folds = a.folds;
    cfg.train.epochs = a.epochs;
    cfg.train.batch = a.batch;
    cfg.train.lr = a.lr;
    cfg.train.seed = a.seed;
    cfg.train.model.width = a.width;
    cfg.train.model.blocks = a.blocks;
    plan.check(cfg.folds).map_err(|e| anyhow::anyhow!("{e}"))?;

    let label = compute.label();
    let mut worker = Worker::start(compute.device);
    let job = worker.submit(Request::Train {
        plan: Box::new(plan),
        config: cfg.clone(),
    });
    let bars = MultiProgress::new();
    let epoch_bar = bars.add(ProgressBar::new(0));
    epoch_bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    epoch_bar.set_prefix("epoch");
    let batch_bar = bars.add(ProgressBar::new(0));
    batch_bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    batch_bar.set_prefix("batch");
    let outcome = loop {
        let ev = worker
            .events()
            .recv()
            .context("the jobs worker stopped unexpectedly")?;
        match ev {
            Event::Started { .. } => {}
            Event::Progress { event, .. } => match event {
                TrainEvent::Stage { text } => {
                    if !json {
                        bars.println(format!("thresh: {text}")).ok();
                    }
                }
                TrainEvent::Batch {
                    epoch,
                    epochs,
                    step,
                    steps,
                    loss,
                    samples_per_sec,
                    eta_s,
                    ..
                } => {
                    epoch_bar.set_length(epochs as u64);
                    epoch_bar.set_position(epoch as u64 - 1);
                    batch_bar.set_length(steps as u64);
                    batch_bar.set_position(step as u64);
                    batch_bar.set_message(format!(
                        "loss {loss:.3}  {samples_per_sec:.0} samples/s  eta {eta_s:.0}s"
                    ));
                }
                TrainEvent::Epoch {
                    epoch,
                    epochs,
                    train_loss,
                    train_acc,
                    val_acc,
                    secs,
                    best,
                    ..
                } => {
                    epoch_bar.set_position(epoch as u64);
                    let line = format!(
                        "epoch {epoch}/{epochs}: loss {train_loss:.3}, train acc {train_acc:.3}, val acc {val_acc:.3}, {secs:.1}s{}",
                        if best { " *" } else { "" }
                    );
                    epoch_bar.set_message(line.clone());
                    if !json && epoch_bar.is_hidden() {
                        eprintln!("{line}");
                    }
                }
            },
            Event::Done {
                job: j,
                result: JobResult::Trained(o),
            } if j == job => break o,
            Event::Done { .. } => {}
            Event::Failed { error, .. } => bail!("training failed: {error}"),
            Event::Cancelled { .. } => bail!("training was cancelled"),
        }
    };
    epoch_bar.finish_and_clear();
    batch_bar.finish_and_clear();
    let rec = train::record(store, &outcome, &cfg, &label)?;
    if json {
        println!("{}", serde_json::to_string(&rec)?);
    } else {
        println!(
            "round {}: {:?} on {}; train {} / val {} samples, train acc {:.3}, val acc {:.3}, {} epochs at {:.1}s each; {} samples scored",
            rec.round, rec.mode, rec.backend, rec.train_size, rec.val_size, rec.train_acc, rec.val_acc, rec.epochs, rec.epoch_secs, rec.scored
        );
    }
    Ok(())
}

pub fn rank(store: &Store, k: usize, l: usize, json: bool) -> Result<()> {
    let r = queues::rank(store, k, l)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "round {}: {} unreviewed samples scored; accept queue {} (lowest loss), review queue {} (highest loss)",
            r.round, r.candidates, r.accept, r.review
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ScoreRow<'a> {
    path: &'a str,
    given: &'a str,
    suggested: &'a str,
    loss: f32,
    margin: f32,
    el2n: f32,
    forgetting: u32,
    queue: &'a str,
    state: &'a str,
}

/// One row per source path of every sample scored in the latest round, highest loss first.
pub fn scores_csv(store: &Store, csv_path: &Path, json: bool) -> Result<()> {
    let Some(round) = store.latest_round()? else {
        bail!("no scores yet: run `thresh train` first");
    };
    let mut scores: Vec<(Id, StoredScore)> = store.scores(round)?;
    scores.sort_by(|a, b| b.1.loss.total_cmp(&a.1.loss).then(a.0.cmp(&b.0)));
    let member = queues::membership(store)?;
    let mut w = csv::Writer::from_path(csv_path)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let mut rows = 0;
    for (id, s) in &scores {
        let Some(sample) = store.sample(id)? else {
            continue;
        };
        for src in &sample.sources {
            w.serialize(ScoreRow {
                path: &src.path,
                given: src.given.as_deref().unwrap_or(""),
                suggested: &s.suggested,
                loss: s.loss,
                margin: s.margin,
                el2n: s.el2n,
                forgetting: s.forgetting,
                queue: member.get(id).copied().unwrap_or(""),
                state: sample.state.name(),
            })?;
            rows += 1;
        }
    }
    w.flush()
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"csv": csv_path.display().to_string(), "round": round, "rows": rows})
        );
    } else {
        println!(
            "wrote {rows} rows of round {round} to {}",
            csv_path.display()
        );
    }
    Ok(())
}
