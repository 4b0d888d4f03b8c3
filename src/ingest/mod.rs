//! Import an image folder, CSV manifest or IDX pair into the store.
//!
//! The source is walked lazily ([`sources::Listing`]): a first walk counts the items and
//! learns the labels without reading a file, the second reads, hashes and decodes them on
//! rayon in chunks, and each chunk is written in one sled batch per tree and flushed with
//! the import's cursor. Memory stays that of a chunk (besides sled's page cache, ≤ 1 GiB)
//! whatever the number of files — 1.3 GB peak at a million, 0.66 GB at 100k —, and an
//! import that is killed is continued by running it again: the items before the cursor are
//! not read a second time. A file that cannot be used is reported with its path and reason
//! and skipped: the import goes on, and nothing already stored is touched except to add
//! sources.

pub mod decode;
pub mod shape;
pub mod sources;

pub use decode::{DecodeError, SkipKind};
pub use sources::Format;

use crate::store::{failpoint, Id, Sample, Source, Store};
use anyhow::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sources::{Census, Found, Item, Listing};
use std::collections::HashMap;
use std::path::Path;

/// Items decoded per chunk: bounds memory and sets how often progress is reported and the
/// cursor is made durable.
const CHUNK: usize = 2048;

/// A file that was skipped, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub kind: SkipKind,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// Items looked at (files, manifest rows, IDX records).
    pub scanned: usize,
    /// Of those, items an earlier run of this import stored before it was stopped: not
    /// read again (their figures are in the counts below).
    #[serde(default)]
    pub resumed: usize,
    /// New samples stored.
    pub added: usize,
    /// New paths whose bytes were already stored: added as extra sources of that sample.
    pub new_sources: usize,
    /// Paths already imported with the same bytes: nothing to do.
    pub unchanged: usize,
    /// Stored samples that had no pixels (a crash in an import of an older thresh), decoded
    /// again; their records are left as they were.
    pub repaired: usize,
    /// Files in the tree that are not images by name (not read).
    pub ignored: usize,
    /// Samples whose sources now disagree on the label.
    pub conflicts: usize,
    pub skipped: Vec<Skipped>,
}

/// How far an unfinished import of one source got, kept in the store until it ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// Items consumed in walk order (stored, known or skipped).
    done: u64,
    /// The path of item `done - 1`. A walk that no longer has it there (files were added or
    /// removed since) starts from the beginning: known files are recognised by their bytes.
    last: String,
    /// Chunks written: the skipped files of chunk `n` are record `<cursor>:skipped:<n>`.
    chunks: u64,
    /// The counts so far (`skipped` left empty: those are in the chunk records).
    report: ImportReport,
}

enum Outcome {
    New {
        source: Source,
        id: Id,
        image: decode::Normalised,
        /// The sample is stored but lost its pixels: write only those.
        repair: bool,
    },
    Known {
        source: Source,
        id: Id,
    },
    Skip(Skipped),
}

