//! The keymap: keys to actions, in one place. `assets/keymap` is the default; a user file
//! in the same `key = action` format overrides single keys.

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::path::Path;

pub const DEFAULT: &str = include_str!("../../assets/keymap");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Left,
    Right,
    Up,
    Down,
    Mark,
    Accept,
    Reject,
    Suggestion,
    /// Relabel to the class of the digit pressed (1 = first class, 0 = tenth).
    Relabel,
    Picker,
    /// Fill the `similar` queue with the current sample's look-alikes in embedding space.
    Similar,
    Undo,
    Open,
    Filter,
    Sort,
    View,
    Menu,
    Cancel,
    Help,
    NextScreen,
    PrevScreen,
    NextQueue,
    PrevQueue,
    Back,
    Quit,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        use Action::*;
        Some(match s {
            "left" => Left,
            "right" => Right,
            "up" => Up,
            "down" => Down,
            "mark" => Mark,
            "accept" => Accept,
            "reject" => Reject,
            "suggestion" => Suggestion,
            "relabel" => Relabel,
            "picker" => Picker,
            "similar" => Similar,
            "undo" => Undo,
            "open" => Open,
            "filter" => Filter,
            "sort" => Sort,
            "view" => View,
            "menu" => Menu,
            "cancel" => Cancel,
            "help" => Help,
            "next_screen" => NextScreen,
            "prev_screen" => PrevScreen,
            "next_queue" => NextQueue,
            "prev_queue" => PrevQueue,
            "back" => Back,
            "quit" => Quit,
            _ => return None,
        })
    }
}

/// The class index a relabel key names: `1` the first class, ..., `9` the ninth, `0` the
/// tenth. `None` for any other key.
pub fn relabel_class(key: KeyCode) -> Option<usize> {
    match key {
        KeyCode::Char(c) => c.to_digit(10).map(|d| (d as usize + 9) % 10),
        _ => None,
    }
}

#[derive(Clone, Debug)]
pub struct Keymap {
    keys: HashMap<KeyCode, Action>,
}

fn parse_key(s: &str) -> Option<KeyCode> {
    Some(match s {
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
        _ => return None,
    })
}

impl Keymap {
    /// Parse `key = action` lines over `self`; `origin` names the file in errors.
    fn apply(&mut self, text: &str, origin: &str) -> Result<()> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, a)) = line.split_once('=') else {
                bail!("{origin}:{}: expected `key = action`, got {line:?}", n + 1);
            };
            let key = parse_key(k.trim())
                .with_context(|| format!("{origin}:{}: unknown key {:?}", n + 1, k.trim()))?;
            let action = Action::parse(a.trim())
                .with_context(|| format!("{origin}:{}: unknown action {:?}", n + 1, a.trim()))?;
            // The digit is the class: a relabel key that is not a digit names no class.
            if action == Action::Relabel && relabel_class(key).is_none() {
                bail!(
                    "{origin}:{}: relabel is bound to digits only (1 = first class, 0 = tenth), not {:?}",
                    n + 1,
                    k.trim()
                );
            }
            self.keys.insert(key, action);
        }
        Ok(())
    }

    pub fn default_map() -> Keymap {
        let mut k = Keymap {
            keys: HashMap::new(),
        };
        k.apply(DEFAULT, "assets/keymap")
            .expect("the built-in keymap parses");
        k
    }

    /// The default keymap with the user's file (if it exists) on top.
    pub fn load(user: Option<&Path>) -> Result<Keymap> {
        let mut k = Keymap::default_map();
        if let Some(path) = user {
            if path.exists() {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read keymap {}", path.display()))?;
                k.apply(&text, &path.display().to_string())?;
            }
        }
        Ok(k)
    }

    /// Where the user's keymap is looked for.
    pub fn user_path() -> Option<std::path::PathBuf> {
        if let Ok(p) = std::env::var("THRESH_KEYMAP") {
            return Some(p.into());
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
        Some(base.join("thresh").join("keymap"))
    }

    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            // Ctrl-C always quits, whatever the keymap says.
            return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
        }
        self.keys.get(&key.code).copied()
    }

    /// The keys bound to `action` as the footer and help show them, single characters
    /// first.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| match k {
                KeyCode::Char(' ') => "space".to_string(),
                KeyCode::Char(c) => c.to_string(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Enter => "enter".into(),
                KeyCode::Esc => "esc".into(),
                KeyCode::Tab => "tab".into(),
                KeyCode::BackTab => "S-tab".into(),
                other => format!("{other:?}"),
            })
            .collect();
        keys.sort_by_key(|k| (k.chars().count() != 1, k.clone()));
        keys
    }

    /// `action`'s keys for a hint: the first (`all = false`) or every key; the relabel
    /// digits as a range in class order (`1-0`). `—` when nothing is bound.
    pub fn label(&self, action: Action, all: bool) -> String {
        let keys = self.keys_for(action);
        if action == Action::Relabel && keys.len() > 2 {
            let mut digits: Vec<(usize, &String)> = keys
                .iter()
                .filter_map(|k| {
                    let c = k.chars().next()?;
                    Some((relabel_class(KeyCode::Char(c))?, k))
                })
                .collect();
            digits.sort();
            if let (Some(first), Some(last)) = (digits.first(), digits.last()) {
                return format!("{}-{}", first.1, last.1);
            }
        }
        match (keys.is_empty(), all) {
            (true, _) => "—".into(),
            (false, true) => keys.join("/"),
            (false, false) => keys[0].clone(),
        }
    }

    /// The first key bound to `action`.
    pub fn key_for(&self, action: Action) -> String {
        self.label(action, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lines_override_single_keys_and_bad_lines_name_the_file() {
        let mut k = Keymap::default_map();
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(k.action(&key('a')), Some(Action::Accept));
        k.apply("a = reject\n", "mine").unwrap();
        assert_eq!(k.action(&key('a')), Some(Action::Reject));
        assert_eq!(k.action(&key('x')), Some(Action::Reject));
        let err = k.apply("z = fly\n", "mine").unwrap_err().to_string();
        assert!(err.contains("mine:1") && err.contains("fly"), "{err}");
        // A relabel key must be a digit: a letter would name no class.
        let err = k.apply("\nr = relabel\n", "mine").unwrap_err().to_string();
        assert!(
            err.contains("mine:2") && err.contains("digits only"),
            "{err}"
        );
        assert_eq!(k.action(&key('r')), None);
        assert_eq!(relabel_class(KeyCode::Char('1')), Some(0));
        assert_eq!(relabel_class(KeyCode::Char('0')), Some(9));
        assert_eq!(relabel_class(KeyCode::Char('r')), None);
    }
}
