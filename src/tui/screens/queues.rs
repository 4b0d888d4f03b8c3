//! The Queues screen: one queue at a time as a grid of thumbnails or a list, with the
//! decisions a reviewer makes from the keyboard — accept a page, mark exceptions, reject,
//! relabel, undo — each written and flushed before it is acknowledged.

use super::queue_view::{Item, QueuesView, QUEUES};
use crate::pipeline::counts::Counts;
use crate::pipeline::decide::{self, Decision};
use crate::store::{Id, QueueName, Store};
use crate::tui::component::{hint, Component, Hint};
use crate::tui::context::Ctx;
use crate::tui::keymap::{relabel_class, Action};
use crate::tui::msg::{Msg, Msgs};
use crate::tui::popups::{input::InputPopup, picker::PickerPopup};
use crate::tui::thumb::{self, Cache};
use crate::tui::widgets::state_color;
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

/// Grid cell: a 16x8-cell thumbnail (a 32x32 image at half resolution) and two text lines.
pub const THUMB_COLS: u16 = 16;
pub const THUMB_ROWS: u16 = 8;
const CELL_W: u16 = THUMB_COLS + 2;
const CELL_H: u16 = THUMB_ROWS + 2;

use Action::*;

/// The decisions, shared with the Sample screen.
pub const DECIDE: &[Hint] = &[
    hint(
        &[Accept],
        "accept",
        "accept the page (certify, accept, synthetic queues) / certify the sample",
    ),
    hint(&[Reject], "reject", "reject as junk"),
    hint(
        &[Suggestion],
        "suggestion",
        "take the model's suggested label",
    ),
    hint(
        &[Relabel],
        "relabel",
        "relabel to class 1..10 (1 = first class, 0 = tenth)",
    ),
    hint(&[Picker], "picker", "relabel with a picker"),
];

const HINTS: &[Hint] = &[
    DECIDE[0],
    hint(
        &[Mark],
        "mark",
        "mark an exception (left out of a bulk accept)",
    ),
    DECIDE[1],
    DECIDE[2],
    DECIDE[3],
    hint(&[Open], "open", "open the sample"),
    hint(&[NextQueue, PrevQueue], "queue", "next / previous queue"),
    hint(
        &[Sort],
        "sort",
        "sort: queue order, loss, margin, EL2N, forgetting",
    ),
    hint(&[Filter], "filter", "filter by label, state or path"),
    hint(&[View], "view", "grid / list"),
    DECIDE[4],
    SIMILAR,
    hint(&[Left, Down, Up, Right], "move", "move"),
];

/// Look-alikes of the current sample, shared with the Sample screen.
pub const SIMILAR: Hint = hint(
    &[Similar],
    "similar",
    "queue the samples most like this one (embedding space)",
);

pub struct QueuesScreen {
    pub view: QueuesView,
    cache: Cache,
    /// The page as last drawn: its first item, its cells and the grid's columns (bulk
    /// accept takes the page the reviewer sees; up/down move by a row).
    page_first: usize,
    page_cells: usize,
    cols: usize,
}

impl QueuesScreen {
    /// Open on the first queue with work in it (each load is bounded by the queue's length).
    pub fn open(store: &Store) -> Result<QueuesScreen> {
        let mut view = QueuesView::default();
        for (i, _) in QUEUES.iter().enumerate() {
            view.queue = i;
            view.reload(store)?;
            if view.pending() > 0 {
                break;
            }
        }
        if view.pending() == 0 {
            view.queue = 0;
            view.reload(store)?;
        }
        Ok(QueuesScreen {
            view,
            cache: Cache::default(),
            page_first: 0,
            page_cells: 1,
            cols: 1,
        })
    }

    pub fn current(&self) -> Option<&Item> {
        self.view.current()
    }

    /// Show queue `name` from its start.
    pub fn show(&mut self, store: &Store, name: QueueName) -> Result<()> {
        self.view.queue = QUEUES.iter().position(|q| *q == name).unwrap_or(0);
        self.view.cursor = 0;
        self.view.marked.clear();
        self.view.reload(store)
    }

