//! 64-bit perceptual hashes of normalised gray images.
//!
//! Three classic hashes are here so the benchmark can compare them on the demo truth; the
//! one it chose is `DEFAULT_KIND` (see README "Dedup" for the measured figures).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    /// Mean hash: 8x8 block means thresholded at their mean.
    Average,
    /// Difference hash: signs of horizontal gradients on a 9x8 reduction.
    Difference,
    /// DCT hash: signs of the 8x8 lowest DCT frequencies against their median.
    Dct,
    /// DCT hash of the image moved so its ink centroid is at the centre: a small shift of
    /// the whole drawing no longer changes the hash.
    CenteredDct,
}

pub const DEFAULT_KIND: HashKind = HashKind::CenteredDct;

/// The two hashes a sample is searched by: the default (centred) one, and the plain DCT hash
/// for what centring moves — a brightness change or shift of an image without one clear
/// centroid (textured photos), whose centred hash flips more bits than its plain one
/// (measured in README "Dedup": the union finds 0.909 of the real photo tiles' near copies,
/// the centred hash alone 0.864).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashes {
    pub centred: u64,
    pub plain: u64,
}

impl Hashes {
    pub fn of(gray: &[u8], side: usize) -> Hashes {
        Hashes {
            centred: hash(DEFAULT_KIND, gray, side),
            plain: hash(HashKind::Dct, gray, side),
        }
    }
}

pub fn hash(kind: HashKind, gray: &[u8], side: usize) -> u64 {
    debug_assert_eq!(gray.len(), side * side);
    match kind {
        HashKind::Average => average(gray, side),
        HashKind::Difference => difference(gray, side),
        HashKind::Dct => dct(gray, side),
        HashKind::CenteredDct => dct(&centered(gray, side), side),
    }
}

/// Median of the outermost pixels: the background colour.
pub fn background(gray: &[u8], side: usize) -> u8 {
    let mut border: Vec<u8> = (0..side)
        .flat_map(|i| {
            [
                gray[i],
                gray[(side - 1) * side + i],
                gray[i * side],
                gray[i * side + side - 1],
            ]
        })
        .collect();
    border.sort_unstable();
    border[border.len() / 2]
}

/// Shift `gray` by whole pixels so the centroid of its difference from the background sits
/// at the centre; uncovered pixels take the background colour.
pub fn centered(gray: &[u8], side: usize) -> Vec<u8> {
    let bg = background(gray, side);
    let (mut sx, mut sy, mut sw) = (0f64, 0f64, 0f64);
    for y in 0..side {
        for x in 0..side {
            let w = (gray[y * side + x] as f64 - bg as f64).abs();
            sx += w * x as f64;
            sy += w * y as f64;
            sw += w;
        }
    }
    if sw == 0.0 {
        return gray.to_vec();
    }
    let mid = (side as f64 - 1.0) / 2.0;
    let (dx, dy) = (
        (sx / sw - mid).round() as i64,
        (sy / sw - mid).round() as i64,
    );
    let s = side as i64;
    (0..side * side)
        .map(|i| {
            let (x, y) = ((i % side) as i64 + dx, (i / side) as i64 + dy);
            if x < 0 || y < 0 || x >= s || y >= s {
                bg
            } else {
                gray[(y * s + x) as usize]
            }
        })
        .collect()
}

/// Area-average `gray` (side x side) down to `w` x `h`.
fn reduce(gray: &[u8], side: usize, w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; w * h];
    for oy in 0..h {
        let (y0, y1) = (oy * side / h, ((oy + 1) * side).div_ceil(h));
        for ox in 0..w {
            let (x0, x1) = (ox * side / w, ((ox + 1) * side).div_ceil(w));
            let mut sum = 0u32;
            for y in y0..y1 {
                for x in x0..x1 {
                    sum += gray[y * side + x] as u32;
                }
            }
            out[oy * w + ox] = sum as f32 / ((y1 - y0) * (x1 - x0)) as f32;
        }
    }
    out
}

fn average(gray: &[u8], side: usize) -> u64 {
    let small = reduce(gray, side, 8, 8);
    let mean = small.iter().sum::<f32>() / 64.0;
    bits(small.iter().map(|&v| v > mean))
}

