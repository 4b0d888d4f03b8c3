//! The sled store: one directory holding every sample, its pixels, the audit log, scores,
//! rounds and versions. Opened once per process; sled's file lock keeps a second process
//! out, and we turn that into one clear line instead of an `Io(WouldBlock)`.

pub mod failpoint;
mod record;

pub use record::{
    Author, DupLink, Id, LogEntry, Meta, Origin, Queue, QueueName, Sample, Source, Split, Stage,
    State,
};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The schema this build writes. Opening a store with a larger number fails; a smaller one is
/// upgraded in place. 2: samples record who set their state (`by`), duplicates a person
/// marked have their own stage (`human`) — version 1 records read as written by automation —
/// and the `history` and `decisions` trees index the log by sample and list its decisions
/// (both built from the log on upgrade).
pub const SCHEMA_VERSION: u32 = 2;

const META_KEY: &[u8] = b"meta";
const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {0} is in use by another thresh process")]
    InUse(PathBuf),
    #[error("no store at {0} (run `thresh import PATH` or `thresh demo` first)")]
    Missing(PathBuf),
    #[error("store {dir} has schema version {found}, newer than this thresh supports ({supported}); upgrade thresh")]
    TooNew {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("store {dir} is damaged: {reason}")]
    Damaged { dir: PathBuf, reason: String },
    #[error("store {dir}: {source}")]
    Sled {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
}

/// How a new store is laid out. Ignored when the store exists.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    pub size: u32,
    pub channels: u8,
    /// The default augmentation preset (`None`: from the shape, see `Meta::augment`).
    pub augment: Option<crate::augment::Preset>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            size: 32,
            channels: 1,
            augment: None,
        }
    }
}

/// A handle to the store. Clones share the same database (sled is safe to use from several
/// threads), so a job on the worker can work on the store the UI has open.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    meta: Meta,
    samples: sled::Tree,
    pixels: sled::Tree,
    paths: sled::Tree,
    log: sled::Tree,
    /// Index of the log by sample: sample id ++ log key -> (). A sample's history is a
    /// prefix scan, not a walk of the whole log.
    history: sled::Tree,
    /// The log keys of decisions (every `commit`), so undo walks decisions, not the whole
    /// log (a dedup of 100k samples writes 100k entries undo must not wade through).
    decisions: sled::Tree,
    scores: sled::Tree,
    /// round ++ sample id -> the sample's quantised embedding (`feature::embed::Embedding`
    /// bytes) from that round's scoring.
    embeddings: sled::Tree,
    /// round -> the round's 2-D map of its embeddings (`feature::map`), computed once.
    maps: sled::Tree,
    rounds: sled::Tree,
    queues: sled::Tree,
    versions: sled::Tree,
}

/// A round's map as kept: each sample's (x, y).
pub type MapPoints = Vec<(Id, [f32; 2])>;

/// Replace every row of `round` in a round ++ id keyed tree by `rows`, in one batch.
fn replace_round(tree: &sled::Tree, round: u32, rows: &[(Id, Vec<u8>)]) -> anyhow::Result<()> {
    let mut batch = sled::Batch::default();
    for (k, _) in tree.scan_prefix(round.to_be_bytes()).flatten() {
        batch.remove(k);
    }
    for (id, value) in rows {
        let mut key = round.to_be_bytes().to_vec();
        key.extend_from_slice(&id.0);
        batch.insert(key, value.as_slice());
    }
    tree.apply_batch(batch)?;
    Ok(())
}

