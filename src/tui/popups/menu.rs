//! The menu: everything that runs as a task (train, rank, seed set, dedup, balance, split,
//! freeze, GAN, generate, evaluate, a warm-started round, the pseudo-label threshold,
//! pruning), as an enum in the order shown.

use super::input::InputPopup;
use super::{moved, LIST};
use crate::dedup::Params;
use crate::jobs::tasks::Task;
use crate::tui::component::{Hint, Popup};
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use crate::tui::msg::{Msg, Msgs};
use crate::tui::widgets::draw_list;
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::Frame;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuEntry {
    TrainRound,
    Rank,
    SeedSet,
    Dedup,
    Balance,
    Split,
    Freeze,
    TrainGan,
    Generate,
    Evaluate,
    ContinueRound,
    PseudoThreshold,
    Prune,
}

impl MenuEntry {
    pub const ALL: [MenuEntry; 13] = [
        MenuEntry::TrainRound,
        MenuEntry::Rank,
        MenuEntry::SeedSet,
        MenuEntry::Dedup,
        MenuEntry::Balance,
        MenuEntry::Split,
        MenuEntry::Freeze,
        MenuEntry::TrainGan,
        MenuEntry::Generate,
        MenuEntry::Evaluate,
        MenuEntry::ContinueRound,
        MenuEntry::PseudoThreshold,
        MenuEntry::Prune,
    ];

    pub fn text(self) -> &'static str {
        match self {
            MenuEntry::TrainRound => "Train a round (certified → score → queues)",
            MenuEntry::Rank => "Re-rank the queues from the latest scores",
            MenuEntry::SeedSet => "Draw a seed set to certify",
            MenuEntry::Dedup => "Find duplicates",
            MenuEntry::Balance => "Balance classes (excess to surplus)",
            MenuEntry::Split => "Split: test + folds",
            MenuEntry::Freeze => "Freeze a version",
            MenuEntry::TrainGan => "Train the GAN (against the latest classifier)",
            MenuEntry::Generate => "Generate synthetic samples (to approve)",
            MenuEntry::Evaluate => "Evaluate all versions (Table 2)",
            MenuEntry::ContinueRound => "Train a round continuing from the last round (warm start)",
            MenuEntry::PseudoThreshold => "Pseudo-label threshold… (then re-rank)",
            MenuEntry::Prune => "Prune: keep the most informative share (EL2N) as a version…",
        }
    }

    /// What choosing the entry asks of the App.
    fn msg(self, ctx: &Ctx) -> Msg {
        let c = &ctx.config;
        Msg::Run(match self {
            MenuEntry::TrainRound => Task::Round {
                epochs: c.epochs,
                warm: false,
                pseudo: c.pseudo,
            },
            MenuEntry::ContinueRound => Task::Round {
                epochs: c.epochs,
                warm: true,
                pseudo: c.pseudo,
            },
            MenuEntry::Rank => Task::Rank { pseudo: c.pseudo },
            MenuEntry::SeedSet => Task::Seed(c.seed_set),
            MenuEntry::Dedup => Task::Dedup(Params::default()),
            MenuEntry::Balance => Task::Balance,
            MenuEntry::Split => Task::Split,
            MenuEntry::Freeze => return Msg::Open(Box::new(InputPopup::version_name())),
            MenuEntry::PseudoThreshold => {
                return Msg::Open(Box::new(InputPopup::pseudo_threshold(c.pseudo)))
            }
            MenuEntry::Prune => return Msg::Open(Box::new(InputPopup::prune_keep())),
            MenuEntry::TrainGan => Task::Gan { iters: c.gan_iters },
            MenuEntry::Generate => Task::Generate { n: c.generate },
            MenuEntry::Evaluate => Task::Eval {
                epochs: c.eval_epochs,
            },
        })
    }
}

#[derive(Default)]
pub struct MenuPopup {
    selected: usize,
}

impl Popup for MenuPopup {
    fn hints(&self) -> &'static [Hint] {
        LIST
    }

    fn on_key(
        &mut self,
        _: &KeyEvent,
        action: Option<Action>,
        ctx: &Ctx,
        out: &mut Msgs,
    ) -> Result<bool> {
        if let Some(s) = moved(self.selected, MenuEntry::ALL.len(), action) {
            self.selected = s;
            return Ok(true);
        }
        if action == Some(Action::Open) {
            out.push_back(MenuEntry::ALL[self.selected].msg(ctx));
        }
        Ok(false)
    }

    fn draw(&self, f: &mut Frame, _: &Ctx) {
        let entries: Vec<&str> = MenuEntry::ALL.iter().map(|e| e.text()).collect();
        draw_list(f, "Menu", &entries, self.selected)
    }
}
