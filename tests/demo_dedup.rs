//! The demo dataset and dedup measured against its truth file.

mod common;

use std::collections::HashMap;
use std::path::Path;
use thresh::dedup::{self, phash, quality, Params};
use thresh::demo::{self, DemoConfig};
use thresh::ingest::{self, Format};
use thresh::store::{State, Store, StoreSettings};

fn generate(dir: &Path, n: usize, seed: u64) -> demo::DemoReport {
    demo::generate(&DemoConfig {
        out: dir.to_path_buf(),
        n,
        seed,
        ..Default::default()
    })
    .unwrap()
}

fn import(tmp: &Path, out: &Path) -> Store {
    let mut store = Store::open_or_create(&tmp.join("store"), &StoreSettings::default()).unwrap();
    store.add_classes(demo::CLASSES).unwrap();
    ingest::import(&mut store, out, Format::Folder, &|_, _| {}).unwrap();
    store
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for class in demo::CLASSES {
        for e in std::fs::read_dir(dir.join(class)).unwrap() {
            let p = e.unwrap().path();
            files.push((
                format!("{class}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read(&p).unwrap(),
            ));
        }
    }
    files.push((
        "truth.csv".into(),
        std::fs::read(dir.join("truth.csv")).unwrap(),
    ));
    files.sort();
    files
}

#[test]
fn demo_is_deterministic_by_seed_and_has_the_stated_flaws() {
    let tmp = tempfile::tempdir().unwrap();
    let r1 = generate(&tmp.path().join("a"), 600, 11);
    generate(&tmp.path().join("b"), 600, 11);
    generate(&tmp.path().join("c"), 600, 12);
    let (a, b, c) = (
        tree(&tmp.path().join("a")),
        tree(&tmp.path().join("b")),
        tree(&tmp.path().join("c")),
    );
    assert_eq!(a, b, "same seed, same files");
    assert_ne!(a, c, "another seed, other files");

    assert_eq!(r1.files, 600);
    let rate = |n: usize| n as f64 / 600.0;
    assert!(
        (0.08..0.11).contains(&rate(r1.wrong_labels)),
        "wrong labels {}",
        r1.wrong_labels
    );
    assert!((0.025..0.035).contains(&rate(r1.exact_duplicates)));
    assert!((0.025..0.035).contains(&rate(r1.near_duplicates)));
    assert!(r1.junk >= 3 && r1.corrupt >= 3);

    let rows = demo::read_truth(&tmp.path().join("a/truth.csv")).unwrap();
    assert_eq!(rows.len(), 600);
    for r in &rows {
        assert!(
            tmp.path().join("a").join(&r.path).exists(),
            "{} missing",
            r.path
        );
        assert!(
            r.path.starts_with(&format!("{}/", r.given)),
            "{} not under its given label",
            r.path
        );
        if r.flaw == "wrong_label" {
            assert_ne!(r.given, r.truth);
        }
        if r.flaw.ends_with("_dup") || r.flaw.starts_with("near_dup") {
            assert!(!r.dup_of.is_empty());
        }
    }
    // Half the wrong labels are confusable numerals (a neighbour in the confusion table).
    let wrong: Vec<_> = rows.iter().filter(|r| r.flaw == "wrong_label").collect();
    assert!(wrong.len() >= 40);
}

/// 1-nearest-neighbour on centred images (leave one out): a crude check that the classes
/// are learnable, far above the 10% of chance.
#[test]
fn numerals_are_distinguishable() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut data: Vec<(usize, Vec<f32>)> = Vec::new();
    for (c, name) in demo::CLASSES.iter().enumerate() {
        for _ in 0..30 {
            let img = demo::glyph::numeral(name, &mut rng);
            let centred = phash::centered(&img, 32);
            data.push((c, centred.iter().map(|&v| v as f32 / 255.0).collect()));
        }
    }
    let mut correct = 0;
    for (i, (ci, a)) in data.iter().enumerate() {
        let nearest = data
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (cj, b))| {
                (
                    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>(),
                    *cj,
                )
            })
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap();
        correct += (nearest.1 == *ci) as usize;
    }
    let acc = correct as f64 / data.len() as f64;
    assert!(acc > 0.5, "1-NN accuracy {acc:.2}");
}