/// The sample id of a round ++ id key.
fn round_key_id(key: &[u8]) -> anyhow::Result<Id> {
    let id: [u8; 32] = key
        .get(4..)
        .and_then(|k| k.try_into().ok())
        .context("key is not round + sample id")?;
    Ok(Id(id))
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Whether a store exists at `dir` (without opening it).
    pub fn exists(dir: &Path) -> bool {
        dir.join("db").exists()
    }

    /// Open an existing store; a missing one is an error.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        if !Self::exists(dir) {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        Self::open_or_create(dir, &StoreSettings::default())
    }

    /// Open the store at `dir`, creating it with `settings` when it does not exist.
    pub fn open_or_create(dir: &Path, settings: &StoreSettings) -> Result<Store, StoreError> {
        let sled_err = |source: sled::Error| StoreError::Sled {
            dir: dir.to_path_buf(),
            source,
        };
        // A store this process just closed can stay locked for a moment: sled's background
        // threads let go of its files after the handle is dropped (seen in tests reopening a
        // store at once, about one run in ten). So a lock is tried again for a second before
        // it is reported as another process's.
        let mut tries = 0;
        let db = loop {
            match sled::Config::new().path(dir).flush_every_ms(None).open() {
                Ok(db) => break db,
                Err(e) if is_lock_error(&e) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) if is_lock_error(&e) => return Err(StoreError::InUse(dir.to_path_buf())),
                Err(e) => return Err(sled_err(e)),
            }
        };
        let meta_tree = db.open_tree("meta").map_err(sled_err)?;
        let mut upgrade = false;
        let meta = match meta_tree.get(SCHEMA_KEY).map_err(sled_err)? {
            Some(v) => {
                let found =
                    u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Damaged {
                        dir: dir.to_path_buf(),
                        reason: "schema version is not a 4-byte number".into(),
                    })?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        dir: dir.to_path_buf(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                let raw = meta_tree.get(META_KEY).map_err(sled_err)?.ok_or_else(|| {
                    StoreError::Damaged {
                        dir: dir.to_path_buf(),
                        reason: "meta record missing".into(),
                    }
                })?;
                let mut meta =
                    serde_json::from_slice::<Meta>(&raw).map_err(|e| StoreError::Damaged {
                        dir: dir.to_path_buf(),
                        reason: format!("meta record unreadable: {e}"),
                    })?;
                if found < SCHEMA_VERSION {
                    // Every older record reads as it is (new fields have defaults); the
                    // history index is built below, before the new version is written.
                    upgrade = true;
                    meta.schema_version = SCHEMA_VERSION;
                }
                meta
            }
            None => {
                let meta = Meta {
                    schema_version: SCHEMA_VERSION,
                    classes: Vec::new(),
                    size: settings.size,
                    channels: settings.channels,
                    created: now_secs(),
                    augment: settings.augment,
                };
                stamp(&db, &meta_tree, &meta).map_err(sled_err)?;
                meta
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        let (log, history, decisions) = (tree("log")?, tree("history")?, tree("decisions")?);
        let samples = tree("samples")?;
        if upgrade {
            upgrade_from_log(&log, &history, &decisions, &samples).map_err(|e| {
                StoreError::Damaged {
                    dir: dir.to_path_buf(),
                    reason: format!("cannot upgrade from the log: {e:#}"),
                }
            })?;
            stamp(&db, &meta_tree, &meta).map_err(sled_err)?;
        }
        Ok(Store {
            samples,
            pixels: tree("pixels")?,
            paths: tree("paths")?,
            log,
            history,
            decisions,
            scores: tree("scores")?,
            embeddings: tree("embeddings")?,
            maps: tree("maps")?,
            rounds: tree("rounds")?,
            queues: tree("queues")?,
            versions: tree("versions")?,
            dir: dir.to_path_buf(),
            meta,
            db,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Add class names not yet known, keeping the existing order. Returns whether any was new.
    pub fn add_classes<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<bool> {
        let mut changed = false;
        for name in names {
            if !self.meta.classes.iter().any(|c| c == name) {
                self.meta.classes.push(name.to_string());
                changed = true;
            }
        }
        if changed {
            self.write_meta()?;
        }
        Ok(changed)
    }

    /// A named record in the `meta` tree (e.g. the GAN's checkpoint, evaluation results).
    pub fn put_record<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        self.stage_record(key, value)?;
        self.flush()
    }

    pub fn record<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        get_json(&self.db.open_tree("meta")?, format!("record:{key}"), || {
            format!("record {key}")
        })
    }

    /// Write a named record without flushing: the next flush makes it durable with whatever
    /// was written before it (an import chunk's skipped files, then its cursor).
    pub fn stage_record<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        self.db
            .open_tree("meta")?
            .insert(format!("record:{key}"), serde_json::to_vec(value)?)?;
        Ok(())
    }

    /// The records whose names start with `prefix`, in name order.
    pub fn records<T: DeserializeOwned>(&self, prefix: &str) -> anyhow::Result<Vec<T>> {
        let tree = self.db.open_tree("meta")?;
        tree.scan_prefix(format!("record:{prefix}"))
            .map(|kv| {
                let (k, v) = kv?;
                serde_json::from_slice(&v).with_context(|| {
                    format!("record {} is unreadable", String::from_utf8_lossy(&k[7..]))
                })
            })
            .collect()
    }

    /// Remove the record named `key` (not flushed).
    pub fn remove_record(&self, key: &str) -> anyhow::Result<()> {
        self.db.open_tree("meta")?.remove(format!("record:{key}"))?;
        Ok(())
    }

    /// Remove the records whose names start with `prefix` (not flushed).
    pub fn remove_records(&self, prefix: &str) -> anyhow::Result<()> {
        let tree = self.db.open_tree("meta")?;
        for key in tree.scan_prefix(format!("record:{prefix}")).keys() {
            tree.remove(key?)?;
        }
        Ok(())
    }

    /// Change the store's default augmentation preset (a setting, not a decision).
    pub fn set_augment(&mut self, preset: crate::augment::Preset) -> anyhow::Result<()> {
        self.meta.augment = Some(preset);
        self.write_meta()?;
        self.flush()
    }

    fn write_meta(&self) -> anyhow::Result<()> {
        self.db
            .open_tree("meta")?
            .insert(META_KEY, serde_json::to_vec(&self.meta)?)?;
        Ok(())
    }

    /// Overwrite the stored schema version (tests of the version check use it).
    #[doc(hidden)]
    pub fn force_schema_version(&self, version: u32) -> anyhow::Result<()> {
        self.db
            .open_tree("meta")?
            .insert(SCHEMA_KEY, &version.to_be_bytes())?;
        self.flush()
    }

    /// Make every write so far durable (fsync). Called after each decision-like write.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db
            .flush()
            .with_context(|| format!("flushing store {}", self.dir.display()))?;
        Ok(())
    }

    /// A fresh, strictly increasing number (import order, log keys).
    pub fn next_seq(&self) -> anyhow::Result<u64> {
        Ok(self.db.generate_id()?)
    }

    pub fn sample(&self, id: &Id) -> anyhow::Result<Option<Sample>> {
        match self.samples.get(id.0)? {
            Some(raw) => Ok(Some(decode_sample(&raw)?)),
            None => Ok(None),
        }
    }

    /// Just the state and current label of a sample (a partial parse: cheap enough to run
    /// over 100k scores).
    pub fn sample_brief(&self, id: &Id) -> anyhow::Result<Option<(State, Option<String>)>> {
        #[derive(serde::Deserialize)]
        struct Brief {
            state: State,
            label: Option<String>,
        }
        match self.samples.get(id.0)? {
            Some(v) => {
                let b: Brief = serde_json::from_slice(&v)
                    .with_context(|| format!("sample {} is unreadable", id.short()))?;
                Ok(Some((b.state, b.label)))
            }
            None => Ok(None),
        }
    }

    pub fn contains(&self, id: &Id) -> anyhow::Result<bool> {
        Ok(self.samples.contains_key(id.0)?)
    }

    pub fn put_sample(&self, sample: &Sample) -> anyhow::Result<()> {
        self.samples
            .insert(sample.id.0, serde_json::to_vec(sample)?)?;
        Ok(())
    }

    /// Write `new` only if the stored record still equals `expected`; returns whether it was
    /// written. How automation (dedup) updates samples it read earlier without overwriting a
    /// decision made meanwhile.
    pub fn replace_sample(&self, expected: &Sample, new: &Sample) -> anyhow::Result<bool> {
        use sled::transaction::ConflictableTransactionError as Abort;
        let bytes = serde_json::to_vec(new)?;
        let written = self
            .samples
            .transaction(|tx| {
                let same = tx
                    .get(expected.id.0)?
                    .as_deref()
                    .and_then(|raw| decode_sample(raw).ok())
                    .is_some_and(|s| s == *expected);
                if same {
                    tx.insert(&new.id.0, bytes.as_slice())?;
                }
                Ok::<bool, Abort<()>>(same)
            })
            .map_err(|e| anyhow::anyhow!("writing sample {} failed: {e:?}", new.id.short()))?;
        Ok(written)
    }

    /// Insert new samples, their pixels and their source paths, one batch per tree. The
    /// sample records go last: a sample is known (`contains`) only once its pixels and paths
    /// are written, so a crash between the batches leaves samples the next import adds again.
    pub fn insert_samples(&self, items: &[(Sample, Vec<u8>)]) -> anyhow::Result<()> {
        let mut samples = sled::Batch::default();
        let mut pixels = sled::Batch::default();
        let mut paths = sled::Batch::default();
        for (sample, px) in items {
            anyhow::ensure!(
                px.len() == self.meta.pixel_len(),
                "sample {} has {} pixel bytes, the store expects {}",
                sample.id.short(),
                px.len(),
                self.meta.pixel_len()
            );
            samples.insert(&sample.id.0, serde_json::to_vec(sample)?);
            pixels.insert(&sample.id.0, px.as_slice());
            for src in &sample.sources {
                paths.insert(src.path.as_bytes(), &sample.id.0);
            }
        }
        self.pixels.apply_batch(pixels)?;
        self.paths.apply_batch(paths)?;
        failpoint::crash_here("import-before-samples", || {
            let _ = self.db.flush();
        });
        self.samples.apply_batch(samples)?;
        Ok(())
    }

    /// Record that `path` is a source of `id`.
    pub fn put_path(&self, path: &str, id: &Id) -> anyhow::Result<()> {
        self.paths.insert(path.as_bytes(), &id.0)?;
        Ok(())
    }

    /// The sample imported from `path`, if any.
    pub fn id_of_path(&self, path: &str) -> anyhow::Result<Option<Id>> {
        Ok(self.paths.get(path.as_bytes())?.and_then(|v| {
            let bytes: [u8; 32] = v.as_ref().try_into().ok()?;
            Some(Id(bytes))
        }))
    }

    pub fn pixels(&self, id: &Id) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.pixels.get(id.0)?.map(|v| v.to_vec()))
    }

    pub fn has_pixels(&self, id: &Id) -> anyhow::Result<bool> {
        Ok(self.pixels.contains_key(id.0)?)
    }

    /// Give a stored sample the pixels it lacks (a crash in an import before samples were
    /// written last left some without). Leaves the sample record alone.
    pub fn repair_pixels(&self, id: &Id, px: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            px.len() == self.meta.pixel_len(),
            "sample {}: {} pixel bytes, the store holds {}",
            id.short(),
            px.len(),
            self.meta.pixel_len()
        );
        self.pixels.insert(id.0, px)?;
        Ok(())
    }

    /// Drop a sample's pixels, as a crash in an old import could leave it (tests).
    #[cfg(test)]
    pub(crate) fn drop_pixels(&self, id: &Id) -> anyhow::Result<()> {
        self.pixels.remove(id.0)?;
        Ok(())
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Every sample, in key order.
    pub fn samples(&self) -> impl Iterator<Item = anyhow::Result<Sample>> + '_ {
        self.samples.iter().values().map(|v| decode_sample(&v?))
    }

    /// Every sample, collected and sorted by import order.
    pub fn samples_by_seq(&self) -> anyhow::Result<Vec<Sample>> {
        let raw: Vec<sled::IVec> = self.samples.iter().values().collect::<Result<_, _>>()?;
        use rayon::prelude::*;
        let mut all: Vec<Sample> = raw
            .par_iter()
            .map(|v| decode_sample(v))
            .collect::<anyhow::Result<_>>()?;
        all.sort_by_key(|s| s.seq);
        Ok(all)
    }

    /// Append to the audit log. Not flushed here: the caller flushes once its decision is whole.
    pub fn append_log(
        &self,
        sample: Option<Id>,
        action: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        round: Option<u32>,
    ) -> anyhow::Result<u64> {
        let key = self.next_seq()?;
        let entry = LogEntry {
            time: now_millis(),
            sample,
            action: action.to_string(),
            before,
            after,
            round,
        };
        self.log
            .insert(key.to_be_bytes(), serde_json::to_vec(&entry)?)?;
        if let Some(id) = sample {
            self.history.insert(history_key(&id, key), &[])?;
        }
        Ok(key)
    }

    /// The log entries that touched `id`, oldest first: a prefix scan of the history index.
    pub fn history(&self, id: &Id) -> anyhow::Result<Vec<(u64, LogEntry)>> {
        let mut out = Vec::new();
        for k in self.history.scan_prefix(id.0).keys() {
            let k = k?;
            let key = u64::from_be_bytes(
                k[32..]
                    .try_into()
                    .context("history key is not id + 8 bytes")?,
            );
            if let Some(v) = self.log.get(key.to_be_bytes())? {
                out.push((
                    key,
                    serde_json::from_slice(&v).context("unreadable log entry")?,
                ));
            }
        }
        Ok(out)
    }

    /// The number the next round gets (rounds count from 1).
    pub fn next_round(&self) -> anyhow::Result<u32> {
        Ok(self.latest_round()?.map_or(1, |n| n + 1))
    }

    pub fn latest_round(&self) -> anyhow::Result<Option<u32>> {
        Ok(match self.rounds.last()? {
            Some((k, _)) => Some(u32::from_be_bytes(
                k.as_ref().try_into().context("round key is not 4 bytes")?,
            )),
            None => None,
        })
    }

    pub fn put_round<T: Serialize>(&self, n: u32, record: &T) -> anyhow::Result<()> {
        self.rounds
            .insert(n.to_be_bytes(), serde_json::to_vec(record)?)?;
        Ok(())
    }

    pub fn round<T: DeserializeOwned>(&self, n: u32) -> anyhow::Result<Option<T>> {
        get_json(&self.rounds, n.to_be_bytes(), || {
            format!("round {n} record")
        })
    }

    /// Store the scores of `round`, replacing any it had, in one batch.
    pub fn put_scores<T: Serialize>(&self, round: u32, items: &[(Id, T)]) -> anyhow::Result<()> {
        let rows = items
            .iter()
            .map(|(id, score)| Ok((*id, serde_json::to_vec(score)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        replace_round(&self.scores, round, &rows)
    }

    /// Store the embeddings of `round` (bytes per sample), replacing any it had.
    pub fn put_embeddings(&self, round: u32, items: &[(Id, Vec<u8>)]) -> anyhow::Result<()> {
        replace_round(&self.embeddings, round, items)
    }

    /// The embeddings of `round`, in id order (empty for rounds scored before embeddings
    /// were kept).
    pub fn embeddings(&self, round: u32) -> anyhow::Result<Vec<(Id, Vec<u8>)>> {
        self.embeddings
            .scan_prefix(round.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((round_key_id(&k)?, v.to_vec()))
            })
            .collect()
    }

    /// Keep the 2-D map of `round`'s embeddings: (id, x, y) per point.
    pub fn put_map(&self, round: u32, points: &[(Id, [f32; 2])]) -> anyhow::Result<()> {
        let mut bytes = Vec::with_capacity(points.len() * 40);
        for (id, xy) in points {
            bytes.extend_from_slice(&id.0);
            bytes.extend_from_slice(&xy[0].to_le_bytes());
            bytes.extend_from_slice(&xy[1].to_le_bytes());
        }
        self.maps.insert(round.to_be_bytes(), bytes)?;
        Ok(())
    }

    /// The kept map of `round`, if one was computed.
    pub fn map(&self, round: u32) -> anyhow::Result<Option<MapPoints>> {
        let Some(bytes) = self.maps.get(round.to_be_bytes())? else {
            return Ok(None);
        };
        if bytes.len() % 40 != 0 {
            anyhow::bail!("the stored map of round {round} is damaged");
        }
        Ok(Some(
            bytes
                .chunks_exact(40)
                .map(|c| {
                    let f =
                        |at: usize| f32::from_le_bytes(c[at..at + 4].try_into().expect("4 bytes"));
                    (Id(c[..32].try_into().expect("32 bytes")), [f(32), f(36)])
                })
                .collect(),
        ))
    }

    /// Whether `round` kept any embeddings (a point read, not a scan).
    pub fn has_embeddings(&self, round: u32) -> anyhow::Result<bool> {
        Ok(self
            .embeddings
            .scan_prefix(round.to_be_bytes())
            .next()
            .transpose()?
            .is_some())
    }

    /// One sample's scores of `round`.
    pub fn score<T: DeserializeOwned>(&self, round: u32, id: &Id) -> anyhow::Result<Option<T>> {
        let mut key = round.to_be_bytes().to_vec();
        key.extend_from_slice(&id.0);
        get_json(&self.scores, key, || {
            format!("score of {} in round {round}", id.short())
        })
    }

    pub fn scores<T: DeserializeOwned>(&self, round: u32) -> anyhow::Result<Vec<(Id, T)>> {
        self.scores
            .scan_prefix(round.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    round_key_id(&k)?,
                    serde_json::from_slice(&v).context("unreadable score")?,
                ))
            })
            .collect()
    }

    pub fn put_queue<T: Serialize>(&self, name: QueueName, queue: &T) -> anyhow::Result<()> {
        self.queues
            .insert(name.name().as_bytes(), serde_json::to_vec(queue)?)?;
        Ok(())
    }

    pub fn queue<T: DeserializeOwned>(&self, name: QueueName) -> anyhow::Result<Option<T>> {
        get_json(&self.queues, name.name().as_bytes(), || {
            format!("queue {name}")
        })
    }

    /// Write `samples` and one audit-log entry in one transaction, then flush: a decision is
    /// durable, and never half-applied, once this returns. Returns the log key.
    ///
    /// `expected` are the records the decision was computed from: when any of them changed
    /// meanwhile (a job on the worker racing a key press), nothing is written and the error
    /// says so — a decision is never silently overwritten by one computed from stale state.
    pub fn commit(
        &self,
        expected: &[Sample],
        samples: &[Sample],
        entry: &LogEntry,
    ) -> anyhow::Result<u64> {
        use sled::transaction::ConflictableTransactionError as Abort;
        use sled::Transactional;
        let encoded: Vec<(Id, Vec<u8>)> = samples
            .iter()
            .map(|s| Ok((s.id, serde_json::to_vec(s)?)))
            .collect::<anyhow::Result<_>>()?;
        let touched = touched_ids(entry);
        let entry = serde_json::to_vec(entry)?;
        let key = (&self.samples, &self.log, &self.history, &self.decisions)
            .transaction(|(tx_samples, tx_log, tx_history, tx_decisions)| {
                for want in expected {
                    let now = tx_samples.get(want.id.0)?;
                    let same = now
                        .as_deref()
                        .and_then(|raw| decode_sample(raw).ok())
                        .is_some_and(|s| s == *want);
                    if !same {
                        return Err(Abort::Abort(want.id));
                    }
                }
                for (id, bytes) in &encoded {
                    tx_samples.insert(&id.0, bytes.as_slice())?;
                }
                let key = tx_log.generate_id()?;
                tx_log.insert(&key.to_be_bytes(), entry.as_slice())?;
                for id in &touched {
                    tx_history.insert(history_key(id, key).as_slice(), &[])?;
                }
                tx_decisions.insert(&key.to_be_bytes(), &[])?;
                Ok::<u64, Abort<Id>>(key)
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(id) => anyhow::anyhow!(
                    "sample {} changed while this decision was prepared: nothing written, try again",
                    id.short()
                ),
                sled::transaction::TransactionError::Storage(e) => {
                    anyhow::anyhow!("writing the decision failed: {e}")
                }
            })?;
        failpoint::crash_here("commit-before-flush", || {});
        self.flush()?;
        Ok(key)
    }

    /// The decisions (entries written by `commit`, undos included), newest first: what undo
    /// walks.
    pub fn decisions_rev(&self) -> impl Iterator<Item = anyhow::Result<(u64, LogEntry)>> + '_ {
        self.decisions.iter().keys().rev().map(|k| {
            let k = k?;
            let raw = self
                .log
                .get(&k)?
                .context("a decision is missing from the log")?;
            decode_log(Ok((k, raw)))
        })
    }

    pub fn put_version<T: Serialize>(&self, name: &str, version: &T) -> anyhow::Result<()> {
        self.versions
            .insert(name.as_bytes(), serde_json::to_vec(version)?)?;
        Ok(())
    }

    pub fn version<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        get_json(&self.versions, name.as_bytes(), || {
            format!("version {name}")
        })
    }

    pub fn version_names(&self) -> anyhow::Result<Vec<String>> {
        self.versions
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// The audit log in order, oldest first.
    pub fn log_entries(&self) -> impl Iterator<Item = anyhow::Result<(u64, LogEntry)>> + '_ {
        self.log.iter().map(decode_log)
    }
}

