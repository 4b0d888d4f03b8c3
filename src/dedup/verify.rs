//! Verification of perceptual-hash candidates on the pixels themselves.
//!
//! A 64-bit hash of a 32x32 numeral cannot tell two plain "I"s by different hands apart, so
//! every candidate pair is checked: the best Pearson correlation of the two images over
//! whole-pixel offsets of up to one pixel. Re-encodes, brightness changes and small shifts
//! of one drawing stay near 1; distinct drawings fall below the threshold.
//!
//! How near 1 is near enough depends on the pictures. Smooth ones (scans of 8x8 digits
//! upscaled, soft product shots) correlate highly with any look-alike — different scans of
//! one digit by one writer reach 0.991 —, while a copy of a textured photograph may fall to
//! 0.95 from re-encoding alone. So the difference of a pair, 1 − correlation, is also
//! measured against the pictures' own detail: 1 − the correlation of a picture with itself
//! moved by one pixel (of the rougher of the two). A copy nearly always differs from its
//! original by less than a third of what a one-pixel move changes in it (90% by about a
//! tenth; a brightened copy whose highlights clipped, by 0.38); a look-alike, by about that
//! much or more (measured in README "Dedup": the smallest relative difference of a distinct
//! pair in four benchmarks was 0.118, on the 32 px numerals; 0.32 on the real digits). A
//! pair must pass both: the similarity threshold and the relative difference
//! ([`MAX_RELATIVE`]); and one that differs by under a tenth of its detail
//! ([`SURE_RELATIVE`]) is a copy even a little below the threshold — a brightness change
//! clipped in some channels, a low-contrast picture's re-encoding.
//!
//! A copy that was downscaled (or heavily re-encoded) lost the fine detail its original
//! still has, and that alone can take it below the threshold (0.81 for a textured colour
//! image shrunk to three quarters). So a pair that fails at the store's side is checked
//! again on both images box-filtered to half the side, where only the detail both still
//! share is left — but never below 32 px, the side the threshold was chosen at: at 16 px
//! different drawings of one numeral pass too (measured in README "Dedup").
//!
//! Brightening a colour picture clips some channels at 255, and its luma is then no longer
//! a linear function of the original's. A pair the gray check refuses only narrowly
//! ([`Verdict::Colour`]) is therefore checked once more in a colour store, on the RGB
//! pixels with the clipped channel values left out ([`same_colours`]); the pixels are read
//! again for those pairs only (under 1% of the candidates of 100k random photos).

/// Default minimum similarity, chosen with the benchmark on the demo truth: at radius 10,
/// 0.96 let 12 different drawings of plain numerals through on the numerals demo; 0.97 none.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.97;

/// The largest difference of a copy relative to its pictures' detail (see the module docs).
pub const MAX_RELATIVE: f32 = 0.3;

/// A relative difference under which a pair is a copy at up to [`SURE_SLACK`] below the
/// similarity threshold.
pub const SURE_RELATIVE: f32 = 0.1;

/// How far below the similarity threshold a pair under [`SURE_RELATIVE`] may be.
const SURE_SLACK: f32 = 0.1;

/// The least detail a picture is taken to have: a nearly flat one (sky, a blank page)
/// would otherwise make any re-encoding noise look large.
const LEAST_DETAIL: f32 = 0.02;

/// The smallest store side with a half-side check (which then runs at 32 px or more).
const HALF_FROM: usize = 64;

/// A gray picture ready for the check: its pixels at the store's side and, from 64 px up,
/// at half of it, and its detail.
pub struct Picture {
    /// The store's side first, then half of it.
    scales: Vec<(Vec<u8>, usize)>,
    /// 1 − the correlation of the picture with itself moved by one pixel (mean of x and y),
    /// at the store's side: the yardstick of a difference at either scale (at half the side
    /// a move of one pixel is two of the store's, and look-alikes would pass under it).
    detail: f32,
}

