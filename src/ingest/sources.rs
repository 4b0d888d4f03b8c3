//! Find what to import: the files of a class-per-folder tree, the rows of a CSV manifest,
//! or the records of an IDX pair. Every item carries the path it will be known by.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Auto,
    Folder,
    Csv,
    Idx,
}

/// One thing to import.
pub enum Item {
    /// An image file; `path` is absolute and canonical, which makes re-imports idempotent.
    File {
        path: PathBuf,
        given: Option<String>,
    },
    /// An IDX record, already raw 8-bit gray pixels.
    Raw {
        path: String,
        given: Option<String>,
        width: u32,
        height: u32,
        pixels: Vec<u8>,
    },
    /// A row that names a file that cannot be used, reported without reading anything.
    Missing { path: String, reason: String },
}

impl Item {
    pub fn display_path(&self) -> String {
        match self {
            Item::File { path, .. } => path.display().to_string(),
            Item::Raw { path, .. } | Item::Missing { path, .. } => path.clone(),
        }
    }
}

/// One thing found at the source: an item to import, or a file passed over because it is
/// not an image by name (counted, not read).
pub enum Found {
    Item(Item),
    Ignored,
}

/// What one walk of the source found, without reading a file: how many items (the total the
/// progress bar and the resume cursor count), how many files were passed over, and the
/// labels (few, whatever the number of files).
#[derive(Clone, Debug, Default)]
pub struct Census {
    pub items: u64,
    pub ignored: usize,
    pub labels: BTreeSet<String>,
}

/// A source to import from, walked lazily and always in the same order (names sorted in
/// each folder), so a million files never sit in memory at once and an interrupted import
/// can skip what an earlier run stored.
#[derive(Clone, Debug)]
pub struct Listing {
    root: PathBuf,
    format: Format,
}

impl Listing {
    /// Check that `root` can be read and settle its format.
    pub fn open(root: &Path, format: Format) -> Result<Listing> {
        let meta = fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
        let format = match format {
            Format::Auto => detect(root, meta.is_dir())?,
            f => f,
        };
        if format == Format::Folder && !meta.is_dir() {
            bail!(
                "{} is not a directory (a class-per-folder tree)",
                root.display()
            );
        }
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        Ok(Listing { root, format })
    }

    /// The canonical path of the source: what the resume cursor is kept under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The items in order. A folder, manifest row or record that cannot be used comes as an
    /// `Item::Missing` with its reason; an error ends the walk (an unreadable manifest).
    pub fn walk(&self) -> Result<Box<dyn Iterator<Item = Result<Found>> + Send>> {
        Ok(match self.format {
            Format::Folder => Box::new(FolderWalk::new(self.root.clone())),
            Format::Csv => Box::new(manifest(&self.root)?),
            Format::Idx => Box::new(idx(&self.root)?.into_iter().map(|i| Ok(Found::Item(i)))),
            Format::Auto => unreachable!("resolved in open"),
        })
    }

    /// Walk once, reading no file, to count and to learn the labels.
    pub fn census(&self) -> Result<Census> {
        let mut census = Census::default();
        for found in self.walk()? {
            match found? {
                Found::Item(item) => {
                    census.items += 1;
                    if let Item::File {
                        given: Some(label), ..
                    }
                    | Item::Raw {
                        given: Some(label), ..
                    } = &item
                    {
                        if !census.labels.contains(label) {
                            census.labels.insert(label.clone());
                        }
                    }
                }
                Found::Ignored => census.ignored += 1,
            }
        }
        Ok(census)
    }
}

