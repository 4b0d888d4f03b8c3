//! `thresh prune`: a smaller version of the data without its least informative samples.

use super::progress::TrainBars;
use crate::pipeline::prune::{self, PruneConfig, PruneRecord};
use crate::store::Store;
use crate::train::backend::BackendChoice;
use crate::train::prune::PruneBy;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Share of each class's samples outside the test split to keep.
    #[arg(long, default_value_t = prune::DEFAULT_KEEP)]
    pub keep: f64,
    /// What ranks the samples within each class: EL2N (early-training error norm),
    /// forgetting events, loss, or random (the baseline to beat).
    #[arg(long, value_enum, default_value_t = PruneBy::El2n)]
    pub by: PruneBy,
    /// Trainings from different initialisations the scores are averaged over.
    #[arg(long, default_value_t = prune::DEFAULT_INITS)]
    pub inits: usize,
    /// Epochs per training (default: 4 for el2n and loss, 12 for forgetting).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Name of the pruned version.
    #[arg(long, default_value = prune::DEFAULT_NAME)]
    pub name: String,
    /// Network width (64 = the reference network).
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Also write each scored sample's scores: path,label,el2n,loss,forgetting,never_learned,kept.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[derive(Serialize)]
struct Row<'a> {
    path: &'a str,
    label: &'a str,
    el2n: f32,
    loss: f32,
    forgetting: u32,
    never_learned: u8,
    kept: u8,
}

pub fn prune_cmd(store: &Store, choice: BackendChoice, a: PruneArgs, json: bool) -> Result<()> {
    let compute = super::synth::compute(choice)?;
    let mut cfg = PruneConfig::for_store(store.meta(), a.by);
    cfg.keep = a.keep;
    cfg.inits = a.inits;
    if let Some(epochs) = a.epochs {
        cfg.train.epochs = epochs;
    }
    cfg.train.seed = a.seed;
    cfg.train.model.width = a.width;
    let bars = TrainBars::new(json);
    let never = AtomicBool::new(false);
    let p = prune::prune(
        store,
        &compute,
        &a.name,
        &cfg,
        &mut |e| bars.show(&e),
        &never,
    )?;
    bars.finish();
    if let Some(path) = &a.csv {
        let classes = &store.meta().classes;
        let mut w = csv::Writer::from_path(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let s = &p.scores;
        for (i, id) in p.ids.iter().enumerate() {
            let Some(sample) = store.sample(id)? else {
                continue;
            };
            let path = sample.sources.first().map_or("", |s| s.path.as_str());
            w.serialize(Row {
                path,
                label: &classes[p.labels[i]],
                el2n: s.el2n[i],
                loss: s.loss[i],
                forgetting: s.forgetting[i],
                never_learned: s.never_learned[i] as u8,
                kept: !p.dropped.contains(id) as u8,
            })?;
        }
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string(&p.record)?);
    } else {
        print!("{}", render(&p.record));
    }
    Ok(())
}

/// The summary of a pruning, with what to run next.
pub fn render(r: &PruneRecord) -> String {
    let how = if r.inits == 0 {
        "drawn at random".to_string()
    } else {
        format!(
            "ranked by {} over {} initialisation(s) × {} epochs",
            r.by.name(),
            r.inits,
            r.epochs
        )
    };
    let mut s = format!(
        "version {}: kept {} of the {} samples outside the test split ({:.0}% of each class, {how}) and all {} test samples; {:.0} s\n",
        r.name,
        r.kept,
        r.pool,
        r.keep * 100.0,
        r.test,
        r.wall_s
    );
    let per: Vec<String> = r
        .classes
        .iter()
        .map(|(c, n, k)| format!("{c} {k}/{n}"))
        .collect();
    s.push_str(&format!("kept per class: {}\n", per.join(", ")));
    s.push_str(&format!(
        "full data: version {}{}\ncompare: thresh eval --versions {},{}\n",
        r.base,
        if r.base_frozen { " (frozen now)" } else { "" },
        r.base,
        r.name
    ));
    s
}
