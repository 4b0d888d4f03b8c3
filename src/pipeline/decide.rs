//! Human decisions on samples, and undo.
//!
//! Every decision is one `Store::commit`: the changed sample records and one audit-log entry
//! holding their state before and after, written in one transaction and flushed before the
//! call returns — so a decision the caller acknowledges survives a crash, and never half of
//! one. Undo never erases: it writes a new entry that restores the `before` side of the
//! latest decision not yet undone, so repeated undos walk back through history.

use super::counts::Counts;
use super::queues::Queue;
use super::rounds;
use crate::store::{
    now_millis, Author, DupLink, Id, LogEntry, QueueName, Sample, Stage, State, Store,
    PERSON_ACTIONS,
};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What a human can decide about one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The current label is right.
    Certify,
    /// The right label is this class.
    Relabel(String),
    /// Junk, ambiguous or invalid: out of the data, with a reason.
    Reject(String),
    /// A duplicate of this (kept) sample.
    Duplicate(Id),
    /// Back to unreviewed with the given label (takes back a reject, a duplicate mark, ...).
    Restore,
}

impl Decision {
    pub fn action(&self) -> &'static str {
        match self {
            Decision::Certify => "certify",
            Decision::Relabel(_) => "relabel",
            Decision::Reject(_) => "reject",
            Decision::Duplicate(_) => "duplicate",
            Decision::Restore => "restore",
        }
    }
}

/// The actions undo can revert: a person's decisions, and balance and split (commands
/// that move samples in bulk).
fn undoable(action: &str) -> bool {
    PERSON_ACTIONS.contains(&action) || matches!(action, "balance" | "split")
}
/// The decision-relevant fields of a sample, as the log keeps them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: Id,
    pub label: Option<String>,
    pub state: State,
    pub dup: Option<DupLink>,
    pub reason: Option<String>,
    pub parked: Option<State>,
    pub split: Option<crate::store::Split>,
    pub fold: Option<u32>,
    /// Who had set the state (older log entries lack it: automation).
    #[serde(default)]
    pub by: Author,
    /// Where the sample came from (older log entries lack it: unchanged).
    #[serde(default)]
    pub origin: Option<crate::store::Origin>,
}

impl Snapshot {
    pub fn of(s: &Sample) -> Self {
        Snapshot {
            id: s.id,
            label: s.label.clone(),
            state: s.state,
            dup: s.dup,
            reason: s.reason.clone(),
            parked: s.parked,
            split: s.split,
            fold: s.fold,
            by: s.by,
            origin: Some(s.origin),
        }
    }

    fn apply(&self, s: &mut Sample) {
        s.label = self.label.clone();
        s.state = self.state;
        s.dup = self.dup;
        s.reason = self.reason.clone();
        s.parked = self.parked;
        s.split = self.split;
        s.fold = self.fold;
        s.by = self.by;
        if let Some(o) = self.origin {
            s.origin = o;
        }
    }
}

/// The `before`/`after` payload of a decision's log entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub samples: Vec<Snapshot>,
    /// Bulk accept: the exceptions left unreviewed.
    #[serde(default)]
    pub skipped: Vec<Id>,
    /// Undo: the log key of the entry it reverts.
    #[serde(default)]
    pub undoes: Option<u64>,
}

/// What a decision call did.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// Audit-log key of the entry written.
    pub key: u64,
    pub action: String,
    pub samples: usize,
    /// How the store's counters changed (the UI keeps its counts from these).
    #[serde(skip)]
    pub delta: Counts,
    /// The round whose queues this decision finished: its validated share is pending until
    /// `rounds::close` counts it (a scan, left to the caller: the UI runs it on a worker).
    #[serde(skip)]
    pub closed: Option<u32>,
}

pub fn load(store: &Store, id: &Id) -> Result<Sample> {
    store
        .sample(id)?
        .ok_or_else(|| anyhow!("no sample {} in the store", id.short()))
}

/// Check a class name against the store's classes.
pub fn known_label(store: &Store, label: &str) -> Result<()> {
    let classes = &store.meta().classes;
    if classes.iter().any(|c| c == label) {
        Ok(())
    } else {
        bail!(
            "unknown label {label:?} (the classes are: {})",
            classes.join(", ")
        )
    }
}

fn ensure_unreviewed(s: &Sample) -> Result<()> {
    if s.state != State::Unreviewed {
        bail!(
            "sample {} is already {}: undo or restore it first",
            s.id.short(),
            s.state.name()
        );
    }
    Ok(())
}

