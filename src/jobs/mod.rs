//! The background worker: one thread that owns the compute device, takes typed job requests,
//! posts typed progress events on a channel, honours cancel, and turns a panic inside a job
//! into an error event so the caller (CLI or UI) survives.
//!
//! Model requests (`Train`, `Score`, `Gan`, `Eval`) carry in-memory data and their results
//! come back for the caller to record. Store tasks (`Task`, see `tasks`) carry a handle to
//! the store and do the whole job there — the UI never scans the store itself.

pub mod tasks;

use crate::model::checkpoint::{self, Checkpoint};
use crate::pipeline::eval::{self, EvalJob, EvalRow};
use crate::pipeline::synth::{self, GanJob};
use crate::store::Store;
use crate::train::backend::Compute;
use crate::train::data::Dataset;
use crate::train::gan::{GanEvent, TrainedGan};
use crate::train::score::{self, SampleScore};
use crate::train::{self, Outcome, Plan, RunConfig, TrainError, TrainEvent};
use burn::tensor::Device;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use tasks::{Progress, Task};

pub type JobId = u64;

pub enum Request {
    /// Train as the plan says and score (a whole round's model work).
    Train { plan: Box<Plan>, config: RunConfig },
    /// Score `data` with a saved checkpoint.
    Score {
        checkpoint: Checkpoint,
        store_dir: PathBuf,
        data: Box<Dataset>,
    },
    /// Train the conditional GAN against a frozen classifier (read from `store_dir/models`).
    Gan {
        job: Box<GanJob>,
        store_dir: PathBuf,
    },
    /// Train the final model per dataset version and test it (Table 2).
    Eval { job: Box<EvalJob> },
    /// A task on the store (counting, dedup, a whole round, ...).
    Task {
        store: Store,
        compute: Box<Compute>,
        task: Task,
    },
}

impl Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Train { .. } => "train",
            Request::Score { .. } => "score",
            Request::Gan { .. } => "gan",
            Request::Eval { .. } => "eval",
            Request::Task { task, .. } => task.name(),
        }
    }
}

pub enum JobResult {
    Trained(Box<Outcome>),
    Scored(Vec<SampleScore>),
    /// The trained GAN, with the job it ran (for recording).
    Gan(Box<TrainedGan>, Box<GanJob>),
    Evaluated(Vec<EvalRow>),
    Task(Box<tasks::Done>),
}

pub enum Event {
    Started {
        job: JobId,
        what: &'static str,
    },
    Progress {
        job: JobId,
        event: TrainEvent,
    },
    /// Evaluation progress names the version being trained.
    EvalProgress {
        job: JobId,
        version: String,
        event: TrainEvent,
    },
    GanProgress {
        job: JobId,
        event: GanEvent,
    },
    Done {
        job: JobId,
        result: JobResult,
    },
    Failed {
        job: JobId,
        error: String,
    },
    Cancelled {
        job: JobId,
    },
}

pub struct Worker {
    requests: Option<Sender<(JobId, Request)>>,
    events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
    next: JobId,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the worker thread; `device` moves to it.
    pub fn start(device: Device) -> Worker {
        Worker::start_numbered(device, 1)
    }

    /// Start a worker whose job ids count from `first` (to tell two workers' events apart).
    pub fn start_numbered(device: Device, first: JobId) -> Worker {
        let (req_tx, req_rx) = channel::<(JobId, Request)>();
        let (ev_tx, ev_rx) = channel::<Event>();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("thresh-jobs".into())
            .spawn(move || {
                for (job, req) in req_rx {
                    flag.store(false, Ordering::SeqCst);
                    let _ = ev_tx.send(Event::Started {
                        job,
                        what: req.name(),
                    });
                    let tx = ev_tx.clone();
                    let outcome =
                        catch_unwind(AssertUnwindSafe(|| execute(&device, req, job, &tx, &flag)));
                    let event = match outcome {
                        Ok(Ok(result)) => Event::Done { job, result },
                        Ok(Err(TrainError::Cancelled)) => Event::Cancelled { job },
                        Ok(Err(TrainError::Invalid(e))) => Event::Failed { job, error: e },
                        Err(panic) => Event::Failed {
                            job,
                            error: format!("the job crashed: {}", panic_text(&panic)),
                        },
                    };
                    let _ = ev_tx.send(event);
                }
            })
            .expect("spawn the jobs thread");
        Worker {
            requests: Some(req_tx),
            events: ev_rx,
            cancel,
            next: first,
            thread: Some(thread),
        }
    }

    /// Queue a job; jobs run one at a time in submission order.
    pub fn submit(&mut self, request: Request) -> JobId {
        let job = self.next;
        self.next += 1;
        if let Some(tx) = &self.requests {
            let _ = tx.send((job, request));
        }
        job
    }

