//! Synthesis and evaluation on a small demo: the GAN trains against a frozen classifier and
//! its samples wait in the synthetic queue until approved; `eval` shows the cleaned version
//! beating the raw one on the fixed test split.

mod common;

use common::{demo_store, small};
use std::sync::atomic::AtomicBool;
use thresh::demo::Kind;
use thresh::pipeline::eval::{self, EvalConfig};
use thresh::pipeline::queues::{self, Queue};
use thresh::pipeline::simulate::{self, Oracle, SimConfig};
use thresh::pipeline::synth::{self, SYNTHETIC};
use thresh::pipeline::{decide, rounds, split, versions};
use thresh::store::{Origin, State};
use thresh::train::backend::Compute;
use thresh::train::{Mode, Plan};

#[test]
fn gan_samples_wait_for_approval() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    let compute = Compute::cpu();
    let never = AtomicBool::new(false);
    let opts = synth::GanOptions {
        width: Some(4),
        lr: None,
        hold: None,
    };
    // No classifier yet: a clear error.
    let err = synth::train(&store, &compute, 4, opts, &mut |_| {}, &never).unwrap_err();
    assert!(
        err.to_string().contains("run `thresh train` first"),
        "{err}"
    );
    let seed = rounds::seed_set(&store, 60, 1).unwrap();
    decide::accept_page(&store, thresh::pipeline::queues::CERTIFY, &seed.ids, &[]).unwrap();
    rounds::train_round(
        &store,
        &compute,
        &small(10, 2),
        10,
        10,
        queues::DEFAULT_PSEUDO,
        &mut |_| {},
        &never,
    )
    .unwrap();
    let mut iters = 0;
    let rec = synth::train(
        &store,
        &compute,
        6,
        opts,
        &mut |e| {
            if let thresh::train::gan::GanEvent::Iter { iter, gamma, .. } = e {
                iters = iter;
                assert!((0.0..=0.5).contains(&gamma));
            }
        },
        &never,
    )
    .unwrap();
    assert_eq!(iters, 6);
    assert_eq!(
        rec.checks.len(),
        2,
        "checked at the end of the hold and at the end"
    );
    let pool_before = Plan::from_store(&store, Mode::Seed, None, 1)
        .unwrap()
        .pool
        .len();
    let g = synth::generate(&store, &compute, 10, None, 0.7).unwrap();
    assert_eq!(g.ids.len(), 10);
    let q: Queue = store.queue(SYNTHETIC).unwrap().unwrap();
    assert_eq!(q.ids, g.ids);
    for id in &g.ids {
        let s = store.sample(id).unwrap().unwrap();
        assert_eq!((s.origin, s.state), (Origin::Synthetic, State::Unreviewed));
        assert_eq!(store.pixels(id).unwrap().unwrap().len(), 32 * 32);
        assert!(!s.in_data(), "not part of the data before approval");
    }
    // One sequence: files imported after generation get numbers of their own.
    let more = tmp.path().join("more");
    for i in 0..12u32 {
        let bytes = common::png(32, 32, |x, y| ((x * (i + 3) + y * 5) % 256) as u8);
        common::write(&more.join(format!("I/m{i}.png")), &bytes);
    }
    let mut store = store;
    thresh::ingest::import(
        &mut store,
        &more,
        thresh::ingest::Format::Folder,
        &|_, _| {},
    )
    .unwrap();
    let all = store.samples_by_seq().unwrap();
    let seqs: std::collections::HashSet<u64> = all.iter().map(|s| s.seq).collect();
    assert_eq!(
        seqs.len(),
        all.len(),
        "every sample has its own import number"
    );
    let err = synth::generate(&store, &compute, 3, Some("XI"), 0.7).unwrap_err();
    assert!(err.to_string().contains("unknown class"));
    // Approve half: they join the certified data.
    decide::accept_page(&store, SYNTHETIC, &g.ids[..5], &[]).unwrap();
    let pool_after = Plan::from_store(&store, Mode::Seed, None, 1)
        .unwrap()
        .pool
        .len();
    assert_eq!(pool_after, pool_before + 5);
    // The synthetic queue's exceptions are bookkeeping undo takes back, as for the others.
    decide::accept_page(&store, SYNTHETIC, &g.ids[5..7], &g.ids[5..6]).unwrap();
    let q: Queue = store.queue(SYNTHETIC).unwrap().unwrap();
    assert_eq!(q.skipped, g.ids[5..6]);
    assert_eq!(decide::undo(&store).unwrap().action, "accept_page");
    let q: Queue = store.queue(SYNTHETIC).unwrap().unwrap();
    assert!(q.skipped.is_empty(), "undo left {:?}", q.skipped);
    assert_eq!(
        "synthetic".parse::<thresh::store::QueueName>(),
        Ok(SYNTHETIC),
        "the CLI's --queue synthetic"
    );
    // A damaged generator checkpoint is refused.
    let path = store.dir().join("models").join(&rec.file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = synth::generate(&store, &compute, 1, None, 0.7).unwrap_err();
    assert!(err.to_string().contains("corrupt or was replaced"), "{err}");
}