#[test]
fn dedup_on_the_demo_meets_the_measured_quality() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    generate(&out, 2000, 7);
    let store = import(tmp.path(), &out);
    let report = dedup::dedup(&store, Params::default()).unwrap();
    let truth = quality::Truth::load(&out.join("truth.csv")).unwrap();
    let samples = store.samples_by_seq().unwrap();
    let q = quality::measure(&truth, &samples, &quality::stored_groups(&samples));
    // Every exact duplicate is found (they are one sample with several sources).
    assert_eq!(q.exact_found, q.exact_total);
    assert_eq!(q.exact_total, 60);
    // Measured at the defaults (radius 10, 0.97, 8 nearest): recall 0.883, precision 1.0
    // (radius 2 gave 0.833).
    assert!(q.near_recall >= 0.85, "near recall {:.3}", q.near_recall);
    assert!(q.precision >= 0.95, "precision {:.3}", q.precision);
    // Each exact copy is an extra source (identical blank junk pages may add a few more).
    assert!(report.byte_duplicates >= 60, "{}", report.byte_duplicates);

    // Non-kept members are marked duplicate and point at their kept sample.
    let by_id: HashMap<_, _> = samples.iter().map(|s| (s.id, s)).collect();
    for s in &samples {
        if let Some(d) = s.dup {
            assert_eq!(s.state, State::Duplicate);
            assert_eq!(by_id[&d.of].group, s.group);
            assert!(
                by_id[&d.of].dup.is_none(),
                "kept sample is itself a duplicate"
            );
        }
    }

    // Re-running changes nothing.
    let again = dedup::dedup(&store, Params::default()).unwrap();
    assert_eq!(again.marked, 0);
    assert_eq!(again.released, 0);
    assert_eq!(store.samples_by_seq().unwrap(), samples);

    // Distance 0 (identical hashes, verified on pixels) never mixes distinct images.
    let strict = dedup::dedup(
        &store,
        Params {
            radius: 0,
            ..Params::default()
        },
    )
    .unwrap();
    assert!(
        strict.released > 0,
        "a smaller radius releases some samples"
    );
    let samples = store.samples_by_seq().unwrap();
    let q0 = quality::measure(&truth, &samples, &quality::stored_groups(&samples));
    assert_eq!(
        q0.flagged_correct, q0.flagged,
        "radius 0 mixed distinct images"
    );
    assert_eq!(q0.exact_found, q0.exact_total);
}

/// The colour demo (textured shapes, mixed sizes) through the same dedup: every exact copy,
/// and near copies of every kind, measured against its truth file.
#[test]
fn dedup_on_the_colour_demo_meets_the_measured_quality() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, truth) = common::demo_store_of(tmp.path(), 2000, 7, demo::Kind::Shapes);
    let samples = store.samples_by_seq().unwrap();
    let q = quality::measure(&truth, &samples, &quality::stored_groups(&samples));
    eprintln!("colour demo dedup: {q:?}");
    assert_eq!(q.exact_found, q.exact_total);
    assert_eq!(q.exact_total, 60);
    // The target: recall ≥ 0.98 at pair precision ≥ 0.95. Measured at the defaults:
    // 0.983 (59 of 60: a copy shrunk to three quarters missed) at precision 1.000; before
    // the colour check 0.967 (a brightened copy with clipped channels missed), before the
    // relative check 0.967 at 0.967, before the second hash 0.900 at 0.982.
    assert!(q.near_recall >= 0.98, "near recall {:.3}", q.near_recall);
    assert!(q.precision >= 0.95, "precision {:.3}", q.precision);
    let (found, total) = q.near_by_kind["near_dup_brightness"];
    assert_eq!(
        found, total,
        "brightened copies (some with clipped channels)"
    );
}