impl Picture {
    /// `gray` is `side` x `side`; pixels of any other length (missing) match nothing.
    pub fn new(gray: Vec<u8>, side: usize) -> Self {
        if gray.len() != side * side || side < 3 {
            return Picture {
                scales: Vec::new(),
                detail: 1.0,
            };
        }
        let detail = 1.0
            - (correlation(&gray, &gray, side, 1, 0) + correlation(&gray, &gray, side, 0, 1)) / 2.0;
        let half = (side >= HALF_FROM).then(|| (halved(&gray, side), side / 2));
        let mut scales = vec![(gray, side)];
        scales.extend(half);
        Picture { scales, detail }
    }

    /// The store's side (0 when the pixels were missing).
    pub fn side(&self) -> usize {
        self.scales.first().map_or(0, |s| s.1)
    }

    /// The pixels at the store's side (empty when they were missing).
    pub fn pixels(&self) -> &[u8] {
        self.scales.first().map_or(&[], |s| &s.0)
    }

    /// Similarity and relative difference to `other` at each scale they share (the store's
    /// side, then half of it): what `same_picture` decides on.
    pub fn measures<'a>(&'a self, other: &'a Picture) -> impl Iterator<Item = (f32, f32)> + 'a {
        let yardstick = self.detail.max(other.detail).max(LEAST_DETAIL);
        self.scales
            .iter()
            .zip(&other.scales)
            .map(move |((a, side), (b, _))| {
                let r = similarity(a, b, *side);
                (r, (1.0 - r) / yardstick)
            })
    }
}

/// What a pair must show to be one picture, at one scale (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub min_similarity: f32,
    /// The largest difference relative to the pictures' detail.
    pub max_relative: f32,
    /// A relative difference under which `min_similarity` − 0.1 is enough.
    pub sure_relative: f32,
}

impl Rule {
    /// The default rule at a similarity threshold.
    pub fn new(min_similarity: f32) -> Self {
        Rule {
            min_similarity,
            max_relative: MAX_RELATIVE,
            sure_relative: SURE_RELATIVE,
        }
    }

    /// Whether a pair of `similarity` and `relative` difference passes.
    pub fn accepts(&self, similarity: f32, relative: f32) -> bool {
        (similarity >= self.min_similarity && relative <= self.max_relative)
            || (similarity >= self.min_similarity - SURE_SLACK && relative <= self.sure_relative)
    }
}

/// Whether `a` and `b` show one picture by [`Rule::new`]`(min_similarity)`, at the store's
/// side or, from 64 px up, at half of it.
/// (Gray alone: a pair left to colour is refused.)
pub fn same_picture(a: &Picture, b: &Picture, min_similarity: f32) -> bool {
    judge(a, b, min_similarity) == Verdict::Same
}

/// What the gray check says of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// One picture.
    Same,
    /// Two pictures.
    Distinct,
    /// Refused, but so narrowly that a clipped colour channel could explain the difference:
    /// the colour check ([`same_colours`]) decides, where the store has colour.
    Colour,
}

/// Whether `a` and `b` show one picture: the gray check ([`judge`]), then for a pair it
/// leaves to colour, the colour check on the two pictures' RGB pixels, which `colours`
/// reads only then (`None` for a gray store: the pair is refused).
pub fn is_copy(
    a: &Picture,
    b: &Picture,
    min_similarity: f32,
    colours: impl FnOnce() -> anyhow::Result<[Option<Vec<u8>>; 2]>,
) -> anyhow::Result<bool> {
    Ok(match judge(a, b, min_similarity) {
        Verdict::Same => true,
        Verdict::Distinct => false,
        Verdict::Colour => match colours()? {
            [Some(ca), Some(cb)] => same_colours(&ca, &cb, a.side(), min_similarity),
            _ => false,
        },
    })
}

/// Relative difference (at the store's side) under which a pair the gray check refuses at
/// [`SURE_SLACK`] below the threshold is looked at in colour: twice [`MAX_RELATIVE`] — the
/// clipped copies measured differ by up to 0.38 in gray, look-alike colour pictures by 0.35
/// and more (README "Dedup"), which the colour check then refuses.
const COLOUR_RELATIVE: f32 = 2.0 * MAX_RELATIVE;

