//! The Sample screen: the queue's current sample at full size, four augmented copies, its
//! scores, sources and decision history — with the same decision keys as the Queues screen.
//! Everything it shows is read once when the sample (or its record) changes, not per frame.

use super::queue_view::Item;
use super::queues::{decision, DECIDE, SIMILAR};
use super::Screen;
use crate::augment::{self, Img};
use crate::pipeline::decide::{self, Decision};
use crate::store::Store;
use crate::tui::component::{hint, Component, Hint};
use crate::tui::context::Ctx;
use crate::tui::keymap::Action::{self, *};
use crate::tui::msg::{Msg, Msgs};
use crate::tui::thumb::{self, Thumb};
use anyhow::Result;
use rand::SeedableRng;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

const HINTS: &[Hint] = &[
    hint(&[Accept], "certify", "certify this sample"),
    DECIDE[1],
    DECIDE[2],
    DECIDE[3],
    DECIDE[4],
    SIMILAR,
    hint(
        &[Left, Right],
        "prev/next",
        "previous / next sample of the queue",
    ),
    hint(&[Open], "back", "back to the queue"),
];

/// Images drawn for one sample at one size.
struct Rendered {
    cols: u16,
    rows: u16,
    full: Thumb,
    augmented: Vec<Thumb>,
}

#[derive(Default)]
pub struct SampleScreen {
    item: Option<Item>,
    /// The sample's decisions as lines, newest first, read when the sample changed.
    history: Vec<String>,
    /// Its nearest neighbours in the round's embedding space, one line each (distance, label,
    /// state), read when the sample changed.
    neighbours: Vec<String>,
    rendered: Option<Rendered>,
}

