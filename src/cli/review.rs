//! Pipeline subcommands: seed set, decisions and undo, bulk accept, simulate, balance,
//! split, versions and export.

use super::progress::TrainBars;
use super::train::TrainOptions;
use crate::pipeline::decide::{self, Decision};
use crate::pipeline::queues::{Queue, QueueName};
use crate::pipeline::simulate::{self, Oracle, SimConfig};
use crate::pipeline::{balance, rounds, split, versions};
use crate::store::{Id, Store};
use crate::train::backend::{self, BackendChoice};
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn emit<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// A sample named on the command line: an imported path (as given or canonical), or its id
/// (full hex or a unique prefix of at least 8 digits).
pub fn resolve(store: &Store, name: &str) -> Result<Id> {
    if let Some(id) = store.id_of_path(name)? {
        return Ok(id);
    }
    if let Ok(abs) = Path::new(name).canonicalize() {
        if let Some(id) = store.id_of_path(&abs.display().to_string())? {
            return Ok(id);
        }
    }
    let hex = name.to_ascii_lowercase();
    if hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut found = None;
        for s in store.samples() {
            let s = s?;
            if s.id.to_hex().starts_with(&hex) {
                if found.is_some() {
                    bail!("id prefix {name} matches more than one sample: give more digits");
                }
                found = Some(s.id);
            }
        }
        if let Some(id) = found {
            return Ok(id);
        }
    }
    bail!("no sample with path or id {name:?} in the store")
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Action {
    Certify,
    Relabel,
    Reject,
    Duplicate,
    Restore,
}

pub fn seed(store: &Store, n: usize, seed: u64, json: bool) -> Result<()> {
    let q = rounds::seed_set(store, n, seed)?;
    emit(json, &serde_json::json!({"certify": q.ids.len()}), || {
        format!(
            "{} samples drawn into the certify queue: certify them in the UI or with `thresh decide`",
            q.ids.len()
        )
    })
}

pub fn decide_cmd(
    store: &Store,
    sample: &str,
    action: Action,
    value: Option<String>,
    json: bool,
) -> Result<()> {
    let id = resolve(store, sample)?;
    let need = |what: &str| value.clone().ok_or_else(|| anyhow!("{what}"));
    let decision = match action {
        Action::Certify => Decision::Certify,
        Action::Relabel => Decision::Relabel(need("relabel needs the new label")?),
        Action::Reject => Decision::Reject(value.clone().unwrap_or_else(|| "junk".into())),
        Action::Duplicate => {
            Decision::Duplicate(resolve(store, &need("duplicate needs the kept sample")?)?)
        }
        Action::Restore => Decision::Restore,
    };
    let applied = decide::decide(store, &id, &decision)?;
    close(store, applied.closed)?;
    emit(json, &applied, || {
        format!("{} {} (log {})", applied.action, id.short(), applied.key)
    })
}

/// A decision that finished a round's queues: count its validated share now (the command
/// line can afford the scan).
fn close(store: &Store, round: Option<u32>) -> Result<()> {
    if let Some(r) = round {
        crate::pipeline::rounds::close(store, r)?;
    }
    Ok(())
}

pub fn undo(store: &Store, json: bool) -> Result<()> {
    let u = decide::undo(store)?;
    close(store, u.closed)?;
    emit(json, &u, || {
        format!(
            "undid {} of {} sample(s) (log {})",
            u.action, u.samples, u.reverted
        )
    })
}

pub fn accept(
    store: &Store,
    name: QueueName,
    n: Option<usize>,
    except: &[String],
    json: bool,
) -> Result<()> {
    let q: Queue = store
        .queue(name)?
        .ok_or_else(|| anyhow!("there is no {name} queue yet"))?;
    let page: Vec<Id> = q
        .ids
        .iter()
        .take(n.unwrap_or(q.ids.len()))
        .copied()
        .collect();
    let exceptions = except
        .iter()
        .map(|e| resolve(store, e))
        .collect::<Result<Vec<_>>>()?;
    let applied = decide::accept_page(store, name, &page, &exceptions)?;
    close(store, applied.closed)?;
    emit(json, &applied, || {
        format!(
            "accepted {} sample(s) of the {name} queue, {} left out (log {})",
            applied.samples,
            exceptions.len(),
            applied.key
        )
    })
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Truth file: columns path,true (paths relative to the file; `true` = label, junk or corrupt).
    #[arg(long)]
    pub oracle: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    #[arg(long, default_value_t = rounds::DEFAULT_SEED_SET)]
    pub seed_set: usize,
    /// Accept-queue size (default: 500 scaled to the store's size, as the paper's 500 of 2,880).
    #[arg(long)]
    pub k: Option<usize>,
    /// Review-queue size (default: 100, scaled the same way).
    #[arg(long)]
    pub l: Option<usize>,
    /// Start each round after the first from the previous round's weights (warm start).
    #[arg(long)]
    pub warm: bool,
    /// Probability threshold of the pseudo queue (unlabelled samples' suggestions).
    #[arg(long, default_value_t = crate::pipeline::queues::DEFAULT_PSEUDO)]
    pub pseudo: f32,
    #[command(flatten)]
    pub options: TrainOptions,
}

