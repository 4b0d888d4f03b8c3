//! The Rounds screen: Table 1 of the paper, one row per round (read when a task ends).

use crate::tui::component::Component;
use crate::tui::context::Ctx;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Row, Table};
use ratatui::Frame;

#[derive(Default)]
pub struct RoundsScreen;

impl Component for RoundsScreen {
    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let rows = &ctx.rounds_table;
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
                    r.flagged
                        .map_or("—".to_string(), |f| format!("{f}/{}", r.scored)),
                ])
            })
            .collect();
        let mut widths = [Constraint::Length(9); 9];
        widths[8] = Constraint::Length(13);
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
                        "flagged",
                    ])
                    .style(Style::default().add_modifier(Modifier::BOLD)),
                )
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title("Rounds (Table 1): pipeline = flags the human confirmed; flagged = likely label errors of the scored (confident learning)"),
                ),
            area,
        );
    }
}
