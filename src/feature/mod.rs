//! The dataset as the model sees it: each scored sample's embedding (`embed`), and what
//! its neighbours in that space say about it (`knn`): similar samples, an outlier score
//! and whether the nearest samples carry the same label; one sample's look-alikes as a
//! queue (`similar`); a 2-D map of them all (`tsne`, `map`).

pub mod embed;
pub mod knn;
pub mod map;
pub mod similar;
pub mod tsne;

use crate::store::Id;
use embed::Embedding;
use serde::{Deserialize, Serialize};

/// A scored sample's neighbourhood in its round's embedding space, stored with its score:
/// why it looks suspicious (its neighbours carry another label, or nothing looks like it)
/// and where its look-alikes are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbours {
    /// The nearest embedded samples of the round, nearest first, with cosine distance.
    pub near: Vec<(Id, f32)>,
    /// Cosine distance to the k-th nearest (`knn::K`): large when nothing looks like it.
    pub outlier: f32,
    /// Share of the labelled neighbours carrying the sample's own label at scoring time.
    pub agreement: Option<f32>,
}

/// One embedded sample: its id, its label when it was scored (none when unlabelled).
pub struct Embedded {
    pub id: Id,
    pub label: Option<usize>,
    pub embedding: Embedding,
}

/// The neighbourhoods of the first `count` of `embedded` among all of them, k = `knn::K`,
/// computed on the quantised vectors as stored (so a later query from the store agrees).
pub fn neighbours(embedded: &[Embedded], count: usize) -> Vec<Neighbours> {
    let vectors: Vec<Vec<f32>> = embedded.iter().map(|e| e.embedding.values()).collect();
    let labels: Vec<Option<usize>> = embedded.iter().map(|e| e.label).collect();
    let index = knn::Index::new(&vectors);
    knn::neighbourhoods(&index, &labels, count, knn::K)
        .into_iter()
        .map(|h| Neighbours {
            near: h
                .near
                .iter()
                .map(|n| (embedded[n.row].id, n.distance))
                .collect(),
            outlier: h.outlier,
            agreement: h.agreement,
        })
        .collect()
}
