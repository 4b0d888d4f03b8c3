//! The application state and its event handling. One event enum; keys become actions via
//! the keymap; decisions call the pipeline and are acknowledged only after it returns
//! (flushed); everything whose cost grows with the store runs as a task on a worker and
//! comes back as events — the UI thread reads cached view state and draws.

use super::keymap::{Action, Keymap};
use super::queues::{QueuesView, QUEUES};
use super::thumb::{Cache, Palette};
use crate::dedup::Params;
use crate::jobs::tasks::{Done, Task};
use crate::jobs::{Event as JobEvent, JobId, JobResult, Request, Worker};
use crate::pipeline::counts::Counts;
use crate::pipeline::decide::{self, Decision};
use crate::pipeline::eval::{self, EvalRow};
use crate::pipeline::rounds::{self, TableRow};
use crate::store::{Id, QueueName, Store};
use crate::train::backend::Compute;
use crate::train::gan::GanEvent;
use crate::train::{RunConfig, TrainEvent};
use anyhow::Result;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use std::time::{Duration, Instant};

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

/// The menu's entries, in the order shown.
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
}

impl MenuEntry {
    pub const ALL: [MenuEntry; 10] = [
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
            MenuEntry::Generate => "Generate 100 synthetic samples (to approve)",
            MenuEntry::Evaluate => "Evaluate all versions (Table 2)",
        }
    }
}

/// Job ids of the store worker start here, so events of the two workers never mix up.
const STORE_JOBS: JobId = 1 << 40;

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
    /// The store's counters: `None` until the first count (a task) returns; then kept from
    /// each decision's delta and replaced by the fresh count every task ends with.
    pub counts: Option<Counts>,
    /// The Rounds and Versions tables, read when a task that changes them ends.
    pub rounds_table: Vec<TableRow>,
    pub eval_rows: Vec<EvalRow>,
    pub version_names: Vec<String>,
    /// The store task running on the store worker, if any (shown in the header).
    pub store_task: Option<&'static str>,
    /// Where the Sample screen left room for a full-resolution image (viuer).
    pub preview: Option<ratatui::layout::Rect>,
    compute: Compute,
    /// Trains (rounds, GAN, evaluation) on the compute device.
    worker: Worker,
    /// Everything else that reads or writes the whole store.
    store_worker: Worker,
}

impl App {
    pub fn new(store: Store, keymap: Keymap, compute: Compute, palette: Palette) -> Result<App> {
        let backend = compute.label();
        let status = compute
            .notice
            .clone()
            .unwrap_or_else(|| format!("training on {backend}"));
        let mut queues = QueuesView::default();
        // Open on the first queue with work in it (each load is bounded by the queue's length).
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
        let mut store_worker = Worker::start_numbered(Compute::cpu().device, STORE_JOBS);
        store_worker.submit(Request::Task {
            store: store.clone(),
            compute: Box::new(Compute::cpu()),
            task: Task::Counts,
        });
        let mut app = App {
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
            counts: None,
            rounds_table: Vec::new(),
            eval_rows: Vec::new(),
            version_names: Vec::new(),
            store_task: Some(Task::Counts.name()),
            preview: None,
            worker: Worker::start(compute.device.clone()),
            compute,
            store_worker,
        };
        app.refresh_tables()?;
        Ok(app)
    }

    /// Re-read the Rounds and Versions tables (one record per round or version).
    fn refresh_tables(&mut self) -> Result<()> {
        self.rounds_table = rounds::table(&self.store)?;
        self.eval_rows = eval::stored(&self.store)?;
        self.version_names = self.store.version_names()?;
        Ok(())
    }

    /// Job events waiting on the workers' channels, without blocking.
    pub fn poll_jobs(&mut self) -> Vec<JobEvent> {
        let mut events: Vec<JobEvent> = self.store_worker.events().try_iter().collect();
        events.extend(self.worker.events().try_iter());
        events
    }

