//! How much each training sample teaches the model, for data pruning (seed `002`):
//! EL2N (Paul et al., 2021: ‖softmax − one-hot‖₂ early in training, averaged over several
//! initialisations), forgetting events (Toneva et al., 2019: times a sample went from right
//! to wrong between presentations; never learned counts as forgotten the most) and the loss
//! at the same point. Samples that score low are the ones a model learns anyway, and the
//! first to go.
//!
//! Works on an in-memory `Dataset`; choosing and freezing the smaller version is
//! `pipeline::prune`.

use super::data::Dataset;
use super::fit::{self, TrainConfig, TrainError, TrainEvent};
use super::score;
use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

/// The score samples are ranked by: the highest are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PruneBy {
    /// Mean ‖softmax − one-hot(label)‖₂ after a few epochs, over the initialisations.
    #[default]
    El2n,
    /// Forgetting events summed over the trainings (never learned: the most); ties by EL2N.
    Forgetting,
    /// Mean cross-entropy with the label after a few epochs.
    Loss,
    /// A seeded random draw, no training: the baseline a pruning score has to beat.
    Random,
}

impl PruneBy {
    pub fn name(self) -> &'static str {
        match self {
            PruneBy::El2n => "el2n",
            PruneBy::Forgetting => "forgetting",
            PruneBy::Loss => "loss",
            PruneBy::Random => "random",
        }
    }

    /// Epochs per training when none is given: EL2N and loss are read early in training
    /// (the paper: a tenth of it; thresh's rounds stop after 10–20 epochs); forgetting
    /// needs enough presentations for a sample to be learned and forgotten again.
    pub fn default_epochs(self) -> usize {
        match self {
            PruneBy::El2n | PruneBy::Loss => 4,
            PruneBy::Forgetting => 12,
            PruneBy::Random => 0,
        }
    }
}

/// Per sample of the pool, in its order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Informativeness {
    /// Mean over the trainings of ‖softmax − one-hot‖₂ at their last epoch.
    pub el2n: Vec<f32>,
    /// Mean over the trainings of the cross-entropy with the label at their last epoch.
    pub loss: Vec<f32>,
    /// Forgetting events summed over the trainings.
    pub forgetting: Vec<u32>,
    /// Never classified right at any presentation in any training.
    pub never_learned: Vec<bool>,
    /// A seeded uniform draw per sample (`PruneBy::Random`).
    pub random: Vec<f32>,
}

impl Informativeness {
    /// Positions of the pool from most to least informative by `by` (ties: higher EL2N
    /// first, then pool order), so keeping a share is taking a prefix.
    pub fn ranking(&self, by: PruneBy) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.el2n.len()).collect();
        let key = |i: usize| -> f32 {
            match by {
                PruneBy::El2n => self.el2n[i],
                PruneBy::Loss => self.loss[i],
                PruneBy::Random => self.random[i],
                PruneBy::Forgetting if self.never_learned[i] => f32::INFINITY,
                PruneBy::Forgetting => self.forgetting[i] as f32,
            }
        };
        order.sort_by(|&a, &b| {
            key(b)
                .total_cmp(&key(a))
                .then(self.el2n[b].total_cmp(&self.el2n[a]))
                .then(a.cmp(&b))
        });
        order
    }
}

/// Train `inits` models on all of `pool` from different initialisations (seeds `seed`,
/// `seed + 1`, …; the order of batches and the augmentation change with them), each for
/// exactly `cfg.epochs` epochs with no early stopping, and read every sample's scores at the
/// end of each training. With `by` random nothing trains.
pub fn informativeness(
    device: &Device,
    cfg: &TrainConfig,
    by: PruneBy,
    inits: usize,
    pool: &Dataset,
    on: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<Informativeness, TrainError> {
    let n = pool.len();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let random = (0..n).map(|_| rng.random::<f32>()).collect();
    let inits = match by {
        PruneBy::Random => 0,
        _ if inits == 0 => {
            return Err(TrainError::Invalid("--inits must be at least 1".into()));
        }
        _ => inits,
    };
    let mut sum_el2n = vec![0f64; n];
    let mut sum_loss = vec![0f64; n];
    let mut forgetting = vec![0u32; n];
    let mut learned = vec![false; n];
    for k in 0..inits {
        on(TrainEvent::Stage {
            text: format!(
                "initialisation {}/{inits}: {} epochs on {n} samples",
                k + 1,
                cfg.epochs
            ),
        });
        let mut run = cfg.clone();
        run.seed = cfg.seed.wrapping_add(k as u64);
        run.init = None;
        // No validation set: every epoch counts as the best, so training runs them all and
        // the model read is the last epoch's.
        let fitted = fit::fit(device, &run, pool, &Dataset::default(), on, cancel)?;
        let scores = score::score(&fitted.model, pool, device)?;
        for (i, s) in scores.iter().enumerate() {
            sum_el2n[i] += s.el2n as f64;
            sum_loss[i] += s.loss as f64;
            forgetting[i] += fitted.forgetting[i];
            learned[i] |= fitted.learned[i];
        }
    }
    let mean = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| (x / inits.max(1) as f64) as f32)
            .collect()
    };
    Ok(Informativeness {
        el2n: mean(sum_el2n),
        loss: mean(sum_loss),
        forgetting,
        never_learned: learned.into_iter().map(|l| !l && inits > 0).collect(),
        random,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores() -> Informativeness {
        Informativeness {
            el2n: vec![0.1, 0.9, 0.5, 0.5, 0.2],
            loss: vec![0.05, 2.0, 0.7, 0.8, 0.1],
            forgetting: vec![3, 0, 1, 1, 0],
            never_learned: vec![false, false, false, false, true],
            random: vec![0.3, 0.1, 0.9, 0.5, 0.7],
        }
    }

    #[test]
    fn ranking_puts_the_most_informative_first() {
        let s = scores();
        assert_eq!(s.ranking(PruneBy::El2n), vec![1, 2, 3, 4, 0]);
        assert_eq!(s.ranking(PruneBy::Loss), vec![1, 3, 2, 4, 0]);
        // Never learned beats any count; equal counts go by EL2N, then pool order.
        assert_eq!(s.ranking(PruneBy::Forgetting), vec![4, 0, 2, 3, 1]);
        assert_eq!(s.ranking(PruneBy::Random), vec![2, 4, 3, 0, 1]);
    }
}
