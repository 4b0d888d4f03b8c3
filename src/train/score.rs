//! Per-sample scores of a trained classifier: the signals that rank suspicious labels.

use super::data::Dataset;
use super::fit::TrainError;
use crate::model::Classifier;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// What the model thinks of one sample and its current label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// Cross-entropy with the current label.
    pub loss: f32,
    /// Logit of the current label minus the best other logit (negative = model disagrees).
    pub margin: f32,
    /// ‖softmax − one-hot(label)‖₂.
    pub el2n: f32,
    /// Times the sample went from right to wrong during training (0 when it was not trained on).
    pub forgetting: u32,
    /// Class index the model prefers, and its probability.
    pub suggested: usize,
    pub probability: f32,
    /// The softmax over the classes (what confident learning reads; not stored).
    #[serde(default, skip_serializing)]
    pub probs: Vec<f32>,
    /// Flagged by confident learning as a likely label error among the samples scored
    /// with it (`confident::flag`).
    #[serde(default)]
    pub flagged: bool,
}

/// Flag, among `scores` of samples labelled `labels`, the likely label errors by confident
/// learning over their probabilities.
pub fn flag(scores: &mut [SampleScore], labels: &[usize], classes: usize) {
    let probs: Vec<f32> = scores
        .iter()
        .flat_map(|s| s.probs.iter().copied())
        .collect();
    for (s, f) in scores
        .iter_mut()
        .zip(super::confident::flag(labels, &probs, classes))
    {
        s.flagged = f;
    }
}

/// Raw logits of every sample, computed in batches, with the number of classes: `len *
/// classes` values, row-major. An error when the model gives no or ragged rows.
pub fn logits(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
    batch: usize,
) -> Result<(Vec<f32>, usize), TrainError> {
    let o = outputs(model, data, device, batch, false)?;
    Ok((o.logits, o.classes))
}

/// What one inference pass gives: logits and, when asked for, the pooled features the head
/// read (both row-major, one row per sample).
pub struct Outputs {
    pub logits: Vec<f32>,
    pub classes: usize,
    /// Empty unless asked for.
    pub features: Vec<f32>,
    pub dims: usize,
}

/// Logits of every sample, and its pooled features when `features` is set (one pass: the
/// head runs on the features read back).
pub fn outputs(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
    batch: usize,
    features: bool,
) -> Result<Outputs, TrainError> {
    let unreadable = |e| TrainError::Invalid(format!("the model's outputs are unreadable: {e:?}"));
    // Without autodiff the BatchNorms run on their running statistics: fold them into the
    // convolutions once instead of a normalisation pass per layer and batch.
    let folded = (!device.is_autodiff()).then(|| model.folded());
    // One batch: its features (when asked for) and logits, read back.
    let one = |chunk: &[crate::augment::Img]| -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let imgs: Vec<_> = chunk.iter().collect();
        let x = super::fit::images_tensor(&imgs, device);
        let f = match &folded {
            Some(m) => m.features(x),
            None => model.features(x),
        };
        let feats = if features {
            f.clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(unreadable)?
        } else {
            Vec::new()
        };
        let logits = match &folded {
            Some(m) => m.head(f),
            None => model.head(f),
        };
        Ok((
            feats,
            logits.into_data().try_to_vec::<f32>().map_err(unreadable)?,
        ))
    };
    let chunks: Vec<_> = data.images.chunks(batch.max(1)).collect();
    // On the CPU the batches run as tasks of the compute pool, side by side: one batch's
    // serial passes (flex's channels-last copy, element-wise ops, bias adds) leave the pool
    // idle, another batch fills it — ≈2,150 vs ≈1,750 samples/s on the train bench's
    // 2,000 numerals (2 cores). A GPU queue gains nothing from two callers.
    let parts: Vec<(Vec<f32>, Vec<f32>)> = if crate::model::runs_on_cpu(device) {
        use rayon::prelude::*;
        chunks
            .par_iter()
            .map(|c| one(c))
            .collect::<Result<_, _>>()?
    } else {
        chunks.iter().map(|c| one(c)).collect::<Result<_, _>>()?
    };
    let (mut out, mut feats) = (Vec::new(), Vec::new());
    for (f, l) in parts {
        feats.extend(f);
        out.extend(l);
    }
    let k = out.len().checked_div(data.len()).unwrap_or(0);
    if k == 0 || k * data.len() != out.len() {
        return Err(TrainError::Invalid(format!(
            "the model gave {} outputs for {} samples",
            out.len(),
            data.len()
        )));
    }
    if let Some(&l) = data.labels.iter().find(|&&l| l >= k) {
        return Err(TrainError::Invalid(format!(
            "label index {l} is beyond the model's {k} classes"
        )));
    }
    let dims = feats.len().checked_div(data.len()).unwrap_or(0);
    Ok(Outputs {
        logits: out,
        classes: k,
        features: feats,
        dims,
    })
}