fn difference(gray: &[u8], side: usize) -> u64 {
    let small = reduce(gray, side, 9, 8);
    bits((0..8).flat_map(|y| {
        let row = &small[y * 9..y * 9 + 9];
        (0..8).map(move |x| row[x] < row[x + 1])
    }))
}

/// DCT-II on a 32x32 reduction, keeping only the 8 lowest frequencies in each direction
/// (so the transform costs 32*32*8 + 8*32*8 multiply-adds, not a full 2-D DCT).
fn dct(gray: &[u8], side: usize) -> u64 {
    const N: usize = 32;
    const K: usize = 8;
    let img: Vec<f32> = if side == N {
        gray.iter().map(|&v| v as f32).collect()
    } else {
        reduce(gray, side, N, N)
    };
    let basis = dct_basis();
    // rows: tmp[y][u] = sum_x img[y][x] * cos(u, x)
    let mut tmp = [[0f32; K]; N];
    for y in 0..N {
        let row = &img[y * N..(y + 1) * N];
        for u in 0..K {
            tmp[y][u] = row.iter().zip(&basis[u]).map(|(a, b)| a * b).sum();
        }
    }
    // columns: coef[v][u] = sum_y tmp[y][u] * cos(v, y)
    let mut coef = [0f32; K * K];
    for v in 0..K {
        for u in 0..K {
            coef[v * K + u] = (0..N).map(|y| tmp[y][u] * basis[v][y]).sum();
        }
    }
    // The DC term says only how bright the image is: leave it out of the median.
    let mut ac: Vec<f32> = coef[1..].to_vec();
    ac.sort_by(|a, b| a.total_cmp(b));
    let median = (ac[31] + ac[32]) / 2.0;
    bits(coef.iter().map(|&c| c > median))
}

fn dct_basis() -> &'static [[f32; 32]; 8] {
    static BASIS: std::sync::OnceLock<[[f32; 32]; 8]> = std::sync::OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = [[0f32; 32]; 8];
        for (u, row) in b.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                *v = (std::f32::consts::PI * (2 * x + 1) as f32 * u as f32 / 64.0).cos();
            }
        }
        b
    })
}

fn bits(it: impl Iterator<Item = bool>) -> u64 {
    it.take(64)
        .enumerate()
        .fold(0u64, |acc, (i, b)| acc | ((b as u64) << i))
}

pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "V"-like drawing: two dark strokes on light paper, moved by `shift` pixels.
    fn drawing(shift: usize, gain: f32) -> Vec<u8> {
        (0..32 * 32)
            .map(|i| {
                let (x, y) = ((i % 32) as f32 - shift as f32, (i / 32) as f32);
                let on = (6.0..26.0).contains(&y)
                    && ((x - (8.0 + (y - 6.0) * 0.4)).abs() < 1.5
                        || (x - (24.0 - (y - 6.0) * 0.4)).abs() < 1.5);
                let v = if on { 40.0 } else { 220.0 };
                (v * gain).min(255.0) as u8
            })
            .collect()
    }

    #[test]
    fn centering_undoes_a_shift() {
        let (a, shifted) = (drawing(0, 1.0), drawing(3, 1.0));
        assert_eq!(
            hash(HashKind::CenteredDct, &a, 32),
            hash(HashKind::CenteredDct, &shifted, 32)
        );
        assert!(
            hamming(
                hash(HashKind::Dct, &a, 32),
                hash(HashKind::Dct, &shifted, 32)
            ) > 0
        );
    }

    #[test]
    fn small_changes_stay_close_and_different_images_do_not() {
        for kind in [
            HashKind::Average,
            HashKind::Difference,
            HashKind::Dct,
            HashKind::CenteredDct,
        ] {
            let a = hash(kind, &drawing(0, 1.0), 32);
            assert_eq!(
                a,
                hash(kind, &drawing(0, 1.0), 32),
                "{kind:?} not deterministic"
            );
            assert!(
                hamming(a, hash(kind, &drawing(0, 1.1), 32)) <= 4,
                "{kind:?} brightness"
            );
            let inverted: Vec<u8> = drawing(0, 1.0).iter().map(|v| 255 - v).collect();
            assert!(
                hamming(a, hash(kind, &inverted, 32)) > 20,
                "{kind:?} inverted too close"
            );
        }
    }
}
