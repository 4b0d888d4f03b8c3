//! The Data screen: class balance and the counters by state and split — from the counters
//! the App keeps, never a scan.

use crate::store::State;
use crate::tui::component::Component;
use crate::tui::context::Ctx;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

#[derive(Default)]
pub struct DataScreen;

impl Component for DataScreen {
    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let classes = &ctx.store.meta().classes;
        let Some(counts) = &ctx.counts else {
            f.render_widget(Paragraph::new("counting the store…"), area);
            return;
        };
        let in_data: Vec<u64> = classes
            .iter()
            .map(|c| counts.by_label.get(c).copied().unwrap_or(0).max(0) as u64)
            .collect();
        let surplus = counts.state(State::Surplus);
        let [bars, text] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(4)]).areas(area);
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
}
