//! Rounds (paper steps 2–3): a seed set to certify by hand, then train on what is certified,
//! score the rest, fill the accept/review queues, and — once the human has decided them —
//! close the round with its Table-1 statistics.

use super::queues::{self, Queue, ACCEPT, CERTIFY, REVIEW};
use crate::store::{now_secs, Id, Sample, State, Store};
use crate::train::{self, backend::Compute, Mode, Plan, ReviewStats, RoundRecord, RunConfig};
use crate::train::{TrainError, TrainEvent};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;

pub const DEFAULT_SEED_SET: usize = 200;
pub const DEFAULT_K: usize = 500;
pub const DEFAULT_L: usize = 100;
/// Samples the paper's K and L were chosen for (Roman-MNIST train + validation).
pub const PAPER_SIZE: usize = 2880;

/// K and L scaled from the paper's 500/100 at 2,880 samples to a store of `n` samples.
pub fn scaled_k_l(n: usize) -> (usize, usize) {
    let scale = (n as f64 / PAPER_SIZE as f64).min(1.0);
    (
        ((DEFAULT_K as f64 * scale).round() as usize).max(1),
        ((DEFAULT_L as f64 * scale).round() as usize).max(1),
    )
}

/// Draw `n` random unreviewed, non-duplicate samples into the certify queue — stratified
/// by label (each label in proportion to its share), then shuffled.
pub fn seed_set(store: &Store, n: usize, seed: u64) -> Result<Queue> {
    if n == 0 {
        bail!("a seed set needs at least one sample");
    }
    let mut by_label: BTreeMap<Option<String>, Vec<Id>> = BTreeMap::new();
    let mut total = 0;
    for s in store.samples() {
        let s = s?;
        if s.state == State::Unreviewed && s.dup.is_none() && !s.pending_synthetic() {
            by_label.entry(s.label.clone()).or_default().push(s.id);
            total += 1;
        }
    }
    if total == 0 {
        bail!("no unreviewed samples to draw a seed set from");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Order each label's samples at random, then interleave labels by relative position:
    // any prefix of the result is close to stratified.
    let mut keyed: Vec<(f64, Id)> = Vec::with_capacity(total);
    for ids in by_label.values_mut() {
        ids.sort_unstable();
        ids.shuffle(&mut rng);
        let len = ids.len() as f64;
        for (i, id) in ids.iter().enumerate() {
            keyed.push(((i as f64 + 0.5) / len, *id));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut ids: Vec<Id> = keyed.into_iter().take(n).map(|k| k.1).collect();
    ids.shuffle(&mut rng);
    let q = Queue::new(0, ids);
    store.put_queue(CERTIFY, &q)?;
    store.append_log(
        None,
        "seed_set",
        None,
        Some(serde_json::json!({"n": q.ids.len()})),
        None,
    )?;
    store.flush()?;
    Ok(q)
}

/// After a decision on `ids`: when they belong to the latest round's queues, (re)compute
/// that round's review statistics — set when both queues are done, cleared when an undo
/// reopens them. Bounded by the queues' length: the share of the whole store a human has
/// validated is left pending, and the round is returned so the caller fills it in with
/// [`close`] (a scan of the store: the UI runs it on a worker).
pub fn refresh(store: &Store, ids: &[Id]) -> Result<Option<u32>> {
    let Some(round) = store.latest_round()? else {
        return Ok(None);
    };
    let (Some(accept), Some(review)) =
        (store.queue::<Queue>(ACCEPT)?, store.queue::<Queue>(REVIEW)?)
    else {
        return Ok(None);
    };
    if accept.round != round || review.round != round {
        return Ok(None);
    }
    let touched = ids.iter().any(|id| {
        accept.ids.contains(id) || review.ids.contains(id) || accept.skipped.contains(id)
    });
    if !touched {
        return Ok(None);
    }
    let Some(mut rec) = store.round::<RoundRecord>(round)? else {
        return Ok(None);
    };
    let stats = review_stats(store, &accept, &review)?;
    let unchanged = match (&stats, &rec.review) {
        (Some(new), Some(old)) => new.same_decisions(old),
        (None, None) => true,
        _ => false,
    };
    if !unchanged {
        rec.review = stats;
        store.put_round(round, &rec)?;
        store.flush()?;
    }
    Ok(rec
        .review
        .as_ref()
        .is_some_and(|s| s.validated.is_none())
        .then_some(round))
}

/// Fill in round `round`'s validated share (samples a human decided / all non-duplicates)
/// if its queues are decided and the share is pending. Scans the store. Returns whether it
/// wrote.
pub fn close(store: &Store, round: u32) -> Result<bool> {
    let Some(mut rec) = store.round::<RoundRecord>(round)? else {
        return Ok(false);
    };
    let Some(stats) = rec.review.as_mut().filter(|s| s.validated.is_none()) else {
        return Ok(false);
    };
    let (validated, total) = validated(store)?;
    stats.validated = Some(validated);
    stats.total = Some(total);
    stats.validated_ratio = Some(ratio(validated, total));
    store.put_round(round, &rec)?;
    store.flush()?;
    Ok(true)
}

/// [`close`] the latest round if its validated share is pending (after decisions made
/// from the command line or by `simulate`).
pub fn close_latest(store: &Store) -> Result<()> {
    if let Some(round) = store.latest_round()? {
        close(store, round)?;
    }
    Ok(())
}

/// The round's Table-1 review figures, or `None` while a queue has undecided samples. The
/// validated share is left for [`close`].
fn review_stats(store: &Store, accept: &Queue, review: &Queue) -> Result<Option<ReviewStats>> {
    let skipped: HashSet<Id> = accept
        .skipped
        .iter()
        .chain(&review.skipped)
        .copied()
        .collect();
    let mut accepted = 0;
    for id in &accept.ids {
        let Some(s) = store.sample(id)? else { continue };
        match s.state {
            State::Unreviewed if !skipped.contains(id) => return Ok(None),
            State::Certified => accepted += 1,
            _ => {}
        }
    }
    let mut corrected = 0;
    for id in &review.ids {
        let Some(s) = store.sample(id)? else { continue };
        match s.state {
            State::Unreviewed if !skipped.contains(id) => return Ok(None),
            State::Relabeled | State::Rejected => corrected += 1,
            _ => {}
        }
    }
    let flags = accept.ids.len() + review.ids.len();
    Ok(Some(ReviewStats {
        accept: accept.ids.len(),
        review: review.ids.len(),
        accepted,
        corrected,
        pipeline_accuracy: ratio(accepted + corrected, flags),
        validated: None,
        total: None,
        validated_ratio: None,
        closed: now_secs(),
    }))
}

pub(crate) fn ratio(a: usize, b: usize) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

/// (samples a human decided, all samples that are not duplicates).
pub fn validated(store: &Store) -> Result<(usize, usize)> {
    let (mut v, mut t) = (0, 0);
    for s in store.samples() {
        let s = s?;
        if s.state == State::Duplicate {
            continue;
        }
        t += 1;
        v += decided_by_human(&s) as usize;
    }
    Ok((v, t))
}

fn decided_by_human(s: &Sample) -> bool {
    s.state.is_certified()
        || s.state == State::Rejected
        || (s.state == State::Surplus && s.parked.is_some_and(State::is_certified))
}

/// One training round: train on the certified samples (seed mode), store the round, and
/// fill the queues with K lowest- and L highest-loss unreviewed samples (and the pseudo queue
/// with the unlabelled ones suggested at probability ≥ `pseudo`).
#[allow(clippy::too_many_arguments)]
pub fn train_round(
    store: &Store,
    compute: &Compute,
    cfg: &RunConfig,
    k: usize,
    l: usize,
    pseudo: f32,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<(RoundRecord, queues::RankReport)> {
    // The round before may have closed without its validated share counted.
    close_latest(store)?;
    let plan = Plan::from_store(store, Mode::Seed, None, cfg.train.seed)?;
    let outcome = match train::run(&compute.device, &plan, cfg, on, cancel) {
        Ok(o) => o,
        Err(TrainError::Cancelled) => bail!("training cancelled: nothing was stored"),
        Err(e) => return Err(e.into()),
    };
    let rec = train::record(store, &outcome, cfg, &compute.name)?;
    let report = queues::rank_with(store, k, l, pseudo)?;
    Ok((rec, report))
}

/// One row of the Table-1-style table.
#[derive(Clone, Debug, Serialize)]
pub struct TableRow {
    pub round: u32,
    pub train: usize,
    pub val: usize,
    pub train_acc: f32,
    pub val_acc: f32,
    pub pipeline_accuracy: Option<f32>,
    pub validated_ratio: Option<f32>,
    pub epoch_secs: f32,
    /// Samples the round scored, and of those flagged by confident learning.
    pub scored: usize,
    pub flagged: Option<usize>,
}

pub fn table(store: &Store) -> Result<Vec<TableRow>> {
    let Some(last) = store.latest_round()? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for n in 1..=last {
        let Some(r) = store.round::<RoundRecord>(n)? else {
            continue;
        };
        rows.push(TableRow {
            round: r.round,
            train: r.train_size,
            val: r.val_size,
            train_acc: r.train_acc,
            val_acc: r.val_acc,
            pipeline_accuracy: r.review.as_ref().map(|s| s.pipeline_accuracy),
            validated_ratio: r.review.as_ref().and_then(|s| s.validated_ratio),
            epoch_secs: r.epoch_secs,
            scored: r.scored,
            flagged: r.flagged,
        });
    }
    Ok(rows)
}

/// The table as text, in the paper's layout.
pub fn render_table(rows: &[TableRow]) -> String {
    let pct = |v: Option<f32>| v.map_or("—".to_string(), |v| format!("{:.0}%", v * 100.0));
    let mut out = String::from(
        "round  train    val  train acc  val acc  pipeline acc  validated  epoch (s)  flagged\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{:>5}  {:>5}  {:>5}  {:>9}  {:>7}  {:>12}  {:>9}  {:>9.2}  {:>7}\n",
            r.round,
            r.train,
            r.val,
            pct(Some(r.train_acc)),
            pct(Some(r.val_acc)),
            pct(r.pipeline_accuracy),
            pct(r.validated_ratio),
            r.epoch_secs,
            r.flagged.map_or("—".to_string(), |f| f.to_string())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_and_l_scale_down_not_up() {
        assert_eq!(scaled_k_l(2880), (500, 100));
        assert_eq!(scaled_k_l(100_000), (500, 100));
        assert_eq!(scaled_k_l(1440), (250, 50));
        assert_eq!(scaled_k_l(3), (1, 1));
    }
}
