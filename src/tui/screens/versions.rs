//! The Versions screen: Table 2 of the paper — every frozen version evaluated on one fixed
//! test split (read when a task ends).

use crate::tui::component::Component;
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

#[derive(Default)]
pub struct VersionsScreen;

impl Component for VersionsScreen {
    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let names = &ctx.version_names;
        let rows = &ctx.eval_rows;
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
        // One line per pruned version, at most four (the table keeps the rest of the screen).
        let pruned = ctx.prunings.len().min(4) as u16;
        let [table, list] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(2 + pruned)]).areas(area);
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
        let mut lines = vec![Line::from(format!(
            "versions: {} — {} → \"Freeze a version\", then \"Evaluate all versions\"",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            ctx.keymap.key_for(Action::Menu)
        ))];
        lines.extend(
            ctx.prunings
                .iter()
                .map(|p| Line::from(format!("{}: {}", p.name, p.describe()))),
        );
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), list);
    }
}
