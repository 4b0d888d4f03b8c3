//! `cargo bench --bench review`: the review pipeline's latency figures on a store of 100k
//! samples — a decision's write + flush (p50/p99 over 1,000 decisions, and undo), and filling
//! the accept/review queues from 100k scores. Prints a table and one JSON line.
//!
//! `THRESH_BENCH_N=100000` (default) sets the store size.

mod common;

use rand::{Rng, SeedableRng};
use std::time::Instant;
use thresh::pipeline::decide::{self, Decision};
use thresh::pipeline::queues;
use thresh::store::Id;
use thresh::train::{Mode, RoundRecord, RunConfig, StoredScore};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n = common::bench_n();
    let (_dir, store, ids, classes, fill_s) = common::synthetic(n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);

    // Scores for every sample, as a round leaves them.
    let scores: Vec<(Id, StoredScore)> = ids
        .iter()
        .map(|id| {
            (
                *id,
                StoredScore {
                    loss: rng.random::<f32>() * 5.0,
                    margin: 0.0,
                    el2n: 0.0,
                    forgetting: 0,
                    suggested: classes[0].clone(),
                    probability: 0.5,
                    flagged: false,
                    // As large as a real round's: three classes, ten neighbours.
                    top: classes.iter().take(3).map(|c| (c.clone(), 0.3)).collect(),
                    neighbours: Some(thresh::feature::Neighbours {
                        near: (0..thresh::feature::knn::K)
                            .map(|_| (ids[rng.random_range(0..ids.len())], 0.1))
                            .collect(),
                        outlier: 0.1,
                        agreement: Some(0.5),
                    }),
                },
            )
        })
        .collect();
    store.put_scores(1, &scores).expect("scores");
    let round = RoundRecord {
        round: 1,
        mode: Mode::Seed,
        backend: "bench".into(),
        finished: 0,
        train_size: 0,
        val_size: 0,
        train_acc: 0.0,
        val_acc: 0.0,
        epochs: 0,
        epoch_secs: 0.0,
        scored: n,
        flagged: None,
        checkpoints: vec![],
        config: RunConfig::new(10, 1),
        review: None,
    };
    store.put_round(1, &round).expect("round");
    store.flush().expect("flush");
    let mut rank_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = queues::rank(&store, 500, 100).expect("rank");
        rank_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!((r.accept, r.review), (500, 100));
    }
    rank_ms.sort_by(f64::total_cmp);

    // 1,000 decisions of mixed kinds, each written and flushed before the next.
    let mut lat = Vec::new();
    for (i, id) in ids.iter().step_by(n / 1000).take(1000).enumerate() {
        let d = match i % 3 {
            0 => Decision::Certify,
            1 => Decision::Relabel(classes[(i + 3) % 10].clone()),
            _ => Decision::Reject("junk".into()),
        };
        let t = Instant::now();
        decide::decide(&store, id, &d).expect("decide");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let mut undo = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        decide::undo(&store).expect("undo");
        undo.push(t.elapsed().as_secs_f64() * 1e3);
    }
    undo.sort_by(f64::total_cmp);

    println!(
        "review pipeline at {n} samples ({} cores)",
        rayon::current_num_threads()
    );
    println!("  store fill            {fill_s:>8.2} s");
    println!(
        "  decision (write+flush) p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!(
        "  undo                   p50 {:.3} ms  p99 {:.3} ms",
        percentile(&undo, 0.5),
        percentile(&undo, 0.99)
    );
    println!(
        "  queue fill from {n} scores: median {:.1} ms (min {:.1}, max {:.1})",
        rank_ms[2], rank_ms[0], rank_ms[4]
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "review", "n": n,
            "decision_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99)},
            "undo_ms": {"p50": percentile(&undo, 0.5), "p99": percentile(&undo, 0.99)},
            "rank_ms": rank_ms[2],
        })
    );
}