/// The gray check of `a` and `b` by [`Rule::new`]`(min_similarity)`, at the store's side or,
/// from 64 px up, at half of it; a pair refused narrowly at the side is left to colour.
pub fn judge(a: &Picture, b: &Picture, min_similarity: f32) -> Verdict {
    let rule = Rule::new(min_similarity);
    let mut verdict = Verdict::Distinct;
    for (scale, (r, relative)) in a.measures(b).enumerate() {
        if rule.accepts(r, relative) {
            return Verdict::Same;
        }
        if scale == 0 && r >= min_similarity - SURE_SLACK && relative <= COLOUR_RELATIVE {
            verdict = Verdict::Colour;
        }
    }
    verdict
}

/// Whether two RGB pictures (`side` x `side`, interleaved) are one when their clipped
/// channel values are left out.
///
/// Brightening a picture clips some of its channels at 255 (a red that was 230 stays 255
/// while its green and blue still rise), so its luma is no longer a linear function of the
/// original's and the gray correlation falls (0.958 for such a copy on the colour demo)
/// although every unclipped channel value is still exactly linear in the original's. Here
/// each channel value at or beyond [`CLIPPED`] of either end, in either picture, is
/// dropped, and the rest correlated channel by channel and pooled (the covariances summed
/// over channels, each channel centred on its own mean), best over offsets in [-1, 1]². The
/// pair then passes the same [`Rule`], measured against the pooled one-pixel detail.
pub fn same_colours(a: &[u8], b: &[u8], side: usize, min_similarity: f32) -> bool {
    if a.len() != side * side * 3 || b.len() != side * side * 3 || side < 3 {
        return false;
    }
    let detail = |p: &[u8]| {
        1.0 - (colour_correlation(p, p, side, 1, 0) + colour_correlation(p, p, side, 0, 1)) / 2.0
    };
    let yardstick = detail(a).max(detail(b)).max(LEAST_DETAIL);
    let mut r = -1f32;
    for dy in -1i64..=1 {
        for dx in -1i64..=1 {
            r = r.max(colour_correlation(a, b, side, dx, dy));
        }
    }
    Rule::new(min_similarity).accepts(r, (1.0 - r) / yardstick)
}

/// How near either end a channel value is taken to be clipped: a JPEG re-encoding rings a
/// clipped plateau a few levels below 255.
const CLIPPED: u8 = 5;

/// The pooled correlation of `same_colours` at one offset; 0 when fewer than a quarter of
/// the channel values are left or they are flat.
fn colour_correlation(a: &[u8], b: &[u8], side: usize, dx: i64, dy: i64) -> f32 {
    let s = side as i64;
    let (mut cov, mut va, mut vb, mut kept) = (0f64, 0f64, 0f64, 0u64);
    let unclipped = |v: u32| (CLIPPED as u32..=255 - CLIPPED as u32).contains(&v) as u32;
    for c in 0..3 {
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        for y in 1..s - 1 {
            for x in 1..s - 1 {
                let va = a[((y * s + x) * 3 + c) as usize] as u32;
                let vb = b[(((y + dy) * s + x + dx) * 3 + c) as usize] as u32;
                let m = unclipped(va) & unclipped(vb);
                n += m as u64;
                sa += (m * va) as u64;
                sb += (m * vb) as u64;
                saa += (m * va * va) as u64;
                sbb += (m * vb * vb) as u64;
                sab += (m * va * vb) as u64;
            }
        }
        if n == 0 {
            continue;
        }
        let (nf, sa, sb) = (n as f64, sa as f64, sb as f64);
        cov += sab as f64 - sa * sb / nf;
        va += saa as f64 - sa * sa / nf;
        vb += sbb as f64 - sb * sb / nf;
        kept += n;
    }
    let interior = (3 * (s - 2) * (s - 2)) as f64;
    if (kept as f64) < interior / 4.0 || va <= 1e-6 * interior || vb <= 1e-6 * interior {
        return 0.0;
    }
    (cov / (va * vb).sqrt()) as f32
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
    // The checks are most of dedup's work at scale; where the CPU has AVX2 (x86-64 since
    // 2013) they are compiled with it, 8 pixels a step instead of SSE2's 4 (1M photos'
    // 11.1M checks: 53 s, then 39 s; 100k: 3.1 s, 2.2 s).
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has the feature the function is compiled for.
        return unsafe { similarity_avx2(a, b, side) };
    }
    similarity_any(a, b, side)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn similarity_avx2(a: &[u8], b: &[u8], side: usize) -> f32 {
    similarity_any(a, b, side)
}

