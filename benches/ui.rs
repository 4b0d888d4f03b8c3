//! `cargo bench --bench ui`: frame time of the Queues screen with a full thumbnail grid on
//! ratatui's TestBackend at 200x60 (p50/p99, cold and cached thumbnails), and key-to-draw
//! latency while a training job streams events. Prints a table and one JSON line.

mod common;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::time::{Duration, Instant};
use thresh::pipeline::decide;
use thresh::pipeline::queues::CERTIFY;
use thresh::pipeline::rounds;
use thresh::train::backend::Compute;
use thresh::tui::app::{App, AppEvent};
use thresh::tui::draw;
use thresh::tui::keymap::Keymap;
use thresh::tui::thumb::Palette;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let (setup, _) = common::setup(1000);
    let store = setup.store;
    rounds::seed_set(&store, 400, 1).expect("seed set");
    let mut app = App::new(
        store,
        Keymap::default_map(),
        Compute::cpu(),
        Palette::TrueColor,
    )
    .expect("app");
    app.handle(AppEvent::Tick);
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");

    // Cold: every thumbnail rendered from pixels. Warm: from the cache.
    let t = Instant::now();
    term.draw(|f| draw::draw(f, &mut app)).expect("draw");
    let cold = t.elapsed().as_secs_f64() * 1e3;
    let mut frames = Vec::new();
    for i in 0..300 {
        // Move the cursor so each frame differs (and pages through the queue).
        let code = if i % 50 < 25 {
            KeyCode::Right
        } else {
            KeyCode::Left
        };
        app.handle(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        let t = Instant::now();
        term.draw(|f| draw::draw(f, &mut app)).expect("draw");
        frames.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cells = app.page_cells;

    // Certify what the seed set drew, then train a round on the worker while keys are pressed.
    let ids: Vec<_> = app
        .store
        .queue::<thresh::pipeline::queues::Queue>(CERTIFY)
        .expect("queue")
        .expect("certify queue")
        .ids;
    decide::accept_page(&app.store, CERTIFY, &ids, &[]).expect("accept");
    app.config.epochs = 3;
    app.start_round().expect("start");
    let mut lat = Vec::new();
    let mut events = 0;
    let started = Instant::now();
    while app.job.running && started.elapsed() < Duration::from_secs(300) {
        for e in app.poll_jobs() {
            events += 1;
            app.handle(AppEvent::Job(e));
        }
        let t = Instant::now();
        app.handle(AppEvent::Key(KeyEvent::new(
            KeyCode::Tab,
            KeyModifiers::NONE,
        )));
        term.draw(|f| draw::draw(f, &mut app)).expect("draw");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (f50, f99) = (pct(&mut frames, 0.5), pct(&mut frames, 0.99));
    let (l50, l99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "ui at 200x60, {cells} thumbnails per page ({} cores)",
        rayon::current_num_threads()
    );
    println!("  first frame (cold thumbnails)  {cold:.2} ms");
    println!("  frame p50 {f50:.3} ms  p99 {f99:.3} ms");
    println!(
        "  key-to-draw during training: p50 {l50:.3} ms  p99 {l99:.3} ms over {} keys, {events} job events",
        lat.len()
    );
    println!(
        "{}",
        serde_json::json!({"bench": "ui", "cold_ms": cold, "frame_ms": {"p50": f50, "p99": f99},
            "key_to_draw_ms": {"p50": l50, "p99": l99}, "keys": lat.len(), "events": events})
    );
}
