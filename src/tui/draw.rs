//! Drawing: one function per screen and overlay, all from `App` state. Nothing here writes
//! to the store.

use super::app::{App, InputPurpose, MenuEntry, Overlay, Screen, SCREENS};
use super::keymap::Action;
use super::thumb;
use crate::augment::{self, AugmentConfig, Img};
use crate::pipeline::decide;
use crate::store::QueueName;
use crate::store::State;
use rand::SeedableRng;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Clear, Gauge, Paragraph, Row, Table, Wrap,
};
use ratatui::Frame;

/// Grid cell: a 16x8-cell thumbnail (a 32x32 image at half resolution) and two text lines.
pub const THUMB_COLS: u16 = 16;
pub const THUMB_ROWS: u16 = 8;
const CELL_W: u16 = THUMB_COLS + 2;
const CELL_H: u16 = THUMB_ROWS + 2;

fn state_color(s: State) -> Color {
    match s {
        State::Unreviewed => Color::White,
        State::Certified => Color::Green,
        State::Relabeled => Color::Yellow,
        State::Rejected => Color::Red,
        State::Duplicate => Color::Magenta,
        State::Surplus => Color::Blue,
    }
}

pub fn draw(f: &mut Frame, app: &mut App) {
    app.preview = None;
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, app, header);
    draw_tabs(f, app, tabs);
    match app.screen {
        Screen::Queues => draw_queues(f, app, body),
        Screen::Sample => draw_sample(f, app, body),
        Screen::Training => draw_training(f, app, body),
        Screen::Data => draw_data(f, app, body),
        Screen::Rounds => draw_rounds(f, app, body),
        Screen::Versions => draw_versions(f, app, body),
    }
    f.render_widget(
        Paragraph::new(app.status.as_str()).style(Style::default().fg(Color::Cyan)),
        status,
    );
    draw_footer(f, app, footer);
    match &app.overlay {
        Some(Overlay::Help) => draw_help(f, app),
        Some(Overlay::Menu { selected }) => {
            let entries: Vec<&str> = MenuEntry::ALL.iter().map(|e| e.text()).collect();
            draw_list(f, "Menu", &entries, *selected)
        }
        Some(Overlay::Picker { selected }) => {
            let classes: Vec<&str> = app
                .store
                .meta()
                .classes
                .iter()
                .map(String::as_str)
                .collect();
            draw_list(f, "Relabel to", &classes, *selected)
        }
        Some(Overlay::Input { purpose, text }) => {
            let title = match purpose {
                InputPurpose::Filter => "Filter (label, state or path; empty clears)",
                InputPurpose::VersionName => "Version name",
            };
            let area = centered(f.area(), 50, 3);
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(format!("{text}▏"))
                    .block(Block::default().borders(Borders::ALL).title(title)),
                area,
            );
        }
        None => {}
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let counts = match &app.counts {
        Some(c) => format!(
            "{} samples · {} certified · {} unreviewed",
            c.samples,
            c.certified(),
            c.state(State::Unreviewed)
        ),
        None => "counting…".to_string(),
    };
    let round = app
        .rounds_table
        .last()
        .map_or("—".to_string(), |r| r.round.to_string());
    let task = app.store_task.map_or(String::new(), |t| format!(" │ {t}…"));
    let job = if app.job.running {
        format!(
            " │ training: epoch {}/{} {:.0}%",
            app.job.epoch,
            app.job.epochs,
            progress(app) * 100.0
        )
    } else {
        String::new()
    };
    let text = format!(
        " thresh │ {} │ {} │ round {round} │ {counts}{job}{task}",
        app.store.dir().display(),
        app.backend
    );
    f.render_widget(
        Paragraph::new(text).style(Style::default().bg(Color::Blue).fg(Color::White)),
        area,
    );
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for s in SCREENS {
        let style = if s == app.screen {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {} ", s.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let k = |a| app.keymap.key_for(a);
    let keys: Vec<(String, &str)> = match app.screen {
        Screen::Queues | Screen::Sample => vec![
            (k(Action::Accept), "accept"),
            (k(Action::Mark), "mark"),
            (k(Action::Reject), "reject"),
            (k(Action::Suggestion), "suggestion"),
            ("1-0".into(), "relabel"),
            (k(Action::Undo), "undo"),
            (k(Action::Open), "open"),
            (k(Action::NextQueue), "queue"),
            (k(Action::Sort), "sort"),
            (k(Action::Filter), "filter"),
            (k(Action::Menu), "menu"),
            (k(Action::Help), "help"),
            (k(Action::Quit), "quit"),
        ],
        _ => vec![
            (k(Action::NextScreen), "screen"),
            (k(Action::Menu), "menu"),
            (k(Action::Cancel), "cancel job"),
            (k(Action::Undo), "undo"),
            (k(Action::Help), "help"),
            (k(Action::Quit), "quit"),
        ],
    };
    let spans: Vec<Span> = keys
        .iter()
        .flat_map(|(key, what)| {
            [
                Span::styled(key.clone(), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(format!(" {what}  ")),
            ]
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn progress(app: &App) -> f64 {
    let j = &app.job;
    if j.epochs == 0 || j.steps == 0 {
        return 0.0;
    }
    ((j.epoch.saturating_sub(1) as f64 + j.step as f64 / j.steps as f64) / j.epochs as f64)
        .clamp(0.0, 1.0)
}

fn draw_queues(f: &mut Frame, app: &mut App, area: Rect) {
    let [title, grid] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let q = &app.queues;
    let mut t = format!(
        " queue: {} — {} shown, {} unreviewed · sort: {}",
        q.name(),
        q.shown.len(),
        q.pending(),
        q.sort.name()
    );
    if !q.filter.is_empty() {
        t.push_str(&format!(" · filter: {}", q.filter));
    }
    if !q.marked.is_empty() {
        t.push_str(&format!(" · {} marked", q.marked.len()));
    }
    f.render_widget(
        Paragraph::new(t).style(Style::default().add_modifier(Modifier::BOLD)),
        title,
    );
    if q.shown.is_empty() {
        let hint = match q.name() {
            QueueName::Certify => "Nothing to certify. Press m and draw a seed set.",
            QueueName::Accept | QueueName::Review => {
                "Empty. Press m to train a round (it fills this queue)."
            }
            QueueName::Duplicates => "No duplicates. Press m → Find duplicates.",
            _ => "Nothing here.",
        };
        f.render_widget(Paragraph::new(hint), grid);
        return;
    }
    if q.list {
        draw_list_view(f, app, grid);
    } else {
        draw_grid(f, app, grid);
    }
}

fn draw_grid(f: &mut Frame, app: &mut App, area: Rect) {
    let cols = (area.width / CELL_W).max(1) as usize;
    let rows = (area.height / CELL_H).max(1) as usize;
    let per_page = cols * rows;
    let first = (app.queues.cursor / per_page) * per_page;
    app.grid_cols_drawn = cols;
    app.page_cells = per_page;
    app.page_first = first;
    let side = app.store.meta().size as usize;
    let channels = app.store.meta().channels as usize;
    let palette = app.palette;
    for slot in 0..per_page {
        let Some(&idx) = app.queues.shown.get(first + slot) else {
            break;
        };
        let x = area.x + (slot % cols) as u16 * CELL_W;
        let y = area.y + (slot / cols) as u16 * CELL_H;
        let cell = Rect::new(
            x,
            y,
            CELL_W.min(area.right() - x),
            CELL_H.min(area.bottom() - y),
        );
        let item = &app.queues.items[idx];
        let id = item.sample.id;
        let thumb = app.cache.get_or(id, THUMB_COLS, THUMB_ROWS, || {
            thumb::render(
                &item.pixels,
                side,
                channels,
                THUMB_COLS,
                THUMB_ROWS,
                palette,
            )
        });
        thumb.draw(
            Rect::new(cell.x + 1, cell.y, THUMB_COLS, THUMB_ROWS),
            f.buffer_mut(),
        );
        let selected = first + slot == app.queues.cursor;
        let marked = app.queues.marked.contains(&id);
        let s = &item.sample;
        let label = s.label.as_deref().unwrap_or("?");
        let mut line1 = format!("{}{label}", if marked { "✗ " } else { "" });
        if let Some(sc) = &item.score {
            if sc.suggested != label {
                line1.push_str(&format!(" → {}", sc.suggested));
            }
        }
        let line2 = match &item.score {
            Some(sc) => format!("loss {:.2}", sc.loss),
            None => s.state.name().to_string(),
        };
        let mut style = Style::default().fg(state_color(s.state));
        if selected {
            style = style.add_modifier(Modifier::REVERSED);
        }
        if marked {
            style = style.add_modifier(Modifier::CROSSED_OUT);
        }
        let text_area =
            Rect::new(cell.x + 1, cell.y + THUMB_ROWS, THUMB_COLS, 2).intersection(area);
        f.render_widget(
            Paragraph::new(vec![
                Line::styled(format!("{line1:<16}"), style),
                Line::styled(line2, Style::default().fg(Color::DarkGray)),
            ]),
            text_area,
        );
    }
}

fn draw_list_view(f: &mut Frame, app: &mut App, area: Rect) {
    let height = area.height.saturating_sub(1).max(1) as usize;
    let first = (app.queues.cursor / height) * height;
    app.grid_cols_drawn = 1;
    app.page_cells = height;
    app.page_first = first;
    let q = &app.queues;
    let rows: Vec<Row> = q
        .shown
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(pos, &i)| {
            let it = &q.items[i];
            let s = &it.sample;
            let sc = it.score.as_ref();
            let num = |v: Option<f32>| v.map_or("—".into(), |v| format!("{v:.3}"));
            let mut style = Style::default().fg(state_color(s.state));
            if pos == q.cursor {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Row::new(vec![
                if q.marked.contains(&s.id) { "✗" } else { " " }.to_string(),
                s.state.name().to_string(),
                s.label.clone().unwrap_or_default(),
                sc.map_or(String::new(), |s| s.suggested.clone()),
                num(sc.map(|s| s.loss)),
                num(sc.map(|s| s.margin)),
                num(sc.map(|s| s.el2n)),
                sc.map_or("—".into(), |s| s.forgetting.to_string()),
                s.sources
                    .first()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
            ])
            .style(style)
        })
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    f.render_widget(
        Table::new(rows, widths).header(
            Row::new(vec![
                "",
                "state",
                "label",
                "suggested",
                "loss",
                "margin",
                "EL2N",
                "forget",
                "path",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD)),
        ),
        area,
    );
}

fn draw_sample(f: &mut Frame, app: &mut App, area: Rect) {
    let Some(item) = app.queues.current().cloned() else {
        f.render_widget(Paragraph::new("No sample selected (Queues screen)."), area);
        return;
    };
    let side = app.store.meta().size as usize;
    let channels = app.store.meta().channels as usize;
    // Largest whole-cell rendering that fits: 32x16 cells for a 32x32 image at full size.
    let cols = (area.width / 2)
        .min(area.height.saturating_sub(6) * 2)
        .clamp(8, 64);
    let rows = cols / 2;
    let [left, right] =
        Layout::horizontal([Constraint::Length(cols + 2), Constraint::Min(20)]).areas(area);
    let big = thumb::render(&item.pixels, side, channels, cols, rows, app.palette);
    big.draw(
        Rect::new(left.x + 1, left.y, cols, rows).intersection(left),
        f.buffer_mut(),
    );
    app.preview = Some(Rect::new(left.x + 1, left.y, cols, rows).intersection(left));
    // Augmentation preview: four augmented copies at thumbnail size.
    let img = Img::from_u8(&item.pixels, side, channels);
    let cfg = AugmentConfig::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(item.sample.seq);
    let aug_y = left.y + rows + 1;
    if aug_y + 4 <= left.bottom() {
        f.render_widget(
            Paragraph::new("augmentations:"),
            Rect::new(left.x + 1, aug_y, left.width.saturating_sub(1), 1),
        );
        let small = (cols / 4).saturating_sub(1).max(4);
        for i in 0..4u16 {
            let a = augment::augment(&img, &cfg, &mut rng).to_u8();
            let t = thumb::render(&a, side, channels, small, small / 2, app.palette);
            let r = Rect::new(left.x + 1 + i * (small + 1), aug_y + 1, small, small / 2);
            t.draw(r.intersection(left), f.buffer_mut());
        }
    }
    let s = &item.sample;
    let mut lines = vec![
        Line::from(format!("id        {}", s.id.short())),
        Line::from(format!("state     {}", s.state.name())),
        Line::from(format!(
            "label     {}   (given {})",
            s.label.as_deref().unwrap_or("—"),
            s.given().unwrap_or("—")
        )),
    ];
    if let Some(r) = &s.reason {
        lines.push(Line::from(format!("reason    {r}")));
    }
    if let Some(sc) = &item.score {
        lines.push(Line::from(format!(
            "suggested {} (p {:.2})",
            sc.suggested, sc.probability
        )));
        lines.push(Line::from(format!(
            "loss {:.3}  margin {:.3}  EL2N {:.3}  forgetting {}",
            sc.loss, sc.margin, sc.el2n, sc.forgetting
        )));
    }
    if let Some(d) = &s.dup {
        lines.push(Line::from(format!(
            "duplicate of {} ({}, distance {})",
            d.of.short(),
            d.stage.name(),
            d.distance
        )));
    }
    lines.push(Line::from(format!(
        "size      {}x{} before normalising",
        s.width, s.height
    )));
    for src in &s.sources {
        lines.push(Line::from(format!(
            "source    {} [{}]",
            src.path,
            src.given.as_deref().unwrap_or("unlabelled")
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "history",
        Style::default().add_modifier(Modifier::BOLD),
    ));
    match decide::history(&app.store, &s.id) {
        Ok(h) if h.is_empty() => lines.push(Line::from("  no decisions yet")),
        Ok(h) => {
            for (key, e) in h.iter().rev().take(8) {
                lines.push(Line::from(format!(
                    "  #{key} {} (round {})",
                    e.action,
                    e.round.map_or("—".into(), |r| r.to_string())
                )))
            }
        }
        Err(e) => lines.push(Line::from(format!("  unreadable: {e}"))),
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::LEFT)),
        right,
    );
}

fn draw_training(f: &mut Frame, app: &App, area: Rect) {
    let j = &app.job;
    let [info, gauge, batch, charts] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(area);
    let state = if j.running {
        "running"
    } else if j.id.is_some() {
        "finished"
    } else {
        "no job yet — m, then \"Train a round\""
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!("backend   {}", app.backend)),
            Line::from(format!("job       {state}: {}", j.stage)),
            Line::from(format!(
                "loss {:.3}   {:.0} samples/s   elapsed {:.0}s   ETA {:.0}s",
                j.loss, j.samples_per_sec, j.elapsed_s, j.eta_s
            )),
            Line::from(j.outcome.clone()),
        ]),
        info,
    );
    f.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(progress(app))
            .label(format!("epoch {}/{}", j.epoch, j.epochs)),
        gauge,
    );
    let batch_ratio = if j.steps == 0 {
        0.0
    } else {
        (j.step as f64 / j.steps as f64).clamp(0.0, 1.0)
    };
    f.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Cyan))
            .ratio(batch_ratio)
            .label(format!("batch {}/{}", j.step, j.steps)),
        batch,
    );
    if !j.gan_losses.is_empty() {
        draw_gan(f, app, charts);
        return;
    }
    let [loss, acc] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    // Epochs count from 1 on the x axis.
    let series = |k: usize| -> Vec<(f64, f64)> {
        j.history
            .iter()
            .enumerate()
            .map(|(e, h)| ((e + 1) as f64, [h.0, h.1, h.2][k] as f64))
            .collect()
    };
    let last = |i: usize| {
        j.history
            .last()
            .map_or("—".into(), |h| format!("{:.3}", [h.0, h.1, h.2][i]))
    };
    line_chart(
        f,
        loss,
        &format!("train loss per epoch (last {})", last(0)),
        &[("train loss", Color::Yellow, series(0))],
        None,
    );
    line_chart(
        f,
        acc,
        &format!("accuracy per epoch (val {}, train {})", last(2), last(1)),
        &[
            ("val", Color::Green, series(2)),
            ("train", Color::Cyan, series(1)),
        ],
        Some([0.0, 1.0]),
    );
}

