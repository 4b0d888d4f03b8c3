//! `cargo bench --bench train`: the training engine's figures.
//! - speed: seconds per epoch at 2,000 32x32 samples, batch 32, reference network, on the
//!   CPU (flex) and on wgpu where a hardware adapter exists; scoring samples/s.
//! - quality: crossval on the default demo (or the folder `THRESH_BENCH_DATA`, e.g. from
//!   `benches/real_data.py`), precision among the top |wrong| by loss; side by side with
//!   cleanlab on a plain PyTorch CNN and on a pixel MLP (`benches/cleanlab_reference.py`)
//!   when `THRESH_TORCH_PYTHON` has torch, scikit-learn and cleanlab.
//! - seed: seed mode with 200 samples certified from truth.csv, validation accuracy.
//! - gan: conditional-GAN iterations/s (`THRESH_BENCH_GAN_ITERS`, default 60: 30 per phase).
//! - photos: seconds per epoch at 10,000 64x64 RGB colour-demo shapes (photos preset), on the
//!   CPU (`THRESH_BENCH_PHOTO_N` sets the count). Not in the default sections: ≈4 minutes.
//!
//! `THRESH_BENCH_TRAIN=speed,quality,seed,gan` (default) picks sections;
//! `THRESH_BENCH_SNAPSHOTS=N` scores crossval by N epochs' mean softmax (default 5, as `train`);
//! `THRESH_BENCH_FOLD_WORKERS=N` trains N crossval folds at once (default 0 = one per core);
//! `THRESH_BENCH_KNN=W` weighs the neighbours' vote (default 0.5, as `train`; 0 = model alone);
//! `THRESH_BENCH_AUGMENT` (preset), `THRESH_BENCH_SMOOTHING`, `THRESH_BENCH_MIXUP` override
//! the store's augmentation for crossval (ablations);
//! `THRESH_BENCH_EPOCHS` caps epochs in quality/seed (default 30); `THRESH_BENCH_KIND=shapes`
//! runs quality and seed on the colour demo (64 px RGB, photos preset) instead of the numerals.

mod common;

use rand::SeedableRng;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use thresh::augment::{Img, Preset};
use thresh::dedup::{self, quality::Truth, Params};
use thresh::demo::{self, glyph};
use thresh::model::ClassifierConfig;
use thresh::store::{Id, State};
use thresh::train::backend::{self, Compute};
use thresh::train::data::Dataset;
use thresh::train::{self, fit, score, Mode, Plan, RunConfig};

fn numerals(n: usize) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut d = Dataset::default();
    for i in 0..n {
        let c = i % 10;
        let px = glyph::numeral(demo::CLASSES[c], &mut rng);
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        d.push(Id(id), Img::from_u8(&px, 32, 1), c);
    }
    d
}

/// `n` colour-demo shapes, 64x64 RGB.
fn shapes(n: usize) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut d = Dataset::default();
    for i in 0..n {
        let c = i % 10;
        let img = image::imageops::resize(
            &demo::shapes::draw(c, &mut rng),
            64,
            64,
            image::imageops::FilterType::Triangle,
        );
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        d.push(Id(id), Img::from_u8(img.as_raw(), 64, 3), c);
    }
    d
}

fn speed(compute: &Compute, n: usize, epochs: usize) -> serde_json::Value {
    speed_of(compute, &numerals(n), 1, Preset::Numerals, epochs)
}

