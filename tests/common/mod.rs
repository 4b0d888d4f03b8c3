//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod ui;

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};
use thresh::dedup::{self, quality::Truth, Params};
use thresh::demo::{self, DemoConfig};
use thresh::ingest::{self, Format};
use thresh::model::ClassifierConfig;
use thresh::store::Store;
use thresh::train::RunConfig;

/// A gray PNG of `w` x `h` from a pixel function.
pub fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]));
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
}

/// A small PNG file whose header claims `w` x `h` (a decompression bomb's shape): a valid
/// IHDR, one short IDAT and IEND.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit gray, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &[0u8; 64]).unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Run the thresh binary with `args` in `cwd`.
pub fn thresh(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thresh"))
        .current_dir(cwd)
        .env_remove("THRESH_STORE")
        .args(args)
        .output()
        .expect("run thresh")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A demo of `n` files (seed 3) imported into `dir/store` and deduplicated.
pub fn demo_store(dir: &Path, n: usize) -> (Store, Truth) {
    demo_store_of(dir, n, 3, demo::Kind::Numerals)
}

/// A demo of `kind` imported into a new store at `dir/store` shaped from its images, as
/// `thresh demo` does, and deduplicated.
pub fn demo_store_of(dir: &Path, n: usize, seed: u64, kind: demo::Kind) -> (Store, Truth) {
    demo_store_with(dir, n, seed, kind, 0.0)
}

/// `demo_store_of` with a share of the clean images written without a label.
pub fn demo_store_with(
    dir: &Path,
    n: usize,
    seed: u64,
    kind: demo::Kind,
    unlabelled: f64,
) -> (Store, Truth) {
    let out = dir.join("demo");
    demo::generate(&DemoConfig {
        out: out.clone(),
        n,
        seed,
        kind,
        unlabelled,
    })
    .unwrap();
    let listing = ingest::sources::Listing::open(&out, Format::Folder).unwrap();
    let census = listing.census().unwrap();
    let choice = ingest::shape::choose(&listing, &census, &Default::default()).unwrap();
    assert_eq!(choice.settings.size, kind.shape().0, "{}", choice.reason);
    assert_eq!(
        choice.settings.channels,
        kind.shape().1,
        "{}",
        choice.reason
    );
    let mut store = Store::open_or_create(&dir.join("store"), &choice.settings).unwrap();
    store.add_classes(kind.classes().iter().copied()).unwrap();
    ingest::import_listing(&mut store, &listing, &census, &|_, _| {}).unwrap();
    dedup::dedup(&store, Params::default()).unwrap();
    let truth = Truth::load(&out.join("truth.csv")).unwrap();
    (store, truth)
}

/// A small, fast configuration for tests.
pub fn small(classes: usize, epochs: usize) -> RunConfig {
    let mut cfg = RunConfig::new(classes, 1);
    cfg.train.model = ClassifierConfig {
        classes,
        channels: 1,
        width: 16,
        blocks: 1,
    };
    cfg.train.epochs = epochs;
    cfg.train.patience = epochs;
    cfg.train.lr = 3e-3;
    cfg.folds = 3;
    cfg
}
