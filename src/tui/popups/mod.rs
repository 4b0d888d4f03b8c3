//! The popups, one file each: every one owns its state, takes every key while open, lists
//! its keys and draws itself over the screen.

pub mod help;
pub mod input;
pub mod menu;
pub mod picker;

use super::component::{hint, Hint};
use super::keymap::Action::{Back, Down, Open, Up};

/// The keys of the list popups (menu, picker).
const LIST: &[Hint] = &[
    hint(&[Up, Down], "move", "move"),
    hint(&[Open], "choose", "choose"),
    hint(&[Back], "close", "close (any other key too)"),
];

/// Move a list selection by an action; `None` when the action is not a move.
fn moved(selected: usize, len: usize, action: Option<super::keymap::Action>) -> Option<usize> {
    match action? {
        Up => Some(selected.saturating_sub(1)),
        Down => Some((selected + 1).min(len.saturating_sub(1))),
        _ => None,
    }
}