/// Write `meta` and this build's schema version, durably: the last step of creating or
/// upgrading a store.
fn stamp(db: &sled::Db, meta_tree: &sled::Tree, meta: &Meta) -> sled::Result<()> {
    meta_tree.insert(META_KEY, serde_json::to_vec(meta).expect("meta serialises"))?;
    meta_tree.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
    db.flush()?;
    Ok(())
}

fn history_key(id: &Id, log_key: u64) -> Vec<u8> {
    let mut k = id.0.to_vec();
    k.extend_from_slice(&log_key.to_be_bytes());
    k
}

/// The samples a log entry is about: its own sample and those its `after` lists.
fn touched_ids(entry: &LogEntry) -> Vec<Id> {
    let mut ids: Vec<Id> = entry.sample.into_iter().collect();
    if let Some(list) = entry
        .after
        .as_ref()
        .and_then(|a| a.get("samples"))
        .and_then(|s| s.as_array())
    {
        ids.extend(
            list.iter()
                .filter_map(|s| s.get("id")?.as_str().and_then(Id::from_hex)),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The log actions that are a person's decision (the rest is automation or bookkeeping).
pub const PERSON_ACTIONS: [&str; 6] = [
    "certify",
    "relabel",
    "reject",
    "duplicate",
    "restore",
    "accept_page",
];

/// Upgrade from schema 1: build the history and decision indexes from the whole log (a
/// decision is an entry whose `after` lists samples), and mark who decided each sample —
/// version 1 did not record it, so a sample whose latest log entry is a person's decision
/// becomes `by: person` (a duplicate a person marked gets the `human` stage), and automation
/// leaves it alone from now on.
fn upgrade_from_log(
    log: &sled::Tree,
    history: &sled::Tree,
    decisions: &sled::Tree,
    samples: &sled::Tree,
) -> anyhow::Result<()> {
    let (mut by_sample, mut decided) = (sled::Batch::default(), sled::Batch::default());
    let mut latest: HashMap<Id, String> = HashMap::new();
    for kv in log.iter() {
        let (key, entry) = decode_log(kv)?;
        for id in touched_ids(&entry) {
            by_sample.insert(history_key(&id, key), &[]);
            latest.insert(id, entry.action.clone());
        }
        if entry
            .after
            .as_ref()
            .and_then(|a| a.get("samples"))
            .is_some_and(|s| s.is_array())
        {
            decided.insert(&key.to_be_bytes(), &[]);
        }
    }
    let mut authors = sled::Batch::default();
    for (id, action) in latest {
        if !PERSON_ACTIONS.contains(&action.as_str()) {
            continue;
        }
        let Some(raw) = samples.get(id.0)? else {
            continue;
        };
        let mut s = decode_sample(&raw)?;
        s.by = Author::Person;
        if action == "duplicate" {
            if let Some(d) = &mut s.dup {
                d.stage = Stage::Human;
            }
        }
        authors.insert(&id.0, serde_json::to_vec(&s)?);
    }
    history.apply_batch(by_sample)?;
    decisions.apply_batch(decided)?;
    samples.apply_batch(authors)?;
    Ok(())
}

/// Read and decode one JSON value; `what` names it in the error ("… is unreadable").
fn get_json<T: DeserializeOwned>(
    tree: &sled::Tree,
    key: impl AsRef<[u8]>,
    what: impl FnOnce() -> String,
) -> anyhow::Result<Option<T>> {
    match tree.get(key)? {
        Some(v) => Ok(Some(
            serde_json::from_slice(&v).with_context(|| format!("{} is unreadable", what()))?,
        )),
        None => Ok(None),
    }
}

fn decode_log(kv: sled::Result<(sled::IVec, sled::IVec)>) -> anyhow::Result<(u64, LogEntry)> {
    let (k, v) = kv?;
    let key = u64::from_be_bytes(k.as_ref().try_into().context("log key is not 8 bytes")?);
    Ok((
        key,
        serde_json::from_slice(&v).context("unreadable log entry")?,
    ))
}

impl Drop for Store {
    /// The background flusher is off (it delayed releasing the file lock), so make sure
    /// nothing written is left in memory when the store goes away.
    fn drop(&mut self) {
        let _ = self.db.flush();
    }
}

fn decode_sample(raw: &[u8]) -> anyhow::Result<Sample> {
    serde_json::from_slice(raw).context("unreadable sample record")
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u8) -> Sample {
        let source = Source {
            path: format!("a/{n}.png"),
            given: Some("I".into()),
        };
        Sample::imported(
            Id([n; 32]),
            n as u64,
            source,
            Id([n + 1; 32]),
            crate::dedup::phash::Hashes {
                centred: 0xdead_beef,
                plain: 0xbeef,
            },
            (32, 32),
        )
    }

    #[test]
    fn round_trip_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(7);
        {
            let mut store = Store::open_or_create(dir.path(), &StoreSettings::default()).unwrap();
            store.add_classes(["I", "II"]).unwrap();
            store
                .insert_samples(&[(s.clone(), vec![9u8; 1024])])
                .unwrap();
            store
                .append_log(
                    Some(s.id),
                    "certify",
                    None,
                    Some(serde_json::json!("I")),
                    Some(0),
                )
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.meta().classes, vec!["I", "II"]);
        assert_eq!(store.meta().schema_version, SCHEMA_VERSION);
        assert_eq!(store.sample(&s.id).unwrap(), Some(s.clone()));
        assert_eq!(store.pixels(&s.id).unwrap(), Some(vec![9u8; 1024]));
        assert_eq!(store.id_of_path("a/7.png").unwrap(), Some(s.id));
        let log: Vec<_> = store.log_entries().collect::<anyhow::Result<_>>().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].1.action, "certify");
    }

    #[test]
    fn wrong_pixel_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path(), &StoreSettings::default()).unwrap();
        let err = store
            .insert_samples(&[(sample(1), vec![0u8; 10])])
            .unwrap_err();
        assert!(err.to_string().contains("10 pixel bytes"), "{err}");
        assert_eq!(store.sample_count(), 0);
    }

    #[test]
    fn a_version_1_store_is_upgraded_with_its_history_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b, mut c, mut d) = (sample(1), sample(2), sample(5), sample(7));
        a.state = State::Certified;
        b.state = State::Rejected;
        // A duplicate a person marked, stamped as version 1 did (a perceptual link)...
        c.state = State::Duplicate;
        c.dup = Some(DupLink {
            of: a.id,
            stage: Stage::Perceptual,
            distance: 0,
        });
        // ...and one dedup marked after a person restored it.
        d.state = State::Duplicate;
        d.dup = c.dup;
        {
            let store = Store::open_or_create(dir.path(), &StoreSettings::default()).unwrap();
            let px = vec![0u8; 32 * 32];
            let rows: Vec<(Sample, Vec<u8>)> =
                [&a, &b, &c, &d].map(|s| (s.clone(), px.clone())).into();
            store.insert_samples(&rows).unwrap();
            store
                .append_log(Some(c.id), "duplicate", None, None, None)
                .unwrap();
            store
                .append_log(Some(d.id), "restore", None, None, None)
                .unwrap();
            store
                .append_log(Some(d.id), "dedup", None, None, None)
                .unwrap();
            store
                .append_log(Some(a.id), "certify", None, None, None)
                .unwrap();
            let after = serde_json::json!({"samples": [{"id": a.id}, {"id": b.id}]});
            store
                .append_log(None, "accept_page", None, Some(after), None)
                .unwrap();
            store
                .append_log(Some(b.id), "reject", None, None, None)
                .unwrap();
            // As a version 1 store was: no history or decision index.
            store.db.drop_tree("history").unwrap();
            store.db.drop_tree("decisions").unwrap();
            store.force_schema_version(1).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.meta().schema_version, SCHEMA_VERSION);
        let actions = |id: &Id| -> Vec<String> {
            store
                .history(id)
                .unwrap()
                .into_iter()
                .map(|(_, e)| e.action)
                .collect()
        };
        assert_eq!(actions(&a.id), ["certify", "accept_page"]);
        assert_eq!(actions(&b.id), ["accept_page", "reject"]);
        assert!(actions(&sample(3).id).is_empty());
        // The entry that lists samples is a decision undo can find; the others are not.
        let decided: Vec<String> = store.decisions_rev().map(|d| d.unwrap().1.action).collect();
        assert_eq!(decided, ["accept_page"]);
        // Who decided: a person for the samples whose latest entry is a person's decision.
        let got = |s: &Sample| store.sample(&s.id).unwrap().unwrap();
        assert_eq!(got(&a).by, Author::Person);
        assert_eq!(got(&b).by, Author::Person);
        assert_eq!(got(&c).by, Author::Person);
        assert_eq!(got(&c).dup.unwrap().stage, Stage::Human);
        assert!(got(&c).human_decided());
        assert_eq!(got(&d).by, Author::Auto, "dedup came last");
        assert!(!got(&d).human_decided());
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open_or_create(dir.path(), &StoreSettings::default()).unwrap();
            store.force_schema_version(SCHEMA_VERSION + 1).unwrap();
        }
        let err = Store::open(dir.path()).err().expect("must fail");
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("newer than this thresh supports"));
    }

    #[test]
    fn second_handle_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open_or_create(dir.path(), &StoreSettings::default()).unwrap();
        let err = Store::open(dir.path())
            .err()
            .expect("second open must fail");
        assert_eq!(
            err.to_string(),
            format!(
                "store {} is in use by another thresh process",
                dir.path().display()
            )
        );
    }

    #[test]
    fn missing_store_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(&dir.path().join("nope")).err().unwrap();
        assert!(err.to_string().starts_with("no store at "), "{err}");
    }
}
