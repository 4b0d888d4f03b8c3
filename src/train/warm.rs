//! Warm starts (transfer learning, seeds `001`/`002`): a run begins from an earlier round's
//! classifier, or another store's, instead of random weights. Between review rounds the
//! certified set only grows, so the last round's weights are most of the way there; from
//! another store, the features carry over and only the head is new.
//!
//! The source is resolved once, when the run is configured, to a checksummed checkpoint; it
//! travels in the run's `TrainConfig` (so a round records what it started from) and is
//! loaded by the training loop on its own device.

use crate::model::checkpoint::{self, Checkpoint};
use crate::model::{seeded, Classifier, ClassifierConfig};
use crate::store::Store;
use crate::train::{Mode, RoundRecord};
use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `--init` names: the latest round, a round of this store, or another store's latest.
#[derive(Clone, Debug, PartialEq)]
pub enum InitFrom {
    Last,
    Round(u32),
    Store(PathBuf),
}

impl std::str::FromStr for InitFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" => return Err("--init needs last, a round number or a store directory".into()),
            "last" => InitFrom::Last,
            _ if s.bytes().all(|b| b.is_ascii_digit()) => InitFrom::Round(
                s.parse()
                    .map_err(|_| format!("round {s} is out of range"))?,
            ),
            _ => InitFrom::Store(PathBuf::from(s)),
        })
    }
}

/// A resolved warm start: the checkpoint to begin from and the store directory holding it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmStart {
    /// Where it came from, as a reader would say it ("round 3", "round 2 of /data/other").
    pub from: String,
    pub checkpoint: Checkpoint,
    pub store_dir: PathBuf,
    /// The source's class names, in its order (its head's outputs).
    pub classes: Vec<String>,
}

/// The latest round of `store`, for a seed round continuing where the last one ended.
pub fn last(store: &Store) -> Result<WarmStart> {
    resolve(store, &InitFrom::Last, Mode::Seed)
}

/// Resolve `from` against `store` (this store's rounds) for a run in `mode`. A crossval run
/// may not start from this store's own rounds: those weights have seen every fold's labels,
/// so the held-out scores would not be out of sample.
pub fn resolve(store: &Store, from: &InitFrom, mode: Mode) -> Result<WarmStart> {
    if mode == Mode::Crossval && !matches!(from, InitFrom::Store(_)) {
        bail!(
            "--init with --mode crossval takes another store's directory: this store's rounds \
             have seen the labels crossval holds out"
        );
    }
    match from {
        InitFrom::Last => match store.latest_round()? {
            Some(r) => from_round(store, r, format!("round {r}")),
            None => bail!("--init last: this store has no rounds yet to continue from"),
        },
        InitFrom::Round(r) => from_round(store, *r, format!("round {r}")),
        InitFrom::Store(dir) => {
            if same_dir(dir, store.dir()) {
                bail!(
                    "--init {}: that is this store; use --init last or a round number",
                    dir.display()
                );
            }
            let other = Store::open(dir)
                .with_context(|| format!("--init {}: cannot open that store", dir.display()))?;
            let Some(r) = other.latest_round()? else {
                bail!("--init {}: that store has no trained rounds", dir.display());
            };
            from_round(&other, r, format!("round {r} of {}", dir.display()))
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn from_round(store: &Store, round: u32, from: String) -> Result<WarmStart> {
    let Some(rec) = store.round::<RoundRecord>(round)? else {
        let latest = store
            .latest_round()?
            .map_or("none yet".to_string(), |r| r.to_string());
        bail!("--init: there is no round {round} (latest: {latest})");
    };
    let Some(checkpoint) = rec.checkpoints.first().cloned() else {
        bail!("--init: round {round} kept no classifier");
    };
    // Refuse a damaged file now, in one line, rather than in the middle of the run.
    checkpoint::verified(&checkpoint.file, &checkpoint.blake3, store.dir())?;
    Ok(WarmStart {
        from,
        checkpoint,
        store_dir: store.dir().to_path_buf(),
        classes: store.meta().classes.clone(),
    })
}

impl WarmStart {
    /// Whether the source's head fits `classes` as they are (same names, same order).
    pub fn keeps_head(&self, classes: &[String]) -> bool {
        self.classes == classes && self.checkpoint.config.classes == classes.len()
    }

    /// The classifier to train from, built on `device` (the training loop's autodiff
    /// device): the checkpoint's weights, with a fresh head (seeded by `seed`) when the
    /// classes differ. A different network (input channels, width, blocks) is refused.
    pub fn model(
        &self,
        cfg: &ClassifierConfig,
        classes: &[String],
        device: &Device,
        seed: u64,
    ) -> Result<Classifier> {
        let src = &self.checkpoint.config;
        if (src.channels, src.width, src.blocks) != (cfg.channels, cfg.width, cfg.blocks) {
            bail!(
                "--init {}: its classifier has {} input channel(s), width {}, {} blocks; this run \
                 trains {}, {}, {}",
                self.from,
                src.channels,
                src.width,
                src.blocks,
                cfg.channels,
                cfg.width,
                cfg.blocks
            );
        }
        let loaded = checkpoint::load(&self.checkpoint, &self.store_dir, device)?;
        Ok(if self.keeps_head(classes) {
            loaded
        } else {
            seeded(device, seed, || loaded.with_new_head(cfg, device))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_names_parse() {
        assert_eq!("last".parse(), Ok(InitFrom::Last));
        assert_eq!("3".parse(), Ok(InitFrom::Round(3)));
        assert_eq!(
            "../other".parse(),
            Ok(InitFrom::Store(PathBuf::from("../other")))
        );
        assert!("".parse::<InitFrom>().is_err());
        assert!("99999999999".parse::<InitFrom>().is_err());
    }
}