    pub fn reload(&mut self, store: &Store) -> Result<()> {
        self.view.reload(store)
    }

    pub fn filter(&mut self, text: &str, out: &mut Msgs) {
        self.view.filter = text.trim().to_string();
        self.view.refilter();
        out.push_back(Msg::Status(if self.view.filter.is_empty() {
            "filter cleared".into()
        } else {
            format!("filter: {}", self.view.filter)
        }));
    }

    /// Decide the current sample; acknowledged only once it is flushed.
    pub fn decide_current(&mut self, decision: Decision, ctx: &Ctx, out: &mut Msgs) -> Result<()> {
        let Some(id) = self.view.current().map(|i| i.sample.id) else {
            out.push_back(Msg::Status("nothing selected".into()));
            return Ok(());
        };
        let applied = decide::decide(&ctx.store, &id, &decision)?;
        self.view.refresh(&ctx.store, &[id])?;
        flushed(out, applied.delta, applied.closed);
        out.push_back(Msg::Status(format!(
            "{} {} — saved",
            applied.action,
            id.short()
        )));
        self.view.move_by(1);
        Ok(())
    }

    /// Undo the latest decision, wherever it was made.
    pub fn undo(&mut self, ctx: &Ctx, out: &mut Msgs) -> Result<()> {
        let u = decide::undo(&ctx.store)?;
        self.view.reload(&ctx.store)?;
        flushed(out, u.delta, u.closed);
        out.push_back(Msg::Status(format!(
            "undid {} ({} sample(s))",
            u.action, u.samples
        )));
        Ok(())
    }

    /// `a`: in the bulk queues, certify the visible page except the marked samples;
    /// elsewhere, certify the current sample.
    fn accept(&mut self, ctx: &Ctx, out: &mut Msgs) -> Result<()> {
        let name = self.view.name();
        if !name.bulk() {
            return self.decide_current(Decision::Certify, ctx, out);
        }
        let page = self.view.page(self.page_first, self.page_cells.max(1));
        let exceptions: Vec<Id> = page
            .iter()
            .filter(|id| self.view.marked.contains(id))
            .copied()
            .collect();
        let applied = decide::accept_page(&ctx.store, name, &page, &exceptions)?;
        self.view.marked.retain(|id| !page.contains(id));
        self.view.refresh(&ctx.store, &page)?;
        flushed(out, applied.delta, applied.closed);
        out.push_back(Msg::Status(format!(
            "accepted {} sample(s), {} left out — saved",
            applied.samples,
            exceptions.len()
        )));
        // On to the next page.
        let next = self.page_first + page.len();
        if next < self.view.shown.len() {
            self.view.cursor = next;
        }
        Ok(())
    }
}

/// A decision is flushed: pass on its change of the counters and the round it closed.
fn flushed(out: &mut Msgs, delta: Counts, closed: Option<u32>) {
    out.push_back(Msg::Counted(delta));
    if let Some(round) = closed {
        out.push_back(Msg::RoundClosed(round));
    }
}

/// The decision keys, answered the same on the Queues and Sample screens; `None` for any
/// other action.
pub fn decision(action: Action, key: &KeyEvent, item: Option<&Item>, ctx: &Ctx) -> Option<Msg> {
    Some(match action {
        Reject => Msg::Decide(Decision::Reject("junk".into())),
        Suggestion => match item.and_then(|i| i.score.as_ref()) {
            Some(s) => Msg::Decide(Decision::Relabel(s.suggested.clone())),
            None => Msg::Status("no suggestion: this sample has no score yet".into()),
        },
        Relabel => {
            let idx = relabel_class(key.code)?;
            let classes = &ctx.store.meta().classes;
            match classes.get(idx) {
                Some(label) => Msg::Decide(Decision::Relabel(label.clone())),
                None => Msg::Status(format!(
                    "there is no class {} (the store has {})",
                    idx + 1,
                    classes.len()
                )),
            }
        }
        Picker => Msg::Open(Box::new(PickerPopup::default())),
        Similar => match item {
            Some(i) => Msg::Run(crate::jobs::tasks::Task::Similar(i.sample.id)),
            None => Msg::Status("nothing selected".into()),
        },
        _ => return None,
    })
}