pub fn log_softmax_row(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
    row.iter().map(|v| v - lse).collect()
}

/// The position and value of the largest of `v` (the first, on ties).
pub(crate) fn argmax(v: &[f32]) -> (usize, f32) {
    v.iter().copied().enumerate().fold(
        (0, f32::NEG_INFINITY),
        |b, (i, x)| if x > b.1 { (i, x) } else { b },
    )
}

/// Scores from one row of logits and the sample's label.
pub fn from_logits(row: &[f32], label: usize) -> SampleScore {
    let lp = log_softmax_row(row);
    let p: Vec<f32> = lp.iter().map(|v| v.exp()).collect();
    let (suggested, probability) = argmax(&p);
    let best_other = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != label)
        .map(|(_, &v)| v)
        .fold(f32::NEG_INFINITY, f32::max);
    let el2n = p
        .iter()
        .enumerate()
        .map(|(i, &v)| (v - if i == label { 1.0 } else { 0.0 }).powi(2))
        .sum::<f32>()
        .sqrt();
    SampleScore {
        loss: -lp[label],
        margin: row[label] - best_other,
        el2n,
        forgetting: 0,
        suggested,
        probability,
        probs: p,
        flagged: false,
    }
}

/// Scores from the softmax of several epochs' weights (`per_epoch[e]` row-major, epochs
/// from 1): the mean over the `count` epochs nearest `best` (as many after it as before,
/// within those run) — a held-out sample judged by a stretch of the trajectory rather than
/// one point of it, which evens out the epoch-to-epoch swings of a noisy fit.
pub fn averaged(
    per_epoch: &[Vec<f32>],
    best: usize,
    count: usize,
    labels: &[usize],
) -> Vec<SampleScore> {
    if labels.is_empty() || per_epoch.is_empty() {
        return Vec::new();
    }
    let run = per_epoch.len();
    let count = count.clamp(1, run);
    let end = (best.max(1) + count / 2).min(run).max(count);
    let window = &per_epoch[end - count..end];
    let n = labels.len();
    let k = window[0].len() / n.max(1);
    (0..n)
        .map(|i| {
            let logits: Vec<f32> = (0..k)
                .map(|j| {
                    let p = window.iter().map(|e| e[i * k + j]).sum::<f32>() / count as f32;
                    p.max(1e-12).ln()
                })
                .collect();
            from_logits(&logits, labels[i])
        })
        .collect()
}

/// Score every sample of `data` with `model` (no augmentation).
pub fn score(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
) -> Result<Vec<SampleScore>, TrainError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    Ok(scored(&logits(model, data, device, 256)?.0, data))
}

fn scored(logits: &[f32], data: &Dataset) -> Vec<SampleScore> {
    let k = logits.len() / data.len().max(1);
    logits
        .chunks(k.max(1))
        .zip(&data.labels)
        .map(|(row, &label)| from_logits(row, label))
        .collect()
}

/// Score every sample of `data` and keep its pooled features (`dims` values per sample,
/// row-major) from the same pass.
pub fn score_embedded(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
) -> Result<(Vec<SampleScore>, Vec<f32>, usize), TrainError> {
    embedded_scores(model, data, device, |_, label| label)
}