pub fn simulate_cmd(
    store: &Store,
    choice: BackendChoice,
    a: SimulateArgs,
    json: bool,
) -> Result<()> {
    let oracle = Oracle::load(&a.oracle)?;
    let compute = backend::select(choice)?;
    if let Some(n) = &compute.notice {
        eprintln!("thresh: {n}");
    }
    let (_, total) = rounds::validated(store)?;
    let (k0, l0) = rounds::scaled_k_l(total);
    let run = a.options.run_config(store);
    let cfg = SimConfig {
        rounds: a.rounds,
        seed_set: a.seed_set,
        k: a.k.unwrap_or(k0),
        l: a.l.unwrap_or(l0),
        page: 50,
        run,
        seed: a.options.seed,
        warm: a.warm,
        pseudo: a.pseudo,
    };
    if !json {
        eprintln!(
            "thresh: simulating up to {} rounds on {} (seed set {}, K {}, L {})",
            cfg.rounds,
            compute.label(),
            cfg.seed_set,
            cfg.k,
            cfg.l
        );
    }
    let bars = TrainBars::new(json);
    let never = AtomicBool::new(false);
    let report = simulate::simulate(
        store,
        &oracle,
        &compute,
        &cfg,
        &mut |e| bars.show(&e),
        &never,
    )?;
    bars.finish();
    emit(json, &report, || {
        let f = &report.flags;
        format!(
            "{}\nwrong labels + junk: {} — found {} ({:.1}%): {} in the seed set, {} in review queues; {} still unreviewed\nreview flags: {} with precision {:.3}; accept-queue misses: {}; pseudo-labels: {} queued, {} right (precision {:.3}); {} decisions",
            rounds::render_table(&report.rounds).trim_end(),
            f.wrong,
            f.found,
            f.recall * 100.0,
            f.found_in_seed,
            f.found_in_review,
            f.still_unreviewed,
            f.review_flags,
            f.review_precision,
            f.accept_misses,
            f.pseudo_queued,
            f.pseudo_right,
            f.pseudo_precision,
            report.decisions
        )
    })
}

pub fn balance_cmd(store: &Store, target: Option<usize>, seed: u64, json: bool) -> Result<()> {
    let r = balance::balance(store, target, seed)?;
    emit(json, &r, || {
        let mut s = format!("balanced to {} per class\n", r.target);
        for (c, n, moved, back) in &r.classes {
            s.push_str(&format!(
                "  {c:>6}: {n:>5} in the data, {moved} to surplus, {back} back from surplus\n"
            ));
        }
        s.trim_end().to_string()
    })
}

pub fn split_cmd(store: &Store, test: f64, folds: u32, seed: u64, json: bool) -> Result<()> {
    let r = split::split(store, test, folds, seed)?;
    emit(json, &r, || {
        let mut s = format!(
            "test: {} samples; folds: {}\n",
            r.test,
            r.folds
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        );
        if r.leaks.is_empty() {
            s.push_str("leakage: no near-duplicate pair crosses splits");
        } else {
            s.push_str(&format!(
                "leakage: {} near-duplicate pair(s) cross splits:\n",
                r.leaks.len()
            ));
            for l in &r.leaks {
                s.push_str(&format!(
                    "  {} ({}) ~ {} ({}): distance {}, similarity {:.3}\n",
                    l.a.short(),
                    l.a_split,
                    l.b.short(),
                    l.b_split,
                    l.distance,
                    l.similarity
                ));
            }
        }
        s.trim_end().to_string()
    })
}

pub fn version(store: &Store, name: &str, json: bool) -> Result<()> {
    let v = versions::freeze(store, name)?;
    emit(
        json,
        &serde_json::json!({"version": v.name, "samples": v.entries.len()}),
        || format!("version {} frozen: {} samples", v.name, v.entries.len()),
    )
}

pub fn export(store: &Store, dir: &Path, version: Option<&str>, json: bool) -> Result<()> {
    let r = versions::export(store, dir, version)?;
    emit(json, &r, || {
        format!(
            "exported {} images to {} (manifest {})",
            r.files,
            r.dir.display(),
            r.manifest.display()
        )
    })
}

pub fn rounds_table(store: &Store, json: bool) -> Result<()> {
    let rows = rounds::table(store)?;
    emit(json, &rows, || {
        if rows.is_empty() {
            "no rounds yet".to_string()
        } else {
            rounds::render_table(&rows).trim_end().to_string()
        }
    })
}
