//! Set-up shared by the benchmarks: a demo dataset generated and imported into a fresh
//! store in a temporary directory.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use std::time::Instant;
use thresh::demo::{self, DemoConfig};
use thresh::ingest::{self, Format};
use thresh::store::{Id, Sample, Source, Store, StoreSettings};

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub out: std::path::PathBuf,
}

/// `n` demo files (seed 7) imported into a new store; also the import's wall seconds.
pub fn setup(n: usize) -> (Setup, f64) {
    setup_of(n, demo::Kind::Numerals)
}

/// `THRESH_BENCH_KIND`: which demo the quality benches run on (numerals, the default, or
/// shapes).
pub fn bench_kind() -> demo::Kind {
    match std::env::var("THRESH_BENCH_KIND").as_deref() {
        Ok("shapes") => demo::Kind::Shapes,
        _ => demo::Kind::Numerals,
    }
}

/// `n` files of the `kind` demo (seed 7) imported into a new store shaped from them, as
/// `thresh demo` does; also the import's wall seconds.
pub fn setup_of(n: usize, kind: demo::Kind) -> (Setup, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    demo::generate(&DemoConfig {
        out: out.clone(),
        n,
        seed: 7,
        kind,
        unlabelled: 0.0,
    })
    .expect("demo");
    let listing = ingest::sources::Listing::open(&out, Format::Folder).expect("listing");
    let census = listing.census().expect("census");
    let choice = ingest::shape::choose(&listing, &census, &Default::default()).expect("shape");
    let mut store =
        Store::open_or_create(&dir.path().join("store"), &choice.settings).expect("store");
    store
        .add_classes(kind.classes().iter().copied())
        .expect("classes");
    let t = Instant::now();
    ingest::import_listing(&mut store, &listing, &census, &|_, _| {}).expect("import");
    let secs = t.elapsed().as_secs_f64();
    (
        Setup {
            _dir: dir,
            store,
            out,
        },
        secs,
    )
}

/// An existing folder with a `truth.csv` in the demo's format (`benches/real_data.py`
/// writes them from real images) imported into a new store shaped from it; also the
/// import's wall seconds.
pub fn setup_folder(folder: &std::path::Path) -> (Setup, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = folder.canonicalize().expect("benchmark folder");
    let listing = ingest::sources::Listing::open(&out, Format::Folder).expect("listing");
    let census = listing.census().expect("census");
    let choice = ingest::shape::choose(&listing, &census, &Default::default()).expect("shape");
    let mut store =
        Store::open_or_create(&dir.path().join("store"), &choice.settings).expect("store");
    let t = Instant::now();
    ingest::import_listing(&mut store, &listing, &census, &|_, _| {}).expect("import");
    let secs = t.elapsed().as_secs_f64();
    (
        Setup {
            _dir: dir,
            store,
            out,
        },
        secs,
    )
}

/// The store size for the 100k benches: `THRESH_BENCH_N`, default 100,000.
pub fn bench_n() -> usize {
    std::env::var("THRESH_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// A store of `n` samples with random 32x32 pixels over ten classes `c1`..`c10` (fast to
/// fill: no files, no decoding). Returns the directory, the store, the ids in import order,
/// the classes and the fill time in seconds.
pub fn synthetic(n: usize) -> (tempfile::TempDir, Store, Vec<Id>, Vec<String>, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store =
        Store::open_or_create(&dir.path().join("store"), &StoreSettings::default()).expect("store");
    let classes: Vec<String> = (1..=10).map(|c| format!("c{c}")).collect();
    store
        .add_classes(classes.iter().map(String::as_str))
        .expect("classes");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(4096) {
        let items: Vec<(Sample, Vec<u8>)> = chunk
            .iter()
            .map(|&i| {
                let id = Id::of_bytes(&(i as u64).to_le_bytes());
                ids.push(id);
                let px: Vec<u8> = (0..1024).map(|_| rng.random()).collect();
                let src = Source {
                    path: format!("/bench/{}/{i:06}.png", classes[i % 10]),
                    given: Some(classes[i % 10].clone()),
                };
                let hashes = thresh::dedup::phash::Hashes {
                    centred: rng.random(),
                    plain: rng.random(),
                };
                let s = Sample::imported(id, i as u64, src, Id::of_bytes(&px), hashes, (32, 32));
                (s, px)
            })
            .collect();
        store.insert_samples(&items).expect("insert");
    }
    store.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    (dir, store, ids, classes, secs)
}
