//! Progress bars on stderr for training events (hidden when stderr is not a terminal; then
//! one line per epoch instead).

use crate::train::TrainEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct TrainBars {
    bars: MultiProgress,
    epoch: ProgressBar,
    batch: ProgressBar,
    json: bool,
}

fn bar(bars: &MultiProgress, prefix: &'static str) -> ProgressBar {
    let b = bars.add(ProgressBar::new(0));
    b.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    b.set_prefix(prefix);
    b
}

impl TrainBars {
    pub fn new(json: bool) -> Self {
        let bars = MultiProgress::new();
        let epoch = bar(&bars, "epoch");
        let batch = bar(&bars, "batch");
        TrainBars {
            bars,
            epoch,
            batch,
            json,
        }
    }

    pub fn show(&self, event: &TrainEvent) {
        match *event {
            TrainEvent::Stage { ref text } => {
                if self.json {
                } else if self.epoch.is_hidden() {
                    eprintln!("thresh: {text}");
                } else {
                    self.bars.println(format!("thresh: {text}")).ok();
                }
            }
            TrainEvent::Batch {
                epoch,
                epochs,
                step,
                steps,
                loss,
                samples_per_sec,
                eta_s,
                ..
            } => {
                self.epoch.set_length(epochs as u64);
                self.epoch.set_position(epoch as u64 - 1);
                self.batch.set_length(steps as u64);
                self.batch.set_position(step as u64);
                self.batch.set_message(format!(
                    "loss {loss:.3}  {samples_per_sec:.0} samples/s  eta {eta_s:.0}s"
                ));
            }
            TrainEvent::Epoch {
                epoch,
                epochs,
                train_loss,
                train_acc,
                val_acc,
                secs,
                best,
                ..
            } => {
                self.epoch.set_position(epoch as u64);
                let line = format!(
                    "epoch {epoch}/{epochs}: loss {train_loss:.3}, train acc {train_acc:.3}, val acc {val_acc:.3}, {secs:.1}s{}",
                    if best { " *" } else { "" }
                );
                self.epoch.set_message(line.clone());
                if !self.json && self.epoch.is_hidden() {
                    eprintln!("{line}");
                }
            }
        }
    }

    pub fn finish(&self) {
        self.epoch.finish_and_clear();
        self.batch.finish_and_clear();
    }
}