impl Component for QueuesScreen {
    fn hints(&self) -> &'static [Hint] {
        HINTS
    }

    fn on_action(
        &mut self,
        action: Action,
        key: &KeyEvent,
        ctx: &Ctx,
        out: &mut Msgs,
    ) -> Result<bool> {
        let cols = if self.view.list { 1 } else { self.cols.max(1) } as isize;
        match action {
            Left => self.view.move_by(-1),
            Right => self.view.move_by(1),
            Up => self.view.move_by(-cols),
            Down => self.view.move_by(cols),
            Mark => {
                self.view.toggle_mark();
                self.view.move_by(1);
            }
            View => self.view.list = !self.view.list,
            Sort => {
                self.view.sort = self.view.sort.next();
                self.view.refilter();
                out.push_back(Msg::Status(format!("sorted by {}", self.view.sort.name())));
            }
            Filter => out.push_back(Msg::Open(Box::new(InputPopup::filter(&self.view.filter)))),
            Open => out.push_back(Msg::Show(super::Screen::Sample)),
            NextQueue | PrevQueue => {
                let n = QUEUES.len();
                let next = if action == NextQueue {
                    (self.view.queue + 1) % n
                } else {
                    (self.view.queue + n - 1) % n
                };
                self.show(&ctx.store, QUEUES[next])?;
            }
            Accept => self.accept(ctx, out)?,
            _ => match decision(action, key, self.view.current(), ctx) {
                Some(Msg::Decide(d)) => self.decide_current(d, ctx, out)?,
                Some(m) => out.push_back(m),
                None => return Ok(false),
            },
        }
        Ok(true)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let [title, grid] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let q = &self.view;
        let mut t = format!(
            " queue: {} — {} shown, {} unreviewed · sort: {}",
            q.name(),
            q.shown.len(),
            q.pending(),
            q.sort.name()
        );
        if !q.filter.is_empty() {
            t.push_str(&format!(" · filter: {}", q.filter));
        }
        if !q.marked.is_empty() {
            t.push_str(&format!(" · {} marked", q.marked.len()));
        }
        f.render_widget(
            Paragraph::new(t).style(Style::default().add_modifier(Modifier::BOLD)),
            title,
        );
        if q.shown.is_empty() {
            let menu = ctx.keymap.key_for(Action::Menu);
            let hint = match q.name() {
                QueueName::Certify => {
                    format!("Nothing to certify. Press {menu} and draw a seed set.")
                }
                QueueName::Accept | QueueName::Review => {
                    format!("Empty. Press {menu} to train a round (it fills this queue).")
                }
                QueueName::Duplicates => format!("No duplicates. Press {menu} → Find duplicates."),
                QueueName::Outliers => {
                    format!("No outliers. Press {menu} to train a round (its ranking fills this queue).")
                }
                QueueName::Pseudo => format!(
                    "No pseudo-labels. Unlabelled samples the model is sure of come here when a round is trained ({menu})."
                ),
                QueueName::Selection => {
                    "Nothing selected. On the Map screen, a rectangle selects samples.".to_string()
                }
                QueueName::Similar => format!(
                    "Nothing yet. Press {} on a sample to queue the samples most like it.",
                    ctx.keymap.key_for(Action::Similar)
                ),
                QueueName::Synthetic => {
                    format!("No synthetic samples. Press {menu} → Train the GAN, then Generate.")
                }
            };
            f.render_widget(Paragraph::new(hint), grid);
            return;
        }
        if q.list {
            self.draw_list(f, grid);
        } else {
            self.draw_grid(f, grid, ctx);
        }
    }
}

