//! The Map screen: the latest embedded round's samples as the model sees them — a t-SNE
//! layout (laid out on the store worker, kept per round) on a braille canvas, one colour per
//! label, the samples whose suggestion disagrees with their label in red and the outliers in
//! white. A cursor moves over it: `enter` opens the nearest sample; `space` starts a
//! rectangle and a second `space` selects what it holds, which one key then certifies,
//! rejects or relabels as one logged, undoable decision (`enter` looks through it).

use crate::feature::map::Map;
use crate::pipeline::decide::{self, Decision};
use crate::store::Id;
use crate::tui::component::{hint, Component, Hint};
use crate::tui::context::Ctx;
use crate::tui::keymap::{relabel_class, Action};
use crate::tui::msg::{Msg, Msgs};
use anyhow::Result;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Points, Rectangle};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use std::sync::Arc;

use Action::*;

const HINTS: &[Hint] = &[
    hint(&[Left, Down, Up, Right], "move", "move the cursor"),
    hint(
        &[Open],
        "open",
        "open the sample nearest the cursor (with a selection: look through it)",
    ),
    hint(
        &[Mark],
        "rectangle",
        "start a rectangle at the cursor; again: select what it holds",
    ),
    hint(&[Accept], "certify all", "certify every selected sample"),
    hint(
        &[Reject],
        "reject all",
        "reject every selected sample as junk",
    ),
    hint(
        &[Relabel],
        "relabel all",
        "relabel every selected sample to class 1..10",
    ),
];

/// Label colours, in class order (red and white are kept for disagreements and outliers).
pub const CLASS_COLOURS: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
];

/// Cursor steps across the map's width and height.
const STEPS_X: f32 = 60.0;
const STEPS_Y: f32 = 30.0;

#[derive(Default)]
pub struct MapScreen {
    map: Option<Map>,
    cursor: [f32; 2],
    /// The corner a rectangle started at.
    anchor: Option<[f32; 2]>,
    selection: Vec<Id>,
    /// The latest round when the map was last asked for (so a round without embeddings is
    /// not asked for again and again).
    requested_for: Option<Option<u32>>,
    /// The points as drawn, by layer (rebuilt when `None`).
    layers: Option<Layers>,
}

/// Map coordinates by what they are drawn as.
struct Layers {
    /// Per class (the last: unlabelled), the points neither disagreeing nor outliers.
    by_class: Vec<Vec<(f64, f64)>>,
    outliers: Vec<(f64, f64)>,
    disagree: Vec<(f64, f64)>,
    chosen: Vec<(f64, f64)>,
}

impl Layers {
    fn of(m: &Map, selection: &[Id]) -> Layers {
        let selected: std::collections::HashSet<Id> = selection.iter().copied().collect();
        let unlabelled = m.classes.len();
        let mut l = Layers {
            by_class: vec![Vec::new(); unlabelled + 1],
            outliers: Vec::new(),
            disagree: Vec::new(),
            chosen: Vec::new(),
        };
        for p in &m.points {
            let xy = (p.xy[0] as f64, p.xy[1] as f64);
            if p.disagrees {
                l.disagree.push(xy);
            } else if p.outlier {
                l.outliers.push(xy);
            } else {
                l.by_class[p.label.unwrap_or(unlabelled).min(unlabelled)].push(xy);
            }
            if selected.contains(&p.id) {
                l.chosen.push(xy);
            }
        }
        l
    }
}

impl MapScreen {
    /// Whether the map should be (re)computed for the store's `latest` round: none asked for
    /// this round yet. Marks it asked.
    pub fn wants(&mut self, latest: Option<u32>) -> bool {
        if latest.is_none() || self.requested_for == Some(latest) {
            return false;
        }
        self.requested_for = Some(latest);
        true
    }

