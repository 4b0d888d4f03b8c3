//! Import of every format, the bad-file corpus, and idempotent re-import.

mod common;

use common::{png, png_header_only, write};
use std::io::Write;
use std::path::Path;
use thresh::ingest::{self, Format, SkipKind};
use thresh::store::{State, Store, StoreSettings};

fn open(dir: &Path) -> Store {
    Store::open_or_create(&dir.join("store"), &StoreSettings::default()).unwrap()
}

fn no_progress(_: u64, _: u64) {}

#[test]
fn folder_tree_with_bad_files_reports_each_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    write(&root.join("cat/a.png"), &png(32, 32, |x, _| x as u8 * 8));
    write(&root.join("cat/b.png"), &png(40, 20, |_, y| y as u8 * 10));
    write(&root.join("dog/c.png"), &png(16, 16, |x, y| (x * y) as u8));
    write(&root.join("dog/notes.txt"), b"not looked at");
    // The corrupt corpus.
    let good = png(32, 32, |x, y| (x + y) as u8);
    write(&root.join("dog/truncated.png"), &good[..good.len() / 2]);
    write(&root.join("dog/zero.png"), b"");
    write(&root.join("dog/text.png"), b"just some text\n");
    write(&root.join("dog/huge.png"), &png_header_only(10000, 10000));

    let mut store = open(tmp.path());
    let r = ingest::import(&mut store, &root, Format::Auto, &no_progress).unwrap();
    assert_eq!(r.scanned, 7);
    assert_eq!(r.added, 3);
    assert_eq!(r.ignored, 1);
    let mut skipped: Vec<(String, SkipKind, String)> = r
        .skipped
        .iter()
        .map(|s| {
            let name = Path::new(&s.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, s.kind, s.reason.clone())
        })
        .collect();
    skipped.sort();
    let corrupt_reason = skipped[2].2.clone();
    let expected: Vec<(String, SkipKind, String)> = vec![
        (
            "huge.png".into(),
            SkipKind::TooLarge,
            "image too large: 10000x10000 pixels (limit 8192x8192)".into(),
        ),
        (
            "text.png".into(),
            SkipKind::NotImage,
            "not an image: unrecognised file signature".into(),
        ),
        (
            "truncated.png".into(),
            SkipKind::Corrupt,
            corrupt_reason.clone(),
        ),
        (
            "zero.png".into(),
            SkipKind::Empty,
            "empty file (0 bytes)".into(),
        ),
    ];
    assert_eq!(skipped, expected);
    assert!(
        corrupt_reason.starts_with("corrupt image: "),
        "{corrupt_reason}"
    );
    // Every reported path is the full path of the file.
    assert!(r.skipped.iter().all(|s| s
        .path
        .starts_with(root.canonicalize().unwrap().to_str().unwrap())));

    assert_eq!(store.meta().classes, vec!["cat", "dog"]);
    let samples = store.samples_by_seq().unwrap();
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert_eq!(store.pixels(&s.id).unwrap().unwrap().len(), 32 * 32);
        assert_eq!(s.state, State::Unreviewed);
    }
    let wide = samples
        .iter()
        .find(|s| s.sources[0].path.ends_with("b.png"))
        .unwrap();
    assert_eq!((wide.width, wide.height), (40, 20));
    assert_eq!(wide.label.as_deref(), Some("cat"));
}

#[test]
fn reimport_adds_nothing_and_new_copies_become_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let a = png(32, 32, |x, _| x as u8 * 7);
    write(&root.join("one/a.png"), &a);
    write(&root.join("two/b.png"), &png(32, 32, |_, y| y as u8 * 7));
    let mut store = open(tmp.path());
    let first = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!((first.added, first.new_sources), (2, 0));
    let before = store.samples_by_seq().unwrap();

    let again = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!((again.added, again.new_sources, again.unchanged), (0, 0, 2));
    assert_eq!(store.samples_by_seq().unwrap(), before);

    // The same bytes under another class: one sample, two sources, a label conflict.
    write(&root.join("two/copy-of-a.png"), &a);
    let third = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!((third.added, third.new_sources, third.conflicts), (0, 1, 1));
    let samples = store.samples_by_seq().unwrap();
    assert_eq!(samples.len(), 2);
    let merged = samples.iter().find(|s| s.sources.len() == 2).unwrap();
    assert!(merged.conflict);
    assert_eq!(merged.label.as_deref(), Some("one"));
}

