//! Measure dedup against a truth file (the demo's `truth.csv`): recall of the exact and near
//! duplicates it lists, and precision of what dedup flags. Used by the benchmark that picked
//! the hash and radius, and by the tests that keep them honest.

use crate::demo::TruthRow;
use crate::store::Sample;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The truth file with its paths resolved to the absolute paths imports record.
pub struct Truth {
    /// path -> the original it copies (itself when it is no copy).
    origin: HashMap<String, String>,
    junk: HashSet<String>,
    /// path -> true label (`junk` and `corrupt` included).
    labels: HashMap<String, String>,
    exact: Vec<(String, String)>,
    /// (copy, original, flaw)
    near: Vec<(String, String, String)>,
}

impl Truth {
    pub fn load(csv: &Path) -> Result<Truth> {
        let rows = crate::demo::read_truth(csv)?;
        let base = csv
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", csv.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let abs = |rel: &str| base.join(rel).display().to_string();
        Ok(Self::from_rows(&rows, abs))
    }

    pub fn from_rows(rows: &[TruthRow], abs: impl Fn(&str) -> String) -> Truth {
        let mut t = Truth {
            origin: HashMap::new(),
            junk: HashSet::new(),
            labels: HashMap::new(),
            exact: Vec::new(),
            near: Vec::new(),
        };
        for r in rows {
            let p = abs(&r.path);
            let o = if r.dup_of.is_empty() {
                p.clone()
            } else {
                abs(&r.dup_of)
            };
            if r.truth == "junk" {
                t.junk.insert(p.clone());
            }
            if r.flaw == "exact_dup" {
                t.exact.push((p.clone(), o.clone()));
            } else if r.flaw.starts_with("near_dup") {
                t.near.push((p.clone(), o.clone(), r.flaw.clone()));
            }
            t.labels.insert(p.clone(), r.truth.clone());
            t.origin.insert(p, o);
        }
        t
    }
}

impl Truth {
    /// Whether two imported paths show one picture: copies of one original (or the original
    /// and its copy), or both junk — what a flagged pair should be.
    pub fn same_picture(&self, a: &str, b: &str) -> bool {
        let same = self.origin.contains_key(a) && self.origin.get(a) == self.origin.get(b);
        same || (self.junk.contains(a) && self.junk.contains(b))
    }

    /// The flaw of a near copy (`near_dup_jpeg`, ...), if `path` is one.
    pub fn near_flaw(&self, path: &str) -> Option<&str> {
        self.near
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, _, f)| f.as_str())
    }

    /// The true label of an imported path (`junk`/`corrupt` for those), if the truth knows it.
    pub fn label_of(&self, path: &str) -> Option<&str> {
        self.labels.get(path).map(String::as_str)
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Quality {
    pub exact_total: usize,
    pub exact_found: usize,
    pub near_total: usize,
    pub near_found: usize,
    /// Samples flagged as a duplicate of a different sample (stages 2 and 3).
    pub flagged: usize,
    /// Of those, the ones that truly copy the kept sample (or are junk beside junk).
    pub flagged_correct: usize,
    pub near_recall: f64,
    pub precision: f64,
    /// flaw -> (found, total)
    pub near_by_kind: std::collections::BTreeMap<String, (usize, usize)>,
}

/// `groups`: indices into `samples`, the kept sample first.
pub fn measure(truth: &Truth, samples: &[Sample], groups: &[Vec<usize>]) -> Quality {
    let mut sample_of: HashMap<&str, usize> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        for src in &s.sources {
            sample_of.insert(src.path.as_str(), i);
        }
    }
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for (g, members) in groups.iter().enumerate() {
        for &m in members {
            group_of.insert(m, g);
        }
    }
    let together = |a: &str, b: &str| match (sample_of.get(a), sample_of.get(b)) {
        (Some(&x), Some(&y)) => {
            x == y || (group_of.contains_key(&x) && group_of.get(&x) == group_of.get(&y))
        }
        _ => false,
    };
    let mut q = Quality {
        exact_total: truth.exact.len(),
        near_total: truth.near.len(),
        ..Default::default()
    };
    q.exact_found = truth.exact.iter().filter(|(a, b)| together(a, b)).count();
    for (a, b, flaw) in &truth.near {
        let found = together(a, b);
        q.near_found += found as usize;
        let e = q.near_by_kind.entry(flaw.clone()).or_insert((0, 0));
        e.0 += found as usize;
        e.1 += 1;
    }
    let first = |i: usize| samples[i].sources[0].path.as_str();
    for members in groups {
        let kept = first(members[0]);
        for &m in &members[1..] {
            q.flagged += 1;
            q.flagged_correct += truth.same_picture(first(m), kept) as usize;
        }
    }
    q.near_recall = ratio(q.near_found, q.near_total);
    q.precision = ratio(q.flagged_correct, q.flagged);
    q
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// The groups the last `dedup` stored, in `samples` indices, kept sample first.
pub fn stored_groups(samples: &[Sample]) -> Vec<Vec<usize>> {
    let mut by_group: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        if let Some(g) = s.group {
            by_group.entry(g).or_default().push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = by_group
        .into_values()
        .map(|mut g| {
            g.sort_by_key(|&i| (samples[i].dup.is_some(), samples[i].seq));
            g
        })
        .collect();
    groups.sort();
    groups
}
