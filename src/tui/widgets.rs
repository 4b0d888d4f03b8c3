//! Drawing pieces more than one component uses: state colours, braille line charts,
//! centred boxes, the list popup and key hints.

use super::component::Hint;
use super::keymap::Keymap;
use crate::store::State;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn state_color(s: State) -> Color {
    match s {
        State::Unreviewed => Color::White,
        State::Certified => Color::Green,
        State::Relabeled => Color::Yellow,
        State::Rejected => Color::Red,
        State::Duplicate => Color::Magenta,
        State::Surplus => Color::Blue,
    }
}

/// One line of a chart: its name, colour and (x, y) points.
pub type Series<'a> = (&'a str, Color, Vec<(f64, f64)>);

/// A braille line chart of `series` over the whole area, x from 1 to the last point, y over
/// `y` or the data's range.
pub fn line_chart(f: &mut Frame, area: Rect, title: &str, series: &[Series], y: Option<[f64; 2]>) {
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

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn draw_list(f: &mut Frame, title: &str, items: &[&str], selected: usize) {
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
                .title(title.to_string()),
        ),
        area,
    );
}

/// Hints as footer spans: the bound key in bold, then its word.
pub fn hint_spans(hints: &[Hint], keymap: &Keymap) -> Vec<Span<'static>> {
    hints
        .iter()
        .flat_map(|h| {
            [
                Span::styled(
                    h.keys(keymap, false),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(" {}  ", h.short)),
            ]
        })
        .collect()
}
