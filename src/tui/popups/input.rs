//! One line of text entry: the queue filter, or the name of a version to freeze. Takes keys
//! as typed (not through the keymap): enter confirms, esc cancels.

use crate::jobs::tasks::Task;
use crate::tui::component::{Hint, Keys, Popup};
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use crate::tui::msg::{Msg, Msgs};
use crate::tui::widgets::centered;
use anyhow::Result;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

const HINTS: &[Hint] = &[
    Hint {
        keys: Keys::Fixed("enter"),
        short: "confirm",
        long: "confirm",
    },
    Hint {
        keys: Keys::Fixed("esc"),
        short: "cancel",
        long: "cancel",
    },
    Hint {
        keys: Keys::Fixed("backspace"),
        short: "delete",
        long: "delete the last character",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Filter,
    VersionName,
}

pub struct InputPopup {
    purpose: Purpose,
    text: String,
}

impl InputPopup {
    /// Edit the queue filter, starting from the current one.
    pub fn filter(current: &str) -> InputPopup {
        InputPopup {
            purpose: Purpose::Filter,
            text: current.to_string(),
        }
    }

    pub fn version_name() -> InputPopup {
        InputPopup {
            purpose: Purpose::VersionName,
            text: String::new(),
        }
    }
}

impl Popup for InputPopup {
    fn hints(&self) -> &'static [Hint] {
        HINTS
    }

    fn on_key(
        &mut self,
        key: &KeyEvent,
        _: Option<Action>,
        _: &Ctx,
        out: &mut Msgs,
    ) -> Result<bool> {
        match key.code {
            KeyCode::Enter => {
                let text = std::mem::take(&mut self.text);
                out.push_back(match self.purpose {
                    Purpose::Filter => Msg::Filter(text),
                    Purpose::VersionName => Msg::Run(Task::Freeze(text)),
                });
                return Ok(false);
            }
            KeyCode::Esc => return Ok(false),
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Char(c) => self.text.push(c),
            _ => {}
        }
        Ok(true)
    }

    fn draw(&self, f: &mut Frame, _: &Ctx) {
        let title = match self.purpose {
            Purpose::Filter => "Filter (label, state or path; empty clears)",
            Purpose::VersionName => "Version name",
        };
        let area = centered(f.area(), 50, 3);
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(format!("{}▏", self.text))
                .block(Block::default().borders(Borders::ALL).title(title)),
            area,
        );
    }
}