#[test]
fn csv_manifest_with_unlabelled_and_missing_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("m");
    write(&root.join("img/x.png"), &png(32, 32, |x, _| x as u8));
    write(&root.join("img/y.png"), &png(32, 32, |_, y| y as u8 * 3));
    write(
        &root.join("list.csv"),
        b"path,label\nimg/x.png,cat\nimg/y.png,\nimg/missing.png,dog\n",
    );
    let mut store = open(tmp.path());
    let r = ingest::import(
        &mut store,
        &root.join("list.csv"),
        Format::Auto,
        &no_progress,
    )
    .unwrap();
    assert_eq!(r.added, 2);
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].path.ends_with("img/missing.png"));
    assert_eq!(r.skipped[0].kind, SkipKind::Unreadable);
    let samples = store.samples_by_seq().unwrap();
    let labels: Vec<Option<&str>> = samples.iter().map(|s| s.label.as_deref()).collect();
    assert_eq!(labels, vec![Some("cat"), None]);
    // The label of a row that could not be imported does not become a class.
    assert_eq!(store.meta().classes, vec!["cat"]);
}

fn idx_images(images: &[[u8; 4]]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    b.extend_from_slice(&(images.len() as u32).to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    for i in images {
        b.extend_from_slice(i);
    }
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_plain_and_gzipped() {
    let tmp = tempfile::tempdir().unwrap();
    let images = [[0u8, 255, 255, 0], [255, 0, 0, 255], [0, 255, 255, 0]];
    let plain = tmp.path().join("plain");
    write(&plain.join("train-images-idx3-ubyte"), &idx_images(&images));
    write(
        &plain.join("train-labels-idx1-ubyte"),
        &idx_labels(&[3, 7, 5]),
    );
    let zipped = tmp.path().join("zipped");
    write(
        &zipped.join("t10k-images-idx3-ubyte.gz"),
        &gz(&idx_images(&images[..2])),
    );
    write(
        &zipped.join("t10k-labels-idx1-ubyte.gz"),
        &gz(&idx_labels(&[1, 2])),
    );

    let mut store = open(tmp.path());
    let r = ingest::import(&mut store, &plain, Format::Auto, &no_progress).unwrap();
    // Records 0 and 2 have the same pixels: one sample, two sources that disagree (3 vs 5).
    assert_eq!((r.added, r.new_sources, r.conflicts), (2, 1, 1));
    let r = ingest::import(
        &mut store,
        &zipped.join("t10k-images-idx3-ubyte.gz"),
        Format::Idx,
        &no_progress,
    )
    .unwrap();
    assert_eq!((r.added, r.new_sources), (0, 2));
    let samples = store.samples_by_seq().unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].sources.len(), 3);
    assert!(samples[0].sources[0]
        .path
        .ends_with("train-images-idx3-ubyte#0"));
    assert_eq!(samples[1].label.as_deref(), Some("7"));
    // Classes in first-seen order per import (sorted within one import).
    assert_eq!(store.meta().classes, vec!["3", "5", "7", "1", "2"]);
}

#[test]
fn bad_idx_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad-images-idx3-ubyte");
    let mut bytes = idx_images(&[[1, 2, 3, 4]]);
    bytes.truncate(18);
    write(&p, &bytes);
    let mut store = open(tmp.path());
    let err = ingest::import(&mut store, &p, Format::Idx, &no_progress).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("bad-images-idx3-ubyte") && msg.contains("truncated"),
        "{msg}"
    );
    assert_eq!(store.sample_count(), 0);
}

#[test]
fn a_file_over_64_mib_is_refused_from_its_size_before_it_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    write(&root.join("cat/a.png"), &png(32, 32, |x, _| x as u8 * 8));
    // 64 GiB, sparse: reading it whole first (as import once did) would take the memory.
    let big = std::fs::File::create(root.join("cat/big.png")).unwrap();
    big.set_len(64 << 30).unwrap();
    let mut store = open(tmp.path());
    let r = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!(r.added, 1);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].kind, SkipKind::TooLarge);
    assert!(
        r.skipped[0].path.ends_with("big.png")
            && r.skipped[0].reason == "file too large: 68719476736 bytes (limit 67108864 bytes)",
        "{:?}",
        r.skipped[0]
    );
}

