//! The simulated reviewer: plays the human from a truth file through whole rounds, through
//! exactly the decision calls a person makes in the UI (`decide`, `accept_page`), so rounds
//! can be tested and benchmarked headlessly.

use super::decide::{self, Decision};
use super::queues::{Queue, ACCEPT, PSEUDO, REVIEW};
use super::rounds::{self, ratio, TableRow};
use crate::dedup::quality::Truth;
use crate::store::{Id, Sample, State, Store};
use crate::train::{backend::Compute, RunConfig, StoredScore, TrainEvent};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub rounds: usize,
    pub seed_set: usize,
    pub k: usize,
    pub l: usize,
    /// Accept-queue page size (one bulk decision per page).
    pub page: usize,
    pub run: RunConfig,
    pub seed: u64,
    /// Each round after the store's first starts from the latest round's weights.
    pub warm: bool,
    /// Probability threshold of the pseudo queue (`queues::DEFAULT_PSEUDO`).
    pub pseudo: f32,
}

/// What the oracle says a sample is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Label(String),
    Junk,
    Unknown,
}

pub struct Oracle {
    truth: Truth,
}

impl Oracle {
    pub fn load(csv: &Path) -> Result<Oracle> {
        Ok(Oracle {
            truth: Truth::load(csv)?,
        })
    }

    pub fn verdict(&self, s: &Sample) -> Verdict {
        for src in &s.sources {
            match self.truth.label_of(&src.path) {
                Some("junk" | "corrupt") => return Verdict::Junk,
                Some(t) if !t.is_empty() => return Verdict::Label(t.to_string()),
                _ => {}
            }
        }
        Verdict::Unknown
    }

    /// Is the sample's current label wrong (or the sample junk)?
    pub fn is_wrong(&self, s: &Sample) -> Option<bool> {
        match self.verdict(s) {
            Verdict::Junk => Some(true),
            Verdict::Label(t) => Some(s.label.as_deref() != Some(t.as_str())),
            Verdict::Unknown => None,
        }
    }

