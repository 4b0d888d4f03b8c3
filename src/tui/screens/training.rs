//! The Training screen: the job on the compute worker (a round, the GAN, an evaluation) —
//! stage, progress, speed, and braille line charts of loss and accuracy per epoch (or the
//! GAN's losses and fresh samples). Fed by the App with the worker's events.

use crate::jobs::JobId;
use crate::train::gan::GanEvent;
use crate::train::TrainEvent;
use crate::tui::component::Component;
use crate::tui::context::Ctx;
use crate::tui::keymap::Action;
use crate::tui::thumb;
use crate::tui::widgets::line_chart;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Gauge, Paragraph};
use ratatui::Frame;

/// A running or finished job as the Training screen shows it.
#[derive(Default)]
pub struct JobView {
    pub id: Option<JobId>,
    pub running: bool,
    pub stage: String,
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
    pub samples_per_sec: f32,
    pub eta_s: f32,
    pub elapsed_s: f32,
    /// Per epoch: (train loss, train acc, val acc).
    pub history: Vec<(f32, f32, f32)>,
    pub outcome: String,
    /// GAN: (iteration, D loss, G loss) every few iterations, γ now, and fresh samples per
    /// class from the latest check.
    pub gan_losses: Vec<(usize, f32, f32)>,
    pub gamma: f32,
    pub gan_samples: Vec<(usize, Vec<u8>)>,
    /// Evaluation: the version being trained.
    pub version: String,
}

impl JobView {
    /// The job's progress over all its epochs, 0 to 1.
    pub fn progress(&self) -> f64 {
        if self.epochs == 0 || self.steps == 0 {
            return 0.0;
        }
        let done = self.epoch.saturating_sub(1) as f64 + self.step as f64 / self.steps as f64;
        (done / self.epochs as f64).clamp(0.0, 1.0)
    }

    pub fn on_train_event(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Stage { text } => self.stage = text,
            TrainEvent::Batch {
                epoch,
                epochs,
                step,
                steps,
                loss,
                samples_per_sec,
                elapsed_s,
                eta_s,
            } => {
                self.epoch = epoch;
                self.epochs = epochs;
                self.step = step;
                self.steps = steps;
                self.loss = loss;
                self.samples_per_sec = samples_per_sec;
                self.elapsed_s = elapsed_s;
                self.eta_s = eta_s;
            }
            TrainEvent::Epoch {
                train_loss,
                train_acc,
                val_acc,
                ..
            } => self.history.push((train_loss, train_acc, val_acc)),
        }
    }

    /// A GAN iteration or check.
    pub fn on_gan_event(&mut self, event: GanEvent) {
        match event {
            GanEvent::Iter {
                iter,
                iters,
                d_loss,
                g_loss,
                gamma,
                samples_per_sec,
                eta_s,
            } => {
                self.stage = format!("GAN iteration {iter}/{iters}");
                (self.epoch, self.epochs) = (iter, iters);
                (self.step, self.steps) = (iter, iters);
                self.loss = g_loss;
                self.gamma = gamma;
                self.samples_per_sec = samples_per_sec;
                self.eta_s = eta_s;
                if iter % 5 == 0 || iter == iters {
                    self.gan_losses.push((iter, d_loss, g_loss));
                }
            }
            GanEvent::Check {
                iter,
                intended_rate,
                samples,
            } => {
                self.gan_samples = samples;
                self.outcome = format!(
                    "iteration {iter}: {:.0}% of fresh samples classified as intended",
                    intended_rate * 100.0
                );
            }
        }
    }
}

#[derive(Default)]
pub struct TrainingScreen {
    pub job: JobView,
}

