//! The frame around the screens — header, tabs, status line, footer — and the routing of
//! drawing to the active screen and the open popup. Nothing here writes to the store.

use super::app::App;
use super::screens::{Screen, SCREENS};
use super::widgets::hint_spans;
use crate::store::State;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &mut App) {
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, app, header);
    draw_tabs(f, app.screen, tabs);
    let (screen, ctx, _) = app.parts();
    screen.draw(f, body, ctx);
    f.render_widget(
        Paragraph::new(app.ctx.status.as_str()).style(Style::default().fg(Color::Cyan)),
        status,
    );
    let hints = app.hints();
    f.render_widget(
        Paragraph::new(Line::from(hint_spans(&hints, &app.ctx.keymap))),
        footer,
    );
    if let Some(p) = &app.popup {
        p.draw(f, &app.ctx);
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let ctx = &app.ctx;
    let counts = match &ctx.counts {
        Some(c) => format!(
            "{} samples · {} certified · {} unreviewed",
            c.samples,
            c.certified(),
            c.state(State::Unreviewed)
        ),
        None => "counting…".to_string(),
    };
    let round = ctx
        .rounds_table
        .last()
        .map_or("—".to_string(), |r| r.round.to_string());
    let task = ctx
        .store_tasks
        .first()
        .map_or(String::new(), |t| format!(" │ {t}…"));
    let j = app.job();
    let job = if j.running {
        format!(
            " │ training: epoch {}/{} {:.0}%",
            j.epoch,
            j.epochs,
            j.progress() * 100.0
        )
    } else {
        String::new()
    };
    let text = format!(
        " thresh │ {} │ {} │ round {round} │ {counts}{job}{task}",
        ctx.store.dir().display(),
        ctx.backend
    );
    f.render_widget(
        Paragraph::new(text).style(Style::default().bg(Color::Blue).fg(Color::White)),
        area,
    );
}

fn draw_tabs(f: &mut Frame, active: Screen, area: Rect) {
    let mut spans = Vec::new();
    for s in SCREENS {
        let style = if s == active {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {} ", s.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
