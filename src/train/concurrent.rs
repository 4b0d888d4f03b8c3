//! Crossval's folds trained at once, their progress reported as if one after another.
//!
//! A fold's training step leaves the cores idle part of the time: the step's bookkeeping,
//! autodiff and small element-wise passes run on the calling thread while the compute pool
//! waits, and the pool's narrow products do not fill two cores. Two folds side by side
//! fill each other's gaps; each fold stays a deterministic function of its seed, so the
//! round's scores do not depend on how many train at once (tested). On the numerals demo
//! (5 folds, 2 cores) the round took 199 s instead of 265 s, with the same ranks.
//!
//! Progress is forwarded in fold order: the lowest unfinished fold reports live; a later
//! fold's stage and epoch events wait until every fold before it is done (its batch events
//! are dropped, stale by then). The screens and the CLI see the same sequence as a run of
//! one fold at a time, only sooner.

use super::{TrainError, TrainEvent};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How many folds train at once: `requested`, or one per core when 0, at most `tasks`.
pub fn workers(requested: usize, tasks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let w = if requested == 0 { cores } else { requested };
    w.clamp(1, tasks.max(1))
}

/// A task's progress or its end.
enum Message<T> {
    Event(usize, TrainEvent),
    Done(usize, Result<T, TrainError>),
}

/// Run `job(0..tasks)`, at most `workers` at once as tasks of the rayon pool (no more than
/// it has threads), tasks taken in order, and return the results in task order. `job` gets
/// its task, a progress sink and a stop flag raised when `cancel` is or when another task
/// failed; `on` gets each event with the task it came from. The first failure in task
/// order is returned.
pub fn in_order<T: Send>(
    tasks: usize,
    workers: usize,
    job: impl Fn(usize, &mut dyn FnMut(TrainEvent), &AtomicBool) -> Result<T, TrainError> + Sync,
    on: &mut dyn FnMut(usize, TrainEvent),
    cancel: &AtomicBool,
) -> Result<Vec<T>, TrainError> {
    if workers <= 1 || tasks <= 1 {
        return (0..tasks)
            .map(|t| job(t, &mut |e| on(t, e), cancel))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(cancel.load(Ordering::Relaxed));
    let mut results: Vec<Option<Result<T, TrainError>>> = (0..tasks).map(|_| None).collect();
    let worker = |tx: mpsc::Sender<Message<T>>| loop {
        let t = next.fetch_add(1, Ordering::Relaxed);
        if t >= tasks || stop.load(Ordering::Relaxed) {
            break;
        }
        let mut send = |e| {
            let _ = tx.send(Message::Event(t, e));
        };
        let r = job(t, &mut send, &stop);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let _ = tx.send(Message::Done(t, r));
    };
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Message<T>>();
        // The folds run as tasks of the compute pool itself, one per pool thread: a fold
        // waiting on its own parallel work lends its thread to the other's instead of four
        // threads contending for two cores (199 s vs 228 s for the demo's five folds with
        // a thread of their own each, 265 s one after another).
        let worker = &worker;
        scope.spawn(move || {
            rayon::scope(|s| {
                for _ in 0..workers.min(tasks) {
                    let tx = tx.clone();
                    s.spawn(move |_| worker(tx));
                }
            })
        });
        let mut held: Vec<Vec<TrainEvent>> = vec![Vec::new(); tasks];
        let mut lead = 0;
        loop {
            if cancel.load(Ordering::Relaxed) {
                stop.store(true, Ordering::Relaxed);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Message::Event(t, e)) if t == lead => on(t, e),
                Ok(Message::Event(_, TrainEvent::Batch { .. })) => {}
                Ok(Message::Event(t, e)) => held[t].push(e),
                Ok(Message::Done(t, r)) => {
                    results[t] = Some(r);
                    while lead < tasks && results[lead].is_some() {
                        lead += 1;
                        if lead < tasks {
                            for e in std::mem::take(&mut held[lead]) {
                                on(lead, e);
                            }
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    // Tasks are taken in order, so one never started comes after every one that was: a
    // failure is met before it, and a gap without one means the run was cancelled.
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(TrainError::Cancelled)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(text: String) -> TrainEvent {
        TrainEvent::Stage { text }
    }

    /// Later tasks finish first; the events still arrive in task order, every one once.
    #[test]
    fn events_and_results_come_in_task_order() {
        let never = AtomicBool::new(false);
        let mut seen = Vec::new();
        let job = |t: usize, on: &mut dyn FnMut(TrainEvent), _: &AtomicBool| {
            std::thread::sleep(Duration::from_millis(40 * (4 - t as u64)));
            for k in 0..3 {
                on(stage(format!("{t}.{k}")));
            }
            Ok(t * 10)
        };
        let out = in_order(4, 3, job, &mut |t, e| seen.push((t, e)), &never).unwrap();
        assert_eq!(out, vec![0, 10, 20, 30]);
        let texts: Vec<String> = seen
            .into_iter()
            .map(|(t, e)| match e {
                TrainEvent::Stage { text } => format!("{t}:{text}"),
                other => panic!("{other:?}"),
            })
            .collect();
        let want: Vec<String> = (0..4)
            .flat_map(|t| (0..3).map(move |k| format!("{t}:{t}.{k}")))
            .collect();
        assert_eq!(texts, want);
    }

    /// A failing task stops the tasks not yet started and its error is returned; a
    /// cancelled run returns Cancelled and every job saw the stop flag.
    #[test]
    fn a_failure_or_cancel_stops_the_rest() {
        let never = AtomicBool::new(false);
        let started = AtomicUsize::new(0);
        let job = |t: usize, _: &mut dyn FnMut(TrainEvent), _: &AtomicBool| {
            started.fetch_add(1, Ordering::Relaxed);
            if t == 0 {
                Err(TrainError::Invalid("fold 0".into()))
            } else {
                std::thread::sleep(Duration::from_millis(100));
                Ok(())
            }
        };
        let r = in_order(6, 2, job, &mut |_, _| {}, &never);
        assert!(
            matches!(r, Err(TrainError::Invalid(ref m)) if m == "fold 0"),
            "{r:?}"
        );
        assert!(started.load(Ordering::Relaxed) < 6);

        let cancel = AtomicBool::new(false);
        let job = |_: usize, _: &mut dyn FnMut(TrainEvent), stop: &AtomicBool| {
            cancel.store(true, Ordering::Relaxed);
            for _ in 0..200 {
                if stop.load(Ordering::Relaxed) {
                    return Err(TrainError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        };
        let r = in_order(5, 2, job, &mut |_, _| {}, &cancel);
        assert!(matches!(r, Err(TrainError::Cancelled)), "{r:?}");
    }

    #[test]
    fn workers_is_at_least_one_and_at_most_the_tasks() {
        assert_eq!(workers(3, 5), 3);
        assert_eq!(workers(9, 5), 5);
        assert_eq!(workers(1, 0), 1);
        assert!(workers(0, 64) >= 1);
    }
}
