//! The terminal review UI (ratatui + crossterm), in the shape of gitui: one component per
//! screen (`screens/`) and per popup (`popups/`), each owning its state, its keys (listed as
//! hints, from which the footer and help are generated) and its drawing; `app` routes keys,
//! job events and the message queue (`msg`); `context` is the cached view state all
//! components read; `draw` is the frame around them; `keymap` maps keys to actions; `thumb`
//! draws images in half blocks, `graphics` in the terminal's graphics protocol. The UI only calls the library (`pipeline`, `jobs`, `store`); the
//! library never knows about the terminal.

pub mod app;
pub mod component;
pub mod context;
pub mod draw;
pub mod graphics;
pub mod keymap;
pub mod msg;
pub mod popups;
pub mod screens;
pub mod thumb;
pub mod widgets;

use crate::store::Store;
use crate::train::backend::Compute;
use anyhow::{Context, Result};
use app::{App, AppEvent};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;
use std::io::{stdout, Stdout};
use std::time::{Duration, Instant};

/// Puts the terminal back however the UI ends: normal return, error, or panic.
struct TerminalGuard;

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Open the UI on `store` and run until the user quits; `thumbs` says whether to ask the
/// terminal for a graphics protocol.
pub fn run(store: Store, compute: Compute, thumbs: graphics::ThumbMode) -> Result<()> {
    let keymap = keymap::Keymap::load(keymap::Keymap::user_path().as_deref())?;
    let palette = thumb::Palette::detect();
    let mut app = App::new(store, keymap, compute, palette)?;

    enable_raw_mode().context("cannot put the terminal in raw mode (is this a terminal?)")?;
    let _guard = TerminalGuard;
    execute!(stdout(), EnterAlternateScreen).context("cannot open the alternate screen")?;
    // The query writes escapes and reads the answer: after the switch, before any event.
    app.ctx.graphics = graphics::Graphics::detect(thumbs);
    if let Some(g) = &app.ctx.graphics {
        app.ctx.status = format!("{} — thumbnails in {}", app.ctx.status, g.name());
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;
    let result = event_loop(&mut terminal, &mut app);
    let _ = std::panic::take_hook();
    result
}

fn event_loop(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &mut App) -> Result<()> {
    let tick = Duration::from_millis(250);
    let mut last_tick = Instant::now();
    app.handle(AppEvent::Tick);
    loop {
        terminal.draw(|f| draw::draw(f, app))?;
        // Input first, never blocked by a job: wait at most until the next tick.
        let mut timeout = tick.saturating_sub(last_tick.elapsed());
        if let Some(g) = &app.ctx.graphics {
            // Thumbnails on their way: look for them sooner than the next tick.
            g.receive();
            if g.busy() {
                timeout = timeout.min(Duration::from_millis(20));
            }
        }
        if event::poll(timeout)? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => app.handle(AppEvent::Key(k)),
                Event::Resize(w, h) => {
                    terminal.autoresize()?;
                    app.handle(AppEvent::Resize(w, h))
                }
                _ => {}
            }
        }
        for e in app.poll_jobs() {
            app.handle(AppEvent::Job(e));
        }
        if last_tick.elapsed() >= tick {
            app.handle(AppEvent::Tick);
            last_tick = Instant::now();
        }
        if app.quit {
            return Ok(());
        }
    }
}
