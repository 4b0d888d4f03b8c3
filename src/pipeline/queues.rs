//! The two queues a round fills from its scores: **accept** (the K lowest-loss samples, to
//! confirm in bulk) and **review** (the L highest-loss samples, to look at one by one with
//! the model's suggested label) — plus **outliers**, the L unreviewed samples least like any
//! other in the round's embedding space, and **pseudo**, the unlabelled samples whose
//! suggested label the model is sure of.

use crate::store::{Id, State, Store};
pub use crate::store::{Queue, QueueName};
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const CERTIFY: QueueName = QueueName::Certify;
pub const ACCEPT: QueueName = QueueName::Accept;
pub const REVIEW: QueueName = QueueName::Review;
pub const OUTLIERS: QueueName = QueueName::Outliers;
pub const PSEUDO: QueueName = QueueName::Pseudo;

/// The probability at or above which the model's suggestion for an unlabelled sample goes
/// to the pseudo queue (seed `001`: accept pseudo-labels only where the model is sure).
/// Measured on the demo with 30% of its clean images unlabelled, after a first round on 178
/// certified samples: at ≥ 0.95, 89 of 447 queued, all right; ≥ 0.9, 162, all right; ≥ 0.8,
/// 262, all right; ≥ 0.7, 318 at precision 0.997; ≥ 0.5, 403 at 0.988. 0.9 keeps a margin
/// for data harder than the demo.
pub const DEFAULT_PSEUDO: f32 = 0.9;

#[derive(Clone, Debug, Serialize)]
pub struct RankReport {
    pub round: u32,
    pub candidates: usize,
    pub accept: usize,
    pub review: usize,
    pub outliers: usize,
    /// Unlabelled samples put in the pseudo queue, and the threshold they passed.
    pub pseudo: usize,
    pub pseudo_threshold: f32,
}

/// Loss below which the model gives the label more than half its probability (ln 2).
pub const CONFIDENT_LOSS: f32 = std::f32::consts::LN_2;

/// A scored, unreviewed sample.
#[derive(Clone, Copy, Debug)]
pub struct Scored {
    pub id: Id,
    pub loss: f32,
    /// The model's suggested label differs from the current one.
    pub disagrees: bool,
    /// The suggested class (index into the store's classes).
    pub class: usize,
}

/// Split scored unreviewed samples into the queues. Pure.
///
/// Review: the L highest-loss samples the model disagrees with (a flag is a claim that the
/// label is wrong; a sample the model agrees with is not flagged however hard it is).
/// Accept: K samples the model agrees with, balanced over the `classes` suggested classes —
/// the K/C lowest-loss of each class first, the rest of K by loss — so that accepting it
/// does not tilt the next round's training set toward the classes the model already knows.
/// A class's share is drawn only from samples the model is confident about (probability of
/// the label above one half, `CONFIDENT_LOSS`): a class the model barely knows does not
/// fill its share with guesses. Listed lowest loss first. Samples in neither wait for a
/// later round's model.
pub fn split(mut scored: Vec<Scored>, k: usize, l: usize, classes: usize) -> (Vec<Id>, Vec<Id>) {
    scored.sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.id.cmp(&b.id)));
    let review: Vec<Id> = scored
        .iter()
        .rev()
        .filter(|s| s.disagrees)
        .take(l)
        .map(|s| s.id)
        .collect();
    let agreed: Vec<&Scored> = scored.iter().filter(|s| !s.disagrees).collect();
    let per_class = k / classes.max(1);
    let mut taken = vec![0usize; classes.max(1)];
    let mut chosen = vec![false; agreed.len()];
    let mut n = 0;
    for (i, s) in agreed.iter().enumerate() {
        if s.loss > CONFIDENT_LOSS {
            break;
        }
        if let Some(t) = taken.get_mut(s.class) {
            if *t < per_class && n < k {
                *t += 1;
                chosen[i] = true;
                n += 1;
            }
        }
    }
    for c in chosen.iter_mut() {
        if n == k {
            break;
        }
        if !*c {
            *c = true;
            n += 1;
        }
    }
    let accept = agreed
        .iter()
        .zip(&chosen)
        .filter(|(_, &c)| c)
        .map(|(s, _)| s.id)
        .collect();
    (accept, review)
}

