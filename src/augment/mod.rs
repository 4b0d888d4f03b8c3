//! Augmentations on normalised images, as pure seeded functions.
//!
//! The paper's six (rotation ±0.05 turn, contrast ±50%, translation ±20%, pen-stroke black
//! spots, white spots, dashed lines of random length and angle) plus cutout, and the batch-
//! level mixup and label smoothing. Geometric transforms fill what they uncover by padding
//! (solid background or reflection) instead of cropping.
//!
//! Those six suit drawings on paper, not photographs: pen strokes and dashed lines teach a
//! photo model nothing, and a solid border around a shifted photo is a cue no real image
//! has. So the settings come as presets (`Preset`): `numerals` (the paper's), `photos`
//! (horizontal flips, shifts with reflected borders — a padded random crop —, colour
//! jitter, cutout, mixup) and `none`. A store's default preset is chosen from its data.
//!
//! Images are channel-major `f32` in 0..=1, where 1 is white paper.

use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

/// How geometric transforms fill pixels that come from outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// The background colour (median of the border).
    Solid,
    /// Mirror the image at its edges.
    Reflect,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Largest rotation, in turns (0.05 = 18°).
    pub rotation: f32,
    /// Largest relative contrast change (0.5 = ×0.5..×1.5).
    pub contrast: f32,
    /// Largest shift, as a fraction of the side.
    pub translation: f32,
    /// Probability of pen-stroke black spots.
    pub black_spots: f32,
    /// Probability of white spots.
    pub white_spots: f32,
    /// Probability of a dashed line.
    pub dashed_lines: f32,
    /// Probability of a cutout square (side `cutout_size` of the image).
    pub cutout: f32,
    pub cutout_size: f32,
    /// Mixup Beta(α, α) parameter; 0 turns mixup off.
    pub mixup: f32,
    /// Label smoothing ε: the target gives 1-ε to the label and ε/(K-1) to the others.
    pub label_smoothing: f32,
    pub padding: Padding,
    /// Probability of a horizontal flip.
    #[serde(default)]
    pub hflip: f32,
    /// Largest relative brightness change (0.3 = ×0.7..×1.3).
    #[serde(default)]
    pub brightness: f32,
    /// Largest relative saturation change of colour images (0.3 = ×0.7..×1.3).
    #[serde(default)]
    pub saturation: f32,
}