/// Seconds per epoch of the reference network on `data` (`channels` per pixel, augmented
/// by `preset`), and the scoring rate.
fn speed_of(
    compute: &Compute,
    data: &Dataset,
    channels: usize,
    preset: Preset,
    epochs: usize,
) -> serde_json::Value {
    let n = data.len();
    let mut cfg = fit::TrainConfig::new(ClassifierConfig::reference(10, channels));
    cfg.augment = preset.config();
    cfg.epochs = epochs;
    cfg.patience = epochs;
    let never = AtomicBool::new(false);
    let mut secs = Vec::new();
    let f = fit::fit(
        &compute.device,
        &cfg,
        data,
        &Dataset::default(),
        &mut |e| {
            if let fit::TrainEvent::Epoch { secs: s, .. } = e {
                secs.push(s)
            }
        },
        &never,
    )
    .expect("train");
    let t = Instant::now();
    let scores = score::score(&f.model, data, &compute.device).expect("score");
    let score_rate = scores.len() as f64 / t.elapsed().as_secs_f64();
    // The first epoch includes warm-up (kernel compilation on wgpu); report the rest.
    let steady: Vec<f32> = if secs.len() > 1 {
        secs[1..].to_vec()
    } else {
        secs.clone()
    };
    let epoch = steady.iter().sum::<f32>() / steady.len() as f32;
    let side = data.images.first().map_or(0, |i| i.side);
    println!(
        "{:<28} {:>6} samples {side}x{side}x{channels} ({preset})  {:>7.2} s/epoch (first {:.2})  {:>8.2} ms/sample  scoring {:>7.0} samples/s",
        compute.label(), n, epoch, secs[0], epoch as f64 * 1e3 / n as f64, score_rate
    );
    serde_json::json!({"backend": compute.label(), "samples": n, "side": side, "channels": channels, "augment": preset.name(), "epoch_s": epoch, "first_epoch_s": secs[0], "score_samples_s": score_rate})
}

/// The demo (`THRESH_BENCH_KIND`) imported and deduplicated, with its truth file.
fn demo_store(n: usize) -> (common::Setup, Truth) {
    let (s, _) = common::setup_of(n, common::bench_kind());
    dedup::dedup(&s.store, Params::default()).expect("dedup");
    let truth = Truth::load(&s.out.join("truth.csv")).expect("truth");
    (s, truth)
}