/// The `n` samples of highest value, highest first; ties by id. Pure.
fn highest_first(mut items: Vec<(Id, f32)>, n: usize) -> Vec<Id> {
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    items.into_iter().take(n).map(|(id, _)| id).collect()
}

/// The `l` samples with the largest outlier score (distance to their k-th neighbour in
/// embedding space), most isolated first.
pub fn most_isolated(isolated: Vec<(Id, f32)>, l: usize) -> Vec<Id> {
    highest_first(isolated, l)
}

/// Fill the queues from the latest round's scores. Only samples still unreviewed qualify.
pub fn rank(store: &Store, k: usize, l: usize) -> Result<RankReport> {
    rank_with(store, k, l, DEFAULT_PSEUDO)
}

/// The unlabelled samples the model is at least `threshold` sure of, most sure first.
pub fn most_confident(mut candidates: Vec<(Id, f32)>, threshold: f32) -> Vec<Id> {
    candidates.retain(|c| c.1 >= threshold);
    highest_first(candidates, usize::MAX)
}

/// `rank`, with the pseudo queue's probability threshold.
pub fn rank_with(store: &Store, k: usize, l: usize, threshold: f32) -> Result<RankReport> {
    if !(0.0..=1.0).contains(&threshold) {
        bail!("pseudo-label threshold {threshold}: a probability is in [0, 1]");
    }
    let Some(round) = store.latest_round()? else {
        bail!("no scores yet: run `thresh train` first");
    };
    // Only the loss, the suggestion, the state and the label are needed: partial records
    // parse several times faster, and the lookups run on all cores.
    #[derive(Deserialize)]
    struct Brief {
        loss: f32,
        suggested: String,
        #[serde(default)]
        probability: f32,
        #[serde(default)]
        neighbours: Option<Isolation>,
    }
    #[derive(Deserialize)]
    struct Isolation {
        outlier: f32,
    }
    let scores: Vec<(Id, Brief)> = store.scores(round)?;
    let unlabelled = std::sync::Mutex::new(Vec::new());
    let classes = &store.meta().classes;
    let class_of: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let scored = scores
        .par_iter()
        .map(|(id, s)| {
            Ok(match store.sample_brief(id)? {
                Some((State::Unreviewed, None)) => {
                    unlabelled
                        .lock()
                        .expect("unpoisoned")
                        .push((*id, s.probability));
                    None
                }
                Some((State::Unreviewed, label)) => Some((
                    Scored {
                        id: *id,
                        loss: s.loss,
                        disagrees: label.as_deref() != Some(s.suggested.as_str()),
                        class: class_of
                            .get(s.suggested.as_str())
                            .copied()
                            .unwrap_or(usize::MAX),
                    },
                    s.neighbours.as_ref().map(|n| n.outlier),
                )),
                _ => None,
            })
        })
        .collect::<Result<Vec<Option<(Scored, Option<f32>)>>>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let candidates = scored.len();
    let isolated: Vec<(Id, f32)> = scored
        .iter()
        .filter_map(|(s, o)| o.map(|o| (s.id, o)))
        .collect();
    let outliers = most_isolated(isolated, l);
    let pseudo = most_confident(unlabelled.into_inner().expect("unpoisoned"), threshold);
    let (accept, review) = split(
        scored.into_iter().map(|(s, _)| s).collect(),
        k,
        l,
        classes.len(),
    );
    let report = RankReport {
        round,
        candidates,
        accept: accept.len(),
        review: review.len(),
        outliers: outliers.len(),
        pseudo: pseudo.len(),
        pseudo_threshold: threshold,
    };
    store.put_queue(ACCEPT, &Queue::new(round, accept))?;
    store.put_queue(REVIEW, &Queue::new(round, review))?;
    store.put_queue(OUTLIERS, &Queue::new(round, outliers))?;
    store.put_queue(PSEUDO, &Queue::new(round, pseudo))?;
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
pub fn membership(store: &Store) -> Result<HashMap<Id, QueueName>> {
    let mut m = HashMap::new();
    // Later queues win: a sample both isolated and up for review is listed as review.
    for name in [OUTLIERS, CERTIFY, ACCEPT, REVIEW, PSEUDO] {
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
    fn pseudo_takes_the_sure_ones_surest_first() {
        let c = vec![
            (Id([1; 32]), 0.89),
            (Id([2; 32]), 0.99),
            (Id([3; 32]), 0.9),
            (Id([4; 32]), 0.95),
        ];
        assert_eq!(
            most_confident(c.clone(), 0.9),
            vec![Id([2; 32]), Id([4; 32]), Id([3; 32])]
        );
        assert!(most_confident(c, 1.0).is_empty());
    }

    #[test]
    fn outliers_are_the_most_isolated_first() {
        let iso = vec![
            (Id([1; 32]), 0.2),
            (Id([2; 32]), 0.9),
            (Id([3; 32]), 0.5),
            (Id([4; 32]), 0.9),
        ];
        assert_eq!(
            most_isolated(iso.clone(), 3),
            vec![Id([2; 32]), Id([4; 32]), Id([3; 32])]
        );
        assert_eq!(most_isolated(iso, 10).len(), 4);
    }

    #[test]
    fn lowest_agreed_to_accept_highest_disputed_to_review() {
        let s: Vec<Scored> = (0..10u8)
            .map(|i| Scored {
                id: Id([i; 32]),
                loss: i as f32,
                disagrees: i >= 6 || i == 1,
                class: 0,
            })
            .collect();
        let (a, r) = split(s.clone(), 3, 2, 1);
        assert_eq!(a, vec![Id([0; 32]), Id([2; 32]), Id([3; 32])]);
        assert_eq!(r, vec![Id([9; 32]), Id([8; 32])]);
        let (a, r) = split(s, 100, 100, 1);
        assert_eq!((a.len(), r.len()), (5, 5));
        assert!(a.iter().all(|x| !r.contains(x)));
    }

    #[test]
    fn the_accept_queue_is_balanced_over_suggested_classes() {
        // Class 0 is easy (losses 0.00..0.19), class 1 harder (0.40..0.49), class 2 has two
        // confident samples, class 3 none (losses 1.0..).
        let mut s = Vec::new();
        for i in 0..20u8 {
            s.push((i, i as f32 * 0.01, 0));
        }
        for i in 0..10u8 {
            s.push((50 + i, 0.4 + i as f32 * 0.01, 1));
        }
        s.push((90, 0.6, 2));
        s.push((91, 0.65, 2));
        for i in 0..5u8 {
            s.push((100 + i, 1.0 + i as f32, 3));
        }
        let scored: Vec<Scored> = s
            .into_iter()
            .map(|(b, loss, class)| Scored {
                id: Id([b; 32]),
                loss,
                disagrees: false,
                class,
            })
            .collect();
        let (a, _) = split(scored.clone(), 12, 0, 4);
        // K/C = 3 of each class with confident samples (class 2 has 2, class 3 none), the
        // other 4 by loss: the easy class's next-lowest.
        let of =
            |a: &[Id], lo: u8, hi: u8| a.iter().filter(|id| (lo..=hi).contains(&id.0[0])).count();
        assert_eq!(
            (
                of(&a, 0, 19),
                of(&a, 50, 59),
                of(&a, 90, 91),
                of(&a, 100, 104)
            ),
            (7, 3, 2, 0),
            "{a:?}"
        );
        assert_eq!(a[0], Id([0; 32]));
        assert!(a.contains(&Id([6; 32])) && !a.contains(&Id([7; 32])));
        assert_eq!(*a.last().unwrap(), Id([91; 32]));
        // A K beyond the confident samples takes the unconfident ones last, by loss.
        let (all, _) = split(scored, 40, 0, 4);
        assert_eq!(all.len(), 37);
        assert_eq!(*all.last().unwrap(), Id([104; 32]));
    }
}
