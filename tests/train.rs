//! The training engine end to end on small demos: crossval ranks wrong labels first, seed
//! mode beats chance, runs are deterministic, bad input is refused, and the wgpu path
//! trains where an adapter exists.

mod common;

use common::{demo_store, small};
use std::sync::atomic::AtomicBool;
use thresh::demo;
use thresh::model::checkpoint;
use thresh::store::{State, Store};
use thresh::train::backend::{self, BackendChoice};
use thresh::train::{self, Mode, Plan, RunConfig, TrainError};

fn run(store: &Store, plan: &Plan, cfg: &RunConfig) -> train::Outcome {
    let never = AtomicBool::new(false);
    let _ = store;
    train::run(
        &backend::Compute::cpu().device,
        plan,
        cfg,
        &mut |_| {},
        &never,
    )
    .unwrap()
}

#[test]
fn crossval_ranks_wrong_labels_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, truth) = demo_store(tmp.path(), 600);
    let plan = Plan::from_store(&store, Mode::Crossval, None, 1).unwrap();
    let cfg = small(10, 12);
    let outcome = run(&store, &plan, &cfg);
    assert_eq!(
        outcome.scores.len(),
        plan.pool.len(),
        "every sample is scored out of fold"
    );
    let losses: Vec<_> = outcome.scores.iter().map(|(id, s)| (*id, s.loss)).collect();
    let r = train::quality::ranking(&store, &truth, &losses).unwrap();
    eprintln!(
        "crossval ranking on a 600-file demo: {r:?}, val acc {:.3}",
        outcome.val_acc
    );
    assert!(r.wrong >= 40);
    assert!(
        r.precision >= 0.5,
        "precision at |wrong| {:.3}",
        r.precision
    );

    // Confident learning flags a set far richer in wrong labels than the data (this small
    // model over-flags; the bench measures the full one), and the round counts it.
    let flagged: Vec<_> = outcome
        .scores
        .iter()
        .map(|(id, s)| (*id, s.flagged))
        .collect();
    let f = train::quality::flags(&store, &truth, &flagged).unwrap();
    eprintln!("flagged: {f:?}");
    let base_rate = f.wrong as f64 / f.scored as f64;
    assert!(
        f.precision >= 2.0 * base_rate && f.recall >= 0.5,
        "{f:?}, base rate {base_rate:.3}"
    );

    // Recorded as a round with checkpoints that load back.
    let rec = train::record(&store, &outcome, &cfg, "cpu (flex)").unwrap();
    assert_eq!(rec.round, 1);
    assert_eq!(rec.flagged, Some(f.flagged));
    assert_eq!(rec.checkpoints.len(), 3);
    let model = checkpoint::load(
        &rec.checkpoints[0],
        store.dir(),
        &backend::Compute::cpu().device,
    )
    .unwrap();
    let again = train::score::score(
        &model,
        &plan.pool.select(&[0, 1]),
        &backend::Compute::cpu().device,
    )
    .unwrap();
    assert_eq!(again.len(), 2);
    let stored: Vec<(thresh::store::Id, train::StoredScore)> = store.scores(1).unwrap();
    assert_eq!(stored.len(), outcome.scores.len());

    // Every scored sample's embedding is kept, and they put a sample nearer the centre of
    // its own class than of any other far more often than chance (0.1).
    let embedded = store.embeddings(1).unwrap();
    assert_eq!(embedded.len(), outcome.scores.len());
    let label_of: std::collections::HashMap<_, _> = plan
        .pool
        .ids
        .iter()
        .copied()
        .zip(plan.pool.labels.iter().copied())
        .collect();
    let vectors: Vec<(usize, Vec<f32>)> = embedded
        .iter()
        .map(|(id, b)| {
            let e = train::embed::Embedding::from_bytes(b).unwrap();
            (label_of[id], e.values())
        })
        .collect();
    let dims = vectors[0].1.len();
    assert!(dims > 0 && vectors.iter().all(|(_, v)| v.len() == dims));
    let classes = plan.classes.len();
    let mut centre = vec![vec![0f32; dims]; classes];
    let mut count = vec![0f32; classes];
    for (l, v) in &vectors {
        count[*l] += 1.0;
        centre[*l].iter_mut().zip(v).for_each(|(c, x)| *c += x);
    }
    for (c, n) in centre.iter_mut().zip(&count) {
        c.iter_mut().for_each(|x| *x /= n.max(1.0));
    }
    let dist =
        |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum() };
    let nearest_own = vectors
        .iter()
        .filter(|(l, v)| {
            (0..classes).min_by(|&a, &b| dist(v, &centre[a]).total_cmp(&dist(v, &centre[b])))
                == Some(*l)
        })
        .count() as f64
        / vectors.len() as f64;
    eprintln!("embeddings: {dims}-d, nearest class centre is the label's for {nearest_own:.3}");
    assert!(nearest_own > 0.5, "{nearest_own:.3}");

    // A damaged checkpoint is refused, and the file is left alone.
    let path = store.dir().join("models").join(&rec.checkpoints[1].file);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = checkpoint::load(
        &rec.checkpoints[1],
        store.dir(),
        &backend::Compute::cpu().device,
    )
    .err()
    .unwrap();
    assert!(
        format!("{err:#}").contains("corrupt or was replaced"),
        "{err:#}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn seed_mode_beats_chance_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, truth) = demo_store(tmp.path(), 400);
    // Certify a random, stratified seed set of 150 with their true labels, as a reviewer would.
    let seed = thresh::pipeline::rounds::seed_set(&store, 150, 1).unwrap();
    let mut certified = 0;
    for id in &seed.ids {
        let mut s = store.sample(id).unwrap().unwrap();
        let t = truth.label_of(&s.sources[0].path).unwrap_or("").to_string();
        if demo::CLASSES.contains(&t.as_str()) {
            s.label = Some(t);
            s.state = State::Certified;
            store.put_sample(&s).unwrap();
            certified += 1;
        }
    }
    let plan = Plan::from_store(&store, Mode::Seed, None, 1).unwrap();
    assert_eq!(plan.pool.len(), certified);
    let cfg = small(10, 8);
    let a = run(&store, &plan, &cfg);
    eprintln!(
        "seed mode: val acc {:.3} (chance 0.1), train acc {:.3}",
        a.val_acc, a.train_acc
    );
    assert!(a.val_acc > 0.25, "val acc {:.3}", a.val_acc);
    assert_eq!(a.scores.len(), plan.to_score.len());
    // Same seed, same device: the same scores.
    let b = run(&store, &plan, &cfg);
    let la: Vec<f32> = a.scores.iter().map(|s| s.1.loss).collect();
    let lb: Vec<f32> = b.scores.iter().map(|s| s.1.loss).collect();
    assert_eq!(la, lb);
}

