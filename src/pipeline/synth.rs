//! Synthesis (paper section 4): train the conditional GAN on the labelled data against the
//! latest round's classifier (frozen), then generate samples into the **synthetic** queue.
//! Generated samples are not part of the data until a human approves them (certify);
//! rejecting one keeps it out for good.

use super::queues::Queue;
use crate::dedup::phash;
use crate::ingest;
use crate::model::checkpoint;
use crate::model::gan::{GanConfig, Generator};
use crate::store::{now_secs, Id, Origin, Sample, Source, Split, Store};
use crate::train::backend::Compute;
use crate::train::gan::{self, GanEvent, GanTrainConfig};
use crate::train::{data, RoundRecord, TrainError};
use anyhow::{anyhow, bail, Context, Result};
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;

pub const SYNTHETIC: crate::store::QueueName = crate::store::QueueName::Synthetic;
const RECORD: &str = "gan";

/// The trained GAN, as the store remembers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GanRecord {
    pub file: String,
    pub blake3: String,
    pub config: GanTrainConfig,
    /// The round whose classifier was frozen.
    pub classifier_round: u32,
    pub checks: Vec<(usize, f32)>,
    pub iters_per_sec: f32,
    pub trained: u64,
    /// How many generations were drawn (names the synthetic sources).
    pub generations: u32,
}

/// What a GAN training needs, read from the store: the real data (certified samples when
/// there are enough, else everything usable; never the test split), the classifier to freeze
/// and the configuration.
pub struct GanJob {
    pub real: crate::train::data::Dataset,
    pub checkpoint: checkpoint::Checkpoint,
    pub round: u32,
    pub config: GanTrainConfig,
}

/// Options of a GAN training; `None` keeps the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct GanOptions {
    pub width: Option<usize>,
    pub lr: Option<f64>,
    /// Iterations with γ = 0 before it ramps (default: five sixths of them).
    pub hold: Option<usize>,
}

pub fn prepare(store: &Store, iters: usize, opts: GanOptions) -> Result<GanJob> {
    let meta = store.meta();
    // A store whose images the GAN cannot draw is refused in one line, before anything runs.
    let mut model = GanConfig::for_side(
        meta.classes.len(),
        meta.channels as usize,
        meta.size as usize,
    )
    .map_err(|e| anyhow!(e))?;
    let Some(round) = store.latest_round()? else {
        bail!("the GAN needs a trained classifier to freeze: run `thresh train` first");
    };
    let rec: RoundRecord = store
        .round(round)?
        .ok_or_else(|| anyhow!("round {round} has no record"))?;
    let ck = rec
        .checkpoints
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("round {round} saved no model"))?;
    let not_test = |s: &Sample| s.split != Some(Split::Test);
    let mut real = data::from_store(store, |s| s.state.is_certified() && not_test(s))?;
    if real.len() < 64 {
        real = data::from_store(store, not_test)?;
    }
    if let Some(w) = opts.width {
        model.width = w;
    }
    let mut config = GanTrainConfig::new(model, iters);
    if let Some(lr) = opts.lr {
        config.lr = lr;
    }
    if let Some(hold) = opts.hold {
        config.gamma_hold = hold.min(iters);
        config.gamma_ramp = iters - config.gamma_hold;
    }
    Ok(GanJob {
        real,
        checkpoint: ck,
        round,
        config,
    })
}

/// Run a prepared job (no store access: the jobs worker calls this too).
pub fn run(
    job: &GanJob,
    store_dir: &std::path::Path,
    compute_device: &burn::tensor::Device,
    on: &mut dyn FnMut(GanEvent),
    cancel: &AtomicBool,
) -> Result<gan::TrainedGan, TrainError> {
    let load = |device: &burn::tensor::Device| {
        checkpoint::load(&job.checkpoint, store_dir, device)
            .map_err(|e| TrainError::Invalid(format!("{e:#}")))
    };
    let classifier = load(compute_device)?;
    let frozen = load(&compute_device.clone().autodiff())?;
    gan::train(
        compute_device,
        &job.config,
        &job.real,
        &classifier,
        frozen,
        on,
        cancel,
    )
}

/// Save the trained generator and remember it in the store.
pub fn record(store: &Store, job: &GanJob, trained: &gan::TrainedGan) -> Result<GanRecord> {
    let (file, blake3) = checkpoint::save_module(&trained.generator, store.dir(), "gan-generator")?;
    let record = GanRecord {
        file,
        blake3,
        config: job.config.clone(),
        classifier_round: job.round,
        checks: trained.checks.clone(),
        iters_per_sec: trained.iters_per_sec,
        trained: now_secs(),
        generations: 0,
    };
    store.put_record(RECORD, &record)?;
    store.append_log(
        None,
        "gan_train",
        None,
        Some(serde_json::to_value(&record)?),
        Some(job.round),
    )?;
    store.flush()?;
    Ok(record)
}

