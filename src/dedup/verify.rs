//! Verification of perceptual-hash candidates on the pixels themselves.
//!
//! A 64-bit hash of a 32x32 numeral cannot tell two plain "I"s by different hands apart, so
//! every candidate pair is checked: the best Pearson correlation of the two images over
//! whole-pixel offsets of up to one pixel. Re-encodes, brightness changes and small shifts
//! of one drawing stay near 1; distinct drawings fall below the threshold.
//!
//! A copy that was downscaled (or heavily re-encoded) lost the fine detail its original
//! still has, and that alone can take it below the threshold (0.81 for a textured colour
//! image shrunk to three quarters). `same_picture` (measured by `cargo bench --bench
//! pipeline`, not yet used by dedup: it changes the demo's eval outcome and costs 1.7x the
//! dedup time at a million images) checks a pair that fails again with one side
//! degraded the way such a copy was — resampled to 3/4 and to 1/2 of its side and back —
//! against a threshold one point higher: the copy then matches its original, while two sharp
//! look-alikes gain little from blurring one of them (measured on both demos and two real
//! image sets, see README "Dedup").

/// Default minimum similarity, chosen with the benchmark on the demo truth: at radius 10,
/// 0.96 let 12 different drawings of plain numerals through on the numerals demo; 0.97 none.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.97;

/// What the degraded check asks above `min_similarity`.
pub const DEGRADED_MARGIN: f32 = 0.01;

/// Pairs below this plain similarity are not checked degraded: no copy in the benchmarks
/// fell below 0.81, and most look-alike pairs do.
const DEGRADED_FROM: f32 = 0.8;

/// Whether `a` and `b` (gray, `side` x `side`) show one picture: `similarity` at least
/// `min_similarity`, or, one side degraded like a downscaled copy, `DEGRADED_MARGIN` more.
pub fn same_picture(a: &[u8], b: &[u8], side: usize, min_similarity: f32) -> bool {
    let plain = similarity(a, b, side);
    plain >= min_similarity
        || (plain >= DEGRADED_FROM
            && degraded_similarity(a, b, side) >= min_similarity + DEGRADED_MARGIN)
}

/// The best `similarity` of the blurrier image with the sharper one resampled to 3/4 or
/// 1/2 of its side and back (triangle filter). (A copy is never sharper than its original,
/// so the other way round is not tried.)
pub fn degraded_similarity(a: &[u8], b: &[u8], side: usize) -> f32 {
    if a.len() != side * side || b.len() != side * side || side < 8 {
        return 0.0;
    }
    let (sharp, blurred) = if detail(a, side) >= detail(b, side) {
        (a, b)
    } else {
        (b, a)
    };
    [side * 3 / 4, side / 2]
        .into_iter()
        .map(|small| similarity(&resampled(sharp, side, small), blurred, side))
        .fold(-1f32, f32::max)
}

/// Fine detail of `g`: the sum of squared differences of horizontal and vertical
/// neighbours, relative to the image's own variance (so a brighter copy is not "sharper").
fn detail(g: &[u8], side: usize) -> f64 {
    let (mut diff, mut sum, mut sq) = (0u64, 0u64, 0u64);
    for y in 0..side {
        for x in 0..side {
            let v = g[y * side + x] as i64;
            sum += v as u64;
            sq += (v * v) as u64;
            if x + 1 < side {
                diff += (v - g[y * side + x + 1] as i64).pow(2) as u64;
            }
            if y + 1 < side {
                diff += (v - g[(y + 1) * side + x] as i64).pow(2) as u64;
            }
        }
    }
    let n = (side * side) as f64;
    let var = sq as f64 / n - (sum as f64 / n).powi(2);
    diff as f64 / n / var.max(1e-9)
}

/// `g` resampled to `small` x `small` and back to `side` x `side`.
fn resampled(g: &[u8], side: usize, small: usize) -> Vec<u8> {
    use image::imageops::{resize, FilterType};
    let Some(img) = image::GrayImage::from_raw(side as u32, side as u32, g.to_vec()) else {
        return g.to_vec();
    };
    let down = resize(&img, small as u32, small as u32, FilterType::Triangle);
    resize(&down, side as u32, side as u32, FilterType::Triangle).into_raw()
}

/// Best correlation of `a` and `b` (gray, `side` x `side`) over offsets in [-1, 1]². Images
/// of any other length (missing pixels) are similar to nothing: 0.
pub fn similarity(a: &[u8], b: &[u8], side: usize) -> f32 {
    if a.len() != side * side || b.len() != side * side {
        return 0.0;
    }
    if side < 3 {
        return if a == b { 1.0 } else { 0.0 };
    }
    let mut best = -1f32;
    for dy in -1i64..=1 {
        for dx in -1i64..=1 {
            best = best.max(correlation(a, b, side, dx, dy));
        }
    }
    best
}

