//! `thresh stats`: what is in the store, by class, state and origin.

use crate::store::{State, Store};
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Stats {
    pub store: String,
    pub samples: usize,
    pub sources: usize,
    /// Current label -> samples, in the store's class order; unlabelled under "".
    pub classes: Vec<(String, usize)>,
    pub states: BTreeMap<String, usize>,
    pub origins: BTreeMap<String, usize>,
    pub duplicate_groups: usize,
    pub label_conflicts: usize,
}

pub fn collect(store: &Store) -> Result<Stats> {
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    let mut states: BTreeMap<String, usize> = State::ALL
        .iter()
        .map(|s| (s.name().to_string(), 0))
        .collect();
    let mut origins: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups = BTreeSet::new();
    let (mut samples, mut sources, mut conflicts) = (0, 0, 0);
    for s in store.samples() {
        let s = s?;
        samples += 1;
        sources += s.sources.len();
        *by_class
            .entry(s.label.clone().unwrap_or_default())
            .or_default() += 1;
        *states.entry(s.state.name().to_string()).or_default() += 1;
        *origins.entry(s.origin.name().to_string()).or_default() += 1;
        if let Some(g) = s.group {
            groups.insert(g);
        }
        conflicts += s.conflict as usize;
    }
    let mut classes: Vec<(String, usize)> = store
        .meta()
        .classes
        .iter()
        .map(|c| (c.clone(), by_class.remove(c).unwrap_or(0)))
        .collect();
    classes.extend(by_class);
    Ok(Stats {
        store: store.dir().display().to_string(),
        samples,
        sources,
        classes,
        states,
        origins,
        duplicate_groups: groups.len(),
        label_conflicts: conflicts,
    })
}

pub fn render(s: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "store {}: {} samples from {} source files",
        s.store, s.samples, s.sources
    );
    let _ = writeln!(out, "\nclass        samples");
    for (c, n) in &s.classes {
        let name = if c.is_empty() { "(unlabelled)" } else { c };
        let _ = writeln!(out, "{name:<12} {n:>7}");
    }
    let _ = writeln!(out, "\nstate        samples");
    for (st, n) in &s.states {
        let _ = writeln!(out, "{st:<12} {n:>7}");
    }
    let _ = writeln!(out, "\norigin       samples");
    for (o, n) in &s.origins {
        let _ = writeln!(out, "{o:<12} {n:>7}");
    }
    let _ = writeln!(
        out,
        "\nduplicate groups: {}\nsamples with label conflicts: {}",
        s.duplicate_groups, s.label_conflicts
    );
    out
}