/// An import killed between its writes (failpoint `import-before-samples`: the first chunk's
/// pixels and paths are on disk, its sample records are not) is completed by the next import:
/// every file is a sample with its pixels and its path, as after an import never interrupted.
#[test]
fn an_import_killed_between_its_writes_is_completed_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    numbered_tree(&root, 2300);
    let store_dir = tmp.path().join("store");
    let import = |failpoint| run_import(&store_dir, &root, failpoint);
    let o = import(Some("import-before-samples"));
    assert!(!o.status.success(), "the failpoint must stop the import");
    assert!(String::from_utf8_lossy(&o.stderr).contains("failpoint import-before-samples"));
    {
        let store = Store::open(&store_dir).unwrap();
        assert_eq!(store.sample_count(), 0, "killed before any sample record");
    }
    let o = import(None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let store = Store::open(&store_dir).unwrap();
    let samples = store.samples_by_seq().unwrap();
    assert_eq!(samples.len(), 2300);
    for s in &samples {
        assert_eq!(store.pixels(&s.id).unwrap().map(|p| p.len()), Some(32 * 32));
        assert_eq!(store.id_of_path(&s.sources[0].path).unwrap(), Some(s.id));
    }
    let seqs: std::collections::HashSet<u64> = samples.iter().map(|s| s.seq).collect();
    assert_eq!(seqs.len(), samples.len(), "import numbers are unique");
}

/// `n` different 8x8 PNGs in two class folders (more than one import chunk of 2,048 when
/// `n` is), named by number.
fn numbered_tree(root: &Path, n: u32) {
    for i in 0..n {
        let class = ["even", "odd"][(i % 2) as usize];
        let bytes = png(8, 8, |x, y| {
            ((i * 7 + x * 31 + y * 17 + (i >> 5) * x * y) % 256) as u8
        });
        write(&root.join(format!("{class}/{i}.png")), &bytes);
    }
}

/// `thresh --json import root` into `store`, with a failpoint armed or none.
fn run_import(store: &Path, root: &Path, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_thresh"));
    cmd.args(["--json", "--store", &store.display().to_string(), "import"])
        .arg(root)
        .env_remove("THRESH_FAILPOINT");
    if let Some(f) = failpoint {
        cmd.env("THRESH_FAILPOINT", f);
    }
    cmd.output().unwrap()
}

/// An import killed after its first chunk was made durable (failpoint `import-after-chunk`)
/// is continued by the next run: the stored chunk is not read again, the report covers the
/// whole source — the skipped files of both runs included —, and a finished import leaves no
/// cursor (the run after it looks at every file again).
#[test]
fn a_killed_import_continues_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    numbered_tree(&root, 2300);
    // One corrupt file in each chunk: "even/0.png" comes first, "odd/999.png" in the second
    // chunk (the even folder's 1,150 files, then the odd folder's in name order).
    write(&root.join("even/0.png"), &png_header_only(8, 8));
    write(&root.join("odd/999.png"), b"not an image");
    let store_dir = tmp.path().join("store");
    let report = |o: std::process::Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let o = run_import(&store_dir, &root, Some("import-after-chunk"));
    assert!(!o.status.success(), "the failpoint must stop the import");
    assert!(String::from_utf8_lossy(&o.stderr).contains("failpoint import-after-chunk"));
    assert_eq!(Store::open(&store_dir).unwrap().sample_count(), 2047);

    let r = report(run_import(&store_dir, &root, None));
    assert_eq!(r["resumed"], 2048, "{r}");
    assert_eq!(r["scanned"], 2300);
    assert_eq!(r["added"], 2298, "both runs' samples are counted");
    assert_eq!(r["unchanged"], 0, "the first chunk was not read again");
    let mut skipped: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].ends_with("even/0.png") && skipped[1].ends_with("odd/999.png"));
    assert_eq!(Store::open(&store_dir).unwrap().sample_count(), 2298);

    let r = report(run_import(&store_dir, &root, None));
    assert_eq!(
        (r["resumed"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(2298))
    );
    assert_eq!(r["skipped"].as_array().unwrap().len(), 2);
}

/// A cursor the folder no longer fits (a file added before it after the kill) is dropped:
/// the next run looks at every file, finds the stored ones by their bytes, and adds the rest.
#[test]
fn a_cursor_the_folder_no_longer_fits_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    numbered_tree(&root, 2300);
    let store_dir = tmp.path().join("store");
    let o = run_import(&store_dir, &root, Some("import-after-chunk"));
    assert!(!o.status.success(), "the failpoint must stop the import");
    write(&root.join("even/00.png"), &png(8, 8, |x, y| (x * y) as u8));
    let o = run_import(&store_dir, &root, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["resumed"], 0, "{r}");
    assert_eq!(
        (r["unchanged"].as_u64(), r["added"].as_u64()),
        (Some(2048), Some(253))
    );
}

