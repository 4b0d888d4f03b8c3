//! "Similar samples": one sample's nearest neighbours among every sample embedded in the
//! latest round that kept embeddings, as a queue to look through — one mistake found leads to
//! its copies and look-alikes, which tend to carry the same mistake.
//!
//! Exact search, one pass over the round's stored embeddings holding one decoded vector at a
//! time (100k samples: 26 MB of stored bytes read, ≈25M multiply-adds), so it runs as a job
//! on the worker, never on the UI thread.

use super::embed::Embedding;
use super::knn;
use crate::pipeline::queues::Queue;
use crate::store::{Id, QueueName, Store};
use anyhow::{bail, Result};
use serde::Serialize;

/// How many neighbours the similar queue holds by default.
pub const DEFAULT_K: usize = 24;

#[derive(Clone, Debug, Serialize)]
pub struct Similar {
    /// The round whose embeddings were searched.
    pub round: u32,
    pub of: Id,
    /// The nearest samples, nearest first, with cosine distance (0 = same direction).
    pub near: Vec<(Id, f32)>,
    /// How many embedded samples were searched.
    pub searched: usize,
}

/// The `k` samples nearest to `of` in the embedding space of the latest round that kept
/// embeddings.
pub fn similar(store: &Store, of: &Id, k: usize) -> Result<Similar> {
    let round = super::map::latest_embedded_round(store)?;
    let rows = store.embeddings(round)?;
    let Some(skip) = rows.iter().position(|(id, _)| id == of) else {
        bail!(
            "sample {} was not embedded in round {round} (only the samples a round scored or \
             trained on are): train a round that includes it",
            of.short()
        );
    };
    let query = Embedding::decode(of, &rows[skip].1)?.values();
    // Decoded one at a time; an unreadable row (shorter than its range) has no components
    // and is passed over by the search.
    let vectors = rows
        .iter()
        .map(|(_, b)| Embedding::from_bytes(b).map_or_else(Vec::new, |e| e.values()));
    let near = knn::nearest_to(&query, vectors, k, Some(skip))
        .into_iter()
        .map(|n| (rows[n.row].0, n.distance))
        .collect();
    Ok(Similar {
        round,
        of: *of,
        near,
        searched: rows.len(),
    })
}

/// Find the samples like `of` and write them as the `similar` queue: `of` first, then its
/// neighbours nearest first.
pub fn fill_queue(store: &Store, of: &Id, k: usize) -> Result<Similar> {
    let s = similar(store, of, k)?;
    let mut ids = vec![*of];
    ids.extend(s.near.iter().map(|(id, _)| *id));
    store.put_queue(QueueName::Similar, &Queue::new(s.round, ids))?;
    store.flush()?;
    Ok(s)
}
