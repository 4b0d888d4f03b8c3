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
}

/// Raw logits of every sample, computed in batches, with the number of classes: `len *
/// classes` values, row-major. An error when the model gives no or ragged rows.
pub fn logits(
    model: &Classifier,
    data: &Dataset,
    device: &Device,
    batch: usize,
) -> Result<(Vec<f32>, usize), TrainError> {
    let mut out = Vec::new();
    let idx: Vec<usize> = (0..data.len()).collect();
    // Without autodiff the BatchNorms run on their running statistics: fold them into the
    // convolutions once instead of a normalisation pass per layer and batch.
    let folded = (!device.is_autodiff()).then(|| model.folded());
    for chunk in idx.chunks(batch.max(1)) {
        let imgs: Vec<_> = chunk.iter().map(|&i| &data.images[i]).collect();
        let x = super::fit::images_tensor(&imgs, device);
        let logits = match &folded {
            Some(f) => f.forward(x),
            None => model.forward(x),
        };
        let rows = logits.into_data().try_to_vec::<f32>();
        out.extend(rows.map_err(|e| {
            TrainError::Invalid(format!("the model's outputs are unreadable: {e:?}"))
        })?);
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
    Ok((out, k))
}

pub fn log_softmax_row(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
    row.iter().map(|v| v - lse).collect()
}

/// Scores from one row of logits and the sample's label.
pub fn from_logits(row: &[f32], label: usize) -> SampleScore {
    let lp = log_softmax_row(row);
    let p: Vec<f32> = lp.iter().map(|v| v.exp()).collect();
    let (suggested, probability) =
        p.iter()
            .copied()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, v)| if v > b.1 { (i, v) } else { b },
            );
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
    }
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
    let (l, k) = logits(model, data, device, 256)?;
    Ok(l.chunks(k)
        .zip(&data.labels)
        .map(|(row, &label)| from_logits(row, label))
        .collect())
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
}
