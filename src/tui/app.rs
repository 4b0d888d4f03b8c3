//! The application state and its event handling. One event enum; keys become actions via
//! the keymap; decisions call the pipeline and are acknowledged only after it returns
//! (flushed); long work goes to the jobs worker and comes back as events.

use super::keymap::{Action, Keymap};
use super::queues::{QueuesView, QUEUES};
use super::thumb::{Cache, Palette};
use crate::dedup::{self, Params};
use crate::jobs::{Event as JobEvent, JobId, JobResult, Request, Worker};
use crate::pipeline::decide::{self, Decision};
use crate::pipeline::eval::{self, EvalConfig};
use crate::pipeline::queues::{self, ACCEPT, CERTIFY, REVIEW};
use crate::pipeline::{balance, rounds, split, synth, versions};
use crate::store::{Id, State, Store};
use crate::train::backend::Compute;
use crate::train::gan::GanEvent;
use crate::train::{self, Mode, Plan, RunConfig, TrainEvent};
use anyhow::Result;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// Everything the loop feeds the app.
pub enum AppEvent {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick,
    Job(JobEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Queues,
    Sample,
    Training,
    Data,
    Rounds,
    Versions,
}

pub const SCREENS: [Screen; 6] = [
    Screen::Queues,
    Screen::Sample,
    Screen::Training,
    Screen::Data,
    Screen::Rounds,
    Screen::Versions,
];

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Queues => "Queues",
            Screen::Sample => "Sample",
            Screen::Training => "Training",
            Screen::Data => "Data",
            Screen::Rounds => "Rounds",
            Screen::Versions => "Versions",
        }
    }
}

/// Menu entries, in order.
pub const MENU: [&str; 10] = [
    "Train a round (certified → score → queues)",
    "Re-rank the queues from the latest scores",
    "Draw a seed set to certify",
    "Find duplicates",
    "Balance classes (excess to surplus)",
    "Split: test + folds",
    "Freeze a version",
    "Train the GAN (against the latest classifier)",
    "Generate 100 synthetic samples (to approve)",
    "Evaluate all versions (Table 2)",
];

pub enum Overlay {
    Help,
    Menu {
        selected: usize,
    },
    Picker {
        selected: usize,
    },
    /// Text entry: the filter, or a version name.
    Input {
        purpose: InputPurpose,
        text: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputPurpose {
    Filter,
    VersionName,
}

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
    pub config: Option<RunConfig>,
    /// GAN: (iteration, D loss, G loss) every few iterations, γ now, and fresh samples per
    /// class from the latest check.
    pub gan_losses: Vec<(usize, f32, f32)>,
    pub gamma: f32,
    pub gan_samples: Vec<(usize, Vec<u8>)>,
    /// Evaluation: the version being trained.
    pub version: String,
}

/// How the UI trains a round.
#[derive(Clone, Debug)]
pub struct UiConfig {
    pub epochs: usize,
    pub seed_set: usize,
    pub gan_iters: usize,
    pub eval_epochs: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            epochs: env_or("THRESH_UI_EPOCHS", 30),
            seed_set: rounds::DEFAULT_SEED_SET,
            gan_iters: env_or("THRESH_UI_GAN_ITERS", 3000),
            eval_epochs: env_or("THRESH_UI_EVAL_EPOCHS", 100),
        }
    }
}

pub struct App {
    pub store: Store,
    pub keymap: Keymap,
    pub palette: Palette,
    pub backend: String,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub queues: QueuesView,
    pub job: JobView,
    pub status: String,
    pub quit: bool,
    pub cache: Cache,
    pub config: UiConfig,
    /// Cells per page of the grid as last drawn (for bulk accept).
    pub page_cells: usize,
    /// First shown item of the grid as last drawn.
    pub page_first: usize,
    /// Grid columns as last drawn (for up/down moves).
    pub grid_cols_drawn: usize,
    /// (samples, certified, unreviewed) for the header; recomputed on ticks when dirty.
    pub header: (usize, usize, usize),
    header_dirty: bool,
    /// Where the Sample screen left room for a full-resolution image (viuer).
    pub preview: Option<ratatui::layout::Rect>,
    worker: Worker,
}

