//! How well scores find label errors, against a truth file: the measure behind the
//! training-engine quality bar.

use crate::dedup::quality::Truth;
use crate::store::{Id, Store};
use anyhow::Result;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    /// Scored samples.
    pub scored: usize,
    /// Scored samples whose current label is wrong by the truth (junk counts as wrong).
    pub wrong: usize,
    /// Of the `wrong` highest-loss samples, how many are wrong: precision at |wrong|.
    pub hits: usize,
    pub precision: f64,
    /// Same, counting only wrong labels (junk left out of both sides).
    pub precision_labels_only: f64,
}

/// Rank `scores` (id, loss) by loss and measure precision among the top |wrong|.
pub fn ranking(store: &Store, truth: &Truth, scores: &[(Id, f32)]) -> Result<Ranking> {
    // (loss, is wrong, is junk) per scored sample with a known truth.
    let mut rows = Vec::new();
    for (id, loss) in scores {
        let Some(s) = store.sample(id)? else { continue };
        let label = s.label.as_deref().unwrap_or("");
        let truths: Vec<&str> = s
            .sources
            .iter()
            .filter_map(|src| truth.label_of(&src.path))
            .collect();
        let Some(&t) = truths.first() else { continue };
        rows.push((*loss, t != label, t == "junk"));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let measure = |rows: &[(f32, bool, bool)]| {
        let wrong = rows.iter().filter(|r| r.1).count();
        let hits = rows.iter().take(wrong).filter(|r| r.1).count();
        (
            wrong,
            hits,
            if wrong == 0 {
                1.0
            } else {
                hits as f64 / wrong as f64
            },
        )
    };
    let (wrong, hits, precision) = measure(&rows);
    let labels_only: Vec<_> = rows.iter().copied().filter(|r| !r.2).collect();
    Ok(Ranking {
        scored: rows.len(),
        wrong,
        hits,
        precision,
        precision_labels_only: measure(&labels_only).2,
    })
}
