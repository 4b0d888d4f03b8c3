//! The two queues a round fills from its scores: **accept** (the K lowest-loss samples, to
//! confirm in bulk) and **review** (the L highest-loss samples, to look at one by one with
//! the model's suggested label).

use crate::store::{Id, State, Store};
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const CERTIFY: &str = "certify";
pub const ACCEPT: &str = "accept";
pub const REVIEW: &str = "review";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The round whose scores filled it (0 for the seed set).
    pub round: u32,
    /// In the order to show: lowest loss first (accept), highest loss first (review).
    pub ids: Vec<Id>,
    /// Exceptions left out of a bulk accept: looked at, not confirmed, left unreviewed.
    #[serde(default)]
    pub skipped: Vec<Id>,
}

impl Queue {
    pub fn new(round: u32, ids: Vec<Id>) -> Self {
        Queue {
            round,
            ids,
            skipped: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RankReport {
    pub round: u32,
    pub candidates: usize,
    pub accept: usize,
    pub review: usize,
}

/// A scored, unreviewed sample.
#[derive(Clone, Copy, Debug)]
pub struct Scored {
    pub id: Id,
    pub loss: f32,
    /// The model's suggested label differs from the current one.
    pub disagrees: bool,
}

/// Split scored unreviewed samples into the queues. Pure.
///
/// Review: the L highest-loss samples the model disagrees with (a flag is a claim that the
/// label is wrong; a sample the model agrees with is not flagged however hard it is).
/// Accept: the K lowest-loss samples the model agrees with. Samples in neither wait for a
/// later round's model.
pub fn split(mut scored: Vec<Scored>, k: usize, l: usize) -> (Vec<Id>, Vec<Id>) {
    scored.sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.id.cmp(&b.id)));
    let review: Vec<Id> = scored
        .iter()
        .rev()
        .filter(|s| s.disagrees)
        .take(l)
        .map(|s| s.id)
        .collect();
    let accept = scored
        .iter()
        .filter(|s| !s.disagrees)
        .take(k)
        .map(|s| s.id)
        .collect();
    (accept, review)
}

/// Fill the queues from the latest round's scores. Only samples still unreviewed qualify.
pub fn rank(store: &Store, k: usize, l: usize) -> Result<RankReport> {
    let Some(round) = store.latest_round()? else {
        bail!("no scores yet: run `thresh train` first");
    };
    // Only the loss, the suggestion, the state and the label are needed: partial records
    // parse several times faster, and the lookups run on all cores.
    #[derive(Deserialize)]
    struct Brief {
        loss: f32,
        suggested: String,
    }
    let scores: Vec<(Id, Brief)> = store.scores(round)?;
    let scored = scores
        .par_iter()
        .map(|(id, s)| {
            Ok(match store.sample_brief(id)? {
                Some((State::Unreviewed, label)) => Some(Scored {
                    id: *id,
                    loss: s.loss,
                    disagrees: label.as_deref() != Some(s.suggested.as_str()),
                }),
                _ => None,
            })
        })
        .collect::<Result<Vec<Option<Scored>>>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let candidates = scored.len();
    let (accept, review) = split(scored, k, l);
    let report = RankReport {
        round,
        candidates,
        accept: accept.len(),
        review: review.len(),
    };
    store.put_queue(ACCEPT, &Queue::new(round, accept))?;
    store.put_queue(REVIEW, &Queue::new(round, review))?;
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
    for name in [CERTIFY, ACCEPT, REVIEW] {
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
    fn lowest_agreed_to_accept_highest_disputed_to_review() {
        let s: Vec<Scored> = (0..10u8)
            .map(|i| Scored {
                id: Id([i; 32]),
                loss: i as f32,
                disagrees: i >= 6 || i == 1,
            })
            .collect();
        let (a, r) = split(s.clone(), 3, 2);
        assert_eq!(a, vec![Id([0; 32]), Id([2; 32]), Id([3; 32])]);
        assert_eq!(r, vec![Id([9; 32]), Id([8; 32])]);
        let (a, r) = split(s, 100, 100);
        assert_eq!((a.len(), r.len()), (5, 5));
        assert!(a.iter().all(|x| !r.contains(x)));
    }
}