/// One line of a chart: its name, colour and (x, y) points.
type Series<'a> = (&'a str, Color, Vec<(f64, f64)>);

/// A braille line chart of `series` over the whole area, x from 1 to the last point, y over
/// `y` or the data's range.
fn line_chart(f: &mut Frame, area: Rect, title: &str, series: &[Series], y: Option<[f64; 2]>) {
    use ratatui::symbols::Marker;
    use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
    let points = series.iter().flat_map(|s| s.2.iter());
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let y = y.unwrap_or_else(|| {
        let lo = points.clone().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = points.map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi > lo {
            [lo.min(0.0), hi]
        } else {
            [0.0, 1.0]
        }
    });
    let datasets: Vec<Dataset> = series
        .iter()
        .map(|(name, color, data)| {
            Dataset::default()
                .name(*name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(*color))
                .data(data)
        })
        .collect();
    let label = |v: f64| Span::raw(format!("{v:.2}"));
    f.render_widget(
        Chart::new(datasets)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title.to_string()),
            )
            .x_axis(
                Axis::default()
                    .bounds([1.0, x_max.max(2.0)])
                    .labels([Span::raw("1"), Span::raw(format!("{x_max:.0}"))]),
            )
            .y_axis(Axis::default().bounds(y).labels([label(y[0]), label(y[1])])),
        area,
    );
}

