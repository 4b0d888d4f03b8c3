//! In-memory training data drawn from the store: normalised pixels as `Img`s with class
//! indices, so training never touches the store or re-decodes a file.

use crate::augment::Img;
use crate::store::{Id, Sample, Store};
use anyhow::{Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub ids: Vec<Id>,
    pub images: Vec<Img>,
    pub labels: Vec<usize>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn push(&mut self, id: Id, image: Img, label: usize) {
        self.ids.push(id);
        self.images.push(image);
        self.labels.push(label);
    }

    /// The items at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        let mut d = Dataset::default();
        for &i in idx {
            d.push(self.ids[i], self.images[i].clone(), self.labels[i]);
        }
        d
    }

    /// Split off a random `fraction` as a validation set (see `split_indices`).
    pub fn split(&self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let (train, val) = split_indices(&self.labels, fraction, seed);
        (self.select(&train), self.select(&val))
    }

    pub fn class_count(&self) -> usize {
        let mut seen: Vec<usize> = self.labels.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }
}

/// Positions of a random `fraction` of `labels` (at least one per class of two or more),
/// stratified by label so small classes are represented; returns (rest, held out), sorted.
pub fn split_indices(labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        idx.shuffle(&mut rng);
        let k = (idx.len() as f64 * fraction).round() as usize;
        let k = if idx.len() >= 2 { k.max(1) } else { 0 };
        val.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// The unreviewed samples without a label (imported unlabelled, not duplicates, not waiting
/// synthetic ones), for the model to suggest one; their `labels` are placeholders (0).
pub fn unlabelled_from_store(store: &Store) -> Result<Dataset> {
    let meta = store.meta();
    let (side, channels) = (meta.size as usize, meta.channels as usize);
    let mut d = Dataset::default();
    for s in store.samples_by_seq()? {
        if s.label.is_some()
            || s.state != crate::store::State::Unreviewed
            || s.dup.is_some()
            || s.pending_synthetic()
        {
            continue;
        }
        let px = store
            .pixels(&s.id)?
            .with_context(|| format!("pixels of sample {} are missing", s.id.short()))?;
        d.push(s.id, Img::from_u8(&px, side, channels), 0);
    }
    Ok(d)
}

/// The samples in the data (`Sample::in_data`) for which `keep` holds, with their current
/// labels as class indices.
pub fn from_store(store: &Store, keep: impl Fn(&Sample) -> bool) -> Result<Dataset> {
    let meta = store.meta();
    let (side, channels) = (meta.size as usize, meta.channels as usize);
    let mut d = Dataset::default();
    for s in store.samples_by_seq()? {
        if !s.in_data() || !keep(&s) {
            continue;
        }
        let label = s.label.as_deref().unwrap_or_default();
        let Some(class) = meta.classes.iter().position(|c| c == label) else {
            anyhow::bail!(
                "sample {} has label {label:?}, which is not a class of this store",
                s.id.short()
            );
        };
        let px = store
            .pixels(&s.id)?
            .with_context(|| format!("pixels of sample {} are missing", s.id.short()))?;
        d.push(s.id, Img::from_u8(&px, side, channels), class);
    }
    Ok(d)
}