    /// Ask the running job to stop at its next batch.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.cancel();
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn execute(
    device: &Device,
    req: Request,
    job: JobId,
    tx: &Sender<Event>,
    cancel: &AtomicBool,
) -> Result<JobResult, TrainError> {
    match req {
        Request::Train { plan, config } => {
            let mut on = |event: TrainEvent| {
                let _ = tx.send(Event::Progress { job, event });
            };
            train::run(device, &plan, &config, &mut on, cancel)
                .map(|o| JobResult::Trained(Box::new(o)))
        }
        Request::Score {
            checkpoint: ck,
            store_dir,
            data,
        } => {
            let model = checkpoint::load(&ck, &store_dir, device)
                .map_err(|e| TrainError::Invalid(format!("{e:#}")))?;
            Ok(JobResult::Scored(score::score(&model, &data, device)?))
        }
        Request::Gan {
            job: gan_job,
            store_dir,
        } => {
            let mut on = |event: GanEvent| {
                let _ = tx.send(Event::GanProgress { job, event });
            };
            synth::run(&gan_job, &store_dir, device, &mut on, cancel)
                .map(|t| JobResult::Gan(Box::new(t), gan_job))
        }
        Request::Eval { job: eval_job } => {
            let mut on = |version: &str, event: TrainEvent| {
                let _ = tx.send(Event::EvalProgress {
                    job,
                    version: version.to_string(),
                    event,
                });
            };
            eval::run(&eval_job, device, &mut on, cancel).map(JobResult::Evaluated)
        }
        Request::Task {
            store,
            compute,
            task,
        } => {
            let mut on = |p: Progress| {
                let _ = tx.send(match p {
                    Progress::Train(event) => Event::Progress { job, event },
                    Progress::Gan(event) => Event::GanProgress { job, event },
                    Progress::Eval(version, event) => Event::EvalProgress {
                        job,
                        version,
                        event,
                    },
                });
            };
            tasks::run(&store, &compute, &task, &mut on, cancel)
                .map(|d| JobResult::Task(Box::new(d)))
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Img;

    /// Waits for job `job` to fail and returns its error.
    fn failure(w: &Worker, job: JobId) -> String {
        w.events()
            .iter()
            .find_map(|ev| match ev {
                Event::Failed { job: j, error } if j == job => Some(error),
                _ => None,
            })
            .expect("the job must fail")
    }

    #[test]
    fn a_failing_job_is_an_event_and_the_worker_lives_on() {
        let mut w = Worker::start(Device::flex());
        // A checkpoint that does not exist: the job fails, the worker survives.
        let ck = Checkpoint {
            file: "missing.bpk".into(),
            blake3: "00".into(),
            config: crate::model::ClassifierConfig::reference(2, 1),
        };
        let job = w.submit(Request::Score {
            checkpoint: ck.clone(),
            store_dir: std::env::temp_dir().join("thresh-no-such-store"),
            data: Box::default(),
        });
        let mut failed = false;
        for ev in w.events().iter() {
            if let Event::Failed { job: j, error } = ev {
                assert_eq!(j, job);
                assert!(error.contains("cannot read checkpoint"), "{error}");
                failed = true;
                break;
            }
        }
        assert!(failed);
        // An empty plan is refused with a clear error, still without killing the worker.
        let plan = Plan {
            mode: train::Mode::Seed,
            pool: Dataset::default(),
            to_score: Dataset::default(),
            unlabelled: Dataset::default(),
            classes: vec!["a".into(), "b".into()],
            channels: 1,
        };
        let job = w.submit(Request::Train {
            plan: Box::new(plan),
            config: RunConfig::new(2, 1),
        });
        let err = failure(&w, job);
        assert!(err.contains("no certified samples"), "{err}");

        // A panic inside a job (here: an image whose pixel count does not match its size)
        // becomes a Failed event.
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::model::ClassifierConfig {
            classes: 2,
            channels: 1,
            width: 4,
            blocks: 1,
        };
        let ck = checkpoint::save(&cfg.init(&Device::flex()), &cfg, dir.path(), "tiny").unwrap();
        let mut data = Dataset::default();
        data.push(
            crate::store::Id([1; 32]),
            Img {
                side: 32,
                channels: 1,
                data: vec![0.5; 10],
            },
            0,
        );
        let job = w.submit(Request::Score {
            checkpoint: ck,
            store_dir: dir.path().to_path_buf(),
            data: Box::new(data),
        });
        let err = failure(&w, job);
        assert!(err.starts_with("the job crashed"), "{err}");
    }
}
