//! Verification of perceptual-hash candidates on the pixels themselves.
//!
//! A 64-bit hash of a 32x32 numeral cannot tell two plain "I"s by different hands apart, so
//! every candidate pair is checked: the best Pearson correlation of the two images over
//! whole-pixel offsets of up to one pixel. Re-encodes, brightness changes and small shifts
//! of one drawing stay near 1; distinct drawings fall below the threshold.
//!
//! A copy that was downscaled (or heavily re-encoded) lost the fine detail its original
//! still has, and that alone can take it below the threshold (0.81 for a textured colour
//! image shrunk to three quarters). So a pair that fails at the store's side is checked
//! again on both images box-filtered to half the side, where only the detail both still
//! share is left — but never below 32 px, the side the threshold was chosen at: at 16 px
//! different drawings of one numeral pass too (measured in README "Dedup").

/// Default minimum similarity, chosen with the benchmark on the demo truth: at radius 10,
/// 0.96 let 12 different drawings of plain numerals through on the numerals demo; 0.97 none.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.97;

/// The smallest store side with a half-side check (which then runs at 32 px or more).
const HALF_FROM: usize = 64;

/// Whether `a` and `b` (gray, `side` x `side`) show one picture: `similarity` at least
/// `min_similarity` at the store's side or, for stores of 64 px and more, at half of it.
pub fn same_picture(a: &[u8], b: &[u8], side: usize, min_similarity: f32) -> bool {
    similarity(a, b, side) >= min_similarity
        || (side >= HALF_FROM
            && a.len() == side * side
            && b.len() == side * side
            && similarity(&halved(a, side), &halved(b, side), side / 2) >= min_similarity)
}

/// `g` (`side` x `side`) box-filtered to half its side (an odd last row and column dropped).
pub fn halved(g: &[u8], side: usize) -> Vec<u8> {
    let half = side / 2;
    let mut out = Vec::with_capacity(half * half);
    for y in 0..half {
        let (r0, r1) = (&g[2 * y * side..], &g[(2 * y + 1) * side..]);
        for x in 0..half {
            let sum =
                r0[2 * x] as u32 + r0[2 * x + 1] as u32 + r1[2 * x] as u32 + r1[2 * x + 1] as u32;
            out.push(((sum + 2) / 4) as u8);
        }
    }
    out
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

    /// A 64 px picture with detail at every scale: bars of several widths over a fine
    /// checkerboard, the bar at `x0` `width` px wide.
    fn textured(x0: usize, width: usize) -> Vec<u8> {
        (0..64 * 64)
            .map(|i| {
                let (x, y) = (i % 64, i / 64);
                let texture = if (x + y) % 2 == 0 { 40 } else { 0 };
                let ink = (x0..x0 + width).contains(&x) && y > 8 || (40..44).contains(&x);
                if ink {
                    30 + texture
                } else {
                    180 + texture
                }
            })
            .collect()
    }

    /// A copy that lost the fine texture (as a downscaled one does) fails at the store's
    /// side but passes at half of it; a look-alike (the bar three pixels wider) passes at
    /// neither; a 32 px store has no half-side check.
    #[test]
    fn a_copy_without_its_fine_detail_matches_at_half_the_side() {
        let sharp = textured(10, 4);
        let blurred = doubled(&halved(&sharp, 64), 32);
        assert!(similarity(&sharp, &blurred, 64) < 0.97);
        assert!(same_picture(&sharp, &blurred, 64, 0.97));
        let wider = textured(10, 7);
        assert!(!same_picture(&sharp, &wider, 64, 0.97));
        assert!(!same_picture(&blurred, &wider, 64, 0.97));
        // The same at 32 px would pass at 16 px, but the check stops at 32.
        let small = halved(&sharp, 64);
        let small_blurred = doubled(&halved(&small, 32), 16);
        assert!(similarity(&small, &small_blurred, 32) < 0.97);
        assert!(similarity(&halved(&small, 32), &halved(&small_blurred, 32), 16) >= 0.97);
        assert!(!same_picture(&small, &small_blurred, 32, 0.97));
    }

    /// `g` (`side` x `side`) with every pixel repeated 2x2.
    fn doubled(g: &[u8], side: usize) -> Vec<u8> {
        (0..4 * side * side)
            .map(|i| g[(i / (2 * side)) / 2 * side + (i % (2 * side)) / 2])
            .collect()
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