fn epochs_cap() -> usize {
    std::env::var("THRESH_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

fn progress(e: train::TrainEvent) {
    match e {
        train::TrainEvent::Stage { text } => eprintln!("  {text}"),
        train::TrainEvent::Epoch {
            epoch,
            val_acc,
            train_acc,
            secs,
            ..
        } => {
            eprintln!(
                "    epoch {epoch}: train acc {train_acc:.3} val acc {val_acc:.3} ({secs:.1}s)"
            )
        }
        _ => {}
    }
}

/// The store `quality` ranks: the demo (`THRESH_BENCH_KIND`) or a benchmark folder
/// (`THRESH_BENCH_DATA`, e.g. from `benches/real_data.py`), deduplicated as a user would.
fn ranked_store() -> (common::Setup, Truth) {
    match std::env::var_os("THRESH_BENCH_DATA") {
        Some(dir) => {
            let (s, _) = common::setup_folder(std::path::Path::new(&dir));
            dedup::dedup(&s.store, Params::default()).expect("dedup");
            let truth = Truth::load(&s.out.join("truth.csv")).expect("truth");
            (s, truth)
        }
        None => demo_store(2000),
    }
}

/// Overrides for ablations of the crossval recipe: `THRESH_BENCH_AUGMENT` (a preset name),
/// then `THRESH_BENCH_SMOOTHING` and `THRESH_BENCH_MIXUP` (numbers) on top of it.
fn ablate(aug: &mut thresh::augment::AugmentConfig) {
    use clap::ValueEnum;
    if let Ok(name) = std::env::var("THRESH_BENCH_AUGMENT") {
        let preset = Preset::from_str(&name, true)
            .unwrap_or_else(|e| panic!("THRESH_BENCH_AUGMENT={name}: {e}"));
        *aug = preset.config();
    }
    let number = |key: &str| {
        std::env::var(key).ok().map(|v| {
            v.parse::<f32>()
                .unwrap_or_else(|e| panic!("{key}={v}: {e}"))
        })
    };
    if let Some(v) = number("THRESH_BENCH_SMOOTHING") {
        aug.label_smoothing = v;
    }
    if let Some(v) = number("THRESH_BENCH_MIXUP") {
        aug.mixup = v;
    }
    eprintln!("  augmentation for crossval: {aug:?}");
}

fn quality() -> serde_json::Value {
    let (setup, truth) = ranked_store();
    let store = setup.store;
    let plan = Plan::from_store(&store, Mode::Crossval, None, 7).expect("plan");
    let mut cfg = RunConfig::for_store(store.meta());
    cfg.train.epochs = epochs_cap();
    if let Some(s) = std::env::var("THRESH_BENCH_SNAPSHOTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.snapshots = s;
    }
    if let Some(w) = std::env::var("THRESH_BENCH_KNN")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.knn_weight = w;
    }
    if let Some(w) = std::env::var("THRESH_BENCH_FOLD_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.fold_workers = w;
    }
    ablate(&mut cfg.train.augment);
    let t = Instant::now();
    let never = AtomicBool::new(false);
    let o = train::run(
        &backend::Compute::cpu().device,
        &plan,
        &cfg,
        &mut progress,
        &never,
    )
    .expect("crossval");
    let wall = t.elapsed().as_secs_f64();
    let losses: Vec<_> = o.scores.iter().map(|(id, s)| (*id, s.loss)).collect();
    let r = train::quality::ranking(&store, &truth, &losses).expect("ranking");
    let flagged: Vec<_> = o.scores.iter().map(|(id, s)| (*id, s.flagged)).collect();
    let fl = train::quality::flags(&store, &truth, &flagged).expect("flags");
    println!(
        "crossval ({} folds, {} at once, {} snapshot(s), neighbours' vote {}, reference net, cpu) on {}: {} scored, {} wrong (labels + junk); precision at |wrong| {:.3} ({} hits), labels only {:.3}; mean val acc {:.3}; {:.0} s",
        cfg.folds, train::concurrent::workers(cfg.fold_workers, cfg.folds), cfg.snapshots, cfg.knn_weight, setup.out.display(), r.scored, r.wrong, r.precision, r.hits, r.precision_labels_only, o.val_acc, wall
    );
    println!(
        "flagged by confident learning: {} ({} wrong): precision {:.3}, recall {:.3}",
        fl.flagged, fl.hits, fl.precision, fl.recall
    );
    let variants = ranking_variants(&store, &truth, &plan, &o);
    let mut out = serde_json::json!({"crossval": r, "flags": fl, "variants": variants, "val_acc": o.val_acc, "wall_s": wall});
    // The same samples ranked by cleanlab on a plain PyTorch CNN and on a pixel MLP.
    let paths: Vec<String> = plan
        .pool
        .ids
        .iter()
        .filter_map(|id| store.sample(id).ok().flatten())
        .map(|s| s.sources[0].path.clone())
        .collect();
    let list = setup._dir.path().join("ranked.txt");
    std::fs::write(&list, paths.join("\n")).expect("write the ranked paths");
    let meta = store.meta();
    let mut args = vec![
        setup.out.display().to_string(),
        "--paths".into(),
        list.display().to_string(),
        "--folds".into(),
        cfg.folds.to_string(),
        "--side".into(),
        meta.size.to_string(),
        "--threads".into(),
        rayon::current_num_threads().to_string(),
    ];
    if meta.channels == 3 {
        args.push("--rgb".into());
    }
    if let Some(c) = python_reference("cleanlab_reference.py", &args) {
        let f = |m: &str, k: &str| c[m][k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<34} {:>8} {:>8} {:>10} {:>11} {:>8}",
            "label errors, side by side",
            "P@|bad|",
            "flagged",
            "flag prec",
            "flag recall",
            "wall s"
        );
        println!(
            "{:<34} {:>8.3} {:>8} {:>10.3} {:>11.3} {:>8.0}",
            "thresh crossval", r.precision, fl.flagged, fl.precision, fl.recall, wall
        );
        for (m, name) in [
            ("cnn", "cleanlab + PyTorch reference CNN"),
            ("mlp", "cleanlab + pixel MLP (sklearn)"),
        ] {
            println!(
                "{name:<34} {:>8.3} {:>8} {:>10.3} {:>11.3} {:>8.0}",
                f(m, "precision_at_bad"),
                c[m]["flagged"],
                f(m, "flagged_precision"),
                f(m, "flagged_recall"),
                f(m, "wall_s")
            );
        }
        println!(
            "({} samples, {} bad; the CNN {} epochs per fold, no augmentation)",
            c["samples"], c["bad"], c["epochs"]
        );
        out["cleanlab"] = c;
    }
    out
}

