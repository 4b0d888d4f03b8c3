//! Draw handwriting-like Roman numerals from strokes: each letter is a few line segments,
//! jittered, slanted, rotated and scaled per sample, then rasterised with anti-aliased
//! round-capped pen strokes of a random width.

use rand::Rng;

pub const SIDE: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Seg {
    a: (f32, f32),
    b: (f32, f32),
}

/// Normal-ish noise from the sum of three uniforms (mean 0, std `sd`).
fn gauss(rng: &mut impl Rng, sd: f32) -> f32 {
    let s: f32 = (0..3).map(|_| rng.random::<f32>()).sum::<f32>() - 1.5;
    s * 2.0 * sd
}

/// A stroke end point, jittered by the writer's hand.
fn p(rng: &mut impl Rng, x: f32, y: f32) -> (f32, f32) {
    const JITTER: f32 = 0.045;
    (x + gauss(rng, JITTER), y + gauss(rng, JITTER))
}

/// The strokes of one numeral in em units: x to the right, y down, height 1.
fn strokes(numeral: &str, rng: &mut impl Rng) -> (Vec<Seg>, f32) {
    let mut segs = Vec::new();
    let mut x = 0.0f32;
    let serifs = rng.random_bool(0.25);
    for (k, ch) in numeral.chars().enumerate() {
        if k > 0 {
            x += 0.12 + rng.random_range(-0.03..0.05);
        }
        match ch {
            'I' => {
                let w = 0.3;
                let cx = x + w / 2.0;
                segs.push(Seg {
                    a: p(rng, cx, 0.0),
                    b: p(rng, cx, 1.0),
                });
                if serifs {
                    segs.push(Seg {
                        a: p(rng, x, 0.0),
                        b: p(rng, x + w, 0.0),
                    });
                    segs.push(Seg {
                        a: p(rng, x, 1.0),
                        b: p(rng, x + w, 1.0),
                    });
                }
                x += w;
            }
            'V' => {
                let w = rng.random_range(0.6..0.8);
                let bottom = p(rng, x + w / 2.0, 1.0);
                segs.push(Seg {
                    a: p(rng, x, 0.0),
                    b: bottom,
                });
                segs.push(Seg {
                    a: bottom,
                    b: p(rng, x + w, 0.0),
                });
                x += w;
            }
            'X' => {
                let w = rng.random_range(0.6..0.8);
                segs.push(Seg {
                    a: p(rng, x, 0.0),
                    b: p(rng, x + w, 1.0),
                });
                segs.push(Seg {
                    a: p(rng, x + w, 0.0),
                    b: p(rng, x, 1.0),
                });
                x += w;
            }
            _ => {}
        }
    }
    (segs, x)
}

/// Split each segment at a jittered midpoint: hand-drawn lines are not straight.
fn wobble(segs: Vec<Seg>, rng: &mut impl Rng, amount: f32) -> Vec<Seg> {
    segs.into_iter()
        .flat_map(|s| {
            let m = (
                (s.a.0 + s.b.0) / 2.0 + gauss(rng, amount),
                (s.a.1 + s.b.1) / 2.0 + gauss(rng, amount),
            );
            [Seg { a: s.a, b: m }, Seg { a: m, b: s.b }]
        })
        .collect()
}

fn dist_to_seg(px: f32, py: f32, s: &Seg) -> f32 {
    let (dx, dy) = (s.b.0 - s.a.0, s.b.1 - s.a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((px - s.a.0) * dx + (py - s.a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (s.a.0 + t * dx, s.a.1 + t * dy);
    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
}

/// Rasterise pixel-space segments: dark ink on light paper.
fn raster(segs: &[Seg], width: f32, ink: f32, paper: f32, rng: &mut impl Rng) -> Vec<u8> {
    let mut out = vec![0u8; SIDE * SIDE];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let d = segs
                .iter()
                .map(|s| dist_to_seg(px, py, s))
                .fold(f32::INFINITY, f32::min);
            let cover = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
            let v = paper - cover * (paper - ink) + gauss(rng, 2.0);
            out[y * SIDE + x] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// A 32x32 gray image of `numeral` (letters I, V, X) in a random hand.
pub fn numeral(numeral: &str, rng: &mut impl Rng) -> Vec<u8> {
    let (segs, w) = strokes(numeral, rng);
    let segs = wobble(segs, rng, 0.03);
    let height = rng.random_range(17.0..25.0f32);
    let mut sx = height * rng.random_range(0.75..1.05f32);
    if w * sx > 27.0 {
        sx = 27.0 / w;
    }
    let slant = rng.random_range(-0.25..0.25f32);
    let rot = rng.random_range(-0.08..0.08f32);
    let (sin, cos) = rot.sin_cos();
    let (cx, cy) = (
        16.0 + rng.random_range(-1.5..1.5f32),
        16.0 + rng.random_range(-1.5..1.5f32),
    );
    let place = |(x, y): (f32, f32)| {
        let x = (x - w / 2.0 + slant * (0.5 - y)) * sx;
        let y = (y - 0.5) * height;
        (cx + x * cos - y * sin, cy + x * sin + y * cos)
    };
    let px: Vec<Seg> = segs
        .iter()
        .map(|s| Seg {
            a: place(s.a),
            b: place(s.b),
        })
        .collect();
    let width = rng.random_range(1.3..3.0f32);
    let ink = rng.random_range(0.0..50.0f32);
    let paper = rng.random_range(230.0..255.0f32);
    raster(&px, width, ink, paper, rng)
}

/// Junk: a page with nothing on it.
pub fn blank(rng: &mut impl Rng) -> Vec<u8> {
    vec![rng.random_range(200..=255u8); SIDE * SIDE]
}

/// Junk: sensor-like noise.
pub fn noise(rng: &mut impl Rng) -> Vec<u8> {
    (0..SIDE * SIDE).map(|_| rng.random::<u8>()).collect()
}

/// Junk: a random scribble that is no numeral.
pub fn scribble(rng: &mut impl Rng) -> Vec<u8> {
    let mut pts = vec![(
        rng.random_range(4.0..28.0f32),
        rng.random_range(4.0..28.0f32),
    )];
    for _ in 0..rng.random_range(5..11) {
        let (x, y) = *pts.last().expect("non-empty");
        pts.push((
            (x + rng.random_range(-12.0..12.0f32)).clamp(2.0, 30.0),
            (y + rng.random_range(-12.0..12.0f32)).clamp(2.0, 30.0),
        ));
    }
    let segs: Vec<Seg> = pts.windows(2).map(|w| Seg { a: w[0], b: w[1] }).collect();
    let width = rng.random_range(1.3..3.0f32);
    raster(&segs, width, 20.0, 245.0, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ink(img: &[u8]) -> usize {
        img.iter().filter(|&&v| v < 128).count()
    }

    #[test]
    fn numerals_have_ink_inside_the_frame() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in super::super::CLASSES {
            for _ in 0..20 {
                let img = numeral(n, &mut rng);
                assert_eq!(img.len(), SIDE * SIDE);
                let dark = ink(&img);
                assert!(dark > 20 && dark < 600, "{n}: {dark} dark pixels");
            }
        }
    }

    #[test]
    fn more_letters_more_ink() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mean = |n: &str, rng: &mut rand_chacha::ChaCha8Rng| {
            (0..50).map(|_| ink(&numeral(n, rng))).sum::<usize>() / 50
        };
        assert!(mean("VIII", &mut rng) > mean("I", &mut rng));
    }
}