fn detect(root: &Path, is_dir: bool) -> Result<Format> {
    if !is_dir {
        let name = file_name(root).to_ascii_lowercase();
        if name.ends_with(".csv") {
            return Ok(Format::Csv);
        }
        if name.contains("idx") {
            return Ok(Format::Idx);
        }
        bail!(
            "cannot tell the format of {}: pass a folder, a .csv manifest or an IDX file, or --format",
            root.display()
        );
    }
    let has_idx = fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .any(|e| is_idx_images(&e.file_name().to_string_lossy()));
    Ok(if has_idx { Format::Idx } else { Format::Folder })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// `root/<label>/**/*.{png,jpg,jpeg,bmp,gif,webp,tif,tiff}`; images directly under `root` are unlabelled. One folder is listed at a time
/// (its names sorted; subfolders visited in name order after its files). Symbolic links are
/// followed — to files and to folders — but a folder reached twice (a link loop, or two
/// links to one place) is walked once and the second way there is listed with the reason;
/// a folder that cannot be listed is listed with its reason, and the walk goes on.
struct FolderWalk {
    /// Folders still to list, the last one next.
    stack: Vec<(PathBuf, Option<String>)>,
    visited: std::collections::HashSet<PathBuf>,
    /// What the folder listed last found, in order.
    pending: std::collections::VecDeque<Found>,
}

impl FolderWalk {
    fn new(root: PathBuf) -> FolderWalk {
        FolderWalk {
            visited: std::collections::HashSet::from([root.clone()]),
            stack: vec![(root, None)],
            pending: Default::default(),
        }
    }

    /// List one folder into `pending` and its subfolders onto the stack.
    fn list(&mut self, dir: &Path, label: Option<String>) {
        let listed = fs::read_dir(dir).and_then(|rd| rd.collect::<std::io::Result<Vec<_>>>());
        let mut entries = match listed {
            Ok(e) => e,
            Err(e) => {
                self.pending.push_back(Found::Item(Item::Missing {
                    path: dir.display().to_string(),
                    reason: format!("cannot list this folder: {e}"),
                }));
                return;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        // Push directories in reverse so they are visited in name order.
        for entry in entries.iter().rev() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !is_dir(entry) {
                continue;
            }
            let path = entry.path();
            match path.canonicalize() {
                Ok(real) if self.visited.insert(real.clone()) => {
                    self.stack.push((path, label.clone().or(Some(name))))
                }
                Ok(real) => self.pending.push_back(Found::Item(Item::Missing {
                    path: path.display().to_string(),
                    reason: format!(
                        "a link to {}, which is already imported from this tree (a symlink loop or a second link): not read twice",
                        real.display()
                    ),
                })),
                Err(e) => self.pending.push_back(Found::Item(Item::Missing {
                    path: path.display().to_string(),
                    reason: format!("cannot resolve: {e}"),
                })),
            }
        }
        for entry in &entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || is_dir(entry) {
                continue;
            }
            self.pending.push_back(if is_image_name(&name) {
                Found::Item(Item::File {
                    path: entry.path(),
                    given: label.clone(),
                })
            } else {
                Found::Ignored
            });
        }
    }
}

impl Iterator for FolderWalk {
    type Item = Result<Found>;

    fn next(&mut self) -> Option<Result<Found>> {
        loop {
            if let Some(found) = self.pending.pop_front() {
                return Some(Ok(found));
            }
            let (dir, label) = self.stack.pop()?;
            self.list(&dir, label);
        }
    }
}

/// Is the entry a folder, or a link to one?
fn is_dir(entry: &fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(t) if t.is_symlink() => fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
        Ok(t) => t.is_dir(),
        Err(_) => false,
    }
}

