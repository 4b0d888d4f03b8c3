//! Set-up shared by the benchmarks: a demo dataset generated and imported into a fresh
//! store in a temporary directory.
#![allow(dead_code)]

use std::time::Instant;
use thresh::demo::{self, DemoConfig};
use thresh::ingest::{self, Format};
use thresh::store::{Store, StoreSettings};

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub out: std::path::PathBuf,
}

/// `n` demo files (seed 7) imported into a new store; also the import's wall seconds.
pub fn setup(n: usize) -> (Setup, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    demo::generate(&DemoConfig {
        out: out.clone(),
        n,
        seed: 7,
    })
    .expect("demo");
    let mut store =
        Store::open_or_create(&dir.path().join("store"), &StoreSettings::default()).expect("store");
    store.add_classes(demo::CLASSES).expect("classes");
    let t = Instant::now();
    ingest::import(&mut store, &out, Format::Folder, &|_, _| {}).expect("import");
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