/// The GAN's live losses and the latest fresh samples, a column per class.
fn draw_gan(f: &mut Frame, app: &App, area: Rect) {
    let j = &app.job;
    let [losses, grid] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
    let [dl, gl] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(losses);
    let d: Vec<(f64, f64)> = j
        .gan_losses
        .iter()
        .map(|l| (l.0 as f64, l.1 as f64))
        .collect();
    let g: Vec<(f64, f64)> = j
        .gan_losses
        .iter()
        .map(|l| (l.0 as f64, l.2 as f64))
        .collect();
    let last = j.gan_losses.last().copied().unwrap_or_default();
    line_chart(
        f,
        dl,
        &format!("discriminator loss (last {:.3})", last.1),
        &[("D", Color::Magenta, d)],
        None,
    );
    line_chart(
        f,
        gl,
        &format!("generator loss (last {:.3}, γ {:.2})", last.2, j.gamma),
        &[("G", Color::Yellow, g)],
        None,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title("fresh samples per class (latest check)");
    let inner = block.inner(grid);
    f.render_widget(block, grid);
    let classes = &app.store.meta().classes;
    let side = app.store.meta().size as usize;
    let channels = app.store.meta().channels as usize;
    for (k, (class, px)) in j.gan_samples.iter().enumerate() {
        let col = (*class as u16) * 9;
        let row = (k / classes.len().max(1)) as u16 * 5;
        let r = Rect::new(inner.x + col, inner.y + 1 + row, 8, 4).intersection(inner);
        thumb::render(px, side, channels, 8, 4, app.palette).draw(r, f.buffer_mut());
        if k < classes.len() {
            let label = Rect::new(inner.x + col, inner.y, 8, 1).intersection(inner);
            f.render_widget(Paragraph::new(classes[*class].clone()), label);
        }
    }
}

fn draw_versions(f: &mut Frame, app: &App, area: Rect) {
    let names = &app.version_names;
    let rows = &app.eval_rows;
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            Row::new(vec![
                r.version.clone(),
                r.train.to_string(),
                r.val.to_string(),
                r.test.to_string(),
                format!("{:.1}%", r.train_acc * 100.0),
                format!("{:.1}%", r.val_acc * 100.0),
                format!("{:.1}%", r.test_acc * 100.0),
            ])
        })
        .collect();
    let [table, list] = Layout::vertical([Constraint::Min(4), Constraint::Length(2)]).areas(area);
    f.render_widget(
        Table::new(
            body,
            [
                Constraint::Length(16),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
            ],
        )
        .header(
            Row::new(vec![
                "name",
                "train",
                "val",
                "test",
                "train acc",
                "val acc",
                "test acc",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title("Versions (Table 2): one fixed test split"),
        ),
        table,
    );
    f.render_widget(
        Paragraph::new(format!(
            "versions: {} — m → \"Freeze a version\", then \"Evaluate all versions\"",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
        .wrap(Wrap { trim: true }),
        list,
    );
}

fn draw_data(f: &mut Frame, app: &App, area: Rect) {
    let classes = &app.store.meta().classes;
    let Some(counts) = &app.counts else {
        f.render_widget(Paragraph::new("counting the store…"), area);
        return;
    };
    let in_data: Vec<u64> = classes
        .iter()
        .map(|c| counts.by_label.get(c).copied().unwrap_or(0).max(0) as u64)
        .collect();
    let surplus = counts.state(State::Surplus);
    let [bars, text] = Layout::vertical([Constraint::Min(5), Constraint::Length(4)]).areas(area);
    let group: Vec<Bar> = classes
        .iter()
        .zip(&in_data)
        .map(|(c, &n)| Bar::default().label(Line::from(c.clone())).value(n))
        .collect();
    let width = ((bars.width.saturating_sub(2)) / classes.len().max(1) as u16).clamp(3, 8) - 1;
    f.render_widget(
        BarChart::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("class balance (samples in the data)"),
            )
            .data(BarGroup::default().bars(&group))
            .bar_width(width)
            .bar_gap(1),
        bars,
    );
    // The counters hold no zero entries.
    let fmt = |m: &mut dyn Iterator<Item = (&str, i64)>| {
        m.map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let states = fmt(&mut counts.by_state.iter().map(|(s, &n)| (s.name(), n)));
    let splits = fmt(&mut counts.by_split.iter().map(|(s, &n)| (s.as_str(), n)));
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!("states: {states}")),
            Line::from(format!("splits: {splits}")),
            Line::from(format!("surplus: {surplus}")),
        ])
        .wrap(Wrap { trim: true }),
        text,
    );
}