/// Score unlabelled samples against the model's own suggestion (a pseudo-label): the loss
/// is −ln of the top probability, the margin the top logit over the next. Keeps the pooled
/// features as `score_embedded` does.
pub fn pseudo_embedded(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
) -> Result<(Vec<SampleScore>, Vec<f32>, usize), TrainError> {
    embedded_scores(model, data, device, |row, _| argmax(row).0)
}

/// One inference pass with features; each sample scored against `label(logits, its label)`.
fn embedded_scores(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
    label: impl Fn(&[f32], usize) -> usize,
) -> Result<(Vec<SampleScore>, Vec<f32>, usize), TrainError> {
    if data.is_empty() {
        return Ok((Vec::new(), Vec::new(), 0));
    }
    let o = outputs(model, data, device, 256, true)?;
    let scores = o
        .logits
        .chunks(o.classes.max(1))
        .zip(&data.labels)
        .map(|(row, &l)| from_logits(row, label(row, l)))
        .collect();
    Ok((scores, o.features, o.dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_logits() {
        let s = from_logits(&[2.0, 0.0, 0.0], 0);
        assert!(s.loss > 0.0 && s.loss < 0.3);
        assert!((s.margin - 2.0).abs() < 1e-6);
        assert_eq!(s.suggested, 0);
        let wrong = from_logits(&[2.0, 0.0, 0.0], 1);
        assert!(wrong.loss > s.loss && wrong.margin < 0.0 && wrong.el2n > s.el2n);
        assert_eq!(wrong.suggested, 0);
        let lp = log_softmax_row(&[1.0, 1.0]);
        assert!((lp[0] - 0.5f32.ln()).abs() < 1e-6);
    }

    /// Batches scored side by side come back in order: many small batches give every
    /// sample the logits and features one batch of all gives it.
    #[test]
    fn batches_side_by_side_keep_the_samples_in_order() {
        use crate::augment::Img;
        use crate::model::{seeded, ClassifierConfig};
        use crate::store::Id;
        let device = Device::flex();
        let cfg = ClassifierConfig {
            classes: 4,
            channels: 1,
            width: 8,
            blocks: 1,
        };
        let model = seeded(&device, 3, || cfg.init(&device));
        let mut data = Dataset::default();
        for i in 0..37u8 {
            let px: Vec<u8> = (0..32 * 32)
                .map(|p| (p as u8).wrapping_mul(i | 1) ^ i)
                .collect();
            data.push(Id([i; 32]), Img::from_u8(&px, 32, 1), usize::from(i % 4));
        }
        let whole = outputs(&model, &data, &device, 64, true).unwrap();
        let parts = outputs(&model, &data, &device, 3, true).unwrap();
        assert_eq!((parts.classes, parts.dims), (whole.classes, whole.dims));
        assert_eq!(parts.logits.len(), 37 * 4);
        let close = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
        };
        assert!(close(&parts.logits, &whole.logits));
        assert!(close(&parts.features, &whole.features));
        // Samples differ, so a batch out of place would show.
        assert!(whole.logits[..4] != whole.logits[4..8]);
    }

    #[test]
    fn averaged_takes_the_window_around_the_best_epoch() {
        // One sample, two classes, five epochs; p(class 0) = 0.1, 0.2, 0.3, 0.4, 0.5.
        let per_epoch: Vec<Vec<f32>> = (1..=5)
            .map(|e| vec![e as f32 / 10.0, 1.0 - e as f32 / 10.0])
            .collect();
        let p0 = |best, count| (-averaged(&per_epoch, best, count, &[0])[0].loss).exp();
        assert!((p0(3, 1) - 0.3).abs() < 1e-5);
        assert!((p0(3, 3) - 0.3).abs() < 1e-5, "epochs 2..=4");
        assert!(
            (p0(5, 3) - 0.4).abs() < 1e-5,
            "epochs 3..=5: none after the last"
        );
        assert!((p0(1, 3) - 0.2).abs() < 1e-5, "epochs 1..=3");
        assert!((p0(2, 9) - 0.3).abs() < 1e-5, "all five");
    }
}