/// Prepare, run and record in one call (the CLI).
pub fn train(
    store: &Store,
    compute: &Compute,
    iters: usize,
    opts: GanOptions,
    on: &mut dyn FnMut(GanEvent),
    cancel: &AtomicBool,
) -> Result<GanRecord> {
    let job = prepare(store, iters, opts)?;
    let trained = match run(&job, store.dir(), &compute.device, on, cancel) {
        Ok(t) => t,
        Err(TrainError::Cancelled) => bail!("GAN training cancelled: nothing was stored"),
        Err(e) => return Err(e.into()),
    };
    record(store, &job, &trained)
}

pub fn load_generator(store: &Store, compute: &Compute) -> Result<(GanRecord, Generator)> {
    let meta = store.meta();
    GanConfig::for_side(
        meta.classes.len(),
        meta.channels as usize,
        meta.size as usize,
    )
    .map_err(|e| anyhow!(e))?;
    let rec: GanRecord = store
        .record(RECORD)?
        .ok_or_else(|| anyhow!("no GAN yet: run `thresh gan train` first"))?;
    let (side, size) = (rec.config.model.side, store.meta().size as usize);
    if side != size {
        bail!("the stored GAN draws {side}x{side} images and this store holds {size}x{size} ones: run `thresh gan train` again");
    }
    let path = checkpoint::verified(&rec.file, &rec.blake3, store.dir())?;
    // Generation runs with batch statistics, as in training (see `gan::generate`).
    let g = rec
        .config
        .model
        .generator(&compute.device.clone().autodiff())
        .try_load_file(&path)
        .map_err(|e| anyhow!("GAN checkpoint {} does not fit: {e:?}", path.display()))?;
    Ok((rec, g))
}

#[derive(Clone, Debug, Serialize)]
pub struct Generated {
    pub ids: Vec<Id>,
    pub per_class: Vec<(String, usize)>,
}

/// Generate `n` samples (of `class`, or spread over all classes) into the synthetic queue.
pub fn generate(
    store: &Store,
    compute: &Compute,
    n: usize,
    class: Option<&str>,
    truncation: f32,
) -> Result<Generated> {
    if n == 0 {
        bail!("--n must be at least 1");
    }
    if truncation.is_nan() || truncation <= 0.0 {
        bail!("--truncation must be positive");
    }
    let (mut rec, generator) = load_generator(store, compute)?;
    let meta = store.meta().clone();
    let classes = &meta.classes;
    let labels: Vec<usize> = match class {
        Some(c) => {
            let i = classes.iter().position(|x| x == c).ok_or_else(|| {
                anyhow!(
                    "unknown class {c:?} (the classes are: {})",
                    classes.join(", ")
                )
            })?;
            vec![i; n]
        }
        None => (0..n).map(|i| i % classes.len()).collect(),
    };
    rec.generations += 1;
    let images = gan::generate(
        &generator,
        &labels,
        classes.len(),
        Some(truncation),
        rec.trained ^ rec.generations as u64,
        &compute.device.clone().autodiff(),
    );
    let side = meta.size;
    let mut items = Vec::new();
    for (px, &l) in images.iter().zip(&labels) {
        let png = ingest::encode_png(px, side, meta.channels)
            .context("cannot encode a generated image")?;
        let id = Id::of_bytes(&png);
        if store.contains(&id)? {
            continue;
        }
        let gray = crate::dedup::to_gray(px, meta.channels);
        let hash = phash::Hashes::of(&gray, side as usize);
        let mut s = Sample::imported(
            id,
            store.next_seq()?,
            Source {
                path: format!(
                    "synthetic/gen-{}/{}/{}.png",
                    rec.generations,
                    classes[l],
                    id.short()
                ),
                given: Some(classes[l].clone()),
            },
            Id::of_bytes(px),
            hash,
            (side, side),
        );
        s.origin = Origin::Synthetic;
        items.push((s, px.clone()));
    }
    store.insert_samples(&items)?;
    let mut q: Queue = store.queue(SYNTHETIC)?.unwrap_or_default();
    q.ids.extend(items.iter().map(|(s, _)| s.id));
    store.put_queue(SYNTHETIC, &q)?;
    store.put_record(RECORD, &rec)?;
    store.append_log(
        None,
        "gan_generate",
        None,
        Some(serde_json::json!({"n": items.len(), "truncation": truncation})),
        store.latest_round()?,
    )?;
    store.flush()?;
    let per_class = classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.clone(),
                items
                    .iter()
                    .filter(|(s, _)| s.label.as_deref() == Some(&classes[i]))
                    .count(),
            )
        })
        .collect();
    Ok(Generated {
        ids: items.into_iter().map(|(s, _)| s.id).collect(),
        per_class,
    })
}
