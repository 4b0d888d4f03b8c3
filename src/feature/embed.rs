//! Embeddings: each scored sample's pooled penultimate vector, kept per round so the data
//! can be seen as the model sees it (a 2-D map, nearest neighbours, outliers).
//!
//! Stored u8-quantised with the vector's own range: 8 bytes of range plus one byte per
//! dimension (264 bytes for the reference net's 256, a quarter of f32 and half of f16). A
//! component is off by at most (max − min)/510 — far below the distances that separate
//! neighbours — and at a million samples a round's embeddings stay near 260 MB.

use serde::{Deserialize, Serialize};

/// One quantised vector: `min + q/255·(max − min)` per component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub min: f32,
    pub max: f32,
    pub q: Vec<u8>,
}

impl Embedding {
    pub fn quantise(v: &[f32]) -> Embedding {
        let finite = v.iter().copied().filter(|x| x.is_finite());
        let min = finite.clone().fold(f32::INFINITY, f32::min);
        let max = finite.fold(f32::NEG_INFINITY, f32::max);
        let (min, max) = if min <= max { (min, max) } else { (0.0, 0.0) };
        let span = max - min;
        let q = v
            .iter()
            .map(|&x| {
                if span > 0.0 && x.is_finite() {
                    ((x - min) / span * 255.0).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                }
            })
            .collect();
        Embedding { min, max, q }
    }

    pub fn values(&self) -> Vec<f32> {
        let step = (self.max - self.min) / 255.0;
        self.q.iter().map(|&q| self.min + q as f32 * step).collect()
    }

    /// Bytes as stored: min and max (little-endian f32), then the components.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.q.len());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        out.extend_from_slice(&self.q);
        out
    }

    /// The stored bytes of sample `id`'s embedding, or why they cannot be read.
    pub fn decode(id: &crate::store::Id, b: &[u8]) -> anyhow::Result<Embedding> {
        use anyhow::Context;
        Embedding::from_bytes(b)
            .with_context(|| format!("the embedding of {} is unreadable", id.short()))
    }

    pub fn from_bytes(b: &[u8]) -> Option<Embedding> {
        let min = f32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
        let max = f32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
        Some(Embedding {
            min,
            max,
            q: b[8..].to_vec(),
        })
    }
}

/// Quantise `rows` (row-major, `dims` per row).
pub fn quantise_rows(rows: &[f32], dims: usize) -> Vec<Embedding> {
    if dims == 0 {
        return Vec::new();
    }
    rows.chunks(dims).map(Embedding::quantise).collect()
}

/// The 2-D principal-component projection of `vectors` (all of one length): a quick,
/// deterministic overview that keeps the directions of greatest spread. Power iteration on
/// the covariance, the second component deflated against the first; a sign convention
/// (largest loading positive) keeps the picture stable between runs.
pub fn pca2(vectors: &[Vec<f32>]) -> Vec<[f32; 2]> {
    let n = vectors.len();
    let d = vectors.first().map_or(0, |v| v.len());
    if n == 0 || d == 0 {
        return vec![[0.0, 0.0]; n];
    }
    let mut mean = vec![0f64; d];
    for v in vectors {
        for (m, &x) in mean.iter_mut().zip(v) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<Vec<f64>> = vectors
        .iter()
        .map(|v| v.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect())
        .collect();
    // Covariance (d x d): n·d² once, then the iterations cost d² each.
    let mut cov = vec![0f64; d * d];
    for v in &centred {
        for i in 0..d {
            let vi = v[i];
            if vi == 0.0 {
                continue;
            }
            let row = &mut cov[i * d..(i + 1) * d];
            for (c, &vj) in row.iter_mut().zip(v) {
                *c += vi * vj;
            }
        }
    }
    let first = principal(&cov, d, None);
    let second = principal(&cov, d, Some(&first));
    centred
        .iter()
        .map(|v| [dot(v, &first) as f32, dot(v, &second) as f32])
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The leading eigenvector of `cov`, orthogonal to `against` when given.
fn principal(cov: &[f64], d: usize, against: Option<&[f64]>) -> Vec<f64> {
    // A fixed, uneven start so it is not orthogonal to the answer by symmetry.
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
    for _ in 0..200 {
        if let Some(a) = against {
            let p = dot(&v, a);
            v.iter_mut().zip(a).for_each(|(x, y)| *x -= p * y);
        }
        let mut next: Vec<f64> = (0..d).map(|i| dot(&cov[i * d..(i + 1) * d], &v)).collect();
        let norm = dot(&next, &next).sqrt();
        if norm == 0.0 {
            return vec![0.0; d];
        }
        next.iter_mut().for_each(|x| *x /= norm);
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if change < 1e-10 {
            break;
        }
    }
    let lead = v
        .iter()
        .copied()
        .fold(0f64, |b, x| if x.abs() > b.abs() { x } else { b });
    if lead < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_round_trips_within_half_a_step() {
        let v: Vec<f32> = (0..256)
            .map(|i| (i as f32 * 0.37).sin().abs() * 3.0)
            .collect();
        let e = Embedding::quantise(&v);
        let back = Embedding::from_bytes(&e.to_bytes()).unwrap();
        assert_eq!(back, e);
        let step = (e.max - e.min) / 255.0;
        for (a, b) in v.iter().zip(back.values()) {
            assert!((a - b).abs() <= step / 2.0 + 1e-6, "{a} vs {b}");
        }
        // A constant vector and one with a NaN stay finite.
        assert!(Embedding::quantise(&[2.0; 4])
            .values()
            .iter()
            .all(|x| (*x - 2.0).abs() < 1e-6));
        assert!(Embedding::quantise(&[f32::NAN, 1.0])
            .values()
            .iter()
            .all(|x| x.is_finite()));
        assert!(Embedding::from_bytes(&[1, 2, 3]).is_none());
    }

    #[test]
    fn pca_separates_blobs_along_their_spread() {
        // Two blobs 10 apart along dims 0..4, noise of ±0.5 elsewhere.
        let mut rng = 12345u64;
        let mut noise = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let vectors: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                let c = if i % 2 == 0 { 5.0 } else { -5.0 };
                (0..16)
                    .map(|j| if j < 4 { c } else { 0.0 } + noise())
                    .collect()
            })
            .collect();
        let p = pca2(&vectors);
        assert_eq!(p, pca2(&vectors), "deterministic");
        for (i, xy) in p.iter().enumerate() {
            let expect = if i % 2 == 0 { 1.0 } else { -1.0 };
            assert!(xy[0] * expect > 5.0, "sample {i} at {xy:?}");
            assert!(xy[1].abs() < 2.0, "sample {i} at {xy:?}");
        }
    }
}