impl Component for TrainingScreen {
    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &Ctx) {
        let j = &self.job;
        let [info, gauge, batch, charts] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
        ])
        .areas(area);
        let state = if j.running {
            "running".to_string()
        } else if j.id.is_some() {
            "finished".to_string()
        } else {
            format!(
                "no job yet — {}, then \"Train a round\"",
                ctx.keymap.key_for(Action::Menu)
            )
        };
        f.render_widget(
            Paragraph::new(vec![
                Line::from(format!(
                    "backend   {}   store {}   augmentation {}",
                    ctx.backend,
                    ctx.store.meta().shape(),
                    ctx.store.meta().augment()
                )),
                Line::from(format!("job       {state}: {}", j.stage)),
                Line::from(format!(
                    "loss {:.3}   {:.0} samples/s   elapsed {:.0}s   ETA {:.0}s",
                    j.loss, j.samples_per_sec, j.elapsed_s, j.eta_s
                )),
                Line::from(j.outcome.clone()),
            ]),
            info,
        );
        f.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Green))
                .ratio(j.progress())
                .label(format!("epoch {}/{}", j.epoch, j.epochs)),
            gauge,
        );
        let batch_ratio = if j.steps == 0 {
            0.0
        } else {
            (j.step as f64 / j.steps as f64).clamp(0.0, 1.0)
        };
        f.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Cyan))
                .ratio(batch_ratio)
                .label(format!("batch {}/{}", j.step, j.steps)),
            batch,
        );
        if !j.gan_losses.is_empty() {
            draw_gan(f, j, charts, ctx);
            return;
        }
        let [loss, acc] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        // Epochs count from 1 on the x axis.
        let series = |k: usize| -> Vec<(f64, f64)> {
            j.history
                .iter()
                .enumerate()
                .map(|(e, h)| ((e + 1) as f64, [h.0, h.1, h.2][k] as f64))
                .collect()
        };
        let last = |i: usize| {
            j.history
                .last()
                .map_or("—".into(), |h| format!("{:.3}", [h.0, h.1, h.2][i]))
        };
        line_chart(
            f,
            loss,
            &format!("train loss per epoch (last {})", last(0)),
            &[("train loss", Color::Yellow, series(0))],
            None,
        );
        line_chart(
            f,
            acc,
            &format!("accuracy per epoch (val {}, train {})", last(2), last(1)),
            &[
                ("val", Color::Green, series(2)),
                ("train", Color::Cyan, series(1)),
            ],
            Some([0.0, 1.0]),
        );
    }
}

/// The GAN's live losses and the latest fresh samples, a column per class.
fn draw_gan(f: &mut Frame, j: &JobView, area: Rect, ctx: &Ctx) {
    let [losses, grid] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
    let [dl, gl] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(losses);
    let d: Vec<(f64, f64)> = j
        .gan_losses
        .iter()
        .map(|l| (l.0 as f64, l.1 as f64))
        .collect();
    let g: Vec<(f64, f64)> = j
        .gan_losses
        .iter()
        .map(|l| (l.0 as f64, l.2 as f64))
        .collect();
    let last = j.gan_losses.last().copied().unwrap_or_default();
    line_chart(
        f,
        dl,
        &format!("discriminator loss (last {:.3})", last.1),
        &[("D", Color::Magenta, d)],
        None,
    );
    line_chart(
        f,
        gl,
        &format!("generator loss (last {:.3}, γ {:.2})", last.2, j.gamma),
        &[("G", Color::Yellow, g)],
        None,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title("fresh samples per class (latest check)");
    let inner = block.inner(grid);
    f.render_widget(block, grid);
    let classes = &ctx.store.meta().classes;
    let side = ctx.store.meta().size as usize;
    let channels = ctx.store.meta().channels as usize;
    for (k, (class, px)) in j.gan_samples.iter().enumerate() {
        let col = (*class as u16) * 9;
        let row = (k / classes.len().max(1)) as u16 * 5;
        let r = Rect::new(inner.x + col, inner.y + 1 + row, 8, 4).intersection(inner);
        thumb::render(px, side, channels, 8, 4, ctx.palette).draw(r, f.buffer_mut());
        if k < classes.len() {
            let label = Rect::new(inner.x + col, inner.y, 8, 1).intersection(inner);
            f.render_widget(Paragraph::new(classes[*class].clone()), label);
        }
    }
}