/// The sample as it is after `decision`, or why the decision does not apply. Every decision
/// is a person's: the sample is marked so automation leaves it alone from now on.
fn decided(store: &Store, mut s: Sample, decision: &Decision) -> Result<Sample> {
    s.by = Author::Person;
    match decision {
        Decision::Certify => {
            ensure_unreviewed(&s)?;
            if s.label.is_none() {
                bail!(
                    "sample {} has no label to certify: relabel it",
                    s.id.short()
                );
            }
            s.state = State::Certified;
        }
        Decision::Relabel(label) => {
            ensure_unreviewed(&s)?;
            known_label(store, label)?;
            s.state = if s.given() == Some(label.as_str()) {
                State::Certified
            } else {
                State::Relabeled
            };
            s.label = Some(label.clone());
        }
        Decision::Reject(reason) => {
            ensure_unreviewed(&s)?;
            if reason.trim().is_empty() {
                bail!("a rejection needs a reason (junk, ambiguous, invalid, ...)");
            }
            s.state = State::Rejected;
            s.reason = Some(reason.trim().to_string());
        }
        Decision::Duplicate(of) => {
            ensure_unreviewed(&s)?;
            if *of == s.id {
                bail!("a sample cannot be a duplicate of itself");
            }
            let kept = load(store, of)?;
            let distance = (kept.phash ^ s.phash).count_ones();
            s.state = State::Duplicate;
            s.dup = Some(DupLink {
                of: *of,
                stage: Stage::Human,
                distance,
            });
        }
        Decision::Restore => {
            if s.state == State::Unreviewed {
                bail!("sample {} is already unreviewed", s.id.short());
            }
            s.state = State::Unreviewed;
            s.label = s.given().map(str::to_string);
            s.dup = None;
            s.reason = None;
            s.parked = None;
        }
    }
    Ok(s)
}

/// Write the changed samples and their log entry; flushes. Then closes the round if this
/// decided its queues.
pub fn commit(
    store: &Store,
    action: &str,
    before: &[Sample],
    after: &[Sample],
    skipped: Vec<Id>,
    undoes: Option<u64>,
) -> Result<Applied> {
    // The samples left out count too: a page of nothing but exceptions can finish a queue.
    let ids: Vec<Id> = after
        .iter()
        .map(|s| s.id)
        .chain(skipped.iter().copied())
        .collect();
    let entry = LogEntry {
        time: now_millis(),
        sample: (after.len() == 1).then(|| after[0].id),
        action: action.to_string(),
        before: Some(serde_json::to_value(Payload {
            samples: before.iter().map(Snapshot::of).collect(),
            ..Payload::default()
        })?),
        after: Some(serde_json::to_value(Payload {
            samples: after.iter().map(Snapshot::of).collect(),
            skipped,
            undoes,
        })?),
        round: store.latest_round()?,
    };
    let key = store.commit(before, after, &entry)?;
    let closed = rounds::refresh(store, &ids)?;
    Ok(Applied {
        key,
        action: action.to_string(),
        samples: after.len(),
        delta: Counts::delta(before, after),
        closed,
    })
}

/// Apply one decision to one sample. Durable when it returns.
pub fn decide(store: &Store, id: &Id, decision: &Decision) -> Result<Applied> {
    let before = load(store, id)?;
    let after = decided(store, before.clone(), decision)?;
    commit(store, decision.action(), &[before], &[after], vec![], None)
}