fn draw_rounds(f: &mut Frame, app: &App, area: Rect) {
    let rows = &app.rounds_table;
    let pct = |v: Option<f32>| v.map_or("—".to_string(), |v| format!("{:.0}%", v * 100.0));
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            Row::new(vec![
                r.round.to_string(),
                r.train.to_string(),
                r.val.to_string(),
                pct(Some(r.train_acc)),
                pct(Some(r.val_acc)),
                pct(r.pipeline_accuracy),
                pct(r.validated_ratio),
                format!("{:.2}", r.epoch_secs),
            ])
        })
        .collect();
    let widths = [Constraint::Length(9); 8];
    f.render_widget(
        Table::new(body, widths)
            .header(
                Row::new(vec![
                    "round",
                    "train",
                    "val",
                    "train acc",
                    "val acc",
                    "pipeline",
                    "validated",
                    "epoch s",
                ])
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("Rounds (Table 1): pipeline = flags the human confirmed"),
            ),
        area,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_list(f: &mut Frame, title: &str, items: &[&str], selected: usize) {
    let area = centered(f.area(), 56, items.len() as u16 + 2);
    f.render_widget(Clear, area);
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let style = if i == selected {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            Line::styled(format!(" {t}"), style)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!("{title} (↑↓ enter, esc)")),
        ),
        area,
    );
}