#[test]
fn bad_plans_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 100);
    let cfg = small(10, 1);
    let never = AtomicBool::new(false);
    let device = backend::Compute::cpu().device;
    let err =
        |plan: &Plan, cfg: &RunConfig| match train::run(&device, plan, cfg, &mut |_| {}, &never) {
            Err(TrainError::Invalid(e)) => e,
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("must fail"),
        };
    let seed = Plan::from_store(&store, Mode::Seed, None, 1).unwrap();
    assert!(err(&seed, &cfg).contains("no certified samples"));

    let mut cv = Plan::from_store(&store, Mode::Crossval, None, 1).unwrap();
    let mut many = cfg.clone();
    many.folds = cv.pool.len() + 1;
    assert!(err(&cv, &many).contains("fewer than the"));
    // One class only.
    let first: Vec<usize> = (0..cv.pool.len())
        .filter(|&i| cv.pool.labels[i] == cv.pool.labels[0])
        .collect();
    cv.pool = cv.pool.select(&first);
    assert!(err(&cv, &cfg).contains("one label"), "{}", err(&cv, &cfg));
}

#[test]
fn cancel_stops_training() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 100);
    let plan = Plan::from_store(&store, Mode::Crossval, None, 1).unwrap();
    let cancel = AtomicBool::new(true);
    let r = train::run(
        &backend::Compute::cpu().device,
        &plan,
        &small(10, 5),
        &mut |_| {},
        &cancel,
    );
    assert!(matches!(r, Err(TrainError::Cancelled)));
}

#[test]
fn wgpu_trains_a_few_steps_where_an_adapter_exists() {
    let compute = match backend::select(BackendChoice::Wgpu) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    println!("wgpu adapter: {}", compute.name);
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 60);
    let mut plan = Plan::from_store(&store, Mode::Crossval, None, 1).unwrap();
    let keep: Vec<usize> = (0..plan.pool.len().min(24)).collect();
    plan.pool = plan.pool.select(&keep);
    let mut cfg = small(10, 1);
    cfg.train.model.width = 4;
    cfg.train.batch = 8;
    cfg.folds = 2;
    let never = AtomicBool::new(false);
    let mut batches = 0;
    let o = train::run(
        &compute.device,
        &plan,
        &cfg,
        &mut |e| batches += matches!(e, train::TrainEvent::Batch { .. }) as usize,
        &never,
    )
    .unwrap();
    assert!(batches >= 2);
    assert_eq!(o.scores.len(), plan.pool.len());
    assert!(o.scores.iter().all(|(_, s)| s.loss.is_finite()));
}