/// The formats of real folders (files made with Pillow, in tests/assets/formats): EXIF
/// orientation applied, CMYK JPEG, palette and 16-bit PNG, alpha flattened on the border
/// colour, WebP, TIFF — each imported into an RGB store as a viewer would show it.
#[test]
fn real_world_formats_import_as_a_viewer_shows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/assets/formats");
    for e in std::fs::read_dir(&assets).unwrap() {
        let p = e.unwrap().path();
        write(
            &root.join("all").join(p.file_name().unwrap()),
            &std::fs::read(&p).unwrap(),
        );
    }
    let settings = StoreSettings {
        size: 24,
        channels: 3,
        augment: None,
    };
    let mut store = Store::open_or_create(&tmp.path().join("store"), &settings).unwrap();
    let r = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.added, 7);
    let by_name = |name: &str| {
        let s = store
            .samples_by_seq()
            .unwrap()
            .into_iter()
            .find(|s| s.sources[0].path.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not imported"));
        let px = store.pixels(&s.id).unwrap().unwrap();
        (s, px)
    };
    let at = |px: &[u8], x: usize, y: usize| -> [u8; 3] {
        let i = (y * 24 + x) * 3;
        [px[i], px[i + 1], px[i + 2]]
    };
    let reddish = |p: [u8; 3]| p[0] > 150 && p[2] < 90;
    let bluish = |p: [u8; 3]| p[2] > 150 && p[0] < 90;
    // Each picture is 24x12: red left half, blue right half (letterboxed into 24x24, so
    // the picture fills rows 6..18).
    for name in ["cmyk.jpg", "palette.png", "photo.webp", "photo.tiff"] {
        let (s, px) = by_name(name);
        assert_eq!((s.width, s.height), (24, 12), "{name}");
        assert!(reddish(at(&px, 3, 12)), "{name}: {:?}", at(&px, 3, 12));
        assert!(bluish(at(&px, 20, 12)), "{name}: {:?}", at(&px, 20, 12));
    }
    // EXIF orientation 6 turns the picture upright: 12 wide, 24 tall, red on top.
    let (s, px) = by_name("exif-rotate-90.jpg");
    assert_eq!((s.width, s.height), (12, 24));
    assert!(reddish(at(&px, 12, 3)), "{:?}", at(&px, 12, 3));
    assert!(bluish(at(&px, 12, 20)), "{:?}", at(&px, 12, 20));
    // 16-bit gray: a left-to-right ramp survives as 8-bit gray.
    let (_, px) = by_name("gray16.png");
    assert!(
        at(&px, 1, 12)[0] < 40 && at(&px, 22, 12)[0] > 200,
        "{:?}",
        &px[..9]
    );
    // The transparent right half is flattened on the border as it looks on white — not
    // the black stored under it.
    let (_, px) = by_name("alpha.png");
    assert!(reddish(at(&px, 3, 12)), "{:?}", at(&px, 3, 12));
    let right = at(&px, 20, 12);
    assert!(right.iter().all(|&c| c > 150), "{right:?}");
}

/// Symbolic links are followed, a loop is walked once and named, and a file whose name is
/// not UTF-8 is imported all the same.
#[cfg(unix)]
#[test]
fn symlinks_loops_and_non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    write(&root.join("cat/a.png"), &png(8, 8, |x, _| x as u8 * 30));
    let elsewhere = tmp.path().join("elsewhere/dog");
    write(&elsewhere.join("b.png"), &png(8, 8, |_, y| y as u8 * 30));
    std::os::unix::fs::symlink(&elsewhere, root.join("dog")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("cat/loop")).unwrap();
    let odd = root
        .join("cat")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    write(&odd, &png(8, 8, |x, y| (x * y) as u8 * 4));
    let mut store = open(tmp.path());
    let r = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!(r.added, 3, "{:?}", r.skipped);
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert!(r.skipped[0].path.ends_with("cat/loop"), "{:?}", r.skipped);
    assert!(
        r.skipped[0].reason.contains("symlink loop"),
        "{:?}",
        r.skipped
    );
    let labels: Vec<_> = store
        .samples_by_seq()
        .unwrap()
        .into_iter()
        .map(|s| s.label.unwrap())
        .collect();
    assert_eq!(labels.iter().filter(|l| *l == "dog").count(), 1);
    // Imported again: nothing new, and the loop is named again rather than walked.
    let again = ingest::import(&mut store, &root, Format::Folder, &no_progress).unwrap();
    assert_eq!((again.added, again.unchanged), (0, 3));
}