impl SampleScreen {
    /// Show `item` (the queue's current sample); reads its history only when the sample or
    /// its record changed.
    pub fn follow(&mut self, item: Option<&Item>, store: &Store) {
        let same = match (&self.item, item) {
            (Some(a), Some(b)) => a.sample == b.sample && a.score == b.score,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if self.item.as_ref().map(|i| i.sample.id) != item.map(|i| i.sample.id) {
            self.rendered = None;
        }
        self.item = item.cloned();
        self.neighbours = item
            .and_then(|i| i.score.as_ref())
            .and_then(|s| s.neighbours.as_ref())
            .map(|n| neighbour_lines(store, &n.near))
            .unwrap_or_default();
        self.history = match item {
            None => Vec::new(),
            Some(i) => match decide::history(store, &i.sample.id) {
                Ok(h) if h.is_empty() => vec!["  no decisions yet".into()],
                Ok(h) => h
                    .iter()
                    .rev()
                    .take(8)
                    .map(|(key, e)| {
                        format!(
                            "  #{key} {} (round {})",
                            e.action,
                            e.round.map_or("—".into(), |r| r.to_string())
                        )
                    })
                    .collect(),
                Err(e) => vec![format!("  unreadable: {e}")],
            },
        };
    }

    pub fn item(&self) -> Option<&Item> {
        self.item.as_ref()
    }

    /// The full image and four augmented copies at `cols` x `rows` cells, kept until the
    /// sample or the size changes (augmenting per frame costs more than a frame).
    fn rendered(&mut self, cols: u16, rows: u16, ctx: &Ctx) -> Option<&Rendered> {
        let item = self.item.as_ref()?;
        if self
            .rendered
            .as_ref()
            .is_none_or(|r| (r.cols, r.rows) != (cols, rows))
        {
            let side = ctx.store.meta().size as usize;
            let channels = ctx.store.meta().channels as usize;
            let full = thumb::render(&item.pixels, side, channels, cols, rows, ctx.palette);
            let img = Img::from_u8(&item.pixels, side, channels);
            let cfg = ctx.store.meta().augment().config();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(item.sample.seq);
            let small = (cols / 4).saturating_sub(1).max(4);
            let augmented = (0..4)
                .map(|_| {
                    let a = augment::augment(&img, &cfg, &mut rng).to_u8();
                    thumb::render(&a, side, channels, small, small / 2, ctx.palette)
                })
                .collect();
            self.rendered = Some(Rendered {
                cols,
                rows,
                full,
                augmented,
            });
        }
        self.rendered.as_ref()
    }
}

/// One line per neighbour: distance, label and state (point reads of a few samples); the
/// certified ones first, since their labels are the evidence.
fn neighbour_lines(store: &Store, near: &[(crate::store::Id, f32)]) -> Vec<String> {
    let mut lines: Vec<(bool, String)> = near
        .iter()
        .map(|(id, d)| match store.sample(id) {
            Ok(Some(n)) => (
                !n.state.is_certified(),
                format!(
                    "  {d:.3}  {:<12} {:<11} {}",
                    n.label.as_deref().unwrap_or("—"),
                    n.state.name(),
                    id.short()
                ),
            ),
            Ok(None) => (true, format!("  {d:.3}  (gone) {}", id.short())),
            Err(e) => (true, format!("  unreadable: {e}")),
        })
        .collect();
    lines.sort_by_key(|(uncertified, _)| *uncertified);
    lines.into_iter().map(|(_, l)| l).collect()
}

impl Component for SampleScreen {
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
        match action {
            Accept => out.push_back(Msg::Decide(Decision::Certify)),
            Left => out.push_back(Msg::Move(-1)),
            Right => out.push_back(Msg::Move(1)),
            Open => out.push_back(Msg::Show(Screen::Queues)),
            _ => match decision(action, key, self.item.as_ref(), ctx) {
                Some(m) => out.push_back(m),
                None => return Ok(false),
            },
        }
        Ok(true)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        if self.item.is_none() {
            f.render_widget(Paragraph::new("No sample selected (Queues screen)."), area);
            return;
        }
        // Largest whole-cell rendering that fits: 32x16 cells for a 32x32 image at full size.
        let cols = (area.width / 2)
            .min(area.height.saturating_sub(6) * 2)
            .clamp(8, 64);
        let rows = cols / 2;
        let [left, right] =
            Layout::horizontal([Constraint::Length(cols + 2), Constraint::Min(20)]).areas(area);
        let full_area = Rect::new(left.x + 1, left.y, cols, rows).intersection(left);
        let real = self.item.as_ref().is_some_and(|item| {
            (full_area.width, full_area.height) == (cols, rows)
                && ctx.graphics.as_ref().is_some_and(|g| {
                    g.draw(f, full_area, item.sample.id, &item.pixels, ctx.store.meta())
                })
        });
        if let Some(r) = self.rendered(cols, rows, ctx) {
            if !real {
                r.full.draw(full_area, f.buffer_mut());
            }
            let aug_y = left.y + rows + 1;
            if aug_y + 4 <= left.bottom() {
                f.render_widget(
                    Paragraph::new(format!("augmentations ({}):", ctx.store.meta().augment())),
                    Rect::new(left.x + 1, aug_y, left.width.saturating_sub(1), 1),
                );
                for (i, t) in r.augmented.iter().enumerate() {
                    let at = Rect::new(
                        left.x + 1 + i as u16 * (t.cols + 1),
                        aug_y + 1,
                        t.cols,
                        t.rows,
                    );
                    t.draw(at.intersection(left), f.buffer_mut());
                }
            }
        }
        let Some(item) = &self.item else { return };
        let s = &item.sample;
        let mut lines = vec![
            Line::from(format!("id        {}", s.id.short())),
            Line::from(format!(
                "state     {}   (origin {})",
                s.state.name(),
                s.origin.name()
            )),
            Line::from(format!(
                "label     {}   (given {})",
                s.label.as_deref().unwrap_or("—"),
                s.given().unwrap_or("—")
            )),
        ];
        if let Some(r) = &s.reason {
            lines.push(Line::from(format!("reason    {r}")));
        }
        if let Some(sc) = &item.score {
            lines.push(Line::from(format!(
                "suggested {} (p {:.2}){}",
                sc.suggested,
                sc.probability,
                if sc.flagged {
                    "   flagged: a likely label error (confident learning)"
                } else {
                    ""
                }
            )));
            lines.push(Line::from(format!(
                "loss {:.3}  margin {:.3}  EL2N {:.3}  forgetting {}",
                sc.loss, sc.margin, sc.el2n, sc.forgetting
            )));
            if !sc.top.is_empty() {
                let top: Vec<String> = sc.top.iter().map(|(c, p)| format!("{c} {p:.2}")).collect();
                lines.push(Line::from(format!("top       {}", top.join(" · "))));
            }
            if let Some(n) = &sc.neighbours {
                lines.push(Line::from(format!(
                    "neighbours agree with its label {}   outlier score {:.3} (distance to the {}th)",
                    n.agreement
                        .map_or("—".into(), |a| format!("{:.0}%", a * 100.0)),
                    n.outlier,
                    n.near.len()
                )));
                lines.extend(
                    self.neighbours
                        .iter()
                        .take(6)
                        .map(|l| Line::from(l.as_str())),
                );
            }
        }
        if let Some(d) = &s.dup {
            lines.push(Line::from(format!(
                "duplicate of {} ({}, distance {})",
                d.of.short(),
                d.stage.name(),
                d.distance
            )));
        }
        lines.push(Line::from(format!(
            "size      {}x{} before normalising",
            s.width, s.height
        )));
        for src in &s.sources {
            lines.push(Line::from(format!(
                "source    {} [{}]",
                src.path,
                src.given.as_deref().unwrap_or("unlabelled")
            )));
        }
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "history",
            Style::default().add_modifier(Modifier::BOLD),
        ));
        lines.extend(self.history.iter().map(|l| Line::from(l.as_str())));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::LEFT)),
            right,
        );
    }
}
