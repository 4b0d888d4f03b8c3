//! The map: every sample embedded in the latest round that kept embeddings, laid out in 2-D
//! by t-SNE (`tsne`), computed once per round on a worker and kept in the store; with each
//! point what the Map screen draws it by — its label now, whether the model's suggestion
//! disagrees with it, whether confident learning flagged it, whether it is an outlier.

use super::embed::Embedding;
use super::tsne::{self, Params};
use crate::store::{Id, Store};
use crate::train::StoredScore;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

/// Share of a round's samples drawn as outliers: those with the largest outlier score.
pub const OUTLIER_SHARE: f32 = 0.02;

#[derive(Clone, Debug, PartialEq)]
pub struct MapPoint {
    pub id: Id,
    pub xy: [f32; 2],
    /// The sample's label now (an index into `Map::classes`), none when unlabelled.
    pub label: Option<usize>,
    /// The round's suggestion differs from the label.
    pub disagrees: bool,
    /// Flagged by confident learning in the round.
    pub flagged: bool,
    /// Among the round's most isolated samples (`OUTLIER_SHARE`).
    pub outlier: bool,
}

#[derive(Clone, Debug)]
pub struct Map {
    pub round: u32,
    pub classes: Vec<String>,
    pub points: Vec<MapPoint>,
    /// Whether the layout was computed now (false: read back from the store).
    pub computed: bool,
}

impl Map {
    /// The point nearest to `at` on the map.
    pub fn nearest(&self, at: [f32; 2]) -> Option<&MapPoint> {
        self.points.iter().min_by(|a, b| {
            let d = |p: &MapPoint| (p.xy[0] - at[0]).powi(2) + (p.xy[1] - at[1]).powi(2);
            d(a).total_cmp(&d(b))
        })
    }

    /// The points inside the rectangle with corners `a` and `b`.
    pub fn inside(&self, a: [f32; 2], b: [f32; 2]) -> Vec<Id> {
        let (x0, x1) = (a[0].min(b[0]), a[0].max(b[0]));
        let (y0, y1) = (a[1].min(b[1]), a[1].max(b[1]));
        self.points
            .iter()
            .filter(|p| (x0..=x1).contains(&p.xy[0]) && (y0..=y1).contains(&p.xy[1]))
            .map(|p| p.id)
            .collect()
    }

    /// The smallest box holding every point, as (x range, y range).
    pub fn bounds(&self) -> ([f32; 2], [f32; 2]) {
        let mut b = ([f32::MAX, f32::MIN], [f32::MAX, f32::MIN]);
        for p in &self.points {
            b.0 = [b.0[0].min(p.xy[0]), b.0[1].max(p.xy[0])];
            b.1 = [b.1[0].min(p.xy[1]), b.1[1].max(p.xy[1])];
        }
        if self.points.is_empty() {
            return ([-1.0, 1.0], [-1.0, 1.0]);
        }
        b
    }
}

/// The latest round that kept embeddings.
pub fn latest_embedded_round(store: &Store) -> Result<u32> {
    let Some(latest) = store.latest_round()? else {
        bail!("no rounds yet: train a round first (its scoring keeps each sample's embedding)");
    };
    for round in (0..=latest).rev() {
        if store.has_embeddings(round)? {
            return Ok(round);
        }
    }
    bail!("no round kept embeddings (they were scored before thresh kept them): train a round")
}

/// The map of the latest embedded round: read back if it was computed before, else laid
/// out now (progress: stage, done, total) and kept. Labels and flags are read fresh.
pub fn load_or_compute(
    store: &Store,
    params: &Params,
    progress: &mut dyn FnMut(&str, usize, usize),
    cancel: &AtomicBool,
) -> Result<Map> {
    let round = latest_embedded_round(store)?;
    let (layout, computed) = match store.map(round)? {
        Some(points) => (points, false),
        None => {
            let rows = store.embeddings(round)?;
            let vectors: Vec<Vec<f32>> = rows
                .iter()
                .map(|(id, b)| Embedding::decode(id, b).map(|e| e.values()))
                .collect::<Result<_>>()?;
            let xy = tsne::project(&vectors, params, progress, cancel)
                .map_err(|_| anyhow::anyhow!("the map was cancelled"))?;
            let points: Vec<(Id, [f32; 2])> = rows.iter().map(|(id, _)| *id).zip(xy).collect();
            store.put_map(round, &points)?;
            store.flush()?;
            (points, true)
        }
    };
    let classes = store.meta().classes.clone();
    let class_of: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let scores: HashMap<Id, StoredScore> = store.scores(round)?.into_iter().collect();
    let mut isolation: Vec<f32> = scores
        .values()
        .filter_map(|s| s.neighbours.as_ref().map(|n| n.outlier))
        .collect();
    isolation.sort_by(|a, b| b.total_cmp(a));
    let cut = isolation
        .get(((isolation.len() as f32 * OUTLIER_SHARE) as usize).saturating_sub(1))
        .copied()
        .unwrap_or(f32::INFINITY);
    let mut points = Vec::with_capacity(layout.len());
    for (id, xy) in layout {
        let Some(sample) = store.sample(&id)? else {
            continue;
        };
        let score = scores.get(&id);
        let label = sample.label.as_deref();
        points.push(MapPoint {
            id,
            xy,
            label: label.and_then(|l| class_of.get(l).copied()),
            disagrees: score.is_some_and(|s| label.is_some_and(|l| l != s.suggested)),
            flagged: score.is_some_and(|s| s.flagged),
            outlier: score
                .and_then(|s| s.neighbours.as_ref())
                .is_some_and(|n| n.outlier >= cut),
        });
    }
    Ok(Map {
        round,
        classes,
        points,
        computed,
    })
}
