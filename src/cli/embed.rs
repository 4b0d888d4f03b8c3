//! The feature space from the command line: `thresh embed` writes a round's embeddings as
//! CSV with a 2-D projection to plot them; `thresh similar` lists one sample's look-alikes.

use crate::feature::embed::{self, Embedding};
use crate::store::{Id, Store};
use crate::train::StoredScore;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// Write one row per source file of every embedded sample of `round` (default: the latest):
/// path, given, suggested, state, flagged, the projection x and y, then the vector.
pub fn embed_csv(store: &Store, csv_path: &Path, round: Option<u32>, json: bool) -> Result<()> {
    let round = match round {
        Some(r) => r,
        None => match store.latest_round()? {
            Some(r) => r,
            None => bail!("no rounds yet: run `thresh train` first"),
        },
    };
    let rows: Vec<(Id, Embedding)> = store
        .embeddings(round)?
        .into_iter()
        .map(|(id, b)| Embedding::decode(&id, &b).map(|e| (id, e)))
        .collect::<Result<_>>()?;
    if rows.is_empty() {
        bail!("round {round} has no embeddings (it was scored before thresh kept them): train a new round");
    }
    let vectors: Vec<Vec<f32>> = rows.iter().map(|(_, e)| e.values()).collect();
    let xy = embed::pca2(&vectors);
    let scores: HashMap<Id, StoredScore> = store.scores(round)?.into_iter().collect();
    let dims = vectors[0].len();
    let mut w = csv::Writer::from_path(csv_path)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let mut header: Vec<String> = ["path", "given", "suggested", "state", "flagged", "x", "y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((0..dims).map(|i| format!("e{i}")));
    w.write_record(&header)?;
    let mut written = 0;
    for (((id, _), v), p) in rows.iter().zip(&vectors).zip(&xy) {
        let Some(sample) = store.sample(id)? else {
            continue;
        };
        let score = scores.get(id);
        for src in &sample.sources {
            let mut rec = vec![
                src.path.clone(),
                src.given.clone().unwrap_or_default(),
                score.map(|s| s.suggested.clone()).unwrap_or_default(),
                sample.state.name().to_string(),
                (score.is_some_and(|s| s.flagged) as u8).to_string(),
                format!("{:.4}", p[0]),
                format!("{:.4}", p[1]),
            ];
            rec.extend(v.iter().map(|x| format!("{x:.4}")));
            w.write_record(&rec)?;
            written += 1;
        }
    }
    w.flush()
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"csv": csv_path.display().to_string(), "round": round, "rows": written, "dims": dims})
        );
    } else {
        println!(
            "wrote {written} rows of round {round} ({dims}-d embeddings, principal-component x/y) to {}",
            csv_path.display()
        );
    }
    Ok(())
}

/// Print the `k` samples nearest to `name` (path or id) and make them the `similar` queue.
pub fn similar(store: &Store, name: &str, k: usize, json: bool) -> Result<()> {
    let of = super::review::resolve(store, name)?;
    let found = crate::feature::similar::fill_queue(store, &of, k)?;
    let mut rows = Vec::with_capacity(found.near.len());
    for (id, distance) in &found.near {
        let sample = store.sample(id)?;
        let path = sample
            .as_ref()
            .and_then(|s| s.sources.first())
            .map_or_else(String::new, |s| s.path.clone());
        let label = sample.as_ref().and_then(|s| s.label.clone());
        let state = sample.as_ref().map_or("gone", |s| s.state.name());
        rows.push((id, *distance, path, label, state));
    }
    if json {
        let near: Vec<_> = rows
            .iter()
            .map(|(id, d, path, label, state)| {
                serde_json::json!({"id": id.to_hex(), "distance": d, "path": path, "label": label, "state": state})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"of": found.of.to_hex(), "round": found.round, "searched": found.searched, "near": near})
        );
    } else {
        println!(
            "{} samples nearest to {} among {} embedded in round {} (queue `similar`):",
            rows.len(),
            name,
            found.searched,
            found.round
        );
        for (id, d, path, label, state) in &rows {
            println!(
                "{:.4}  {}  {:<12} {:<11} {path}",
                d,
                id.short(),
                label.as_deref().unwrap_or("—"),
                state
            );
        }
    }
    Ok(())
}
