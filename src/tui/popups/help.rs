//! The help: every key of the screen it was opened on and the keys that work everywhere,
//! generated from the components' hints and the keymap as it is bound now.

use crate::tui::component::{Hint, Keys, Popup};
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use crate::tui::msg::Msgs;
use crate::tui::widgets::centered;
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

const HINTS: &[Hint] = &[Hint {
    keys: Keys::Fixed("any key"),
    short: "close",
    long: "close",
}];

pub struct HelpPopup {
    /// (heading, its hints), in the order shown.
    sections: Vec<(String, &'static [Hint])>,
}

impl HelpPopup {
    pub fn new(sections: Vec<(String, &'static [Hint])>) -> HelpPopup {
        HelpPopup { sections }
    }
}

impl Popup for HelpPopup {
    fn hints(&self) -> &'static [Hint] {
        HINTS
    }

    fn on_key(&mut self, _: &KeyEvent, _: Option<Action>, _: &Ctx, _: &mut Msgs) -> Result<bool> {
        Ok(false)
    }

    fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let mut lines = Vec::new();
        for (heading, hints) in &self.sections {
            if hints.is_empty() {
                continue;
            }
            lines.push(Line::styled(heading.clone(), bold));
            for h in *hints {
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>14}  ", h.keys(&ctx.keymap, true)), bold),
                    Span::raw(h.long),
                ]));
            }
        }
        let area = centered(f.area(), 90, lines.len() as u16 + 2);
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
}