/// A CSV with a `path` column and an optional `label` column; paths are relative to the CSV.
/// Rows are read as the walk asks for them.
fn manifest(csv_path: &Path) -> Result<impl Iterator<Item = Result<Found>> + Send> {
    let base = csv_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("cannot read manifest {}", csv_path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("manifest {} has no header row", csv_path.display()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let path_col = col("path").with_context(|| {
        format!(
            "manifest {} has no `path` column (header: {})",
            csv_path.display(),
            headers.iter().collect::<Vec<_>>().join(",")
        )
    })?;
    let label_col = col("label");
    let csv_path = csv_path.to_path_buf();
    Ok(reader.into_records().enumerate().map(move |(row, record)| {
        let record =
            record.with_context(|| format!("manifest {} row {}", csv_path.display(), row + 2))?;
        let rel = record.get(path_col).unwrap_or("");
        let given = label_col
            .and_then(|c| record.get(c))
            .filter(|l| !l.is_empty())
            .map(str::to_string);
        if rel.is_empty() {
            return Ok(Found::Item(Item::Missing {
                path: format!("{}:{}", csv_path.display(), row + 2),
                reason: "empty path in manifest".into(),
            }));
        }
        let full = base.join(rel);
        Ok(Found::Item(match full.canonicalize() {
            Ok(path) => Item::File { path, given },
            Err(e) => Item::Missing {
                path: full.display().to_string(),
                reason: format!("cannot open: {e}"),
            },
        }))
    }))
}

fn is_idx_images(name: &str) -> bool {
    name.contains("idx3")
}

/// An IDX images file (or a folder of them) with the matching labels file beside it.
fn idx(root: &Path) -> Result<Vec<Item>> {
    let files: Vec<PathBuf> = if root.is_dir() {
        let mut v: Vec<PathBuf> = fs::read_dir(root)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| is_idx_images(&file_name(p)))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no IDX images file (*idx3*) in {}", root.display());
        }
        v
    } else {
        vec![root.to_path_buf()]
    };
    let mut items = Vec::new();
    for images_path in files {
        let images_path = images_path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", images_path.display()))?;
        let images = read_maybe_gz(&images_path)?;
        let (n, rows, cols, data) = parse_idx_images(&images)
            .with_context(|| format!("IDX images file {}", images_path.display()))?;
        let labels = match labels_path_for(&images_path) {
            Some(lp) => {
                let raw = read_maybe_gz(&lp)?;
                let labels = parse_idx_labels(&raw)
                    .with_context(|| format!("IDX labels file {}", lp.display()))?;
                if labels.len() != n {
                    bail!(
                        "IDX labels file {} has {} labels for {} images in {}",
                        lp.display(),
                        labels.len(),
                        n,
                        images_path.display()
                    );
                }
                Some(labels)
            }
            None => None,
        };
        let per = rows * cols;
        for i in 0..n {
            items.push(Item::Raw {
                path: format!("{}#{}", images_path.display(), i),
                given: labels.as_ref().map(|l| l[i].to_string()),
                width: cols as u32,
                height: rows as u32,
                pixels: data[i * per..(i + 1) * per].to_vec(),
            });
        }
    }
    Ok(items)
}

/// `train-images-idx3-ubyte[.gz]` -> `train-labels-idx1-ubyte[.gz]`, if that file exists.
fn labels_path_for(images: &Path) -> Option<PathBuf> {
    let name = file_name(images);
    let candidate = name.replace("images", "labels").replace("idx3", "idx1");
    let dir = images.parent()?;
    [
        candidate.clone(),
        candidate.trim_end_matches(".gz").to_string(),
        format!("{candidate}.gz"),
    ]
    .into_iter()
    .map(|c| dir.join(c))
    .find(|p| p.exists() && p != images)
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{} is not a valid gzip file", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> Result<usize> {
    let s = b
        .get(at..at + 4)
        .context("file is shorter than its header")?;
    Ok(u32::from_be_bytes(s.try_into().expect("4 bytes")) as usize)
}

/// (count, rows, cols, pixel bytes) of an IDX3 unsigned-byte file.
pub fn parse_idx_images(b: &[u8]) -> Result<(usize, usize, usize, &[u8])> {
    let magic = be_u32(b, 0)?;
    if magic != 0x0000_0803 {
        bail!(
            "bad magic number {magic:#010x} (expected 0x00000803, unsigned bytes in 3 dimensions)"
        );
    }
    let (n, rows, cols) = (be_u32(b, 4)?, be_u32(b, 8)?, be_u32(b, 12)?);
    if rows == 0
        || cols == 0
        || rows > super::decode::MAX_SIDE as usize
        || cols > super::decode::MAX_SIDE as usize
    {
        bail!("bad image size {rows}x{cols}");
    }
    let need = n
        .checked_mul(rows * cols)
        .context("image count overflows")?;
    let data = &b[16..];
    if data.len() < need {
        bail!(
            "truncated: header promises {n} images of {rows}x{cols} ({need} bytes), file has {}",
            data.len()
        );
    }
    Ok((n, rows, cols, &data[..need]))
}

/// The labels of an IDX1 unsigned-byte file.
pub fn parse_idx_labels(b: &[u8]) -> Result<Vec<u8>> {
    let magic = be_u32(b, 0)?;
    if magic != 0x0000_0801 {
        bail!(
            "bad magic number {magic:#010x} (expected 0x00000801, unsigned bytes in 1 dimension)"
        );
    }
    let n = be_u32(b, 4)?;
    let data = &b[8..];
    if data.len() < n {
        bail!(
            "truncated: header promises {n} labels, file has {}",
            data.len()
        );
    }
    Ok(data[..n].to_vec())
}
