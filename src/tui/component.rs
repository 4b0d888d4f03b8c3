//! What every screen and popup is (the gitui shape): it owns its state, answers the actions
//! it lists — the footer and the help are generated from those lists and the keymap, so
//! they cannot drift from what the keys do — and draws itself from its own state and the
//! shared view state (`Ctx`). A component changes the store only through the library and
//! everything else only through messages to the `App` (`Msg`).

use super::context::Ctx;
use super::keymap::{Action, Keymap};
use super::msg::Msgs;
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

/// The keys of a hint: actions (their keys come from the keymap) or fixed keys (text entry).
#[derive(Clone, Copy, Debug)]
pub enum Keys {
    Bound(&'static [Action]),
    Fixed(&'static str),
}

/// One line of the footer and the help: which keys, a word for the footer, a sentence for
/// the help.
#[derive(Clone, Copy, Debug)]
pub struct Hint {
    pub keys: Keys,
    pub short: &'static str,
    pub long: &'static str,
}

pub const fn hint(actions: &'static [Action], short: &'static str, long: &'static str) -> Hint {
    Hint {
        keys: Keys::Bound(actions),
        short,
        long,
    }
}

impl Hint {
    /// The keys as the keymap binds them now: the first key of each action for the footer
    /// (`all = false`), every key for the help.
    pub fn keys(&self, keymap: &Keymap, all: bool) -> String {
        match self.keys {
            Keys::Fixed(k) => k.to_string(),
            Keys::Bound(actions) => actions
                .iter()
                .map(|a| keymap.label(*a, all))
                .collect::<Vec<_>>()
                .join(if all { " " } else { "" }),
        }
    }
}

/// A screen: one tab of the UI.
pub trait Component {
    /// The actions this screen answers, in footer order (none: a screen to look at).
    fn hints(&self) -> &'static [Hint] {
        &[]
    }
    /// Answer `action` (pressed as `key`); `false` when this screen does not use it.
    fn on_action(&mut self, _: Action, _: &KeyEvent, _: &Ctx, _: &mut Msgs) -> Result<bool> {
        Ok(false)
    }
    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx);
}

/// A popup over the screens: it takes every key while open.
pub trait Popup {
    fn hints(&self) -> &'static [Hint];
    /// Handle a key (`action` is what the keymap makes of it); `false` closes the popup.
    fn on_key(
        &mut self,
        key: &KeyEvent,
        action: Option<Action>,
        ctx: &Ctx,
        out: &mut Msgs,
    ) -> Result<bool>;
    fn draw(&self, f: &mut Frame, ctx: &Ctx);
}
