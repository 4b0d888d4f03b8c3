//! Driving the review UI on ratatui's TestBackend: an app on a store, keys, a settled
//! worker, a rendered frame and its text.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::time::{Duration, Instant};
use thresh::store::Store;
use thresh::train::backend::Compute;
use thresh::tui::app::{App, AppEvent};
use thresh::tui::draw;
use thresh::tui::keymap::Keymap;
use thresh::tui::thumb::Palette;

/// The app on `store` with the default keymap, on the CPU, 256 colours, settled.
pub fn app(store: Store) -> App {
    app_with(store, Palette::Ansi256)
}

pub fn app_with(store: Store, palette: Palette) -> App {
    let mut a = App::new(store, Keymap::default_map(), Compute::cpu(), palette).unwrap();
    settle(&mut a);
    a
}

/// Feed the app the events of its store tasks until none runs (the start-up count, a
/// dedup, ...); fails after 60 s.
pub fn settle(app: &mut App) {
    let started = Instant::now();
    while !app.ctx.store_tasks.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?} still running",
            app.ctx.store_tasks
        );
        if let Some(e) = app.wait_job(Duration::from_millis(50)) {
            app.handle(AppEvent::Job(e));
        }
    }
}

pub fn key(app: &mut App, c: char) {
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )));
}

pub fn code(app: &mut App, c: KeyCode) {
    app.handle(AppEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

pub fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw::draw(f, app)).unwrap();
    t
}

pub fn text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// Open the menu and choose its entry number `entry` (0 = the first, "Train a round").
pub fn menu(app: &mut App, entry: usize) {
    key(app, 'm');
    for _ in 0..entry {
        code(app, KeyCode::Down);
    }
    code(app, KeyCode::Enter);
}

/// Feed the app the compute worker's events until its job ends; fails after `secs`.
pub fn finish_job(app: &mut App, secs: u64) {
    let started = Instant::now();
    while app.job().running {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "the job did not finish in {secs} s: {}",
            app.job().stage
        );
        if let Some(e) = app.wait_job(Duration::from_millis(50)) {
            app.handle(AppEvent::Job(e));
        }
    }
}
