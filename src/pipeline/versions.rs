//! Dataset versions: a frozen list of (id, label, split, fold) to evaluate and export, so
//! "the data before cleaning" and "after" can be compared by test accuracy later.

use super::split::place;
use crate::store::{now_secs, Id, Origin, Sample, Split, State, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: Id,
    pub label: String,
    pub split: Option<Split>,
    pub fold: Option<u32>,
    pub state: State,
    pub origin: Origin,
}

impl Entry {
    pub fn of(s: &Sample) -> Self {
        Entry {
            id: s.id,
            label: s.label.clone().unwrap_or_default(),
            split: s.split,
            fold: s.fold,
            state: s.state,
            origin: s.origin,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub name: String,
    /// Unix seconds.
    pub created: u64,
    pub entries: Vec<Entry>,
}

/// Freeze the current data as `name`. Names are never overwritten.
pub fn freeze(store: &Store, name: &str) -> Result<Version> {
    freeze_entries(store, name, current(store)?)
}

/// A name `freeze` would take: non-empty, without separators, not a version yet.
pub fn check_name(store: &Store, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains(['/', '\\', ',']) {
        bail!("version name {name:?}: use a non-empty name without '/', '\\' or ','");
    }
    if store.version::<Version>(name.trim())?.is_some() {
        bail!("version {} already exists: pick another name", name.trim());
    }
    Ok(())
}

/// `base` when no version has that name yet, else the first free `base-2`, `base-3`, …
pub fn free_name(store: &Store, base: &str) -> Result<String> {
    let names = store.version_names()?;
    let mut name = base.to_string();
    let mut k = 2;
    while names.contains(&name) {
        name = format!("{base}-{k}");
        k += 1;
    }
    Ok(name)
}

/// The samples in the data now, as version entries, in import order.
pub fn current(store: &Store) -> Result<Vec<Entry>> {
    Ok(store
        .samples_by_seq()?
        .into_iter()
        .filter(Sample::in_data)
        .map(|s| Entry::of(&s))
        .collect())
}

/// Freeze `entries` (read with `current`, perhaps a subset of them) as `name`.
pub fn freeze_entries(store: &Store, name: &str, entries: Vec<Entry>) -> Result<Version> {
    check_name(store, name)?;
    let name = name.trim();
    if entries.is_empty() {
        bail!("nothing to freeze: no labelled samples in the data");
    }
    let v = Version {
        name: name.to_string(),
        created: now_secs(),
        entries,
    };
    store.put_version(name, &v)?;
    store.append_log(
        None,
        "version",
        None,
        Some(serde_json::json!({"name": name, "samples": v.entries.len()})),
        store.latest_round()?,
    )?;
    store.flush()?;
    Ok(v)
}

/// The record `<prefix>:<version>` of every version that has one, in version-name order
/// (an evaluation, a pruning).
pub fn records<T: serde::de::DeserializeOwned>(store: &Store, prefix: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for name in store.version_names()? {
        if let Some(r) = store.record::<T>(&format!("{prefix}:{name}"))? {
            out.push(r);
        }
    }
    Ok(out)
}

pub fn get(store: &Store, name: &str) -> Result<Version> {
    store.version(name)?.ok_or_else(|| {
        let known = store.version_names().unwrap_or_default();
        anyhow!(
            "no version {name:?} (versions: {})",
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub dir: PathBuf,
    pub version: Option<String>,
    pub files: usize,
    pub manifest: PathBuf,
}

/// Write a class-per-folder tree per split and fold (`DIR/<place>/<label>/<id>.png`) and
/// `DIR/manifest.csv` (path,label,split,fold,state,origin), from a version or the current
/// data.
pub fn export(store: &Store, dir: &Path, version: Option<&str>) -> Result<ExportReport> {
    let entries = match version {
        Some(v) => get(store, v)?.entries,
        None => current(store)?,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let manifest = dir.join("manifest.csv");
    let mut csv = csv::Writer::from_path(&manifest)
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    csv.write_record(["path", "label", "split", "fold", "state", "origin"])?;
    let meta = store.meta();
    let color = if meta.channels == 3 {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::L8
    };
    for e in &entries {
        let rel = PathBuf::from(place(e.split, e.fold))
            .join(&e.label)
            .join(format!("{}.png", e.id.short()));
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .with_context(|| format!("cannot create {}", path.display()))?;
        let px = store
            .pixels(&e.id)?
            .ok_or_else(|| anyhow!("sample {} has no pixels in the store", e.id.short()))?;
        image::save_buffer(&path, &px, meta.size, meta.size, color)
            .with_context(|| format!("cannot write {}", path.display()))?;
        csv.write_record([
            rel.to_string_lossy().as_ref(),
            &e.label,
            match e.split {
                Some(Split::Test) => "test",
                Some(Split::Val) => "val",
                Some(Split::Train) => "train",
                None => "",
            },
            &e.fold.map(|f| (f + 1).to_string()).unwrap_or_default(),
            e.state.name(),
            e.origin.name(),
        ])?;
    }
    csv.flush()?;
    Ok(ExportReport {
        dir: dir.to_path_buf(),
        version: version.map(str::to_string),
        files: entries.len(),
        manifest,
    })
}