    /// Take a map from the worker; the cursor starts at its centre.
    pub fn set(&mut self, map: Arc<Map>) {
        let (x, y) = map.bounds();
        self.cursor = [(x[0] + x[1]) / 2.0, (y[0] + y[1]) / 2.0];
        self.anchor = None;
        self.selection.clear();
        self.layers = None;
        self.map = Some(Arc::unwrap_or_clone(map));
    }

    pub fn map(&self) -> Option<&Map> {
        self.map.as_ref()
    }

    pub fn selection(&self) -> &[Id] {
        &self.selection
    }

    fn step(&mut self, dx: f32, dy: f32) {
        let Some(m) = &self.map else { return };
        let (x, y) = m.bounds();
        let sx = ((x[1] - x[0]) / STEPS_X).max(1e-6);
        let sy = ((y[1] - y[0]) / STEPS_Y).max(1e-6);
        self.cursor[0] = (self.cursor[0] + dx * sx).clamp(x[0], x[1]);
        self.cursor[1] = (self.cursor[1] + dy * sy).clamp(y[0], y[1]);
    }

    /// One decision on the whole selection; the map's colours follow it.
    fn decide_all(&mut self, decision: Decision, ctx: &Ctx, out: &mut Msgs) -> Result<()> {
        if self.selection.is_empty() {
            let mark = ctx.keymap.key_for(Mark);
            out.push_back(Msg::Status(format!(
                "nothing selected: {mark} starts a rectangle, {mark} again selects"
            )));
            return Ok(());
        }
        let applied = decide::decide_many(&ctx.store, &self.selection, &decision)?;
        if let (Decision::Relabel(label), Some(m)) = (&decision, &mut self.map) {
            let class = m.classes.iter().position(|c| c == label);
            for p in m
                .points
                .iter_mut()
                .filter(|p| self.selection.contains(&p.id))
            {
                p.label = class;
                p.disagrees = false;
            }
        }
        self.layers = None;
        out.push_back(Msg::Counted(applied.delta));
        if let Some(round) = applied.closed {
            out.push_back(Msg::RoundClosed(round));
        }
        out.push_back(Msg::Reload);
        out.push_back(Msg::Status(format!(
            "{} {} of {} selected sample(s) — saved ({} undoes)",
            applied.action,
            applied.samples,
            self.selection.len(),
            ctx.keymap.key_for(Undo)
        )));
        Ok(())
    }
}

