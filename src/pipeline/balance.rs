//! Class balance (paper step 4): the excess of each class beyond a target — the smallest
//! class by default — moves to `surplus`; a class below the target takes its surplus back
//! first. One undoable decision.

use super::decide::{self, Applied};
use crate::store::{Sample, Split, State, Store};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct BalanceReport {
    pub target: usize,
    /// Class -> (in the data after, moved to surplus, returned from surplus).
    pub classes: Vec<(String, usize, usize, usize)>,
    pub applied: Option<Applied>,
}

pub fn balance(store: &Store, target: Option<usize>, seed: u64) -> Result<BalanceReport> {
    let classes = store.meta().classes.clone();
    let mut data: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    let mut surplus: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    for s in store.samples_by_seq()? {
        let Some(c) = classes
            .iter()
            .find(|c| s.label.as_deref() == Some(c.as_str()))
        else {
            continue;
        };
        // The test split is never balanced away.
        if s.in_data() && s.split != Some(Split::Test) {
            data.entry(c).or_default().push(s);
        } else if s.state == State::Surplus {
            surplus.entry(c).or_default().push(s);
        }
    }
    if data.is_empty() && surplus.is_empty() {
        bail!("no labelled samples to balance");
    }
    let total = |c: &str| data.get(c).map_or(0, Vec::len) + surplus.get(c).map_or(0, Vec::len);
    let target = match target {
        Some(0) => bail!("--target must be at least 1"),
        Some(t) => t,
        None => classes
            .iter()
            .map(|c| total(c))
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(0),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut before, mut after, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for c in &classes {
        let mut have = data.remove(c.as_str()).unwrap_or_default();
        let mut parked = surplus.remove(c.as_str()).unwrap_or_default();
        let (mut moved, mut returned) = (0, 0);
        if have.len() > target {
            // Keep certified samples first and park from the end: unreviewed samples go to
            // surplus before any certified one, which is parked only when the class has more
            // certified samples than the target. Random within each kind.
            have.shuffle(&mut rng);
            have.sort_by_key(|s| !s.state.is_certified());
            for s in have.drain(..).skip(target).collect::<Vec<_>>() {
                let mut a = s.clone();
                a.parked = Some(s.state);
                a.state = State::Surplus;
                before.push(s);
                after.push(a);
                moved += 1;
            }
            rows.push((c.clone(), target, moved, returned));
            continue;
        }
        // Room in this class: surplus comes back first, certified before unreviewed.
        parked.sort_by_key(|s| !s.parked.is_some_and(State::is_certified));
        for s in parked.into_iter().take(target - have.len()) {
            let mut a = s.clone();
            a.state = s.parked.unwrap_or(State::Unreviewed);
            a.parked = None;
            before.push(s);
            after.push(a);
            returned += 1;
        }
        rows.push((c.clone(), have.len() + returned, moved, returned));
    }
    let applied = if after.is_empty() {
        None
    } else {
        Some(decide::commit(
            store,
            "balance",
            &before,
            &after,
            vec![],
            None,
        )?)
    };
    Ok(BalanceReport {
        target,
        classes: rows,
        applied,
    })
}
