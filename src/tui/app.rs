//! The App routes: keys go to the open popup, else to the active screen, else to the keys
//! that work everywhere; components answer with messages (`Msg`) that the App drains after
//! every event and hands to the one place that handles each. Job events from the two
//! workers go to the Training screen (progress) or end a task (counts, tables, the queue it
//! filled). Everything whose cost grows with the store runs as a task on a worker — the UI
//! thread reads cached view state (`Ctx`) and draws.

use super::component::{hint, Component, Hint, Popup};
use super::context::{Ctx, UiConfig};
use super::keymap::{Action, Keymap};
use super::msg::{Msg, Msgs};
use super::popups::{help::HelpPopup, menu::MenuPopup};
use super::screens::data::DataScreen;
use super::screens::map::MapScreen;
use super::screens::queues::QueuesScreen;
use super::screens::rounds::RoundsScreen;
use super::screens::sample::SampleScreen;
use super::screens::training::{JobView, TrainingScreen};
use super::screens::versions::VersionsScreen;
use super::screens::Screen;
use super::thumb::Palette;
use crate::jobs::tasks::{Done, Task};
use crate::jobs::{Event as JobEvent, JobId, JobResult, Request, Worker};
use crate::store::{QueueName, Store};
use crate::train::backend::Compute;
use anyhow::Result;
use ratatui::crossterm::event::{KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

/// Everything the loop feeds the app.
pub enum AppEvent {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick,
    Job(JobEvent),
}

/// Job ids of the store worker start here, so events of the two workers never mix up.
const STORE_JOBS: JobId = 1 << 40;

use Action::*;

/// The keys that work on every screen.
pub const GLOBAL: &[Hint] = &[
    hint(
        &[Menu],
        "menu",
        "menu: train, rank, seed set, dedup, balance, split, version, GAN, eval",
    ),
    hint(
        &[Undo],
        "undo",
        "undo the latest decision (again: the one before)",
    ),
    hint(
        &[NextScreen, PrevScreen],
        "screen",
        "next / previous screen",
    ),
    hint(&[Cancel], "cancel job", "cancel the running training job"),
    hint(&[Back], "queues", "back to the queues"),
    hint(&[Help], "help", "the keys of this screen"),
    hint(&[Quit], "quit", "quit"),
];

pub struct App {
    pub ctx: Ctx,
    pub screen: Screen,
    pub popup: Option<Box<dyn Popup>>,
    pub queues: QueuesScreen,
    pub sample: SampleScreen,
    pub training: TrainingScreen,
    pub data: DataScreen,
    pub rounds: RoundsScreen,
    pub versions: VersionsScreen,
    pub map: MapScreen,
    pub quit: bool,
    msgs: Msgs,
    compute: Compute,
    /// Trains (rounds, GAN, evaluation) on the compute device.
    worker: Worker,
    /// Everything else that reads or writes the whole store, one task after another.
    store_worker: Worker,
}

impl App {
    pub fn new(store: Store, keymap: Keymap, compute: Compute, palette: Palette) -> Result<App> {
        let backend = compute.label();
        let status = compute
            .notice
            .clone()
            .unwrap_or_else(|| format!("training on {backend}"));
        let queues = QueuesScreen::open(&store)?;
        let mut ctx = Ctx {
            store,
            keymap,
            palette,
            backend,
            config: UiConfig::default(),
            status,
            counts: None,
            rounds_table: Vec::new(),
            eval_rows: Vec::new(),
            version_names: Vec::new(),
            prunings: Vec::new(),
            store_tasks: Vec::new(),
            graphics: None,
        };
        ctx.refresh_tables()?;
        let mut app = App {
            ctx,
            screen: Screen::Queues,
            popup: None,
            queues,
            sample: SampleScreen::default(),
            training: TrainingScreen::default(),
            data: DataScreen,
            rounds: RoundsScreen,
            versions: VersionsScreen,
            map: MapScreen::default(),
            quit: false,
            msgs: Msgs::new(),
            worker: Worker::start(compute.device.clone()),
            compute,
            store_worker: Worker::start_numbered(Compute::cpu().device, STORE_JOBS),
        };
        // The count runs behind the header's "counting…"; the status line keeps the compute
        // notice (a missing GPU, the device chosen).
        let notice = app.ctx.status.clone();
        app.run_task(Task::Counts);
        app.ctx.status = notice;
        app.sync();
        Ok(app)
    }

    /// The training job as the Training screen shows it.
    pub fn job(&self) -> &JobView {
        &self.training.job
    }

    /// The screen on show, as a component, with the view state it reads and the message
    /// queue it writes.
    pub fn parts(&mut self) -> (&mut dyn Component, &Ctx, &mut Msgs) {
        let screen: &mut dyn Component = match self.screen {
            Screen::Queues => &mut self.queues,
            Screen::Sample => &mut self.sample,
            Screen::Training => &mut self.training,
            Screen::Data => &mut self.data,
            Screen::Rounds => &mut self.rounds,
            Screen::Versions => &mut self.versions,
            Screen::Map => &mut self.map,
        };
        (screen, &self.ctx, &mut self.msgs)
    }

    /// The screen on show, as a component.
    pub fn active(&mut self) -> &mut dyn Component {
        self.parts().0
    }

    /// The keys the footer lists now: the popup's, or the screen's then the global ones.
    pub fn hints(&mut self) -> Vec<Hint> {
        match &self.popup {
            Some(p) => p.hints().to_vec(),
            None => {
                let mut h = self.active().hints().to_vec();
                h.extend_from_slice(GLOBAL);
                h
            }
        }
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
    /// time, progress on the Training screen), the rest queued on the store worker.
    pub fn run_task(&mut self, task: Task) {
        let what = task.name();
        if task.trains() {
            if self.training.job.running {
                let cancel = self.ctx.keymap.key_for(Cancel);
                self.ctx.status = format!("a job is already running ({cancel} cancels it)");
                return;
            }
            let id = self.worker.submit(Request::Task {
                store: self.ctx.store.clone(),
                compute: Box::new(self.compute.clone()),
                task,
            });
            self.training.job = JobView {
                id: Some(id),
                running: true,
                stage: format!("{what} starting"),
                ..JobView::default()
            };
            self.screen = Screen::Training;
            let cancel = self.ctx.keymap.key_for(Cancel);
            self.ctx.status = format!("{what} started: keep reviewing; {cancel} cancels");
        } else {
            self.ctx.status = match self.ctx.store_tasks.first() {
                Some(busy) => format!("{what} queued after {busy}"),
                None => format!("{what}…"),
            };
            self.ctx.store_tasks.push(what);
            self.store_worker.submit(Request::Task {
                store: self.ctx.store.clone(),
                compute: Box::new(Compute::cpu()),
                task,
            });
        }
    }

    pub fn handle(&mut self, event: AppEvent) {
        let result = match event {
            AppEvent::Key(k) => self.on_key(k),
            AppEvent::Job(e) => self.on_job(e),
            AppEvent::Resize(..) | AppEvent::Tick => Ok(()),
        };
        let result = result.and_then(|()| self.drain());
        if let Err(e) = result {
            self.msgs.clear();
            self.ctx.status = format!("error: {e:#}");
        }
        self.sync();
    }

    /// The Sample screen follows the queue's current sample; the Map screen, when shown,
    /// asks for the map of a round it has not asked for yet.
    fn sync(&mut self) {
        self.sample.follow(self.queues.current(), &self.ctx.store);
        let latest = self.ctx.rounds_table.last().map(|r| r.round);
        if self.screen == Screen::Map && self.map.wants(latest) {
            self.run_task(Task::Map);
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Result<()> {
        let action = self.ctx.keymap.action(&key);
        if key.modifiers.contains(KeyModifiers::CONTROL) && action == Some(Quit) {
            // Ctrl-C quits from anywhere, a popup included.
            self.quit = true;
            return Ok(());
        }
        if let Some(mut popup) = self.popup.take() {
            if popup.on_key(&key, action, &self.ctx, &mut self.msgs)? {
                self.popup = Some(popup);
            }
            return Ok(());
        }
        let Some(action) = action else {
            return Ok(());
        };
        let (screen, ctx, msgs) = self.parts();
        if !screen.on_action(action, &key, ctx, msgs)? {
            self.on_global(action)?;
        }
        Ok(())
    }

    fn on_global(&mut self, action: Action) -> Result<()> {
        match action {
            Quit => self.quit = true,
            Help => {
                let screen = self.active().hints();
                self.popup = Some(Box::new(HelpPopup::new(vec![
                    (format!("{} screen", self.screen.title()), screen),
                    ("Everywhere".into(), GLOBAL),
                ])));
            }
            Menu => self.popup = Some(Box::new(MenuPopup::default())),
            Cancel if self.training.job.running => {
                self.worker.cancel();
                self.ctx.status = "cancelling the job at its next batch…".into();
            }
            Cancel => self.ctx.status = "no job is running".into(),
            NextScreen => self.screen = self.screen.step(1),
            PrevScreen => self.screen = self.screen.step(-1),
            Back => self.screen = Screen::Queues,
            Undo => self.queues.undo(&self.ctx, &mut self.msgs)?,
            _ => {}
        }
        Ok(())
    }

    /// Hand every queued message to the one place that handles it.
    fn drain(&mut self) -> Result<()> {
        while let Some(msg) = self.msgs.pop_front() {
            match msg {
                Msg::Status(s) => self.ctx.status = s,
                Msg::Counted(delta) => {
                    if let Some(c) = &mut self.ctx.counts {
                        c.merge(&delta);
                    }
                }
                Msg::Run(task) => self.run_task(task),
                Msg::Pseudo(p) => {
                    self.ctx.config.pseudo = p;
                    self.run_task(Task::Rank { pseudo: p });
                }
                Msg::Decide(d) => self.queues.decide_current(d, &self.ctx, &mut self.msgs)?,
                Msg::Move(by) => self.queues.view.move_by(by),
                Msg::Filter(text) => self.queues.filter(&text, &mut self.msgs),
                Msg::RoundClosed(round) => self.run_task(Task::CloseRound(round)),
                Msg::Show(screen) => self.screen = screen,
                Msg::Open(popup) => self.popup = Some(popup),
                Msg::Reload => self.queues.reload(&self.ctx.store)?,
                Msg::Select { round, ids, screen } => {
                    let queue = crate::pipeline::queues::Queue::new(round, ids);
                    self.ctx.store.put_queue(QueueName::Selection, &queue)?;
                    self.ctx.store.flush()?;
                    self.queues.show(&self.ctx.store, QueueName::Selection)?;
                    self.screen = screen;
                }
            }
        }
        Ok(())
    }

    fn on_job(&mut self, e: JobEvent) -> Result<()> {
        match e {
            JobEvent::Started { .. } => {}
            JobEvent::GanProgress { event, .. } => self.training.job.on_gan_event(event),
            JobEvent::EvalProgress { version, event, .. } => {
                let job = &mut self.training.job;
                if job.version != version {
                    job.version = version.clone();
                    job.history.clear();
                }
                job.on_train_event(event);
                job.stage = format!("evaluating version {version}");
            }
            // A store task's progress (the map's layout) goes to the status line.
            JobEvent::Progress {
                job,
                event: crate::train::TrainEvent::Stage { text },
            } if job >= STORE_JOBS => self.ctx.status = text,
            JobEvent::Progress { event, .. } => self.training.job.on_train_event(event),
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
                    self.training.job.outcome = format!("failed: {error}");
                }
                self.ctx.status = format!("{what} failed: {error}");
            }
            JobEvent::Cancelled { job } => {
                let what = self.finish(job);
                if job < STORE_JOBS {
                    self.training.job.outcome = "cancelled: nothing was stored".into();
                }
                self.ctx.status = format!("{what} cancelled: nothing was stored");
            }
        }
        Ok(())
    }

    /// Mark job `job` as no longer running; returns what it was. The store worker runs its
    /// tasks in the order submitted.
    fn finish(&mut self, job: JobId) -> String {
        if job >= STORE_JOBS {
            if self.ctx.store_tasks.is_empty() {
                return "task".into();
            }
            self.ctx.store_tasks.remove(0).to_string()
        } else {
            self.training.job.running = false;
            "training".to_string()
        }
    }

    /// A task ended: take its counts, refresh what it changed, show the queue it filled.
    fn on_task_done(&mut self, job: JobId, done: Done) -> Result<()> {
        self.finish(job);
        self.ctx.counts = Some(done.counts);
        if let Some(map) = done.map {
            self.map.set(map);
        }
        if !done.summary.is_empty() {
            self.ctx.status = done.summary.clone();
        }
        if job < STORE_JOBS {
            self.training.job.outcome = done.summary;
        }
        self.ctx.refresh_tables()?;
        match done.show {
            Some(name) => {
                self.queues.show(&self.ctx.store, name)?;
                // A round ending while the Training screen is open leaves it open; a store
                // task shows the queue it filled.
                if !(job < STORE_JOBS && self.screen == Screen::Training) {
                    self.screen = Screen::Queues;
                }
            }
            None => self.queues.reload(&self.ctx.store)?,
        }
        let evaluated = Task::Eval { epochs: 0 }.name();
        let pruned = Task::Prune {
            keep: 1.0,
            epochs: 0,
            inits: 0,
        }
        .name();
        if done.task == evaluated || done.task == pruned {
            self.screen = Screen::Versions;
        }
        Ok(())
    }
}