impl App {
    pub fn new(store: Store, keymap: Keymap, compute: Compute, palette: Palette) -> Result<App> {
        let backend = compute.label();
        let status = compute
            .notice
            .clone()
            .unwrap_or_else(|| format!("training on {backend}"));
        let mut queues = QueuesView::default();
        // Open on the first queue with work in it.
        for (i, _) in QUEUES.iter().enumerate() {
            queues.queue = i;
            queues.reload(&store)?;
            if queues.pending() > 0 {
                break;
            }
        }
        if queues.pending() == 0 {
            queues.queue = 0;
            queues.reload(&store)?;
        }
        Ok(App {
            store,
            keymap,
            palette,
            backend,
            screen: Screen::Queues,
            overlay: None,
            queues,
            job: JobView::default(),
            status,
            quit: false,
            cache: Cache::default(),
            config: UiConfig::default(),
            page_cells: 1,
            page_first: 0,
            grid_cols_drawn: 1,
            header: (0, 0, 0),
            header_dirty: true,
            preview: None,
            worker: Worker::start(compute.device),
        })
    }

    /// Job events waiting on the worker's channel, without blocking.
    pub fn poll_jobs(&mut self) -> Vec<JobEvent> {
        self.worker.events().try_iter().collect()
    }

    /// Wait up to `timeout` for one job event (tests and benches).
    pub fn wait_job(&mut self, timeout: std::time::Duration) -> Option<JobEvent> {
        self.worker.events().recv_timeout(timeout).ok()
    }