fn draw_help(f: &mut Frame, app: &App) {
    let k = |a| app.keymap.key_for(a);
    let rows = [
        (
            format!(
                "{} {} {} {}",
                k(Action::Left),
                k(Action::Down),
                k(Action::Up),
                k(Action::Right)
            ),
            "move",
        ),
        (
            k(Action::Mark),
            "mark an exception (left out of a bulk accept)",
        ),
        (
            k(Action::Accept),
            "accept the page (certify, accept queues) / certify",
        ),
        (k(Action::Reject), "reject as junk"),
        (k(Action::Suggestion), "take the model's suggested label"),
        ("1-9, 0".into(), "relabel to class 1..10"),
        (k(Action::Picker), "relabel with a picker"),
        (
            k(Action::Undo),
            "undo the latest decision (again: the one before)",
        ),
        (k(Action::Open), "open the sample / back"),
        (k(Action::Filter), "filter by label, state or path"),
        (
            k(Action::Sort),
            "sort: queue, loss, margin, EL2N, forgetting",
        ),
        (k(Action::View), "grid / list"),
        (
            format!("{} {}", k(Action::PrevQueue), k(Action::NextQueue)),
            "previous / next queue",
        ),
        (k(Action::NextScreen), "next screen"),
        (
            k(Action::Menu),
            "menu: train, rank, seed set, dedup, balance, split, version, GAN, eval",
        ),
        (k(Action::Cancel), "cancel the running job"),
        (k(Action::Quit), "quit"),
    ];
    let lines: Vec<Line> = rows
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{key:>12}  "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    let area = centered(f.area(), 76, lines.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title("Keys (any key closes)"),
        ),
        area,
    );
}
