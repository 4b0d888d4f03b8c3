//! The colour demo's drawings: ten kinds of filled shape, textured, in a random colour, on a
//! textured background of another colour, at a few image sizes and aspect ratios — so
//! colour, letterboxing, the photos preset and every stage at 64 px RGB meet data like a
//! user's folder of photos, with a truth file.
//!
//! A class is a shape, never a colour or texture: both are drawn independently of the class,
//! so a model has to look at outlines. Rotation stays within ±12° (a square turned 45° is a
//! diamond, another class), and every shape is mirror-symmetric or drawn in a random
//! orientation, so a horizontal flip never changes the class.

use image::{Rgb, RgbImage};
use rand::Rng;
use std::f32::consts::{PI, TAU};

pub const CLASSES: [&str; 10] = [
    "circle", "ring", "triangle", "square", "diamond", "pentagon", "hexagon", "star", "cross",
    "crescent",
];

/// Labels a tired annotator confuses with each class.
pub fn confusable(class: usize) -> &'static [usize] {
    match class {
        0 => &[6, 1], // circle -> hexagon, ring
        1 => &[0],    // ring -> circle
        2 => &[5],    // triangle -> pentagon
        3 => &[4],    // square -> diamond
        4 => &[3],    // diamond -> square
        5 => &[6, 2], // pentagon -> hexagon, triangle
        6 => &[5, 0], // hexagon -> pentagon, circle
        7 => &[8],    // star -> cross
        8 => &[7],    // cross -> star
        _ => &[0],    // crescent -> circle
    }
}

/// The side of the usual demo image (some are drawn larger, wider or taller).
pub const SIDE: u32 = 64;

/// Is (u, v) — shape coordinates, v up, the shape within the unit disc — inside `class`?
fn inside(class: usize, u: f32, v: f32) -> bool {
    let r = (u * u + v * v).sqrt();
    // A regular n-gon of circumradius 1 with a vertex at angle `first`.
    let polygon = |n: usize, first: f32| {
        let apothem = (PI / n as f32).cos();
        (0..n).all(|k| {
            let normal = first + PI / n as f32 + TAU * k as f32 / n as f32;
            u * normal.cos() + v * normal.sin() <= apothem
        })
    };
    match class {
        0 => r <= 0.9,
        1 => (0.5..=0.95).contains(&r),
        2 => polygon(3, PI / 2.0),
        3 => polygon(4, PI / 4.0),
        4 => polygon(4, 0.0),
        5 => polygon(5, PI / 2.0),
        6 => polygon(6, 0.0),
        7 => {
            // Five points: the radius swings between 1 and 0.42 every 36°.
            let a = (v.atan2(u) - PI / 2.0).rem_euclid(TAU / 5.0) / (TAU / 5.0);
            let t = (a - 0.5).abs() * 2.0; // 1 at a point, 0 between two
            r <= 0.42 + 0.58 * t
        }
        8 => (u.abs() <= 0.28 && v.abs() <= 0.95) || (v.abs() <= 0.28 && u.abs() <= 0.95),
        _ => r <= 0.95 && ((u - 0.42).powi(2) + v * v).sqrt() > 0.72,
    }
}