/// How suspicious sample `i` of a run's scores is (higher = ranked first).
type Suspicion<'a> = dyn Fn(usize, &score::SampleScore) -> f32 + 'a;

/// Other orders of the same out-of-sample probabilities, to see which ranks wrong labels
/// best (no extra training): by loss (= cleanlab's self-confidence order), by normalised
/// margin (p(label) − the best other p), by p(label) relative to its class's mean
/// (confident learning's per-class threshold), and the flagged set first, then by loss.
fn ranking_variants(
    store: &thresh::store::Store,
    truth: &Truth,
    plan: &Plan,
    o: &train::Outcome,
) -> serde_json::Value {
    let classes = plan.classes.len();
    let label: std::collections::HashMap<Id, usize> = plan
        .pool
        .ids
        .iter()
        .copied()
        .zip(plan.pool.labels.iter().copied())
        .chain(
            plan.to_score
                .ids
                .iter()
                .copied()
                .zip(plan.to_score.labels.iter().copied()),
        )
        .collect();
    let labels: Vec<usize> = o.scores.iter().map(|(id, _)| label[id]).collect();
    let probs: Vec<f32> = o.scores.iter().flat_map(|(_, s)| s.probs.clone()).collect();
    let th = train::confident::thresholds(&labels, &probs, classes);
    let order = |f: &Suspicion| -> Vec<(Id, f32)> {
        o.scores
            .iter()
            .enumerate()
            .map(|(i, (id, s))| (*id, f(i, s)))
            .collect()
    };
    let variants: [(&str, Box<Suspicion>); 4] = [
        ("loss", Box::new(|_, s| s.loss)),
        (
            "normalised margin",
            Box::new(|i, s| {
                let l = labels[i];
                let other = (0..classes)
                    .filter(|&j| j != l)
                    .map(|j| s.probs[j])
                    .fold(0f32, f32::max);
                other - s.probs[l]
            }),
        ),
        (
            "p(label) / class mean",
            Box::new(|i, s| -s.probs[labels[i]] / th[labels[i]].max(1e-6)),
        ),
        (
            "flagged, then loss",
            Box::new(|_, s| s.loss + if s.flagged { 1e6 } else { 0.0 }),
        ),
    ];
    let mut out = serde_json::Map::new();
    for (name, f) in &variants {
        let r = train::quality::ranking(store, truth, &order(f.as_ref())).expect("ranking");
        println!(
            "  ranked by {name:<24} precision at |wrong| {:.3}",
            r.precision
        );
        out.insert((*name).into(), r.precision.into());
    }
    out.into()
}

fn seed_mode() -> serde_json::Value {
    let (setup, truth) = demo_store(2000);
    let store = setup.store;
    // A random seed set, stratified by label, certified with the true labels.
    let seed = thresh::pipeline::rounds::seed_set(&store, 200, 7).expect("seed set");
    for id in &seed.ids {
        let mut s = store.sample(id).expect("read").expect("sample");
        let t = truth.label_of(&s.sources[0].path).unwrap_or("").to_string();
        if store.meta().classes.contains(&t) {
            s.label = Some(t);
            s.state = State::Certified;
            store.put_sample(&s).expect("write");
        }
    }
    let plan = Plan::from_store(&store, Mode::Seed, None, 7).expect("plan");
    let mut cfg = RunConfig::for_store(store.meta());
    cfg.train.epochs = epochs_cap();
    let never = AtomicBool::new(false);
    let o = train::run(
        &backend::Compute::cpu().device,
        &plan,
        &cfg,
        &mut progress,
        &never,
    )
    .expect("seed");
    let losses: Vec<_> = o.scores.iter().map(|(id, s)| (*id, s.loss)).collect();
    let r = train::quality::ranking(&store, &truth, &losses).expect("ranking");
    println!(
        "seed mode (200 certified: {} train / {} val): val acc {:.3} (chance 0.100), train acc {:.3}; ranking of the other {}: precision at |wrong| {:.3}",
        o.train_size, o.val_size, o.val_acc, o.train_acc, r.scored, r.precision
    );
    serde_json::json!({"val_acc": o.val_acc, "train_acc": o.train_acc, "precision": r.precision})
}

