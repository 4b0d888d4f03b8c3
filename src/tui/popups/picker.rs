//! The class picker: relabel the current sample to a class chosen from a list.

use super::{moved, LIST};
use crate::pipeline::decide::Decision;
use crate::tui::component::{Hint, Popup};
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use crate::tui::msg::{Msg, Msgs};
use crate::tui::widgets::draw_list;
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::Frame;

#[derive(Default)]
pub struct PickerPopup {
    selected: usize,
}

impl Popup for PickerPopup {
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
        let classes = &ctx.store.meta().classes;
        if let Some(s) = moved(self.selected, classes.len(), action) {
            self.selected = s;
            return Ok(true);
        }
        if action == Some(Action::Open) {
            if let Some(label) = classes.get(self.selected) {
                out.push_back(Msg::Decide(Decision::Relabel(label.clone())));
            }
        }
        Ok(false)
    }

    fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let classes: Vec<&str> = ctx
            .store
            .meta()
            .classes
            .iter()
            .map(String::as_str)
            .collect();
        draw_list(f, "Relabel to", &classes, self.selected)
    }
}