/// Pearson correlation of the interior of `a` with `b` moved by (dx, dy). Integer sums:
/// exact, and they vectorise.
fn correlation(a: &[u8], b: &[u8], side: usize, dx: i64, dy: i64) -> f32 {
    let s = side as i64;
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for y in 1..s - 1 {
        let ra = &a[(y * s + 1) as usize..((y + 1) * s - 1) as usize];
        let start = (y + dy) * s + 1 + dx;
        let rb = &b[start as usize..(start + s - 2) as usize];
        let (mut ra_s, mut rb_s, mut raa, mut rbb, mut rab) = (0u32, 0u32, 0u32, 0u32, 0u32);
        for (&va, &vb) in ra.iter().zip(rb) {
            let (va, vb) = (va as u32, vb as u32);
            ra_s += va;
            rb_s += vb;
            raa += va * va;
            rbb += vb * vb;
            rab += va * vb;
        }
        sa += ra_s as u64;
        sb += rb_s as u64;
        saa += raa as u64;
        sbb += rbb as u64;
        sab += rab as u64;
    }
    let n = ((s - 2) * (s - 2)) as f64;
    let (sa, sb) = (sa as f64, sb as f64);
    let cov = sab as f64 - sa * sb / n;
    let (va, vb) = (saa as f64 - sa * sa / n, sbb as f64 - sb * sb / n);
    if va <= 1e-6 * n || vb <= 1e-6 * n {
        // A flat image: similar only to another flat image of about the same level.
        return if va <= 1e-6 * n && vb <= 1e-6 * n && (sa - sb).abs() / n < 8.0 {
            1.0
        } else {
            0.0
        };
    }
    (cov / (va * vb).sqrt()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(x0: usize, w: usize) -> Vec<u8> {
        (0..32 * 32)
            .map(|i| {
                if (x0..x0 + w).contains(&(i % 32)) && i / 32 > 4 {
                    30
                } else {
                    240
                }
            })
            .collect()
    }

    #[test]
    fn shift_and_gain_keep_similarity_high() {
        let a = bar(10, 3);
        assert!(similarity(&a, &bar(11, 3), 32) > 0.99);
        let darker: Vec<u8> = a.iter().map(|&v| (v as f32 * 0.85) as u8).collect();
        assert!(similarity(&a, &darker, 32) > 0.99);
    }

    #[test]
    fn different_drawings_score_lower() {
        assert!(similarity(&bar(10, 3), &bar(20, 3), 32) < 0.5);
        assert!(similarity(&bar(10, 2), &bar(10, 6), 32) < 0.9);
    }

    /// A bar `width` px wide over a checkerboard texture: fine detail.
    fn textured_bar(width: usize) -> Vec<u8> {
        (0..32 * 32)
            .map(|i| {
                let (x, y) = (i % 32, i / 32);
                let texture = if (x + y) % 2 == 0 { 40 } else { 0 };
                if (10..10 + width).contains(&x) && y > 4 {
                    30 + texture
                } else {
                    180 + texture
                }
            })
            .collect()
    }

    /// A copy downscaled to 3/4 and brought back fails the plain check but passes the
    /// degraded one; a look-alike (the bar three pixels wider) passes neither.
    #[test]
    fn a_downscaled_copy_matches_once_the_original_is_degraded_too() {
        let sharp = textured_bar(4);
        let copy = resampled(&sharp, 32, 24);
        assert!(
            similarity(&sharp, &copy, 32) < 0.97,
            "{}",
            similarity(&sharp, &copy, 32)
        );
        assert!(same_picture(&sharp, &copy, 32, 0.97));
        let wider = textured_bar(7);
        assert!(!same_picture(&sharp, &wider, 32, 0.97));
        assert!(!same_picture(&copy, &wider, 32, 0.97));
    }

    #[test]
    fn flat_images() {
        let a = vec![200u8; 1024];
        assert_eq!(similarity(&a, &vec![202u8; 1024], 32), 1.0);
        assert_eq!(similarity(&a, &bar(10, 3), 32), 0.0);
    }

    #[test]
    fn missing_pixels_match_nothing() {
        // `split`'s leak check hands over empty pixels for a sample whose pixels are missing.
        assert_eq!(similarity(&[], &bar(10, 3), 32), 0.0);
        assert_eq!(similarity(&bar(10, 3), &[1, 2, 3], 32), 0.0);
    }
}