    /// Wait up to `timeout` for one job event from either worker (tests and benches).
    pub fn wait_job(&mut self, timeout: Duration) -> Option<JobEvent> {
        let end = Instant::now() + timeout;
        loop {
            for w in [&self.store_worker, &self.worker] {
                if let Ok(e) = w.events().try_recv() {
                    return Some(e);
                }
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(5)));
        }
    }

    /// Run `task` on the worker it belongs to: training on the compute worker (one at a
    /// time, progress on the Training screen), the rest on the store worker.
    pub fn run_task(&mut self, task: Task) -> Result<()> {
        if task.trains() {
            if self.job.running {
                self.status = "a job is already running (c cancels it)".into();
                return Ok(());
            }
            let what = task.name();
            let id = self.worker.submit(Request::Task {
                store: self.store.clone(),
                compute: Box::new(self.compute.clone()),
                task,
            });
            self.job = JobView {
                id: Some(id),
                running: true,
                stage: format!("{what} starting"),
                ..JobView::default()
            };
            self.screen = Screen::Training;
            self.status = format!("{what} started: keep reviewing; c cancels");
        } else {
            if let Some(busy) = self.store_task {
                self.status = format!("{busy} is still running: try again when it ends");
                return Ok(());
            }
            self.store_task = Some(task.name());
            self.status = format!("{}…", task.name());
            self.store_worker.submit(Request::Task {
                store: self.store.clone(),
                compute: Box::new(Compute::cpu()),
                task,
            });
        }
        Ok(())
    }

    pub fn handle(&mut self, event: AppEvent) {
        let result = match event {
            AppEvent::Key(k) => self.on_key(k),
            AppEvent::Job(e) => self.on_job(e),
            AppEvent::Resize(..) | AppEvent::Tick => Ok(()),
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
                self.merge_counts(&u.delta);
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
                if let Some(idx) = super::keymap::relabel_class(key.code) {
                    match self.store.meta().classes.get(idx).cloned() {
                        Some(label) => self.decide_current(Decision::Relabel(label))?,
                        None => {
                            self.status = format!(
                                "there is no class {} (the store has {})",
                                idx + 1,
                                self.store.meta().classes.len()
                            )
                        }
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
        if name.bulk() {
            let page = self.queues.page(self.page_first, self.page_cells.max(1));
            let exceptions: Vec<Id> = page
                .iter()
                .filter(|id| self.queues.marked.contains(id))
                .copied()
                .collect();
            let applied = decide::accept_page(&self.store, name, &page, &exceptions)?;
            self.merge_counts(&applied.delta);
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
        self.merge_counts(&applied.delta);
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
                        selected: (selected + 1).min(MenuEntry::ALL.len() - 1),
                    })
                }
                KeyCode::Enter => self.run_menu(MenuEntry::ALL[selected])?,
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
                    InputPurpose::VersionName => self.run_task(Task::Freeze(text))?,
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

    fn run_menu(&mut self, entry: MenuEntry) -> Result<()> {
        let task = match entry {
            MenuEntry::TrainRound => Task::Round {
                epochs: self.config.epochs,
            },
            MenuEntry::Rank => Task::Rank,
            MenuEntry::SeedSet => Task::Seed(self.config.seed_set),
            MenuEntry::Dedup => Task::Dedup(Params::default()),
            MenuEntry::Balance => Task::Balance,
            MenuEntry::Split => Task::Split,
            MenuEntry::Freeze => {
                self.overlay = Some(Overlay::Input {
                    purpose: InputPurpose::VersionName,
                    text: String::new(),
                });
                return Ok(());
            }
            MenuEntry::TrainGan => Task::Gan {
                iters: self.config.gan_iters,
            },
            MenuEntry::Generate => Task::Generate { n: 100 },
            MenuEntry::Evaluate => Task::Eval {
                epochs: self.config.eval_epochs,
            },
        };
        self.run_task(task)
    }

    /// Keep the counters from a decision's change (no scan).
    fn merge_counts(&mut self, delta: &Counts) {
        if let Some(c) = &mut self.counts {
            c.merge(delta);
        }
    }

    fn show_queue(&mut self, name: QueueName) -> Result<()> {
        self.queues.queue = QUEUES.iter().position(|q| *q == name).unwrap_or(0);
        self.queues.cursor = 0;
        self.queues.marked.clear();
        self.queues.reload(&self.store)?;
        self.screen = Screen::Queues;
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
                job,
                result: JobResult::Task(done),
            } => self.on_task_done(job, *done)?,
            JobEvent::Done { job, .. } => {
                // Only tasks are submitted from the UI.
                self.finish(job);
            }
            JobEvent::Failed { job, error } => {
                let what = self.finish(job);
                if job < STORE_JOBS {
                    self.job.outcome = format!("failed: {error}");
                }
                self.status = format!("{what} failed: {error}");
            }
            JobEvent::Cancelled { job } => {
                let what = self.finish(job);
                if job < STORE_JOBS {
                    self.job.outcome = "cancelled: nothing was stored".into();
                }
                self.status = format!("{what} cancelled: nothing was stored");
            }
        }
        Ok(())
    }

    /// Mark job `job` as no longer running; returns what it was.
    fn finish(&mut self, job: JobId) -> String {
        if job >= STORE_JOBS {
            self.store_task.take().unwrap_or("task").to_string()
        } else {
            self.job.running = false;
            "training".to_string()
        }
    }

    /// A task ended: take its counts, refresh what it changed, show the queue it filled.
    fn on_task_done(&mut self, job: JobId, done: Done) -> Result<()> {
        self.finish(job);
        self.counts = Some(done.counts);
        if !done.summary.is_empty() {
            self.status = done.summary.clone();
        }
        if job < STORE_JOBS {
            self.job.outcome = done.summary;
        }
        self.refresh_tables()?;
        match done.show {
            Some(name) => {
                // A round ending while the Training screen is open leaves it open; a store
                // task shows the queue it filled.
                let screen = self.screen;
                self.show_queue(name)?;
                if job < STORE_JOBS && screen == Screen::Training {
                    self.screen = screen;
                }
            }
            None => self.queues.reload(&self.store)?,
        }
        if done.task == (Task::Eval { epochs: 0 }).name() {
            self.screen = Screen::Versions;
        }
        Ok(())
    }

    pub fn grid_cols(&self) -> usize {
        self.grid_cols_drawn.max(1)
    }
}