    /// The decision a careful human makes on `s`, if the truth knows it.
    pub fn decision(&self, s: &Sample) -> Option<Decision> {
        match self.verdict(s) {
            Verdict::Junk => Some(Decision::Reject("junk".into())),
            Verdict::Label(t) if s.label.as_deref() == Some(t.as_str()) => Some(Decision::Certify),
            Verdict::Label(t) => Some(Decision::Relabel(t)),
            Verdict::Unknown => None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FlagQuality {
    /// Wrong labels + junk among the non-duplicate samples at the start.
    pub wrong: usize,
    /// Of those, how many were found in the seed set and in review queues, how many are
    /// still unreviewed at the end (accept-page exceptions or never queued), and how many
    /// were relabelled or rejected in total.
    pub found_in_seed: usize,
    pub found_in_review: usize,
    pub still_unreviewed: usize,
    pub found: usize,
    pub recall: f32,
    /// Review-queue flags that were really wrong / all review-queue flags.
    pub review_flags: usize,
    pub review_precision: f32,
    /// Accept-queue samples that were really wrong (the model's misses).
    pub accept_misses: usize,
    /// Unlabelled samples put in pseudo queues, those whose suggestion was the truth
    /// (accepted, the rest left out), and the precision of the pseudo-labels.
    pub pseudo_queued: usize,
    pub pseudo_right: usize,
    pub pseudo_precision: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    pub rounds: Vec<TableRow>,
    pub flags: FlagQuality,
    pub decisions: usize,
}

/// Play `cfg.rounds` rounds (fewer when nothing is left to review).
pub fn simulate(
    store: &Store,
    oracle: &Oracle,
    compute: &Compute,
    cfg: &SimConfig,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<SimReport> {
    let wrong_at_start: HashSet<Id> = store
        .samples()
        .filter_map(|s| s.ok())
        .filter(|s| s.state == State::Unreviewed && s.dup.is_none() && s.label.is_some())
        .filter(|s| oracle.is_wrong(s) == Some(true))
        .map(|s| s.id)
        .collect();
    let mut q = FlagQuality {
        wrong: wrong_at_start.len(),
        ..FlagQuality::default()
    };
    let mut decisions = 0;
    let mut review_hits = 0;

    // The seed set, certified by hand.
    let certified = store
        .samples()
        .filter_map(|s| s.ok())
        .any(|s| s.state.is_certified());
    if !certified {
        let seed = rounds::seed_set(store, cfg.seed_set, cfg.seed)?;
        for id in &seed.ids {
            let s = decide::load(store, id)?;
            if let Some(d) = oracle.decision(&s) {
                decide::decide(store, id, &d)?;
                decisions += 1;
                q.found_in_seed += wrong_at_start.contains(id) as usize;
            }
        }
    }

    // Samples the reviewer looked at and left undecided (the oracle does not know them, or
    // they sat in the accept queue with a wrong label): a round for them alone changes
    // nothing, so they do not keep the simulation going.
    let mut left_out: HashSet<Id> = HashSet::new();
    for _ in 0..cfg.rounds {
        let open = store
            .samples()
            .filter_map(|s| s.ok())
            .filter(|s| s.state == State::Unreviewed && s.dup.is_none())
            .filter(|s| !left_out.contains(&s.id))
            .count();
        if open == 0 {
            break;
        }
        let mut run = cfg.run.clone();
        if cfg.warm && store.latest_round()?.is_some() {
            run.train.init = Some(crate::train::warm::last(store)?);
        }
        rounds::train_round(store, compute, &run, cfg.k, cfg.l, cfg.pseudo, on, cancel)?;
        // Review queue first: one by one with the suggested label in view.
        let review: Queue = store.queue(REVIEW)?.unwrap_or_default();
        for id in &review.ids {
            let s = decide::load(store, id)?;
            q.review_flags += 1;
            if oracle.is_wrong(&s) == Some(true) {
                review_hits += 1;
                q.found_in_review += wrong_at_start.contains(id) as usize;
            }
            match oracle.decision(&s) {
                Some(d) => {
                    decide::decide(store, id, &d)?;
                }
                None => {
                    decide::accept_page(store, REVIEW, &[], &[*id])?;
                    left_out.insert(*id);
                }
            }
            decisions += 1;
        }
        // Accept queue a page at a time; what the oracle says is wrong stays out.
        let accept: Queue = store.queue(ACCEPT)?.unwrap_or_default();
        for page in accept.ids.chunks(cfg.page.max(1)) {
            let mut exceptions = Vec::new();
            for id in page {
                let s = decide::load(store, id)?;
                if oracle.is_wrong(&s) != Some(false) {
                    exceptions.push(*id);
                    if oracle.is_wrong(&s) == Some(true) {
                        q.accept_misses += 1;
                    }
                }
            }
            decide::accept_page(store, ACCEPT, page, &exceptions)?;
            left_out.extend(exceptions);
            decisions += 1;
        }
        // Pseudo queue a page at a time: a suggestion the truth does not confirm stays out.
        let pseudo: Queue = store.queue(PSEUDO)?.unwrap_or_default();
        for page in pseudo.ids.chunks(cfg.page.max(1)) {
            let mut exceptions = Vec::new();
            for id in page {
                let s = decide::load(store, id)?;
                let suggested = store
                    .score::<StoredScore>(pseudo.round, id)?
                    .map(|sc| sc.suggested);
                q.pseudo_queued += 1;
                match (oracle.verdict(&s), suggested) {
                    (Verdict::Label(t), Some(g)) if t == g => q.pseudo_right += 1,
                    _ => exceptions.push(*id),
                }
            }
            decide::accept_page(store, PSEUDO, page, &exceptions)?;
            left_out.extend(exceptions);
            decisions += 1;
        }
    }
    q.pseudo_precision = ratio(q.pseudo_right, q.pseudo_queued);

    for id in &wrong_at_start {
        let s = decide::load(store, id)?;
        if matches!(s.state, State::Relabeled | State::Rejected) {
            q.found += 1;
        }
        if s.state == State::Unreviewed {
            q.still_unreviewed += 1;
        }
    }
    q.recall = ratio(q.found, q.wrong);
    q.review_precision = ratio(review_hits, q.review_flags);
    rounds::close_latest(store)?;
    Ok(SimReport {
        rounds: rounds::table(store)?,
        flags: q,
        decisions,
    })
}