impl QueuesScreen {
    fn draw_grid(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let cols = (area.width / CELL_W).max(1) as usize;
        let rows = (area.height / CELL_H).max(1) as usize;
        let per_page = cols * rows;
        let first = (self.view.cursor / per_page) * per_page;
        (self.cols, self.page_cells, self.page_first) = (cols, per_page, first);
        let side = ctx.store.meta().size as usize;
        let channels = ctx.store.meta().channels as usize;
        let palette = ctx.palette;
        for slot in 0..per_page {
            let Some(&idx) = self.view.shown.get(first + slot) else {
                break;
            };
            let x = area.x + (slot % cols) as u16 * CELL_W;
            let y = area.y + (slot / cols) as u16 * CELL_H;
            let cell = Rect::new(
                x,
                y,
                CELL_W.min(area.right() - x),
                CELL_H.min(area.bottom() - y),
            );
            let item = &self.view.items[idx];
            let id = item.sample.id;
            let at = Rect::new(cell.x + 1, cell.y, THUMB_COLS, THUMB_ROWS);
            // Real pixels when the terminal draws them and this one is encoded (only whole
            // thumbnails: the cache is by size); half blocks meanwhile and otherwise.
            let real = area.intersection(at) == at
                && ctx
                    .graphics
                    .as_ref()
                    .is_some_and(|g| g.draw(f, at, id, &item.pixels, ctx.store.meta()));
            if !real {
                let thumb = self.cache.get_or(id, THUMB_COLS, THUMB_ROWS, || {
                    thumb::render(
                        &item.pixels,
                        side,
                        channels,
                        THUMB_COLS,
                        THUMB_ROWS,
                        palette,
                    )
                });
                thumb.draw(at, f.buffer_mut());
            }
            let selected = first + slot == self.view.cursor;
            let marked = self.view.marked.contains(&id);
            let s = &item.sample;
            let label = s.label.as_deref().unwrap_or("?");
            let mut line1 = format!("{}{label}", if marked { "✗ " } else { "" });
            if let Some(sc) = &item.score {
                if sc.suggested != label {
                    line1.push_str(&format!(" → {}", sc.suggested));
                }
            }
            let line2 = match &item.score {
                Some(sc) => format!("loss {:.2}", sc.loss),
                None => s.state.name().to_string(),
            };
            let mut style = Style::default().fg(state_color(s.state));
            if selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            if marked {
                style = style.add_modifier(Modifier::CROSSED_OUT);
            }
            let text_area =
                Rect::new(cell.x + 1, cell.y + THUMB_ROWS, THUMB_COLS, 2).intersection(area);
            f.render_widget(
                Paragraph::new(vec![
                    Line::styled(format!("{line1:<16}"), style),
                    Line::styled(line2, Style::default().fg(Color::DarkGray)),
                ]),
                text_area,
            );
        }
    }

    fn draw_list(&mut self, f: &mut Frame, area: Rect) {
        let height = area.height.saturating_sub(1).max(1) as usize;
        let first = (self.view.cursor / height) * height;
        (self.cols, self.page_cells, self.page_first) = (1, height, first);
        let q = &self.view;
        let rows: Vec<Row> = q
            .shown
            .iter()
            .enumerate()
            .skip(first)
            .take(height)
            .map(|(pos, &i)| {
                let it = &q.items[i];
                let s = &it.sample;
                let sc = it.score.as_ref();
                let num = |v: Option<f32>| v.map_or("—".into(), |v| format!("{v:.3}"));
                let mut style = Style::default().fg(state_color(s.state));
                if pos == q.cursor {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                Row::new(vec![
                    if q.marked.contains(&s.id) { "✗" } else { " " }.to_string(),
                    s.state.name().to_string(),
                    s.label.clone().unwrap_or_default(),
                    sc.map_or(String::new(), |s| s.suggested.clone()),
                    num(sc.map(|s| s.loss)),
                    num(sc.map(|s| s.margin)),
                    num(sc.map(|s| s.el2n)),
                    sc.map_or("—".into(), |s| s.forgetting.to_string()),
                    s.sources
                        .first()
                        .map(|p| p.path.clone())
                        .unwrap_or_default(),
                ])
                .style(style)
            })
            .collect();
        let widths = [
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Min(10),
        ];
        let header = [
            "",
            "state",
            "label",
            "suggested",
            "loss",
            "margin",
            "EL2N",
            "forget",
            "path",
        ];
        f.render_widget(
            Table::new(rows, widths)
                .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD))),
            area,
        );
    }
}