/// Apply one decision to many samples at once (a selection on the map), as one logged,
/// undoable decision. Samples already decided, and those the decision does not apply to
/// (certifying an unlabelled sample), are left as they are; the reason is an error only when
/// nothing is left to decide.
pub fn decide_many(store: &Store, ids: &[Id], decision: &Decision) -> Result<Applied> {
    // An unknown label is wrong for every sample: say so at once.
    if let Decision::Relabel(label) = decision {
        known_label(store, label)?;
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut first_refusal = None;
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let s = load(store, id)?;
        match decided(store, s.clone(), decision) {
            Ok(a) => {
                before.push(s);
                after.push(a);
            }
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    if after.is_empty() {
        return Err(match first_refusal {
            Some(e) => e.context("nothing in the selection is left to decide"),
            None => anyhow!("the selection is empty"),
        });
    }
    commit(store, decision.action(), &before, &after, vec![], None)
}

/// Certify a page of a queue in one decision, except `exceptions` (left unreviewed and
/// remembered as looked at, so the queue can be finished). Samples of the page that are
/// already decided are left as they are. On the pseudo queue, each sample takes the label
/// the queue's round suggested, and origin `pseudo`.
pub fn accept_page(
    store: &Store,
    queue: QueueName,
    page: &[Id],
    exceptions: &[Id],
) -> Result<Applied> {
    let mut q: Queue = store
        .queue(queue)?
        .ok_or_else(|| anyhow!("there is no {queue} queue: run `thresh rank` first"))?;
    let members: HashSet<Id> = q.ids.iter().copied().collect();
    if let Some(stray) = page
        .iter()
        .chain(exceptions)
        .find(|id| !members.contains(*id))
    {
        bail!("sample {} is not in the {queue} queue", stray.short());
    }
    let except: HashSet<Id> = exceptions.iter().copied().collect();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for id in page {
        let s = load(store, id)?;
        if except.contains(id) || s.state != State::Unreviewed {
            continue;
        }
        let mut a = s.clone();
        if queue == QueueName::Pseudo {
            // The model's suggestion becomes the label of a sample that had none.
            if s.label.is_some() {
                continue;
            }
            let Some(score) = store.score::<crate::train::StoredScore>(q.round, id)? else {
                continue;
            };
            known_label(store, &score.suggested)?;
            a.label = Some(score.suggested);
            a.origin = crate::store::Origin::Pseudo;
        } else if s.label.is_none() {
            continue;
        }
        a.state = State::Certified;
        a.by = Author::Person;
        before.push(s);
        after.push(a);
    }
    let skipped: Vec<Id> = exceptions
        .iter()
        .filter(|id| !q.skipped.contains(id))
        .copied()
        .collect();
    if after.is_empty() && skipped.is_empty() {
        bail!("nothing on this page is left to accept");
    }
    if !skipped.is_empty() {
        // The queue's skip list is bookkeeping, not a decision: written first, and undo
        // takes it back from the log entry below.
        q.skipped.extend(skipped.iter().copied());
        store.put_queue(queue, &q)?;
    }
    commit(store, "accept_page", &before, &after, skipped, None)
}

/// What undo reverted.
#[derive(Clone, Debug, Serialize)]
pub struct Undone {
    pub key: u64,
    #[serde(skip)]
    pub delta: Counts,
    /// As [`Applied::closed`].
    #[serde(skip)]
    pub closed: Option<u32>,
    /// Key and action of the entry reverted.
    pub reverted: u64,
    pub action: String,
    pub samples: usize,
}

/// Revert the latest decision not yet undone.
pub fn undo(store: &Store) -> Result<Undone> {
    let mut undone = HashSet::new();
    let mut target = None;
    for entry in store.decisions_rev() {
        let (key, e) = entry?;
        if e.action == "undo" {
            if let Some(k) = payload(&e.after)?.undoes {
                undone.insert(k);
            }
            continue;
        }
        if undoable(&e.action) && !undone.contains(&key) {
            target = Some((key, e));
            break;
        }
    }
    let Some((key, entry)) = target else {
        bail!("nothing to undo: no decision in the log");
    };
    let old = payload(&entry.before)?;
    let mut before = Vec::new();
    let mut after = Vec::new();
    for snap in &old.samples {
        let s = load(store, &snap.id)?;
        let mut a = s.clone();
        snap.apply(&mut a);
        before.push(s);
        after.push(a);
    }
    let skipped = payload(&entry.after)?.skipped;
    if !skipped.is_empty() {
        for name in QueueName::STORED {
            if let Some(mut q) = store.queue::<Queue>(name)? {
                let n = q.skipped.len();
                q.skipped.retain(|id| !skipped.contains(id));
                if q.skipped.len() != n {
                    store.put_queue(name, &q)?;
                }
            }
        }
    }
    let applied = commit(store, "undo", &before, &after, vec![], Some(key))?;
    Ok(Undone {
        delta: applied.delta,
        closed: applied.closed,
        key: applied.key,
        reverted: key,
        action: entry.action,
        samples: applied.samples,
    })
}

fn payload(v: &Option<serde_json::Value>) -> Result<Payload> {
    match v {
        Some(v) => serde_json::from_value(v.clone()).context("unreadable decision in the log"),
        None => Ok(Payload::default()),
    }
}

/// The decisions that touched `id`, oldest first (for the UI's history panel): read from the
/// store's per-sample index of the log.
pub fn history(store: &Store, id: &Id) -> Result<Vec<(u64, LogEntry)>> {
    store.history(id)
}