#[inline(always)]
fn similarity_any(a: &[u8], b: &[u8], side: usize) -> f32 {
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
#[inline(always)]
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
        let pic = |g: &[u8], side| Picture::new(g.to_vec(), side);
        assert!(same_picture(&pic(&sharp, 64), &pic(&blurred, 64), 0.97));
        let wider = textured(10, 7);
        assert!(!same_picture(&pic(&sharp, 64), &pic(&wider, 64), 0.97));
        assert!(!same_picture(&pic(&blurred, 64), &pic(&wider, 64), 0.97));
        // The same at 32 px would pass at 16 px, but the check stops at 32.
        let small = halved(&sharp, 64);
        let small_blurred = doubled(&halved(&small, 32), 16);
        assert!(similarity(&small, &small_blurred, 32) < 0.97);
        assert!(similarity(&halved(&small, 32), &halved(&small_blurred, 32), 16) >= 0.97);
        assert!(!same_picture(
            &pic(&small, 32),
            &pic(&small_blurred, 32),
            0.97
        ));
    }

    /// A smooth 32 px picture: a large soft blob and a small one whose centre is at row `y`.
    fn soft(y: f64) -> Vec<u8> {
        (0..32 * 32)
            .map(|i| {
                let (x, row) = ((i % 32) as f64, (i / 32) as f64);
                let blob = |cx: f64, cy: f64, s: f64, depth: f64| {
                    depth * (-((x - cx).powi(2) + (row - cy).powi(2)) / (2.0 * s * s)).exp()
                };
                (200.0 - blob(14.0, 16.0, 6.0, 120.0) - blob(23.0, y, 3.0, 60.0)).round() as u8
            })
            .collect()
    }

    /// Smooth pictures correlate highly with any look-alike: one whose small blob sits three
    /// pixels lower passes the similarity threshold, but differs by far more than a one-pixel
    /// move changes either (the floor of the detail, here), so it is not a copy; a darker
    /// copy is.
    #[test]
    fn smooth_look_alikes_are_refused_by_their_difference_relative_to_their_detail() {
        let (a, look_alike) = (soft(9.0), soft(12.0));
        assert!(similarity(&a, &look_alike, 32) >= DEFAULT_MIN_SIMILARITY);
        let (pa, pl) = (Picture::new(a.clone(), 32), Picture::new(look_alike, 32));
        let (_, relative) = pa.measures(&pl).next().expect("one scale at 32 px");
        assert!(relative > MAX_RELATIVE, "{relative}");
        assert!(!same_picture(&pa, &pl, DEFAULT_MIN_SIMILARITY));
        let darker: Vec<u8> = a.iter().map(|&v| (v as f32 * 0.85).round() as u8).collect();
        assert!(same_picture(
            &pa,
            &Picture::new(darker, 32),
            DEFAULT_MIN_SIMILARITY
        ));
    }

    /// A pair a little under the threshold is a copy when it differs by under a tenth of its
    /// detail, and not when it differs by more.
    #[test]
    fn the_sure_tier_lowers_the_threshold_only_for_tiny_relative_differences() {
        let rule = Rule::new(0.97);
        assert!(rule.accepts(0.97, MAX_RELATIVE));
        assert!(!rule.accepts(0.97, MAX_RELATIVE + 0.01));
        assert!(rule.accepts(0.95, SURE_RELATIVE));
        assert!(!rule.accepts(0.95, SURE_RELATIVE + 0.01));
        assert!(!rule.accepts(0.97 - SURE_SLACK - 0.01, 0.0));
    }

    /// A 32 px RGB picture: a bright red disc (radius 8, centre at column `cx`) whose red
    /// carries a smooth texture, on a green-blue background with the same texture; a faint
    /// fine pattern everywhere.
    fn red_disc(cx: i64) -> Vec<u8> {
        let mut px = Vec::with_capacity(32 * 32 * 3);
        for y in 0..32i64 {
            for x in 0..32i64 {
                let t = 20.0 * (1.0 + (x as f64 / 2.5).sin() * (y as f64 / 3.5).cos());
                let n = (2 * ((x * 7 + y * 13) % 5)) as f64;
                let rgb = if (x - cx).pow(2) + (y - 16).pow(2) <= 64 {
                    [215.0 + t + n, 90.0 + n, 60.0 + n]
                } else {
                    [40.0 + t + n, 110.0 + t + n, 140.0 + t + n]
                };
                px.extend(rgb.map(|v: f64| v.min(255.0) as u8));
            }
        }
        px
    }

    fn gray_picture(rgb: &[u8]) -> Picture {
        Picture::new(crate::dedup::to_gray(rgb, 3), 32)
    }

    /// A brightened copy whose red clipped (its texture gone from the disc's luma) fails
    /// the gray check narrowly and passes in colour; the disc moved is refused in colour too;
    /// without colour (a gray store) the narrow miss stays refused.
    #[test]
    fn a_copy_with_clipped_channels_passes_the_colour_check() {
        let a = red_disc(14);
        let bright: Vec<u8> = a
            .iter()
            .map(|&v| (v as f32 * 1.25).min(255.0) as u8)
            .collect();
        assert!(bright.iter().step_by(3).filter(|&&v| v == 255).count() > 150);
        let (pa, pb) = (gray_picture(&a), gray_picture(&bright));
        assert_eq!(judge(&pa, &pb, 0.97), Verdict::Colour);
        assert!(same_colours(&a, &bright, 32, 0.97));
        // With the clipped values left out the rest is exactly linear in the original.
        let r = colour_correlation(&a, &bright, 32, 0, 0);
        assert!(r > 0.999, "{r}");
        let pair = || Ok([Some(a.clone()), Some(bright.clone())]);
        assert!(is_copy(&pa, &pb, 0.97, pair).unwrap());
        assert!(!is_copy(&pa, &pb, 0.97, || Ok([None, None])).unwrap());
        assert!(!same_picture(&pa, &pb, 0.97));

        let moved = red_disc(16);
        assert!(!same_colours(&a, &moved, 32, 0.97));
        let pm = gray_picture(&moved);
        assert_eq!(judge(&pa, &pm, 0.97), Verdict::Colour);
        assert!(!is_copy(&pa, &pm, 0.97, || Ok([
            Some(a.clone()),
            Some(moved.clone())
        ]))
        .unwrap());
        // Pairs the gray check decides never read colour.
        let unread = || -> anyhow::Result<[Option<Vec<u8>>; 2]> { panic!("colour read") };
        assert!(is_copy(&pa, &gray_picture(&a), 0.97, unread).unwrap());
        let far = gray_picture(&red_disc(24));
        assert_eq!(judge(&pa, &far, 0.97), Verdict::Distinct);
        assert!(!is_copy(&pa, &far, 0.97, unread).unwrap());
    }

    /// A picture whose channels are nearly all clipped, or flat once the clipped values are
    /// dropped, matches nothing in colour; wrong lengths match nothing.
    #[test]
    fn the_colour_check_refuses_what_it_cannot_measure() {
        let white = vec![255u8; 32 * 32 * 3];
        assert!(!same_colours(&white, &white, 32, 0.97));
        let a = red_disc(14);
        assert!(same_colours(&a, &a, 32, 0.97));
        assert!(!same_colours(&a, &a[..30], 32, 0.97));
        assert!(!same_colours(&a, &white, 32, 0.97));
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
        let whole = Picture::new(bar(10, 3), 32);
        assert!(!same_picture(&Picture::new(vec![], 32), &whole, 0.0));
        assert!(Picture::new(vec![], 32).pixels().is_empty());
        // `split`'s leak check hands over empty pixels for a sample whose pixels are missing.
        assert_eq!(similarity(&[], &bar(10, 3), 32), 0.0);
        assert_eq!(similarity(&bar(10, 3), &[1, 2, 3], 32), 0.0);
    }
}