    pub fn handle(&mut self, event: AppEvent) {
        let result = match event {
            AppEvent::Key(k) => {
                self.header_dirty = true;
                self.on_key(k)
            }
            AppEvent::Job(e) => self.on_job(e),
            AppEvent::Resize(..) => Ok(()),
            AppEvent::Tick if self.header_dirty => {
                self.header_dirty = false;
                self.counts().map(|c| self.header = c)
            }
            AppEvent::Tick => Ok(()),
        };
        if let Err(e) = result {
            self.status = format!("error: {e:#}");
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Result<()> {
        if let Some(overlay) = self.overlay.take() {
            return self.on_overlay_key(overlay, key);
        }
        let Some(action) = self.keymap.action(&key) else {
            return Ok(());
        };
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Menu => self.overlay = Some(Overlay::Menu { selected: 0 }),
            Action::Cancel => {
                if self.job.running {
                    self.worker.cancel();
                    self.status = "cancelling the job at its next batch…".into();
                } else {
                    self.status = "no job is running".into();
                }
            }
            Action::NextScreen | Action::PrevScreen => {
                let i = SCREENS.iter().position(|s| *s == self.screen).unwrap_or(0);
                let n = SCREENS.len();
                let j = if action == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.screen = SCREENS[j];
            }
            Action::Back => {
                self.screen = Screen::Queues;
            }
            Action::Undo => {
                let u = decide::undo(&self.store)?;
                self.queues.reload(&self.store)?;
                self.status = format!("undid {} ({} sample(s))", u.action, u.samples);
            }
            _ if matches!(self.screen, Screen::Queues | Screen::Sample) => {
                self.on_queue_action(action, key)?
            }
            _ => {}
        }
        Ok(())
    }

    fn on_queue_action(&mut self, action: Action, key: KeyEvent) -> Result<()> {
        let cols = if self.queues.list {
            1
        } else {
            self.grid_cols()
        };
        match action {
            Action::Left => self.queues.move_by(-1),
            Action::Right => self.queues.move_by(1),
            Action::Up => self.queues.move_by(-(cols as isize)),
            Action::Down => self.queues.move_by(cols as isize),
            Action::Mark => {
                self.queues.toggle_mark();
                self.queues.move_by(1);
            }
            Action::View => self.queues.list = !self.queues.list,
            Action::Sort => {
                self.queues.sort = self.queues.sort.next();
                self.queues.refilter();
                self.status = format!("sorted by {}", self.queues.sort.name());
            }
            Action::Filter => {
                self.overlay = Some(Overlay::Input {
                    purpose: InputPurpose::Filter,
                    text: self.queues.filter.clone(),
                })
            }
            Action::Open => {
                self.screen = if self.screen == Screen::Sample {
                    Screen::Queues
                } else {
                    Screen::Sample
                }
            }
            Action::NextQueue | Action::PrevQueue => {
                let n = QUEUES.len();
                self.queues.queue = if action == Action::NextQueue {
                    (self.queues.queue + 1) % n
                } else {
                    (self.queues.queue + n - 1) % n
                };
                self.queues.cursor = 0;
                self.queues.marked.clear();
                self.queues.reload(&self.store)?;
            }
            Action::Accept => self.accept()?,
            Action::Reject => self.decide_current(Decision::Reject("junk".into()))?,
            Action::Suggestion => {
                let Some(s) = self.queues.current().and_then(|i| i.score.clone()) else {
                    self.status = "no suggestion: this sample has no score yet".into();
                    return Ok(());
                };
                self.decide_current(Decision::Relabel(s.suggested))?;
            }
            Action::Relabel => {
                if let KeyCode::Char(c) = key.code {
                    let d = c.to_digit(10).unwrap_or(0) as usize;
                    let idx = if d == 0 { 9 } else { d - 1 };
                    match self.store.meta().classes.get(idx).cloned() {
                        Some(label) => self.decide_current(Decision::Relabel(label))?,
                        None => self.status = format!("there is no class {d}"),
                    }
                }
            }
            Action::Picker => self.overlay = Some(Overlay::Picker { selected: 0 }),
            _ => {}
        }
        Ok(())
    }

    /// `a`: in the certify and accept queues, certify the visible page except the marked
    /// samples; elsewhere, certify the current sample.
    fn accept(&mut self) -> Result<()> {
        let name = self.queues.name();
        if name == CERTIFY || name == ACCEPT || name == crate::pipeline::synth::SYNTHETIC {
            let page = self.queues.page(self.page_first, self.page_cells.max(1));
            let exceptions: Vec<Id> = page
                .iter()
                .filter(|id| self.queues.marked.contains(id))
                .copied()
                .collect();
            let applied = decide::accept_page(&self.store, name, &page, &exceptions)?;
            self.queues.marked.retain(|id| !page.contains(id));
            self.queues.refresh(&self.store, &page)?;
            self.status = format!(
                "accepted {} sample(s), {} left out — saved",
                applied.samples,
                exceptions.len()
            );
            // On to the next page.
            let next = self.page_first + page.len();
            if next < self.queues.shown.len() {
                self.queues.cursor = next;
            }
            Ok(())
        } else {
            self.decide_current(Decision::Certify)
        }
    }

    fn decide_current(&mut self, decision: Decision) -> Result<()> {
        let Some(id) = self.queues.current().map(|i| i.sample.id) else {
            self.status = "nothing selected".into();
            return Ok(());
        };
        let applied = decide::decide(&self.store, &id, &decision)?;
        self.queues.refresh(&self.store, &[id])?;
        // Acknowledge only now: the decision is flushed.
        self.status = format!("{} {} — saved", applied.action, id.short());
        self.queues.move_by(1);
        Ok(())
    }

    fn on_overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Result<()> {
        match overlay {
            Overlay::Help => {} // any key closes it
            Overlay::Menu { selected } => match key.code {
                KeyCode::Up | KeyCode::Char('k') => {
                    self.overlay = Some(Overlay::Menu {
                        selected: selected.saturating_sub(1),
                    })
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.overlay = Some(Overlay::Menu {
                        selected: (selected + 1).min(MENU.len() - 1),
                    })
                }
                KeyCode::Enter => self.run_menu(selected)?,
                _ => {}
            },
            Overlay::Picker { selected } => {
                let n = self.store.meta().classes.len().max(1);
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.overlay = Some(Overlay::Picker {
                            selected: selected.saturating_sub(1),
                        })
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.overlay = Some(Overlay::Picker {
                            selected: (selected + 1).min(n - 1),
                        })
                    }
                    KeyCode::Enter => {
                        if let Some(label) = self.store.meta().classes.get(selected).cloned() {
                            self.decide_current(Decision::Relabel(label))?;
                        }
                    }
                    _ => {}
                }
            }
            Overlay::Input { purpose, mut text } => match key.code {
                KeyCode::Enter => match purpose {
                    InputPurpose::Filter => {
                        self.queues.filter = text.trim().to_string();
                        self.queues.refilter();
                        self.status = if self.queues.filter.is_empty() {
                            "filter cleared".into()
                        } else {
                            format!("filter: {}", self.queues.filter)
                        };
                    }
                    InputPurpose::VersionName => {
                        let v = versions::freeze(&self.store, &text)?;
                        self.status =
                            format!("version {} frozen: {} samples", v.name, v.entries.len());
                    }
                },
                KeyCode::Esc => {}
                KeyCode::Backspace => {
                    text.pop();
                    self.overlay = Some(Overlay::Input { purpose, text });
                }
                KeyCode::Char(c) => {
                    text.push(c);
                    self.overlay = Some(Overlay::Input { purpose, text });
                }
                _ => self.overlay = Some(Overlay::Input { purpose, text }),
            },
        }
        Ok(())
    }

    fn run_menu(&mut self, entry: usize) -> Result<()> {
        match entry {
            0 => self.start_round()?,
            1 => {
                let (_, total) = rounds::validated(&self.store)?;
                let (k, l) = rounds::scaled_k_l(total);
                let r = queues::rank(&self.store, k, l)?;
                self.show_queue(ACCEPT)?;
                self.status = format!(
                    "queues filled from round {}: {} to accept, {} to review",
                    r.round, r.accept, r.review
                );
            }
            2 => {
                let q = rounds::seed_set(&self.store, self.config.seed_set, 7)?;
                self.show_queue(CERTIFY)?;
                self.status = format!(
                    "{} samples to certify: `a` accepts the page, space marks exceptions",
                    q.ids.len()
                );
            }
            3 => {
                let r = dedup::dedup(&self.store, Params::default())?;
                self.queues.reload(&self.store)?;
                self.status = format!("dedup: {} groups", r.groups);
            }
            4 => {
                let r = balance::balance(&self.store, None, 7)?;
                let moved: usize = r.classes.iter().map(|c| c.2).sum();
                self.status = format!("balanced to {} per class; {moved} to surplus", r.target);
            }
            5 => {
                let r = split::split(&self.store, split::DEFAULT_TEST, split::DEFAULT_FOLDS, 7)?;
                self.status = format!(
                    "test {} / {} folds; {} leaking pair(s)",
                    r.test,
                    r.folds.len(),
                    r.leaks.len()
                );
            }
            6 => {
                self.overlay = Some(Overlay::Input {
                    purpose: InputPurpose::VersionName,
                    text: String::new(),
                })
            }
            7 => {
                let job = synth::prepare(&self.store, self.config.gan_iters, Default::default())?;
                let store_dir = self.store.dir().to_path_buf();
                self.submit(
                    Request::Gan {
                        job: Box::new(job),
                        store_dir,
                    },
                    "GAN training",
                )?;
            }
            8 => {
                let g = synth::generate(&self.store, &self.compute_for_ui(), 100, None, 0.7)?;
                self.show_queue(synth::SYNTHETIC)?;
                self.status = format!(
                    "{} synthetic samples to approve: `a` approves the page, space marks rejects",
                    g.ids.len()
                );
            }
            9 => {
                let names = self.store.version_names()?;
                let meta = self.store.meta();
                let mut cfg = EvalConfig::paper(meta.classes.len(), meta.channels as usize);
                cfg.train.epochs = self.config.eval_epochs;
                let job = eval::prepare(&self.store, &names, &cfg)?;
                self.submit(Request::Eval { job: Box::new(job) }, "evaluation")?;
            }
            _ => {}
        }
        Ok(())
    }

    fn show_queue(&mut self, name: &str) -> Result<()> {
        self.queues.queue = QUEUES.iter().position(|q| *q == name).unwrap_or(0);
        self.queues.cursor = 0;
        self.queues.marked.clear();
        self.queues.reload(&self.store)?;
        self.screen = Screen::Queues;
        Ok(())
    }

    /// The inference device for quick work on the UI thread (generation): always the CPU,
    /// so it never competes with the worker's device.
    fn compute_for_ui(&self) -> Compute {
        Compute::cpu()
    }

    /// Hand a job to the worker and show the Training screen.
    fn submit(&mut self, request: Request, what: &str) -> Result<()> {
        if self.job.running {
            self.status = "a job is already running (c cancels it)".into();
            return Ok(());
        }
        let id = self.worker.submit(request);
        self.job = JobView {
            id: Some(id),
            running: true,
            stage: format!("{what} starting"),
            ..JobView::default()
        };
        self.screen = Screen::Training;
        self.status = format!("{what} started: keep reviewing; c cancels");
        Ok(())
    }

    /// Train on the certified samples on the worker; the UI stays live.
    pub fn start_round(&mut self) -> Result<()> {
        if self.job.running {
            self.status = "a job is already running (c cancels it)".into();
            return Ok(());
        }
        let plan = Plan::from_store(&self.store, Mode::Seed, None, 7)?;
        let meta = self.store.meta();
        let mut cfg = RunConfig::new(meta.classes.len(), meta.channels as usize);
        cfg.train.epochs = self.config.epochs;
        plan.check(cfg.folds)
            .map_err(|e| anyhow::anyhow!("cannot train: {e}"))?;
        let id = self.worker.submit(Request::Train {
            plan: Box::new(plan),
            config: cfg.clone(),
        });
        self.job = JobView {
            id: Some(id),
            running: true,
            stage: "starting".into(),
            config: Some(cfg),
            ..JobView::default()
        };
        self.screen = Screen::Training;
        self.status = "training started: keep reviewing; c cancels".into();
        Ok(())
    }

    fn on_train_event(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Stage { text } => self.job.stage = text,
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
                self.job.epoch = epoch;
                self.job.epochs = epochs;
                self.job.step = step;
                self.job.steps = steps;
                self.job.loss = loss;
                self.job.samples_per_sec = samples_per_sec;
                self.job.elapsed_s = elapsed_s;
                self.job.eta_s = eta_s;
            }
            TrainEvent::Epoch {
                train_loss,
                train_acc,
                val_acc,
                ..
            } => self.job.history.push((train_loss, train_acc, val_acc)),
        }
    }

    fn on_job(&mut self, e: JobEvent) -> Result<()> {
        match e {
            JobEvent::Started { .. } => {}
            JobEvent::GanProgress { event, .. } => match event {
                GanEvent::Iter {
                    iter,
                    iters,
                    d_loss,
                    g_loss,
                    gamma,
                    samples_per_sec,
                    eta_s,
                } => {
                    self.job.stage = format!("GAN iteration {iter}/{iters}");
                    (self.job.epoch, self.job.epochs) = (iter, iters);
                    (self.job.step, self.job.steps) = (iter, iters);
                    self.job.loss = g_loss;
                    self.job.gamma = gamma;
                    self.job.samples_per_sec = samples_per_sec;
                    self.job.eta_s = eta_s;
                    if iter % 5 == 0 || iter == iters {
                        self.job.gan_losses.push((iter, d_loss, g_loss));
                    }
                }
                GanEvent::Check {
                    iter,
                    intended_rate,
                    samples,
                } => {
                    self.job.gan_samples = samples;
                    self.job.outcome = format!(
                        "iteration {iter}: {:.0}% of fresh samples classified as intended",
                        intended_rate * 100.0
                    );
                }
            },
            JobEvent::EvalProgress { version, event, .. } => {
                if self.job.version != version {
                    self.job.version = version.clone();
                    self.job.history.clear();
                }
                self.on_train_event(event);
                self.job.stage = format!("evaluating version {version}");
            }
            JobEvent::Progress { event, .. } => self.on_train_event(event),
            JobEvent::Done {
                result: JobResult::Gan(trained, job),
                ..
            } => {
                self.job.running = false;
                let rec = synth::record(&self.store, &job, &trained)?;
                self.job.outcome = format!(
                    "GAN trained ({:.1} it/s); intended-class rate {}: m → generate",
                    rec.iters_per_sec,
                    rec.checks
                        .iter()
                        .map(|(i, r)| format!("{:.0}% at {i}", r * 100.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.status = self.job.outcome.clone();
            }
            JobEvent::Done {
                result: JobResult::Evaluated(rows),
                ..
            } => {
                self.job.running = false;
                eval::record(&self.store, &rows)?;
                self.job.outcome = format!("{} version(s) evaluated", rows.len());
                self.status = self.job.outcome.clone();
                self.screen = Screen::Versions;
            }
            JobEvent::Done { result, .. } => {
                self.job.running = false;
                self.header_dirty = true;
                if let JobResult::Trained(outcome) = result {
                    let cfg = self.job.config.clone().expect("set when started");
                    let rec = train::record(&self.store, &outcome, &cfg, &self.backend)?;
                    let (_, total) = rounds::validated(&self.store)?;
                    let (k, l) = rounds::scaled_k_l(total);
                    let r = queues::rank(&self.store, k, l)?;
                    self.job.outcome = format!(
                        "round {}: val acc {:.1}%, {} to accept, {} to review",
                        rec.round,
                        rec.val_acc * 100.0,
                        r.accept,
                        r.review
                    );
                    self.status = self.job.outcome.clone();
                    let name = if r.review > 0 { REVIEW } else { ACCEPT };
                    let screen = self.screen;
                    self.show_queue(name)?;
                    self.screen = screen;
                }
            }
            JobEvent::Failed { error, .. } => {
                self.job.running = false;
                self.job.outcome = format!("failed: {error}");
                self.status = format!("training failed: {error}");
            }
            JobEvent::Cancelled { .. } => {
                self.job.running = false;
                self.job.outcome = "cancelled: nothing was stored".into();
                self.status = self.job.outcome.clone();
            }
        }
        Ok(())
    }

    pub fn grid_cols(&self) -> usize {
        self.grid_cols_drawn.max(1)
    }

    /// Counts for the header.
    pub fn counts(&self) -> Result<(usize, usize, usize)> {
        let (mut certified, mut unreviewed, mut total) = (0, 0, 0);
        for s in self.store.samples() {
            let s = s?;
            total += 1;
            certified += s.state.is_certified() as usize;
            unreviewed += (s.state == State::Unreviewed) as usize;
        }
        Ok((total, certified, unreviewed))
    }
}
