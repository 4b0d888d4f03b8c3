//! `cargo bench --bench ui`: the review UI on a store of `THRESH_BENCH_N` samples (default
//! 100,000) on ratatui's TestBackend at 200x60 — time to open the UI, frame time of every
//! screen (p50/p99), and key-to-draw latency while a training round streams events and while
//! dedup runs on the store worker. Prints a table and one JSON line.

mod common;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::time::{Duration, Instant};
use thresh::dedup::Params;
use thresh::jobs::tasks::Task;
use thresh::pipeline::decide;
use thresh::pipeline::queues::{Queue, CERTIFY};
use thresh::pipeline::rounds;
use thresh::train::backend::Compute;
use thresh::tui::app::{App, AppEvent};
use thresh::tui::draw;
use thresh::tui::keymap::Keymap;
use thresh::tui::screens::{Screen, SCREENS};
use thresh::tui::thumb::Palette;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn key(app: &mut App, code: KeyCode) {
    app.handle(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Feed job events to the app until `done(app)`; panics after `secs`.
fn run_until(app: &mut App, secs: u64, done: impl Fn(&App) -> bool) {
    let started = Instant::now();
    while !done(app) {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out: {}",
            app.ctx.status
        );
        if let Some(e) = app.wait_job(Duration::from_millis(20)) {
            app.handle(AppEvent::Job(e));
        }
    }
}

/// Key-to-draw latencies (ms) while `busy(app)`: a key, then a frame, every 20 ms.
fn keys_while(
    app: &mut App,
    term: &mut Terminal<TestBackend>,
    secs: u64,
    busy: impl Fn(&App) -> bool,
) -> (Vec<f64>, usize) {
    let (mut lat, mut events) = (Vec::new(), 0);
    let started = Instant::now();
    while busy(app) {
        assert!(started.elapsed() < Duration::from_secs(secs), "timed out");
        for e in app.poll_jobs() {
            events += 1;
            app.handle(AppEvent::Job(e));
        }
        let t = Instant::now();
        key(app, KeyCode::Right);
        term.draw(|f| draw::draw(f, app)).expect("draw");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(20));
    }
    (lat, events)
}

fn main() {
    let n = common::bench_n();
    let (_dir, store, _ids, _classes, fill_s) = common::synthetic(n);
    rounds::seed_set(&store, 400, 1).expect("seed set");

    // Opening: App::new on the UI thread (the count runs on the worker).
    let t = Instant::now();
    let mut app = App::new(
        store,
        Keymap::default_map(),
        Compute::cpu(),
        Palette::TrueColor,
    )
    .expect("app");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let t = Instant::now();
    term.draw(|f| draw::draw(f, &mut app)).expect("draw");
    let first_frame_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    run_until(&mut app, 120, |a| a.ctx.counts.is_some());
    let count_ms = t.elapsed().as_secs_f64() * 1e3;

    // Every screen: 200 frames each, moving the cursor on the Queues screen.
    let mut screens = Vec::new();
    for screen in SCREENS {
        while app.screen != screen {
            key(&mut app, KeyCode::Tab);
        }
        let mut frames = Vec::new();
        for i in 0..200 {
            if screen == Screen::Queues {
                key(
                    &mut app,
                    if i % 50 < 25 {
                        KeyCode::Right
                    } else {
                        KeyCode::Left
                    },
                );
            }
            let t = Instant::now();
            term.draw(|f| draw::draw(f, &mut app)).expect("draw");
            frames.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (p50, p99) = (pct(&mut frames, 0.5), pct(&mut frames, 0.99));
        screens.push((screen, p50, p99));
    }
    while app.screen != Screen::Queues {
        key(&mut app, KeyCode::Tab);
    }

    // Certify the seed set, then train a round while keys are pressed.
    let ids = app
        .ctx
        .store
        .queue::<Queue>(CERTIFY)
        .expect("queue")
        .expect("certify queue")
        .ids;
    decide::accept_page(&app.ctx.store, CERTIFY, &ids, &[]).expect("accept");
    app.run_task(Task::Round {
        epochs: 2,
        warm: false,
        pseudo: thresh::pipeline::queues::DEFAULT_PSEUDO,
    });
    let (mut train_lat, train_events) = keys_while(&mut app, &mut term, 1800, |a| a.job().running);
    assert!(app.ctx.status.starts_with("round 1"), "{}", app.ctx.status);

    // Dedup of the whole store on the store worker, again while keys are pressed.
    app.screen = Screen::Queues;
    let t = Instant::now();
    app.run_task(Task::Dedup(Params::default()));
    let (mut dedup_lat, _) =
        keys_while(&mut app, &mut term, 600, |a| !a.ctx.store_tasks.is_empty());
    let dedup_s = t.elapsed().as_secs_f64();
    assert!(app.ctx.status.starts_with("dedup"), "{}", app.ctx.status);

    let (t50, t99) = (pct(&mut train_lat, 0.5), pct(&mut train_lat, 0.99));
    let (d50, d99) = (pct(&mut dedup_lat, 0.5), pct(&mut dedup_lat, 0.99));
    println!(
        "ui at 200x60 on {n} samples ({} cores; store filled in {fill_s:.1} s)",
        rayon::current_num_threads()
    );
    println!("  open the UI (App::new)          {open_ms:.1} ms; first frame {first_frame_ms:.2} ms; counts ready after {count_ms:.0} ms");
    for (s, p50, p99) in &screens {
        println!("  frame {:<10} p50 {p50:.3} ms  p99 {p99:.3} ms", s.title());
    }
    println!(
        "  key-to-draw while training: p50 {t50:.3} ms  p99 {t99:.3} ms over {} keys, {train_events} job events",
        train_lat.len()
    );
    println!(
        "  key-to-draw while dedup runs ({dedup_s:.1} s): p50 {d50:.3} ms  p99 {d99:.3} ms over {} keys",
        dedup_lat.len()
    );
    let frames: serde_json::Value = screens
        .iter()
        .map(|(s, p50, p99)| {
            (
                s.title().to_string(),
                serde_json::json!({"p50": p50, "p99": p99}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    println!(
        "{}",
        serde_json::json!({"bench": "ui", "n": n, "open_ms": open_ms, "count_ms": count_ms,
            "frame_ms": frames,
            "key_to_draw_training_ms": {"p50": t50, "p99": t99},
            "key_to_draw_dedup_ms": {"p50": d50, "p99": d99}})
    );
}