/// Hue (0..1), saturation, value -> RGB in 0..255.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let c = v * s;
    let x = c * (1.0 - (h6 % 2.0 - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

/// A brightness pattern over the image: flat, stripes, checks or soft blobs; 1 ± `depth`.
struct Texture {
    kind: u8,
    angle: f32,
    period: f32,
    depth: f32,
    phase: f32,
}

impl Texture {
    fn random(rng: &mut impl Rng, depth: f32) -> Texture {
        Texture {
            kind: rng.random_range(0..4),
            angle: rng.random_range(0.0..PI),
            period: rng.random_range(4.0..12.0),
            depth,
            phase: rng.random_range(0.0..TAU),
        }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (s, c) = self.angle.sin_cos();
        let (a, b) = (x * c + y * s, -x * s + y * c);
        let w = TAU / self.period;
        let m = match self.kind {
            0 => 0.0,
            1 => (a * w + self.phase).sin(),
            2 => ((a * w).sin() * (b * w).sin()).signum() * 0.8,
            _ => ((a * w * 0.5 + self.phase).sin() + (b * w * 0.7).cos()) * 0.5,
        };
        1.0 + self.depth * m
    }
}

/// Draw one image of `class` at a random size: mostly 64x64, sometimes 96x96, 80x64 or 64x48.
pub fn draw(class: usize, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = match rng.random_range(0..10) {
        0 => (96, 96),
        1 => (80, 64),
        2 => (64, 48),
        _ => (SIDE, SIDE),
    };
    let fg_hue = rng.random_range(0.0..1.0f32);
    // The background's hue is at least a fifth of the wheel away: the shape always shows.
    let bg_hue = fg_hue + rng.random_range(0.2..0.8f32);
    let fg = hsv(
        fg_hue,
        rng.random_range(0.5..1.0),
        rng.random_range(0.55..1.0),
    );
    let (bg_a, bg_b) = (
        hsv(
            bg_hue,
            rng.random_range(0.2..0.7),
            rng.random_range(0.3..0.9),
        ),
        hsv(
            bg_hue + rng.random_range(-0.08..0.08),
            rng.random_range(0.2..0.7),
            rng.random_range(0.3..0.9),
        ),
    );
    let (fg_depth, bg_depth) = (rng.random_range(0.05..0.25), rng.random_range(0.05..0.2));
    let fg_tex = Texture::random(rng, fg_depth);
    let bg_tex = Texture::random(rng, bg_depth);
    let grad = rng.random_range(0.0..TAU);
    let short = w.min(h) as f32;
    let radius = short * rng.random_range(0.26..0.42);
    let (cx, cy) = (
        w as f32 / 2.0 + short * rng.random_range(-0.1..0.1),
        h as f32 / 2.0 + short * rng.random_range(-0.1..0.1),
    );
    let turn = rng.random_range(-0.2..0.2f32);
    // The crescent opens to a random side (any orientation is a crescent).
    let turn = if class == 9 {
        rng.random_range(0.0..TAU)
    } else {
        turn
    };
    let (sin, cos) = turn.sin_cos();
    let noise = rng.random_range(2.0..8.0f32);
    RgbImage::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        // Coverage from a 3x3 supersample: soft, anti-aliased edges.
        let mut cover = 0.0;
        for sy in 0..3 {
            for sx in 0..3 {
                let ox = (px - 0.5 + (sx as f32 + 0.5) / 3.0 - cx) / radius;
                let oy = -(py - 0.5 + (sy as f32 + 0.5) / 3.0 - cy) / radius;
                let (u, v) = (ox * cos + oy * sin, -ox * sin + oy * cos);
                if inside(class, u, v) {
                    cover += 1.0 / 9.0;
                }
            }
        }
        let t = ((px * grad.cos() + py * grad.sin()) / (w.max(h) as f32) + 1.0) / 2.0;
        let mut out = [0u8; 3];
        for c in 0..3 {
            let bg = (bg_a[c] * (1.0 - t) + bg_b[c] * t) * bg_tex.at(px, py);
            let fore = fg[c] * fg_tex.at(px - cx, py - cy);
            let grain = noise * (rng.random::<f32>() - 0.5) * 2.0;
            out[c] = (bg * (1.0 - cover) + fore * cover + grain)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    })
}

/// Junk: a flat colour with a little grain.
pub fn blank(rng: &mut impl Rng) -> RgbImage {
    let c = hsv(
        rng.random_range(0.0..1.0),
        rng.random_range(0.0..0.6),
        rng.random_range(0.3..1.0),
    );
    RgbImage::from_fn(SIDE, SIDE, |_, _| {
        Rgb(c.map(|v| (v + rng.random_range(-3.0..3.0)).clamp(0.0, 255.0) as u8))
    })
}

/// Junk: colour noise.
pub fn noise(rng: &mut impl Rng) -> RgbImage {
    RgbImage::from_fn(SIDE, SIDE, |_, _| {
        Rgb([rng.random(), rng.random(), rng.random()])
    })
}

/// Junk: a background with random coloured strokes that make no shape.
pub fn scribble(rng: &mut impl Rng) -> RgbImage {
    let bg = hsv(rng.random_range(0.0..1.0), 0.4, 0.8);
    let ink = hsv(rng.random_range(0.0..1.0), 0.9, 0.4);
    let mut img = RgbImage::from_fn(SIDE, SIDE, |_, _| Rgb(bg.map(|v| v as u8)));
    let s = SIDE as f32;
    let (mut x, mut y) = (
        rng.random_range(8.0..s - 8.0),
        rng.random_range(8.0..s - 8.0),
    );
    let width = rng.random_range(1.5..4.0f32);
    for _ in 0..rng.random_range(5..11) {
        let (nx, ny) = (
            (x + rng.random_range(-24.0..24.0)).clamp(4.0, s - 4.0),
            (y + rng.random_range(-24.0..24.0)).clamp(4.0, s - 4.0),
        );
        let steps = ((nx - x).abs().max((ny - y).abs()) * 2.0) as usize + 1;
        for k in 0..=steps {
            let t = k as f32 / steps as f32;
            let (px, py) = (x + (nx - x) * t, y + (ny - y) * t);
            let r = width.ceil() as i32;
            for dy in -r..=r {
                for dx in -r..=r {
                    let (qx, qy) = (px as i32 + dx, py as i32 + dy);
                    let d = ((dx * dx + dy * dy) as f32).sqrt();
                    if d <= width
                        && (0..SIDE as i32).contains(&qx)
                        && (0..SIDE as i32).contains(&qy)
                    {
                        img.put_pixel(qx as u32, qy as u32, Rgb(ink.map(|v| v as u8)));
                    }
                }
            }
        }
        (x, y) = (nx, ny);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Share of the disc of radius 1 each class covers, from a grid: every class is a
    /// proper, distinct shape (none empty, none the whole disc, no two the same area and
    /// outline).
    #[test]
    fn every_class_is_a_distinct_shape() {
        let grid = |class: usize| -> Vec<bool> {
            (0..40 * 40)
                .map(|i| {
                    let (u, v) = ((i % 40) as f32 / 20.0 - 1.0, (i / 40) as f32 / 20.0 - 1.0);
                    inside(class, u, v)
                })
                .collect()
        };
        let masks: Vec<Vec<bool>> = (0..CLASSES.len()).map(grid).collect();
        for (c, m) in masks.iter().enumerate() {
            let share = m.iter().filter(|&&b| b).count() as f32 / m.len() as f32;
            assert!((0.1..0.75).contains(&share), "{}: {share}", CLASSES[c]);
            for (d, other) in masks.iter().enumerate().skip(c + 1) {
                let differ = m.iter().zip(other).filter(|(a, b)| a != b).count();
                assert!(
                    differ > 40,
                    "{} and {} nearly agree",
                    CLASSES[c],
                    CLASSES[d]
                );
            }
        }
    }

    #[test]
    fn drawings_are_coloured_and_seeded() {
        let a = draw(7, &mut ChaCha8Rng::seed_from_u64(3));
        let b = draw(7, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
        let chroma: f32 = a
            .pixels()
            .map(|p| (p.0.iter().max().unwrap() - p.0.iter().min().unwrap()) as f32)
            .sum::<f32>()
            / (a.width() * a.height()) as f32;
        assert!(chroma > 20.0, "{chroma}");
        for junk in [blank, noise, scribble] {
            let j = junk(&mut ChaCha8Rng::seed_from_u64(1));
            assert_eq!(j.dimensions(), (SIDE, SIDE));
        }
    }
}