/// A named set of augmentation settings, chosen for the kind of images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The paper's six for drawings on paper: rotation, contrast, shifts on a solid border,
    /// pen-stroke spots, white spots, dashed lines; light cutout and label smoothing.
    #[default]
    Numerals,
    /// For photographs: horizontal flips, shifts with reflected borders, brightness,
    /// contrast and saturation jitter, cutout, mixup and label smoothing.
    Photos,
    /// No augmentation.
    None,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Numerals => "numerals",
            Preset::Photos => "photos",
            Preset::None => "none",
        }
    }

    pub fn config(self) -> AugmentConfig {
        match self {
            Preset::Numerals => AugmentConfig::default(),
            Preset::Photos => AugmentConfig::photos(),
            Preset::None => AugmentConfig::none(),
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for AugmentConfig {
    /// The paper's settings, with light cutout and label smoothing and no mixup.
    fn default() -> Self {
        AugmentConfig {
            rotation: 0.05,
            contrast: 0.5,
            translation: 0.2,
            black_spots: 0.3,
            white_spots: 0.3,
            dashed_lines: 0.3,
            cutout: 0.2,
            cutout_size: 0.25,
            mixup: 0.0,
            label_smoothing: 0.05,
            padding: Padding::Solid,
            hflip: 0.0,
            brightness: 0.0,
            saturation: 0.0,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all (scoring, evaluation).
    pub fn none() -> Self {
        AugmentConfig {
            rotation: 0.0,
            contrast: 0.0,
            translation: 0.0,
            black_spots: 0.0,
            white_spots: 0.0,
            dashed_lines: 0.0,
            cutout: 0.0,
            cutout_size: 0.0,
            mixup: 0.0,
            label_smoothing: 0.0,
            padding: Padding::Solid,
            hflip: 0.0,
            brightness: 0.0,
            saturation: 0.0,
        }
    }

    /// The photos preset: a shift of up to 1/8 of the side with mirrored borders (the usual
    /// pad-4-and-crop at 32 px), a horizontal flip half the time, ±25% brightness, contrast
    /// and saturation, cutout of a quarter side half the time, mixup Beta(0.2, 0.2) and
    /// label smoothing 0.1 (both damp memorising wrong labels, seed 002). No rotation: a
    /// tilted photo shows corners that never occur.
    pub fn photos() -> Self {
        AugmentConfig {
            rotation: 0.0,
            contrast: 0.25,
            translation: 0.125,
            black_spots: 0.0,
            white_spots: 0.0,
            dashed_lines: 0.0,
            cutout: 0.5,
            cutout_size: 0.25,
            mixup: 0.2,
            label_smoothing: 0.1,
            padding: Padding::Reflect,
            hflip: 0.5,
            brightness: 0.25,
            saturation: 0.25,
        }
    }
}

/// A channel-major image.
#[derive(Clone, Debug, PartialEq)]
pub struct Img {
    pub side: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Img {
    pub fn from_u8(px: &[u8], side: usize, channels: usize) -> Img {
        // Stored pixels are interleaved (HWC); tensors want CHW.
        let mut data = vec![0f32; px.len()];
        for (i, &v) in px.iter().enumerate() {
            let (pixel, c) = (i / channels, i % channels);
            data[c * side * side + pixel] = v as f32 / 255.0;
        }
        Img {
            side,
            channels,
            data,
        }
    }

    pub fn to_u8(&self) -> Vec<u8> {
        let plane = self.side * self.side;
        let mut out = vec![0u8; self.data.len()];
        for c in 0..self.channels {
            for p in 0..plane {
                out[p * self.channels + c] =
                    (self.data[c * plane + p] * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    fn plane(&self, c: usize) -> &[f32] {
        let n = self.side * self.side;
        &self.data[c * n..(c + 1) * n]
    }

    /// Median of the border of each channel: the paper colour.
    pub fn background(&self) -> Vec<f32> {
        let s = self.side;
        (0..self.channels)
            .map(|c| {
                let p = self.plane(c);
                let mut b: Vec<f32> = (0..s)
                    .flat_map(|i| [p[i], p[(s - 1) * s + i], p[i * s], p[i * s + s - 1]])
                    .collect();
                b.sort_by(|a, b| a.total_cmp(b));
                b[b.len() / 2]
            })
            .collect()
    }
}

/// Rotate by `turns` and shift by (`dx`, `dy`) pixels in one bilinear warp.
pub fn affine(img: &Img, turns: f32, dx: f32, dy: f32, padding: Padding) -> Img {
    let s = img.side;
    let bg = img.background();
    let (sin, cos) = (turns * std::f32::consts::TAU).sin_cos();
    let mid = (s as f32 - 1.0) / 2.0;
    let mut out = img.clone();
    for (c, &paper) in bg.iter().enumerate() {
        let src = img.plane(c);
        let sample = |x: i64, y: i64| -> f32 {
            let n = s as i64;
            match padding {
                Padding::Solid => {
                    if x < 0 || y < 0 || x >= n || y >= n {
                        paper
                    } else {
                        src[(y * n + x) as usize]
                    }
                }
                Padding::Reflect => {
                    let r = |v: i64| {
                        let period = 2 * n;
                        let m = v.rem_euclid(period);
                        if m < n {
                            m
                        } else {
                            period - 1 - m
                        }
                    };
                    src[(r(y) * n + r(x)) as usize]
                }
            }
        };
        for y in 0..s {
            for x in 0..s {
                // Inverse map: where in the source does this output pixel come from?
                let (ox, oy) = (x as f32 - mid - dx, y as f32 - mid - dy);
                let sx = cos * ox + sin * oy + mid;
                let sy = -sin * ox + cos * oy + mid;
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let v = sample(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + sample(x0 + 1, y0) * fx * (1.0 - fy)
                    + sample(x0, y0 + 1) * (1.0 - fx) * fy
                    + sample(x0 + 1, y0 + 1) * fx * fy;
                out.data[c * s * s + y * s + x] = v;
            }
        }
    }
    out
}

/// Scale the distance of every pixel from the image mean by `factor`.
pub fn contrast(img: &mut Img, factor: f32) {
    let n = img.side * img.side;
    for c in 0..img.channels {
        let p = &mut img.data[c * n..(c + 1) * n];
        let mean = p.iter().sum::<f32>() / n as f32;
        for v in p.iter_mut() {
            *v = ((*v - mean) * factor + mean).clamp(0.0, 1.0);
        }
    }
}

/// Mirror left to right.
pub fn hflip(img: &mut Img) {
    let s = img.side;
    for row in img.data.chunks_exact_mut(s) {
        row.reverse();
    }
}

/// Multiply every value by `factor`.
pub fn brightness(img: &mut Img, factor: f32) {
    for v in img.data.iter_mut() {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

/// Scale each pixel's distance from its own gray value by `factor` (colour images only).
pub fn saturation(img: &mut Img, factor: f32) {
    if img.channels != 3 {
        return;
    }
    let n = img.side * img.side;
    let (r, rest) = img.data.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let gray = 0.299 * *r + 0.587 * *g + 0.114 * *b;
        for v in [r, g, b] {
            *v = ((*v - gray) * factor + gray).clamp(0.0, 1.0);
        }
    }
}

/// Paint a round dot of `radius` at (`cx`, `cy`) with `value`, anti-aliased.
fn dot(img: &mut Img, cx: f32, cy: f32, radius: f32, value: f32) {
    let s = img.side;
    let (x0, x1) = (
        (cx - radius - 1.0).max(0.0) as usize,
        ((cx + radius + 1.0) as usize).min(s - 1),
    );
    let (y0, y1) = (
        (cy - radius - 1.0).max(0.0) as usize,
        ((cy + radius + 1.0) as usize).min(s - 1),
    );
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
            if cover > 0.0 {
                for c in 0..img.channels {
                    let v = &mut img.data[c * s * s + y * s + x];
                    *v = *v * (1.0 - cover) + value * cover;
                }
            }
        }
    }
}

/// Pen-stroke-like spots: 1 to 3 short blotches of dark ink.
pub fn black_spots(img: &mut Img, rng: &mut impl Rng) {
    spots(img, rng, 0.0);
}

/// White spots: 1 to 3 blotches of paper over the drawing.
pub fn white_spots(img: &mut Img, rng: &mut impl Rng) {
    spots(img, rng, 1.0);
}

fn spots(img: &mut Img, rng: &mut impl Rng, value: f32) {
    let s = img.side as f32;
    for _ in 0..rng.random_range(1..=3) {
        let (mut x, mut y) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let r = rng.random_range(0.6..1.6f32);
        // A blotch is a short smear of a few dots, like a pen touching the paper.
        for _ in 0..rng.random_range(1..=3) {
            dot(img, x, y, r, value);
            x += rng.random_range(-1.5..1.5f32);
            y += rng.random_range(-1.5..1.5f32);
        }
    }
}

/// A dashed dark line of random length (30–100% of the side) and angle.
pub fn dashed_line(img: &mut Img, rng: &mut impl Rng) {
    let s = img.side as f32;
    let len = rng.random_range(0.3..1.0f32) * s;
    let angle = rng.random_range(0.0..std::f32::consts::PI);
    let (cx, cy) = (
        rng.random_range(0.2 * s..0.8 * s),
        rng.random_range(0.2 * s..0.8 * s),
    );
    let (ux, uy) = (angle.cos(), angle.sin());
    let (dash, gap) = (rng.random_range(2.0..4.0f32), rng.random_range(1.5..3.5f32));
    let width = rng.random_range(0.4..0.9f32);
    let mut t = -len / 2.0;
    while t < len / 2.0 {
        let end = (t + dash).min(len / 2.0);
        let mut u = t;
        while u <= end {
            dot(img, cx + ux * u, cy + uy * u, width, 0.0);
            u += 0.5;
        }
        t = end + gap;
    }
}

/// Fill a random square of side `size * side` with the background colour.
pub fn cutout(img: &mut Img, size: f32, rng: &mut impl Rng) {
    let s = img.side;
    let k = ((size * s as f32).round() as usize).clamp(1, s);
    let bg = img.background();
    let (x0, y0) = (rng.random_range(0..=s - k), rng.random_range(0..=s - k));
    for (c, &b) in bg.iter().enumerate() {
        for y in y0..y0 + k {
            for x in x0..x0 + k {
                img.data[c * s * s + y * s + x] = b;
            }
        }
    }
}

/// A factor in 1 ± `amount`.
fn jitter(rng: &mut impl Rng, amount: f32) -> f32 {
    rng.random_range(1.0 - amount..=1.0 + amount)
}

/// Apply the per-image augmentations of `cfg` in a fixed order.
pub fn augment(img: &Img, cfg: &AugmentConfig, rng: &mut impl Rng) -> Img {
    let s = img.side as f32;
    let turns = if cfg.rotation > 0.0 {
        rng.random_range(-cfg.rotation..=cfg.rotation)
    } else {
        0.0
    };
    let t = cfg.translation * s;
    let (dx, dy) = if t > 0.0 {
        (rng.random_range(-t..=t), rng.random_range(-t..=t))
    } else {
        (0.0, 0.0)
    };
    let mut out = if turns != 0.0 || dx != 0.0 || dy != 0.0 {
        affine(img, turns, dx, dy, cfg.padding)
    } else {
        img.clone()
    };
    if cfg.hflip > 0.0 && rng.random::<f32>() < cfg.hflip {
        hflip(&mut out);
    }
    if cfg.brightness > 0.0 {
        brightness(&mut out, jitter(rng, cfg.brightness));
    }
    if cfg.contrast > 0.0 {
        contrast(&mut out, jitter(rng, cfg.contrast));
    }
    if cfg.saturation > 0.0 && out.channels == 3 {
        saturation(&mut out, jitter(rng, cfg.saturation));
    }
    if rng.random::<f32>() < cfg.black_spots {
        black_spots(&mut out, rng);
    }
    if rng.random::<f32>() < cfg.white_spots {
        white_spots(&mut out, rng);
    }
    if rng.random::<f32>() < cfg.dashed_lines {
        dashed_line(&mut out, rng);
    }
    if rng.random::<f32>() < cfg.cutout {
        cutout(&mut out, cfg.cutout_size, rng);
    }
    out
}

/// A one-hot target smoothed by `epsilon`.
pub fn smooth_target(label: usize, classes: usize, epsilon: f32) -> Vec<f32> {
    if classes < 2 {
        return vec![1.0; classes];
    }
    let mut t = vec![epsilon / (classes - 1) as f32; classes];
    t[label] = 1.0 - epsilon;
    t
}

/// Mix image `a` with `b` (and their targets) by λ ~ Beta(α, α); returns λ.
pub fn mixup(
    a: &mut Img,
    ta: &mut [f32],
    b: &Img,
    tb: &[f32],
    alpha: f32,
    rng: &mut impl Rng,
) -> f32 {
    if alpha <= 0.0 {
        return 1.0;
    }
    let lambda = Beta::new(alpha, alpha)
        .map(|d| d.sample(rng))
        .unwrap_or(1.0);
    // Keep the original dominant so its hard label stays meaningful for forgetting counts.
    let lambda = lambda.max(1.0 - lambda);
    for (x, y) in a.data.iter_mut().zip(&b.data) {
        *x = lambda * *x + (1.0 - lambda) * y;
    }
    for (x, y) in ta.iter_mut().zip(tb) {
        *x = lambda * *x + (1.0 - lambda) * y;
    }
    lambda
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A white 32x32 image with a dark vertical bar in the middle.
    fn bar() -> Img {
        let mut data = vec![1.0f32; 1024];
        for y in 6..26 {
            for x in 14..18 {
                data[y * 32 + x] = 0.1;
            }
        }
        Img {
            side: 32,
            channels: 1,
            data,
        }
    }

    fn ink(img: &Img) -> usize {
        img.data.iter().filter(|&&v| v < 0.5).count()
    }

    fn in_range(img: &Img) -> bool {
        img.data.iter().all(|v| (0.0..=1.0).contains(v))
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn u8_round_trip_and_layout() {
        let px: Vec<u8> = (0..2 * 2 * 3).map(|v| v as u8 * 20).collect();
        let img = Img::from_u8(&px, 2, 3);
        // First plane holds channel 0 of every pixel.
        assert_eq!(img.data[1], 60.0 / 255.0);
        assert_eq!(img.to_u8(), px);
    }

    #[test]
    fn rotation_turns_a_vertical_bar() {
        let r = affine(&bar(), 0.25, 0.0, 0.0, Padding::Solid);
        // A quarter turn makes the bar horizontal: row 16 now has ink across the middle.
        let row: usize = (0..32).filter(|&x| r.data[16 * 32 + x] < 0.5).count();
        assert!(row >= 18, "{row}");
        assert!(in_range(&r));
    }

    #[test]
    fn translation_moves_ink_and_pads() {
        let t = affine(&bar(), 0.0, 5.0, 0.0, Padding::Solid);
        assert!(t.data[16 * 32 + 20] < 0.5 && t.data[16 * 32 + 14] > 0.5);
        // The uncovered left columns are background.
        assert!((t.data[16 * 32] - 1.0).abs() < 1e-6, "{}", t.data[16 * 32]);
        let r = affine(&bar(), 0.0, 16.0, 0.0, Padding::Reflect);
        // Reflection brings a mirrored bar in from the left edge.
        assert!(ink(&r) > 0);
    }

    #[test]
    fn contrast_scales_around_the_mean() {
        let mut a = bar();
        let before = a.data[16 * 32 + 15];
        contrast(&mut a, 0.5);
        assert!(
            a.data[16 * 32 + 15] > before,
            "ink gets lighter with less contrast"
        );
        assert!(in_range(&a));
    }

    #[test]
    fn spots_lines_and_cutout_change_what_they_say() {
        let base = bar();
        let mut b = base.clone();
        black_spots(&mut b, &mut rng(1));
        assert!(ink(&b) > ink(&base));
        let mut w = base.clone();
        for s in 0..20 {
            white_spots(&mut w, &mut rng(s));
        }
        assert!(ink(&w) < ink(&base), "white spots cover ink");
        let mut d = base.clone();
        dashed_line(&mut d, &mut rng(3));
        assert!(ink(&d) > ink(&base));
        let mut c = base.clone();
        for s in 0..10 {
            cutout(&mut c, 0.5, &mut rng(s));
        }
        assert!(ink(&c) < ink(&base));
        assert!(in_range(&b) && in_range(&w) && in_range(&d) && in_range(&c));
    }

    #[test]
    fn augment_is_deterministic_by_seed_and_keeps_shape() {
        let cfg = AugmentConfig::default();
        let a = augment(&bar(), &cfg, &mut rng(9));
        let b = augment(&bar(), &cfg, &mut rng(9));
        let c = augment(&bar(), &cfg, &mut rng(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.data.len(), 1024);
        assert!(in_range(&a));
        assert_eq!(augment(&bar(), &AugmentConfig::none(), &mut rng(1)), bar());
    }

    /// The photos preset flips, jitters colour and shifts with mirrored borders, and never
    /// draws the numerals' pen strokes: on a flat mid-gray image nothing dark appears.
    #[test]
    fn photos_preset_flips_jitters_and_draws_no_strokes() {
        let mut f = bar();
        f.data[5 * 32 + 3] = 0.0;
        hflip(&mut f);
        assert_eq!(f.data[5 * 32 + 28], 0.0, "mirrored left to right");
        let mut rgb = Img {
            side: 2,
            channels: 3,
            data: vec![0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
        };
        saturation(&mut rgb, 0.0);
        assert!((rgb.data[0] - rgb.data[4]).abs() < 1e-6, "no chroma left");
        let mut dim = bar();
        brightness(&mut dim, 0.5);
        assert!((dim.data[0] - 0.5).abs() < 1e-6);

        let cfg = Preset::Photos.config();
        let flat = Img {
            side: 32,
            channels: 3,
            data: vec![0.5; 3 * 1024],
        };
        for s in 0..50 {
            let a = augment(&flat, &cfg, &mut rng(s));
            assert!(in_range(&a));
            // Brightness and contrast move the whole image; no pixel departs from the rest.
            let (lo, hi) = a
                .data
                .iter()
                .fold((1f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(hi - lo < 1e-4, "seed {s}: a stroke or spot was drawn");
        }
        assert_eq!(Preset::Numerals.config(), AugmentConfig::default());
        assert_eq!(Preset::None.config(), AugmentConfig::none());
    }

    #[test]
    fn targets_mix_and_smooth() {
        let t = smooth_target(2, 5, 0.1);
        assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((t[2] - 0.9).abs() < 1e-6 && (t[0] - 0.025).abs() < 1e-6);
        let (mut a, mut ta) = (bar(), smooth_target(0, 2, 0.0));
        let b = Img {
            side: 32,
            channels: 1,
            data: vec![1.0; 1024],
        };
        let lambda = mixup(
            &mut a,
            &mut ta,
            &b,
            &smooth_target(1, 2, 0.0),
            0.4,
            &mut rng(2),
        );
        assert!((0.5..=1.0).contains(&lambda));
        assert!((ta[0] - lambda).abs() < 1e-6 && (ta[1] - (1.0 - lambda)).abs() < 1e-6);
        assert!(ink(&a) <= ink(&bar()));
    }
}
