//! One line of text entry: the queue filter, the name of a version to freeze, the
//! pseudo-label threshold, the share pruning keeps. Takes keys as typed (not through the
//! keymap): enter confirms, esc cancels.

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
    PseudoThreshold,
    PruneKeep,
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

    /// Edit the pseudo-label threshold, starting from the current one.
    pub fn pseudo_threshold(current: f32) -> InputPopup {
        InputPopup {
            purpose: Purpose::PseudoThreshold,
            text: current.to_string(),
        }
    }

    pub fn prune_keep() -> InputPopup {
        InputPopup {
            purpose: Purpose::PruneKeep,
            text: crate::pipeline::prune::DEFAULT_KEEP.to_string(),
        }
    }
}

/// `text` as a number in (0, 1], or the status line saying why not.
fn share(text: &str, what: &str) -> Result<f64, Msg> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(Msg::Status(format!(
            "{what} {:?}: give a number in (0, 1], e.g. 0.9",
            text.trim()
        ))),
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
        ctx: &Ctx,
        out: &mut Msgs,
    ) -> Result<bool> {
        match key.code {
            KeyCode::Enter => {
                let text = std::mem::take(&mut self.text);
                let c = &ctx.config;
                out.push_back(match self.purpose {
                    Purpose::Filter => Msg::Filter(text),
                    Purpose::VersionName => Msg::Run(Task::Freeze(text)),
                    Purpose::PseudoThreshold => {
                        share(&text, "threshold").map_or_else(|e| e, |v| Msg::Pseudo(v as f32))
                    }
                    Purpose::PruneKeep => share(&text, "keep share").map_or_else(
                        |e| e,
                        |keep| {
                            Msg::Run(Task::Prune {
                                keep,
                                epochs: c.prune_epochs,
                                inits: c.prune_inits,
                            })
                        },
                    ),
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
            Purpose::PseudoThreshold => "Pseudo-label threshold (probability, 0–1]",
            Purpose::PruneKeep => "Share to keep (0–1]; EL2N, test split kept whole",
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
