//! The two queues a round fills from its scores: **accept** (the K lowest-loss samples, to
//! confirm in bulk) and **review** (the L highest-loss samples, to look at one by one with
//! the model's suggested label).

use crate::store::{Id, State, Store};
use crate::train::StoredScore;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const ACCEPT: &str = "accept";
pub const REVIEW: &str = "review";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub round: u32,
    /// In the order to show: lowest loss first (accept), highest loss first (review).
    pub ids: Vec<Id>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankReport {
    pub round: u32,
    pub candidates: usize,
    pub accept: usize,
    pub review: usize,
}

/// Split scored unreviewed samples into the queues. Pure: `scored` is (id, loss).
pub fn split(mut scored: Vec<(Id, f32)>, k: usize, l: usize) -> (Vec<Id>, Vec<Id>) {
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let l = l.min(scored.len());
    let k = k.min(scored.len() - l);
    let accept = scored[..k].iter().map(|s| s.0).collect();
    let review = scored[scored.len() - l..]
        .iter()
        .rev()
        .map(|s| s.0)
        .collect();
    (accept, review)
}

/// Fill the queues from the latest round's scores. Only samples still unreviewed qualify.
pub fn rank(store: &Store, k: usize, l: usize) -> Result<RankReport> {
    let Some(round) = store.latest_round()? else {
        bail!("no scores yet: run `thresh train` first");
    };
    let scores: Vec<(Id, StoredScore)> = store.scores(round)?;
    let mut scored = Vec::new();
    for (id, s) in &scores {
        if let Some(sample) = store.sample(id)? {
            if sample.state == State::Unreviewed {
                scored.push((*id, s.loss));
            }
        }
    }
    let candidates = scored.len();
    let (accept, review) = split(scored, k, l);
    let report = RankReport {
        round,
        candidates,
        accept: accept.len(),
        review: review.len(),
    };
    store.put_queue(ACCEPT, &Queue { round, ids: accept })?;
    store.put_queue(REVIEW, &Queue { round, ids: review })?;
    store.append_log(
        None,
        "rank",
        None,
        Some(serde_json::to_value(&report)?),
        Some(round),
    )?;
    store.flush()?;
    Ok(report)
}

/// Which queue each sample is in.
pub fn membership(store: &Store) -> Result<HashMap<Id, &'static str>> {
    let mut m = HashMap::new();
    for name in [ACCEPT, REVIEW] {
        if let Some(q) = store.queue::<Queue>(name)? {
            for id in q.ids {
                m.insert(id, name);
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_to_accept_highest_to_review_never_both() {
        let s: Vec<(Id, f32)> = (0..10u8).map(|i| (Id([i; 32]), i as f32)).collect();
        let (a, r) = split(s.clone(), 3, 2);
        assert_eq!(a, vec![Id([0; 32]), Id([1; 32]), Id([2; 32])]);
        assert_eq!(r, vec![Id([9; 32]), Id([8; 32])]);
        let (a, r) = split(s, 8, 5);
        assert_eq!(a.len() + r.len(), 10);
        assert!(a.iter().all(|x| !r.contains(x)));
    }
}