impl Component for MapScreen {
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
        if self.map.is_none() {
            if HINTS.iter().any(
                |h| matches!(h.keys, crate::tui::component::Keys::Bound(a) if a.contains(&action)),
            ) {
                out.push_back(Msg::Status(
                    "no map yet: it is laid out after a round is trained".into(),
                ));
                return Ok(true);
            }
            return Ok(false);
        }
        match action {
            Left => self.step(-1.0, 0.0),
            Right => self.step(1.0, 0.0),
            Up => self.step(0.0, 1.0),
            Down => self.step(0.0, -1.0),
            Mark => match self.anchor.take() {
                None => {
                    self.anchor = Some(self.cursor);
                    out.push_back(Msg::Status(
                        "rectangle started: move, then the same key selects".into(),
                    ));
                }
                Some(a) => {
                    let m = self.map.as_ref().expect("a map");
                    self.selection = m.inside(a, self.cursor);
                    self.layers = None;
                    out.push_back(Msg::Status(format!(
                        "{} selected: {} certifies all, {} rejects all, 1-0 relabels all, {} looks through them",
                        self.selection.len(),
                        ctx.keymap.key_for(Accept),
                        ctx.keymap.key_for(Reject),
                        ctx.keymap.key_for(Open)
                    )));
                }
            },
            Open => {
                let m = self.map.as_ref().expect("a map");
                if self.selection.is_empty() {
                    if let Some(p) = m.nearest(self.cursor) {
                        out.push_back(Msg::Select {
                            round: m.round,
                            ids: vec![p.id],
                            screen: super::Screen::Sample,
                        });
                    }
                } else {
                    out.push_back(Msg::Select {
                        round: m.round,
                        ids: self.selection.clone(),
                        screen: super::Screen::Queues,
                    });
                }
            }
            Accept => self.decide_all(Decision::Certify, ctx, out)?,
            Reject => self.decide_all(Decision::Reject("junk".into()), ctx, out)?,
            Relabel => {
                let Some(idx) = relabel_class(key.code) else {
                    return Ok(false);
                };
                match ctx.store.meta().classes.get(idx) {
                    Some(label) => self.decide_all(Decision::Relabel(label.clone()), ctx, out)?,
                    None => out.push_back(Msg::Status(format!("there is no class {}", idx + 1))),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, _: &Ctx) {
        let [title, body, legend] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let Some(m) = &self.map else {
            f.render_widget(
                Paragraph::new(
                    " Map — the latest round's samples as the model sees them: laid out after a round is trained (menu).",
                ),
                title,
            );
            return;
        };
        let near = m.nearest(self.cursor);
        let mut t = format!(
            " Map of round {} — {} samples · cursor near {}",
            m.round,
            m.points.len(),
            near.map_or("—".into(), |p| format!(
                "{} ({})",
                p.label
                    .and_then(|l| m.classes.get(l))
                    .map_or("unlabelled", String::as_str),
                p.id.short()
            ))
        );
        if self.anchor.is_some() {
            t.push_str(" · drawing a rectangle");
        }
        if !self.selection.is_empty() {
            t.push_str(&format!(" · {} selected", self.selection.len()));
        }
        f.render_widget(Paragraph::new(t), title);

        let (xb, yb) = m.bounds();
        let pad = |b: [f32; 2]| {
            let p = ((b[1] - b[0]) * 0.02).max(1e-3);
            [(b[0] - p) as f64, (b[1] + p) as f64]
        };
        // The point layers are built when the map, its labels or the selection change, not
        // per frame (a map holds every embedded sample).
        let layers = self
            .layers
            .get_or_insert_with(|| Layers::of(m, &self.selection));
        let (by_class, outliers, disagree, chosen) = (
            &layers.by_class,
            &layers.outliers,
            &layers.disagree,
            &layers.chosen,
        );
        let cursor = self.cursor;
        let anchor = self.anchor;
        let canvas = Canvas::default()
            .block(Block::default().borders(Borders::ALL))
            .marker(Marker::Braille)
            .x_bounds(pad(xb))
            .y_bounds(pad(yb))
            .paint(|c| {
                for (i, pts) in by_class.iter().enumerate() {
                    let color = CLASS_COLOURS.get(i).copied().unwrap_or(Color::Gray);
                    c.draw(&Points { coords: pts, color });
                }
                c.layer();
                c.draw(&Points {
                    coords: outliers,
                    color: Color::White,
                });
                c.draw(&Points {
                    coords: disagree,
                    color: Color::Red,
                });
                c.layer();
                c.draw(&Points {
                    coords: chosen,
                    color: Color::LightRed,
                });
                if let Some(a) = anchor {
                    c.draw(&Rectangle {
                        x: a[0].min(cursor[0]) as f64,
                        y: a[1].min(cursor[1]) as f64,
                        width: (a[0] - cursor[0]).abs() as f64,
                        height: (a[1] - cursor[1]).abs() as f64,
                        color: Color::Yellow,
                    });
                }
                c.print(
                    cursor[0] as f64,
                    cursor[1] as f64,
                    Span::styled("+", Style::default().fg(Color::Yellow)),
                );
            });
        f.render_widget(canvas, body);

        let mut spans: Vec<Span> = m
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Span::styled(
                    format!("{} {c}  ", i + 1),
                    Style::default().fg(CLASS_COLOURS.get(i).copied().unwrap_or(Color::Gray)),
                )
            })
            .collect();
        spans.push(Span::styled("disagrees  ", Style::default().fg(Color::Red)));
        spans.push(Span::styled("outlier", Style::default().fg(Color::White)));
        f.render_widget(Paragraph::new(Line::from(spans)), legend);
    }
}