/// The GAN draws squares of 3 or 4 times a power of two: a store of another size is refused
/// in one line, before any work (it used to panic inside the discriminator).
#[test]
fn the_gan_refuses_a_store_it_cannot_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = thresh::store::StoreSettings {
        size: 40,
        channels: 1,
        augment: None,
    };
    let mut store = thresh::store::Store::open_or_create(tmp.path(), &settings).unwrap();
    store.add_classes(["a", "b"]).unwrap();
    let never = AtomicBool::new(false);
    let compute = Compute::cpu();
    let err = synth::train(&store, &compute, 4, Default::default(), &mut |_| {}, &never)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the GAN draws squares of 4 or 3 times a power of two (32, 64, 96, 128) and this store holds 40x40 images"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    let err = synth::generate(&store, &compute, 1, None, 0.7).unwrap_err();
    assert!(err.to_string().contains("40x40"), "{err}");
}

/// Cleaning the demo with the simulated reviewer raises test accuracy. One small model on
/// 141 test images varies by several points, so each demo is judged by the mean of three
/// models (the main one and one per fold) and the claim by the mean over two demos: over
/// seven demo seeds (3–9) the gain was +0.044 ± 0.021 (smallest +0.010, on seed 3), so a
/// margin of 3 points on one demo failed about one run in four on numerics alone.
#[test]
fn the_cleaned_version_beats_the_raw_one_on_test() {
    let gains: Vec<f32> = [3, 4].into_iter().map(cleaning_gain).collect();
    let mean = gains.iter().sum::<f32>() / gains.len() as f32;
    assert!(
        mean > 0.01,
        "clean minus raw test accuracy per demo: {gains:?}"
    );
}

/// Test accuracy of the cleaned version minus the raw one on the 1,000-file demo `seed`.
fn cleaning_gain(seed: u64) -> f32 {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = common::demo_store_of(tmp.path(), 1000, seed, Kind::Numerals);
    let compute = Compute::cpu();
    let never = AtomicBool::new(false);
    // Raw and clean share the split: the same test images, the same folds.
    split::split(&store, 0.25, 2, 1).unwrap();
    versions::freeze(&store, "raw").unwrap();
    let oracle = Oracle::load(&tmp.path().join("demo/truth.csv")).unwrap();
    let (_, total) = rounds::validated(&store).unwrap();
    let (k, l) = rounds::scaled_k_l(total);
    let cfg = SimConfig {
        rounds: 4,
        seed_set: 100,
        k,
        l,
        page: 50,
        run: small(10, 10),
        seed: 7,
        warm: false,
        pseudo: queues::DEFAULT_PSEUDO,
    };
    simulate::simulate(&store, &oracle, &compute, &cfg, &mut |_| {}, &never).unwrap();
    versions::freeze(&store, "clean").unwrap();
    let mut ec = EvalConfig::paper(10, 1);
    ec.train.model = small(10, 1).train.model;
    ec.train.epochs = 20;
    ec.train.batch = 16;
    ec.train.lr = 3e-3;
    ec.folds = true;
    let names = vec!["raw".to_string(), "clean".to_string()];
    let (rows, clean_labels) =
        eval::evaluate(&store, &compute, &names, &ec, &mut |_, _| {}, &never).unwrap();
    eprintln!("{}", eval::render(&rows));
    assert!(
        clean_labels,
        "the simulated reviewer certified the test split"
    );
    assert_eq!(rows[0].test, rows[1].test, "one fixed test split");
    assert!(rows[1].train < rows[0].train, "cleaning removed junk");
    // One model per fold of the split (2 here) besides the main one.
    let mean_of = |r: &eval::EvalRow| {
        let (mean, std, n) = r.folds.expect("fold figures");
        assert_eq!(n, 2);
        assert!((0.0..=1.0).contains(&mean) && std >= 0.0);
        (r.test_acc + mean * n as f32) / (n as f32 + 1.0)
    };
    let (raw, clean) = (mean_of(&rows[0]), mean_of(&rows[1]));
    assert_eq!(eval::stored(&store).unwrap().len(), 2);
    clean - raw
}