/// Import everything at `root`. `progress(done, total)` is called after each chunk.
pub fn import(
    store: &mut Store,
    root: &Path,
    format: Format,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ImportReport> {
    let listing = Listing::open(root, format)?;
    let census = listing.census()?;
    import_listing(store, &listing, &census, progress)
}

/// Import what `listing` holds (`census` is its count), continuing an earlier run of the
/// same import that was stopped.
pub fn import_listing(
    store: &mut Store,
    listing: &Listing,
    census: &Census,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ImportReport> {
    store.add_classes(census.labels.iter().map(String::as_str))?;
    let key = format!("import:{}", listing.root().display());
    let (mut walk, mut cursor) = resume(store, listing, &key)?;
    let resumed = cursor.done as usize;
    progress(cursor.done, census.items);

    let (size, channels) = (store.meta().size, store.meta().channels);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        for found in walk.by_ref() {
            if let Found::Item(item) = found? {
                chunk.push(item);
                if chunk.len() == CHUNK {
                    break;
                }
            }
        }
        let Some(last) = chunk.last() else { break };
        let last = last.display_path();
        let outcomes: Vec<Outcome> = chunk
            .par_iter()
            .map(|item| examine(store, item, size, channels))
            .collect::<Result<_>>()?;
        let skipped = apply(store, outcomes, &mut cursor.report)?;
        if !skipped.is_empty() {
            store.stage_record(&format!("{key}:skipped:{:012}", cursor.chunks), &skipped)?;
        }
        cursor.chunks += 1;
        cursor.done += chunk.len() as u64;
        cursor.last = last;
        // One flush: the chunk's samples, its skipped files and the cursor past them.
        store.put_record(&key, &cursor)?;
        failpoint::crash_here("import-after-chunk", || {});
        progress(cursor.done, census.items);
    }

    let mut report = cursor.report;
    report.scanned = census.items as usize;
    report.ignored = census.ignored;
    report.resumed = resumed;
    report.skipped = store
        .records::<Vec<Skipped>>(&format!("{key}:skipped:"))?
        .into_iter()
        .flatten()
        .collect();
    forget(store, &key)?;
    store.append_log(
        None,
        "import",
        None,
        Some(serde_json::json!({
            "scanned": report.scanned,
            "resumed": report.resumed,
            "added": report.added,
            "new_sources": report.new_sources,
            "repaired": report.repaired,
            "skipped": report.skipped.len(),
        })),
        None,
    )?;
    store.flush()?;
    Ok(report)
}

/// Remove the cursor `key` and its chunk records (not flushed).
fn forget(store: &Store, key: &str) -> Result<()> {
    store.remove_records(&format!("{key}:skipped:"))?;
    store.remove_record(key)
}

type Walk = Box<dyn Iterator<Item = Result<Found>> + Send>;

/// The walk to import from and the cursor to count on: past the items an earlier run
/// stored when its cursor still fits the source, from the start (and no cursor) otherwise.
fn resume(store: &Store, listing: &Listing, key: &str) -> Result<(Walk, Cursor)> {
    if let Some(cursor) = store.record::<Cursor>(key)? {
        let mut walk = listing.walk()?;
        let mut at = 0u64;
        let mut last = None;
        while at < cursor.done {
            match walk.next().transpose()? {
                Some(Found::Item(item)) => {
                    at += 1;
                    if at == cursor.done {
                        last = Some(item.display_path());
                    }
                }
                Some(Found::Ignored) => {}
                None => break,
            }
        }
        if last.as_deref() == Some(cursor.last.as_str()) {
            return Ok((walk, cursor));
        }
        // The source changed under the cursor: its chunk records no longer line up.
        forget(store, key)?;
    }
    Ok((listing.walk()?, Cursor::default()))
}

/// Is `id` stored: `None` no; `Some(true)` with its pixels; `Some(false)` without them (an
/// old interrupted import: decoded again, the pixels repaired).
fn stored(store: &Store, id: &Id) -> Result<Option<bool>> {
    Ok(match store.contains(id)? {
        false => None,
        true => Some(store.has_pixels(id)?),
    })
}

/// Read, hash and (when the bytes are new to the store) decode one item. Runs on rayon.
fn examine(store: &Store, item: &Item, size: u32, channels: u8) -> Result<Outcome> {
    let skip =
        |path: String, kind, reason: String| Ok(Outcome::Skip(Skipped { path, kind, reason }));
    match item {
        Item::Missing { path, reason } => skip(path.clone(), SkipKind::Unreadable, reason.clone()),
        Item::File { path, given } => {
            let display = path.display().to_string();
            let bytes = match read_bounded(path) {
                Ok(b) => b,
                Err((kind, reason)) => return skip(display, kind, reason),
            };
            let id = Id::of_bytes(&bytes);
            let source = Source {
                path: display.clone(),
                given: given.clone(),
            };
            let repair = match stored(store, &id)? {
                Some(true) => return Ok(Outcome::Known { source, id }),
                Some(false) => true,
                None => false,
            };
            match decode::decode_file(&bytes, size, channels) {
                Ok(image) => Ok(Outcome::New {
                    source,
                    id,
                    image,
                    repair,
                }),
                Err(e) => skip(display, e.kind, e.reason),
            }
        }
        Item::Raw {
            path,
            given,
            width,
            height,
            pixels,
        } => {
            let id = Id::of_bytes(pixels);
            let source = Source {
                path: path.clone(),
                given: given.clone(),
            };
            let repair = match stored(store, &id)? {
                Some(true) => return Ok(Outcome::Known { source, id }),
                Some(false) => true,
                None => false,
            };
            match decode::from_gray(pixels, *width, *height, size, channels) {
                Some(image) => Ok(Outcome::New {
                    source,
                    id,
                    image,
                    repair,
                }),
                None => skip(
                    path.clone(),
                    SkipKind::BadRecord,
                    "record has the wrong number of pixels".into(),
                ),
            }
        }
    }
}

/// The bytes of a file no larger than `decode::MAX_FILE_BYTES`, checked before reading: a
/// huge file is refused from its size, and a file that grows while read stops at the limit.
fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, (SkipKind, String)> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| (SkipKind::Unreadable, format!("cannot read: {e}"));
    let too_large = |n: u64| {
        (
            SkipKind::TooLarge,
            format!(
                "file too large: {n} bytes (limit {} bytes)",
                decode::MAX_FILE_BYTES
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    if len > decode::MAX_FILE_BYTES {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(decode::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > decode::MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Write one chunk's outcomes: new samples in a batch, extra sources onto existing samples.
/// Returns the chunk's skipped files.
fn apply(store: &Store, outcomes: Vec<Outcome>, report: &mut ImportReport) -> Result<Vec<Skipped>> {
    let mut fresh: Vec<(Sample, Vec<u8>)> = Vec::new();
    let mut fresh_index: HashMap<Id, usize> = HashMap::new();
    let mut skipped = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Skip(s) => skipped.push(s),
            Outcome::New {
                source,
                id,
                image,
                repair: true,
            } => {
                // Stored without pixels: give them back, keep the record (and any decision).
                if !store.has_pixels(&id)? {
                    store.repair_pixels(&id, &image.pixels)?;
                    report.repaired += 1;
                }
                known(store, source, id, report)?;
            }
            Outcome::New {
                source, id, image, ..
            } => {
                if let Some(&i) = fresh_index.get(&id) {
                    add_source(&mut fresh[i].0, source, report);
                    continue;
                }
                let sample = Sample::imported(
                    id,
                    store.next_seq()?,
                    source,
                    image.pixel_hash,
                    image.hashes,
                    (image.width, image.height),
                );
                fresh_index.insert(id, fresh.len());
                fresh.push((sample, image.pixels));
                report.added += 1;
            }
            Outcome::Known { source, id } => {
                if let Some(&i) = fresh_index.get(&id) {
                    add_source(&mut fresh[i].0, source, report);
                    continue;
                }
                known(store, source, id, report)?;
            }
        }
    }
    store.insert_samples(&fresh)?;
    Ok(skipped)
}

/// A path whose bytes are a stored sample: add it to that sample's sources.
fn known(store: &Store, source: Source, id: Id, report: &mut ImportReport) -> Result<()> {
    let Some(mut sample) = store.sample(&id)? else {
        anyhow::bail!("sample {} vanished during import", id.short());
    };
    // The path first: a crash between the two writes leaves a path the next import finds
    // missing from the sample's sources and adds again.
    if add_source(&mut sample, source.clone(), report) {
        store.put_path(&source.path, &id)?;
        store.put_sample(&sample)?;
    }
    Ok(())
}

/// Add `source` to `sample` unless its path is already there. Returns whether it changed.
fn add_source(sample: &mut Sample, source: Source, report: &mut ImportReport) -> bool {
    if sample.sources.iter().any(|s| s.path == source.path) {
        report.unchanged += 1;
        return false;
    }
    let was = sample.conflict;
    sample.sources.push(source);
    report.new_sources += 1;
    if sample.sources_disagree() {
        sample.conflict = true;
        if !was {
            report.conflicts += 1;
        }
    }
    true
}

/// PNG bytes of normalised pixels (gray or RGB, `side` x `side`): how generated samples are
/// stored and identified (their id is the blake3 of these bytes, as for imported files).
pub fn encode_png(px: &[u8], side: u32, channels: u8) -> anyhow::Result<Vec<u8>> {
    let color = if channels == 3 {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::L8
    };
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        px,
        side,
        side,
        color,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::decide::{self, Decision};
    use crate::store::{State, StoreSettings};

    /// A store an older thresh's interrupted import left with a sample but no pixels is
    /// repaired by the next import: the pixels come back, the record (a decision) stays.
    #[test]
    fn a_sample_without_pixels_is_repaired_by_the_next_import() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        for (i, class) in ["a", "b", "a"].iter().enumerate() {
            let dir = root.join(class);
            std::fs::create_dir_all(&dir).unwrap();
            let img = image::GrayImage::from_fn(8, 8, |x, y| {
                image::Luma([(x * 30 + y * 7 + i as u32 * 50) as u8])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
        let mut store =
            Store::open_or_create(&tmp.path().join("store"), &StoreSettings::default()).unwrap();
        let none = |_: u64, _: u64| {};
        let first = import(&mut store, &root, Format::Auto, &none).unwrap();
        assert_eq!((first.added, first.repaired), (3, 0));
        let s = store.samples_by_seq().unwrap()[1].clone();
        let px = store.pixels(&s.id).unwrap().unwrap();
        decide::decide(&store, &s.id, &Decision::Certify).unwrap();
        store.drop_pixels(&s.id).unwrap();

        let again = import(&mut store, &root, Format::Auto, &none).unwrap();
        assert_eq!((again.added, again.repaired, again.unchanged), (0, 1, 3));
        assert_eq!(store.pixels(&s.id).unwrap(), Some(px));
        assert_eq!(
            store.sample(&s.id).unwrap().unwrap().state,
            State::Certified
        );
        assert_eq!(store.sample_count(), 3);
        let third = import(&mut store, &root, Format::Auto, &none).unwrap();
        assert_eq!(third.repaired, 0, "repaired once");
    }
}
