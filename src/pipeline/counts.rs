//! Counters of the store by state, label (in the data), split and origin: computed once by a
//! scan (on the worker), then kept up to date from the before/after of every decision, so a
//! screen that shows them never scans the store.

use super::split;
use crate::store::{Sample, State, Store};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// Add `n` to `m[k]`, dropping the entry at zero (so kept and fresh counts compare equal).
fn bump<K: Ord>(m: &mut BTreeMap<K, i64>, k: K, n: i64) {
    use std::collections::btree_map::Entry;
    match m.entry(k) {
        Entry::Occupied(mut e) => {
            *e.get_mut() += n;
            if *e.get() == 0 {
                e.remove();
            }
        }
        Entry::Vacant(e) => {
            if n != 0 {
                e.insert(n);
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub samples: i64,
    pub by_state: BTreeMap<State, i64>,
    /// Samples in the data (`Sample::in_data`) per current label.
    pub by_label: BTreeMap<String, i64>,
    /// Samples in the data per split or fold (`split::place`).
    pub by_split: BTreeMap<String, i64>,
    pub by_origin: BTreeMap<&'static str, i64>,
}

impl Counts {
    /// Count every sample (a full scan: for the worker, or once at start-up).
    pub fn scan(store: &Store) -> Result<Counts> {
        let mut c = Counts::default();
        for s in store.samples() {
            c.add(&s?, 1);
        }
        Ok(c)
    }

    fn add(&mut self, s: &Sample, n: i64) {
        self.samples += n;
        bump(&mut self.by_state, s.state, n);
        bump(&mut self.by_origin, s.origin.name(), n);
        if s.in_data() {
            if let Some(l) = &s.label {
                bump(&mut self.by_label, l.clone(), n);
            }
            bump(&mut self.by_split, split::place(s.split, s.fold), n);
        }
    }

    /// Account for samples changing from `before` to `after` (same ids, same order).
    pub fn apply(&mut self, before: &[Sample], after: &[Sample]) {
        for s in before {
            self.add(s, -1);
        }
        for s in after {
            self.add(s, 1);
        }
    }

    /// The change from `before` to `after` alone (negative counts for what left).
    pub fn delta(before: &[Sample], after: &[Sample]) -> Counts {
        let mut d = Counts::default();
        d.apply(before, after);
        d
    }

    /// Add a `delta`.
    pub fn merge(&mut self, delta: &Counts) {
        fn add<K: Ord + Clone>(m: &mut BTreeMap<K, i64>, d: &BTreeMap<K, i64>) {
            for (k, v) in d {
                bump(m, k.clone(), *v);
            }
        }
        self.samples += delta.samples;
        add(&mut self.by_state, &delta.by_state);
        add(&mut self.by_label, &delta.by_label);
        add(&mut self.by_split, &delta.by_split);
        add(&mut self.by_origin, &delta.by_origin);
    }

    pub fn state(&self, s: State) -> i64 {
        self.by_state.get(&s).copied().unwrap_or(0)
    }

    pub fn certified(&self) -> i64 {
        self.state(State::Certified) + self.state(State::Relabeled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Id, Source};

    #[test]
    fn deltas_match_a_fresh_count() {
        let mk = |n: u8, label: &str| {
            Sample::imported(
                Id([n; 32]),
                n as u64,
                Source {
                    path: format!("{n}.png"),
                    given: Some(label.into()),
                },
                Id([n; 32]),
                crate::dedup::phash::Hashes {
                    centred: 0,
                    plain: 0,
                },
                (32, 32),
            )
        };
        let before = vec![mk(1, "I"), mk(2, "II")];
        let mut c = Counts::default();
        c.apply(&[], &before);
        let mut after = before.clone();
        after[0].state = State::Rejected;
        after[1].label = Some("I".into());
        after[1].state = State::Relabeled;
        c.merge(&Counts::delta(&before, &after));
        let mut fresh = Counts::default();
        fresh.apply(&[], &after);
        assert_eq!(c.samples, 2);
        assert_eq!(c.by_label.get("I"), Some(&1));
        assert_eq!(c.by_label.get("II"), None);
        assert_eq!(c.state(State::Rejected), 1);
        assert_eq!(c.certified(), 1);
        assert_eq!(c, fresh);
    }
}