/// GAN iterations per second (batch 32, default generator) against the reference classifier:
/// the first half with γ = 0 (generator + discriminator only), the second with the
/// classifier-adversarial term (a forward and backward pass through the classifier too).
/// The first iteration (a warm-up) and the quality check a run makes between the phases
/// are not timed.
fn gan_speed(compute: &Compute, iters: usize) -> serde_json::Value {
    use thresh::model::gan::GanConfig;
    use thresh::train::gan::{self, GanEvent, GanTrainConfig};
    let data = numerals(640);
    let ccfg = ClassifierConfig::reference(10, 1);
    let classifier = ccfg.init(&compute.device);
    let frozen = ccfg.init(&compute.device.clone().autodiff());
    // Half the iterations in each phase (a run's default holds γ at 0 for five sixths), the
    // term at full weight from its first iteration, as `torch_reference.py` does: a phase
    // of a few iterations would time little more than its first one's new allocations.
    let cfg = GanTrainConfig {
        gamma_hold: iters / 2,
        gamma_ramp: 0,
        ..GanTrainConfig::new(GanConfig::new(10, 1), iters)
    };
    let never = AtomicBool::new(false);
    // The end of the first iteration (a warm-up, as the epoch bench's first epoch: building
    // the networks, which PyTorch's reference does before its clock starts, and the first
    // allocations), of the first phase, of the quality check that follows it (generating
    // and classifying a sample grid: not an iteration, and not in PyTorch's loop), the end.
    let mut marks = Vec::new();
    let t = Instant::now();
    gan::train(
        &compute.device,
        &cfg,
        &data,
        &classifier,
        frozen,
        &mut |e| match e {
            GanEvent::Iter { iter, .. } if [1, cfg.gamma_hold, iters].contains(&iter) => {
                marks.push(t.elapsed().as_secs_f64())
            }
            GanEvent::Check { iter, .. } if iter == cfg.gamma_hold => {
                marks.push(t.elapsed().as_secs_f64())
            }
            _ => {}
        },
        &never,
    )
    .expect("gan");
    assert_eq!(marks.len(), 4, "the GAN bench's phase marks");
    let hold = (cfg.gamma_hold - 1) as f64 / (marks[1] - marks[0]);
    let adv = (iters - cfg.gamma_hold) as f64 / (marks[3] - marks[2]);
    println!(
        "GAN on {}: {hold:.2} it/s with γ = 0, {adv:.2} it/s with the classifier term (batch 32; not timed: the first iteration, {:.0} ms, and the check between the phases, {:.0} ms)",
        compute.label(),
        marks[0] * 1e3,
        (marks[2] - marks[1]) * 1e3
    );
    serde_json::json!({"backend": compute.label(), "hold_it_s": hold, "adversarial_it_s": adv})
}

/// The same network, batch and sample count in PyTorch (`benches/torch_reference.py`), when
/// the Python named by `THRESH_TORCH_PYTHON` (default `python3`) has torch; `None` (and a
/// line saying why) otherwise. Not run in CI.
fn torch_reference(n: usize, epochs: usize, gan_iters: usize) -> Option<serde_json::Value> {
    let args = [
        "--n".to_string(),
        n.to_string(),
        "--epochs".into(),
        epochs.to_string(),
        "--threads".into(),
        rayon::current_num_threads().to_string(),
        "--gan-iters".into(),
        gan_iters.to_string(),
    ];
    python_reference("torch_reference.py", &args)
}

/// Run `benches/SCRIPT` with `THRESH_TORCH_PYTHON` (default `python3`) and read the JSON
/// object on its last line; `None`, with the reason printed, when it cannot run (no torch).
fn python_reference(script: &str, args: &[String]) -> Option<serde_json::Value> {
    let python = std::env::var("THRESH_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/benches/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args(args)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            match serde_json::from_str(text.lines().last().unwrap_or("")) {
                Ok(v) => Some(v),
                Err(e) => {
                    println!("{script}: unreadable output ({e}): {text}");
                    None
                }
            }
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            println!(
                "reference skipped: {python} {script} failed: {}",
                err.lines().last().unwrap_or("")
            );
            None
        }
        Err(e) => {
            println!("reference skipped: cannot run {python}: {e}");
            None
        }
    }
}

