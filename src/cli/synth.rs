//! `gan train`, `gan generate` and `eval`.

use super::progress::TrainBars;
use crate::pipeline::decide;
use crate::pipeline::eval::{self, EvalConfig};
use crate::pipeline::synth::{self, SYNTHETIC};
use crate::store::Store;
use crate::train::backend::{self, BackendChoice, Compute};
use crate::train::gan::GanEvent;
use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::AtomicBool;

#[derive(Subcommand, Debug)]
pub enum GanCommand {
    /// Train the conditional GAN against the latest round's classifier (frozen).
    Train {
        /// Iterations (batch 32). The paper ran up to 200K on GPUs; the default suits a CPU.
        #[arg(long, default_value_t = 3000)]
        iters: usize,
        /// Generator width (channels of its last hidden layer).
        #[arg(long)]
        width: Option<usize>,
        /// Adam learning rate (default 2e-4; the paper used 1e-4 over up to 200K iterations).
        #[arg(long)]
        lr: Option<f64>,
        /// Iterations with γ = 0 before it ramps to 0.5 over the rest (default: five sixths).
        #[arg(long)]
        hold: Option<usize>,
    },
    /// Generate samples into the synthetic queue (they join the data only when approved).
    Generate {
        #[arg(long, default_value_t = 100)]
        n: usize,
        /// Only this class (default: all classes in turn).
        #[arg(long)]
        class: Option<String>,
        /// Resample noise values beyond this magnitude.
        #[arg(long, default_value_t = 0.7)]
        truncation: f32,
        /// Approve everything generated (for scripts).
        #[arg(long)]
        approve_all: bool,
    },
}

pub(super) fn compute(choice: BackendChoice) -> Result<Compute> {
    let c = backend::select(choice)?;
    if let Some(n) = &c.notice {
        eprintln!("thresh: {n}");
    }
    Ok(c)
}

pub fn gan(store: &Store, choice: BackendChoice, cmd: GanCommand, json: bool) -> Result<()> {
    let compute = compute(choice)?;
    match cmd {
        GanCommand::Train {
            iters,
            width,
            lr,
            hold,
        } => {
            let bar = ProgressBar::new(iters as u64);
            bar.set_style(
                ProgressStyle::with_template("gan [{bar:30}] {pos}/{len} {msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            let never = AtomicBool::new(false);
            let rec = synth::train(
                store,
                &compute,
                iters,
                synth::GanOptions { width, lr, hold },
                &mut |e| match e {
                    GanEvent::Iter {
                        iter,
                        d_loss,
                        g_loss,
                        gamma,
                        samples_per_sec,
                        eta_s,
                        ..
                    } => {
                        bar.set_position(iter as u64);
                        bar.set_message(format!(
                            "D {d_loss:.3} G {g_loss:.3} γ {gamma:.2} {samples_per_sec:.0} samples/s eta {eta_s:.0}s"
                        ));
                        if bar.is_hidden() && !json && iter % 100 == 0 {
                            eprintln!("iteration {iter}: D {d_loss:.3} G {g_loss:.3} γ {gamma:.2}");
                        }
                    }
                    GanEvent::Check {
                        iter,
                        intended_rate,
                        ..
                    } => {
                        if json {
                        } else if bar.is_hidden() {
                            eprintln!(
                                "iteration {iter}: {:.1}% of fresh samples in their intended class",
                                intended_rate * 100.0
                            );
                        } else {
                            bar.println(format!(
                                "iteration {iter}: the frozen classifier puts {:.1}% of fresh samples in their intended class",
                                intended_rate * 100.0
                            ));
                        }
                    }
                },
                &never,
            )?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&rec)?);
            } else {
                let checks: Vec<String> = rec
                    .checks
                    .iter()
                    .map(|(i, r)| format!("{:.1}% at iteration {i}", r * 100.0))
                    .collect();
                println!(
                    "GAN trained: {} iterations at {:.2}/s against round {}'s classifier; intended-class rate {}",
                    rec.config.iters,
                    rec.iters_per_sec,
                    rec.classifier_round,
                    checks.join(", ")
                );
            }
        }
        GanCommand::Generate {
            n,
            class,
            truncation,
            approve_all,
        } => {
            let g = synth::generate(store, &compute, n, class.as_deref(), truncation)?;
            let approved = if approve_all && !g.ids.is_empty() {
                decide::accept_page(store, SYNTHETIC, &g.ids, &[])?.samples
            } else {
                0
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({"generated": g.ids.len(), "per_class": g.per_class, "approved": approved})
                );
            } else {
                println!(
                    "generated {} samples into the synthetic queue; {approved} approved",
                    g.ids.len()
                );
            }
        }
    }
    Ok(())
}

pub fn eval_cmd(
    store: &Store,
    choice: BackendChoice,
    versions: Option<String>,
    epochs: usize,
    width: usize,
    folds: bool,
    json: bool,
) -> Result<()> {
    let compute = compute(choice)?;
    let names: Vec<String> = match versions {
        Some(v) => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => store.version_names()?,
    };
    let meta = store.meta();
    let mut cfg = EvalConfig::paper(meta.classes.len(), meta.channels as usize);
    cfg.train.epochs = epochs;
    cfg.train.model.width = width;
    cfg.folds = folds;
    let bars = TrainBars::new(json);
    let never = AtomicBool::new(false);
    let (rows, clean) = eval::evaluate(
        store,
        &compute,
        &names,
        &cfg,
        &mut |_, e| bars.show(&e),
        &never,
    )?;
    bars.finish();
    if json {
        println!(
            "{}",
            serde_json::json!({"rows": rows, "test_labels_certified": clean})
        );
    } else {
        print!("{}", eval::render(&rows));
        if !clean {
            println!("note: no test sample is certified yet, so test labels are as imported");
        }
    }
    Ok(())
}
