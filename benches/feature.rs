//! `cargo bench --bench feature`: the feature-space figures — t-SNE map layout time at 10k
//! and 100k points, and the latency of a "similar samples" query (exact search over a
//! round's stored embeddings) at 100k, p50/p99. Points are 256-d blobs (20 clusters), stored
//! u8-quantised as a round keeps them. Prints a table and one JSON line.
//!
//! `THRESH_BENCH_MAP=10000,100000` sets the map sizes, `THRESH_BENCH_N=100000` the store
//! size for the query.

use rand::{Rng, SeedableRng};
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use thresh::feature::embed::Embedding;
use thresh::feature::{similar, tsne};
use thresh::store::{Id, Store, StoreSettings};

fn blobs(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..256).map(|_| rng.random::<f32>().max(0.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % 20]
                .iter()
                .map(|c| (c + (rng.random::<f32>() - 0.5) * 0.6).max(0.0))
                .collect()
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sizes: Vec<usize> = std::env::var("THRESH_BENCH_MAP")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut json = serde_json::Map::new();
    println!("## map layout (t-SNE, 750 iterations, perplexity 30, θ 0.5; {cores} cores)");
    println!("| points | neighbours s | layout s | total s |");
    println!("|---|---|---|---|");
    for &n in &sizes {
        let v: Vec<Vec<f32>> = blobs(n, 1)
            .iter()
            .map(|x| Embedding::quantise(x).values())
            .collect();
        let started = Instant::now();
        let mut knn_done = None;
        let map = tsne::project(
            &v,
            &tsne::Params::default(),
            &mut |stage, _, _| {
                if stage.starts_with("laying") && knn_done.is_none() {
                    knn_done = Some(started.elapsed().as_secs_f64());
                }
            },
            &AtomicBool::new(false),
        )
        .expect("not cancelled");
        let total = started.elapsed().as_secs_f64();
        assert_eq!(map.len(), n);
        let knn = knn_done.unwrap_or(total);
        println!("| {n} | {knn:.1} | {:.1} | {total:.1} |", total - knn);
        json.insert(format!("map_{n}_s"), total.into());
        json.insert(format!("map_{n}_neighbours_s"), knn.into());
    }

    let n: usize = std::env::var("THRESH_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        Store::open_or_create(&dir.path().join("store"), &StoreSettings::default()).expect("store");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<(Id, Vec<u8>)> = blobs(n, 2)
        .iter()
        .map(|x| (Id(rng.random()), Embedding::quantise(x).to_bytes()))
        .collect();
    store.put_embeddings(1, &rows).expect("embeddings");
    store
        .put_round(1, &serde_json::json!({"round": 1}))
        .expect("round");
    let mut times = Vec::new();
    for q in 0..50 {
        let of = rows[(q * 7919) % n].0;
        let t = Instant::now();
        let s = similar::similar(&store, &of, similar::DEFAULT_K).expect("query");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(s.near.len(), similar::DEFAULT_K);
    }
    times.sort_by(f64::total_cmp);
    println!();
    println!(
        "## similar samples (exact, {n} stored 256-d embeddings, k {}, 50 queries)",
        similar::DEFAULT_K
    );
    println!("| p50 ms | p99 ms |");
    println!("|---|---|");
    println!(
        "| {:.1} | {:.1} |",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    json.insert("similar_n".into(), n.into());
    json.insert("similar_p50_ms".into(), percentile(&times, 0.5).into());
    json.insert("similar_p99_ms".into(), percentile(&times, 0.99).into());
    println!("{}", serde_json::Value::Object(json));
}