/// thresh and PyTorch side by side, as ratios (above 1 = thresh slower / scores slower).
fn side_by_side(thresh: &serde_json::Value, torch: &serde_json::Value) {
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let (te, pe) = (f(thresh, "epoch_s"), f(torch, "epoch_s"));
    let (ts, ps) = (f(thresh, "score_samples_s"), f(torch, "score_per_s"));
    println!(
        "side by side ({} threads each): epoch thresh {te:.2} s vs PyTorch {pe:.2} s = {:.2}x; scoring thresh {ts:.0} vs PyTorch {ps:.0} samples/s = {:.2}x PyTorch's rate",
        torch["threads"],
        te / pe,
        ts / ps
    );
}

fn main() {
    // As the binary does: the figures are the ones a user gets.
    thresh::alloc::keep_freed_memory();
    let sections =
        std::env::var("THRESH_BENCH_TRAIN").unwrap_or_else(|_| "speed,quality,seed,gan".into());
    println!(
        "# thresh training benchmark ({} threads)\n",
        rayon::current_num_threads()
    );
    let mut out = serde_json::Map::new();
    if sections.contains("speed") {
        let cpu = speed(&Compute::cpu(), 2000, 3);
        if let Some(torch) = torch_reference(2000, 3, 0) {
            side_by_side(&cpu, &torch);
            out.insert("torch".into(), torch);
        }
        let mut rows = vec![cpu];
        for a in backend::wgpu_adapters() {
            if a.software {
                println!(
                    "{} is a software rasteriser: timing 256 samples only",
                    a.name
                );
                let c = Compute {
                    device: a.device,
                    kind: backend::Kind::Wgpu,
                    name: a.name,
                    notice: None,
                };
                rows.push(speed(&c, 256, 2));
            } else {
                let c = Compute {
                    device: a.device,
                    kind: backend::Kind::Wgpu,
                    name: a.name,
                    notice: None,
                };
                rows.push(speed(&c, 2000, 3));
            }
        }
        out.insert("speed".into(), rows.into());
    }
    if sections.contains("photos") {
        // The colour path at its size: 64x64 RGB, photos preset (flips, reflect-padded
        // crops, colour jitter, cutout, mixup), `THRESH_BENCH_PHOTO_N` samples.
        let n = std::env::var("THRESH_BENCH_PHOTO_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let row = speed_of(&Compute::cpu(), &shapes(n), 3, Preset::Photos, 2);
        out.insert("photos".into(), row);
    }
    if sections.contains("quality") {
        out.insert("quality".into(), quality());
    }
    if sections.contains("seed") {
        out.insert("seed".into(), seed_mode());
    }
    if sections.contains("gan") {
        let iters = std::env::var("THRESH_BENCH_GAN_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let gan = gan_speed(&Compute::cpu(), iters);
        // The same GAN in PyTorch (a short classifier pass comes with it).
        if let Some(torch) = torch_reference(500, 1, iters) {
            let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "GAN side by side: thresh {:.2} / {:.2} it/s vs PyTorch {:.2} / {:.2} it/s (γ = 0 / with the classifier term) = {:.2}x / {:.2}x PyTorch's rate",
                f(&gan, "hold_it_s"),
                f(&gan, "adversarial_it_s"),
                f(&torch, "gan_hold_it_s"),
                f(&torch, "gan_adversarial_it_s"),
                f(&gan, "hold_it_s") / f(&torch, "gan_hold_it_s"),
                f(&gan, "adversarial_it_s") / f(&torch, "gan_adversarial_it_s"),
            );
            out.insert("torch_gan".into(), torch);
        }
        out.insert("gan".into(), gan);
    }
    out.insert("bench".into(), "train".into());
    println!("{}", serde_json::Value::Object(out));
}
