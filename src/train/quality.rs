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

/// Whether sample `id`'s current label is wrong by the truth, and whether it is junk;
/// `None` when the truth does not know it.
fn judged(store: &Store, truth: &Truth, id: &Id) -> Result<Option<(bool, bool)>> {
    let Some(s) = store.sample(id)? else {
        return Ok(None);
    };
    let label = s.label.as_deref().unwrap_or("");
    let t = s.sources.iter().find_map(|src| truth.label_of(&src.path));
    Ok(t.map(|t| (t != label, t == "junk")))
}

/// Rank `scores` (id, loss) by loss and measure precision among the top |wrong|.
pub fn ranking(store: &Store, truth: &Truth, scores: &[(Id, f32)]) -> Result<Ranking> {
    // (loss, is wrong, is junk) per scored sample with a known truth.
    let mut rows = Vec::new();
    for (id, loss) in scores {
        if let Some((wrong, junk)) = judged(store, truth, id)? {
            rows.push((*loss, wrong, junk));
        }
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

/// How a flagged set (confident learning's cut) meets the truth.
#[derive(Clone, Debug, Serialize)]
pub struct Flags {
    /// Scored samples with a known truth, and of those wrong (junk counts as wrong).
    pub scored: usize,
    pub wrong: usize,
    pub flagged: usize,
    /// Flagged and wrong.
    pub hits: usize,
    pub precision: f64,
    pub recall: f64,
}

/// Measure the flagged set of `scores` (id, flagged) against the truth.
pub fn flags(store: &Store, truth: &Truth, scores: &[(Id, bool)]) -> Result<Flags> {
    let (mut scored, mut wrong, mut flagged, mut hits) = (0, 0, 0, 0);
    for (id, f) in scores {
        let Some((w, _)) = judged(store, truth, id)? else {
            continue;
        };
        scored += 1;
        wrong += w as usize;
        flagged += *f as usize;
        hits += (w && *f) as usize;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Ok(Flags {
        scored,
        wrong,
        flagged,
        hits,
        precision: ratio(hits, flagged),
        recall: ratio(hits, wrong),
    })
}
