//! 3x3 convolutions at stride 1 with one pixel of padding by Winograd's F(2x2, 3x3): each
//! 2x2 block of outputs from its 4x4 input tile in 16 multiplies per channel pair instead
//! of 36, as 16 matrix products `[out, in] · [in, tiles]` between a transform of the
//! tiles and one of the weight, transformed back (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016).
//!
//! Why: per layer, against PyTorch's oneDNN kernels on this 2-core machine, these layers
//! (the generator's 3x3 convolutions, the discriminator's fourth, the classifier's middle
//! bottleneck convolutions) were where a GAN iteration lost most (≈30 vs ≈25 ms an
//! iteration), in im2col products already running at what the GEMM reaches here: the way
//! to go faster is fewer multiply-adds. `conv` runs a forward pass, `input_grad` a
//! convolution's input gradient (the output gradient convolved with the weight transposed
//! and turned); the weight gradient stays an im2col product (`conv::window_product`).
//! Per-layer timer, GAN bench: 4x4 layers of 128 channels 1.57 → 1.19 ms a forward call,
//! 8x8 of 64 1.45 → 1.18 ms; the GAN 5% faster (three interleaved pairs of runs).
//!
//! Sides must be even (tiles of 2x2 outputs) and both channel counts at least
//! `MIN_CHANNELS`; other layers take the im2col path. The results differ from im2col's in
//! rounding only (the tests compare both with Burn's and with the definition).

use super::conv::{by_chunks, chunk_images, fill, Window, SCRATCH};
use super::gemm::{product_into, View};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Channels a layer needs on both sides to run here (`applies`).
const MIN_CHANNELS: usize = 16;

/// Whether a layer with `window` over `h x w` inputs, `c` channels in and `o` out, runs
/// here. With few channels on either side the transforms cost more than the products
/// save (the generator's last layer, one channel out: 1.1 → 3.8 ms a call).
pub(super) fn applies(window: Window, [h, w]: [usize; 2], [c, o]: [usize; 2]) -> bool {
    c.min(o) >= MIN_CHANNELS
        && window.kernel == [3, 3]
        && window.stride == [1, 1]
        && window.padding == [1, 1]
        && window.dilation == [1, 1]
        && h % 2 == 0
        && w % 2 == 0
        && h > 0
        && w > 0
}

/// The convolution of `x` `[batch, c, h, w]` with `weight` `[o, c, 3, 3]` (stride 1, one
/// pixel of zero padding), `[batch, o, h, w]`'s values.
pub(super) fn conv(x: &[f32], [batch, c, h, w]: [usize; 4], weight: &[f32], o: usize) -> Vec<f32> {
    assert_eq!(weight.len(), o * c * 9, "weight of {o}x{c}x3x3");
    let u = transformed(o, c, |oi, ci| kernel(weight, (oi * c + ci) * 9, false));
    run(x, [batch, c, h, w], &u, o)
}

/// The input gradient of a convolution with `weight` `[o, c, 3, 3]` (stride 1, padding 1)
/// from its output gradient `dy` `[batch, o, h, w]`: the convolution of `dy` with the
/// weight transposed `[c, o]` and each kernel turned by 180°; `[batch, c, h, w]`'s values.
pub(super) fn input_grad(
    dy: &[f32],
    [batch, o, h, w]: [usize; 4],
    weight: &[f32],
    c: usize,
) -> Vec<f32> {
    assert_eq!(weight.len(), o * c * 9, "weight of {o}x{c}x3x3");
    let u = transformed(c, o, |ci, oi| kernel(weight, (oi * c + ci) * 9, true));
    run(dy, [batch, o, h, w], &u, c)
}

/// The 3x3 kernel at `at` in `weight`, turned by 180° when `turn`.
fn kernel(weight: &[f32], at: usize, turn: bool) -> [f32; 9] {
    let mut g: [f32; 9] = weight[at..at + 9].try_into().expect("nine taps");
    if turn {
        g.reverse();
    }
    g
}

/// The products of `x` `[batch, c, h, w]`'s transformed tiles with the transformed weight
/// `u` (`transformed`, `o` outputs), transformed back: `[batch, o, h, w]`'s values.
fn run(x: &[f32], [batch, c, h, w]: [usize; 4], u: &[f32], o: usize) -> Vec<f32> {
    assert_eq!(x.len(), batch * c * h * w, "input of {batch}x{c}x{h}x{w}");
    assert_eq!(u.len(), 16 * o * c, "transformed weight");
    let tiles = (h / 2) * (w / 2);
    let (y, _) = by_chunks(
        batch,
        chunk_images(h * w),
        o * h * w,
        || (),
        |imgs, out, _| {
            SCRATCH.with_borrow_mut(|[v, m, _]| {
                let n = imgs.len();
                let cols = n * tiles;
                let xs = &x[imgs.start * c * h * w..imgs.end * c * h * w];
                let v = fill(v, 16 * c * cols, |dst| {
                    transform_tiles(xs, [n, c, h, w], dst)
                });
                let m = fill(m, 16 * o * cols, |dst| {
                    for (k, dst) in dst.chunks_exact_mut(o * cols).enumerate() {
                        product_into(
                            View::strided(&u[k * c..], o, c, 16 * c),
                            View::rows(&v[k * c * cols..][..c * cols], c, cols),
                            dst,
                        );
                    }
                });
                transform_outputs(m, [n, o, h, w], out);
            })
        },
    );
    y
}

/// `G g Gᵀ` for the kernel `g = kernel_of(out, in)` of every channel pair, as `[o, 16, c]`
/// (for tile position `k`, the matrix `[o, c]` at `k · c` with rows `16 · c` apart), on
/// the pool: one output channel's 16 rows are one contiguous run.
fn transformed(
    o: usize,
    c: usize,
    kernel_of: impl Fn(usize, usize) -> [f32; 9] + Sync,
) -> Vec<f32> {
    let mut u = vec![0.0; 16 * o * c];
    u.par_chunks_mut(16 * c).enumerate().for_each(|(oi, rows)| {
        for ci in 0..c {
            let g = kernel_of(oi, ci);
            // G g: rows g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2.
            let mut t = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
                t[0][j] = g0;
                t[1][j] = 0.5 * (g0 + g1 + g2);
                t[2][j] = 0.5 * (g0 - g1 + g2);
                t[3][j] = g2;
            }
            // (G g) Gᵀ, the same on columns.
            for (i, r) in t.iter().enumerate() {
                let row = [
                    r[0],
                    0.5 * (r[0] + r[1] + r[2]),
                    0.5 * (r[0] - r[1] + r[2]),
                    r[2],
                ];
                for (j, value) in row.into_iter().enumerate() {
                    rows[(i * 4 + j) * c + ci] = value;
                }
            }
        }
    });
    u
}

/// `Bᵀ d B` for every 4x4 input tile `d` of `n` images `[c, h, w]` (tile `(ty, tx)` starts
/// at row `2ty - 1`, column `2tx - 1`; outside the image reads zero), as 16 matrices
/// `[c, n · tiles]`, the columns image by image, tiles row by row. Row by row rather than
/// tile by tile: `Bᵀ d` for a row of tiles is four sums of whole padded rows, and each of
/// the 16 outputs of a row of tiles one contiguous run (tile by tile it was 18% of a GAN
/// iteration).
fn transform_tiles(x: &[f32], [n, c, h, w]: [usize; 4], out: &mut [MaybeUninit<f32>]) {
    let (th, tw) = (h / 2, w / 2);
    let cols = n * th * tw;
    // The padded rows' sums, read straight from the image: the first and last column
    // (the padding) stay zero, rows above and below the image read `blank`.
    let pw = w + 2;
    let blank = vec![0.0f32; w];
    let mut s = vec![0.0f32; 4 * pw];
    for img in 0..n {
        for ch in 0..c {
            let plane = &x[(img * c + ch) * h * w..][..h * w];
            let row = |y: isize| match y {
                0.. if (y as usize) < h => &plane[y as usize * w..][..w],
                _ => &blank[..],
            };
            let base = ch * cols + img * th * tw;
            for ty in 0..th {
                let top = 2 * ty as isize - 1;
                let (r0, r1, r2, r3) = (row(top), row(top + 1), row(top + 2), row(top + 3));
                // Bᵀ d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                let (s0, rest) = s.split_at_mut(pw);
                let (s1, rest) = rest.split_at_mut(pw);
                let (s2, s3) = rest.split_at_mut(pw);
                let (s0, s1, s2, s3) = (
                    &mut s0[1..=w],
                    &mut s1[1..=w],
                    &mut s2[1..=w],
                    &mut s3[1..=w],
                );
                for x in 0..w {
                    s0[x] = r0[x] - r2[x];
                    s1[x] = r1[x] + r2[x];
                    s2[x] = r2[x] - r1[x];
                    s3[x] = r1[x] - r3[x];
                }
                let at = base + ty * tw;
                for (i, si) in s.chunks_exact(pw).enumerate() {
                    // (Bᵀ d) B, the same on columns: four runs of `tw` values.
                    let [o0, o1, o2, o3] = runs(out, (i * 4) * c * cols + at, c * cols, tw);
                    for tx in 0..tw {
                        let q = &si[2 * tx..2 * tx + 4];
                        let (q0, q1, q2, q3) = (q[0], q[1], q[2], q[3]);
                        o0[tx].write(q0 - q2);
                        o1[tx].write(q1 + q2);
                        o2[tx].write(q2 - q1);
                        o3[tx].write(q1 - q3);
                    }
                }
            }
        }
    }
}

/// The four runs of `len` values at `start`, `start + step`, `start + 2·step` and
/// `start + 3·step` of `out` (`step ≥ len`), apart.
fn runs(
    out: &mut [MaybeUninit<f32>],
    start: usize,
    step: usize,
    len: usize,
) -> [&mut [MaybeUninit<f32>]; 4] {
    let (a, rest) = out[start..].split_at_mut(step);
    let (b, rest) = rest.split_at_mut(step);
    let (c, d) = rest.split_at_mut(step);
    [&mut a[..len], &mut b[..len], &mut c[..len], &mut d[..len]]
}

/// `Aᵀ m A` for the 16 products `[o, n · tiles]`: each column's 2x2 block of outputs,
/// written into `n` images `[o, h, w]`, a row of tiles at a time.
fn transform_outputs(m: &[f32], [n, o, h, w]: [usize; 4], out: &mut [MaybeUninit<f32>]) {
    let (th, tw) = (h / 2, w / 2);
    let cols = n * th * tw;
    let plane = o * cols;
    // Aᵀ m for a row of tiles: rows q0 = m0 + m1 + m2 and q1 = m1 - m2 - m3, per column j.
    let mut q = vec![0.0f32; 8 * tw];
    for img in 0..n {
        for oc in 0..o {
            let dst = &mut out[(img * o + oc) * h * w..][..h * w];
            let base = oc * cols + img * th * tw;
            for ty in 0..th {
                let at = base + ty * tw;
                for j in 0..4 {
                    let row = |i: usize| &m[(i * 4 + j) * plane + at..][..tw];
                    let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3));
                    let (q0, q1) = q[2 * j * tw..(2 * j + 2) * tw].split_at_mut(tw);
                    for tx in 0..tw {
                        q0[tx] = m0[tx] + m1[tx] + m2[tx];
                        q1[tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                for i in 0..2 {
                    let col = |j: usize| &q[(2 * j + i) * tw..][..tw];
                    let (c0, c1, c2, c3) = (col(0), col(1), col(2), col(3));
                    let y = &mut dst[(2 * ty + i) * w..][..w];
                    for (tx, pair) in y.chunks_exact_mut(2).enumerate() {
                        pair[0].write(c0[tx] + c1[tx] + c2[tx]);
                        pair[1].write(c1[tx] - c2[tx] - c3[tx]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition.
    fn direct(x: &[f32], [b, c, h, w]: [usize; 4], weight: &[f32], o: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; b * o * h * w];
        for bi in 0..b {
            for oi in 0..o {
                for yy in 0..h {
                    for xx in 0..w {
                        let mut sum = 0.0f64;
                        for ci in 0..c {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (sy, sx) = (
                                        yy as isize + i as isize - 1,
                                        xx as isize + j as isize - 1,
                                    );
                                    if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                        continue;
                                    }
                                    let v = x[((bi * c + ci) * h + sy as usize) * w + sx as usize];
                                    sum += (v * weight[((oi * c + ci) * 3 + i) * 3 + j]) as f64;
                                }
                            }
                        }
                        y[((bi * o + oi) * h + yy) * w + xx] = sum as f32;
                    }
                }
            }
        }
        y
    }

    /// The largest difference between two runs of values.
    fn worst(got: &[f32], want: &[f32]) -> f32 {
        got.iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small LCG: deterministic, signed values in [-1, 1).
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Against the definition on square and oblong sides, one and many chunks, and one
    /// output channel; the input gradient's weight against its definition.
    #[test]
    fn matches_the_definition() {
        for (i, &(b, c, o, h, w)) in [
            (3, 5, 4, 4, 4),
            (2, 3, 6, 8, 6),
            (40, 2, 3, 4, 4),
            (5, 16, 1, 32, 32),
            (1, 1, 1, 2, 2),
        ]
        .iter()
        .enumerate()
        {
            let x = values(b * c * h * w, i as u32);
            let weight = values(o * c * 9, 100 + i as u32);
            let got = conv(&x, [b, c, h, w], &weight, o);
            let want = direct(&x, [b, c, h, w], &weight, o);
            let worst = worst(&got, &want);
            assert!(worst < 1e-4, "{b}x{c}x{h}x{w} -> {o}: off by {worst}");
        }
        // The input gradient: the output gradient against the weight transposed and turned.
        let (b, o, c, h, w) = (3, 16, 17, 6, 8);
        let (dy, weight) = (values(b * o * h * w, 8), values(o * c * 9, 9));
        let mut turned = vec![0.0; weight.len()];
        for oi in 0..o {
            for ci in 0..c {
                for t in 0..9 {
                    turned[(ci * o + oi) * 9 + t] = weight[(oi * c + ci) * 9 + 8 - t];
                }
            }
        }
        let got = input_grad(&dy, [b, o, h, w], &weight, c);
        let want = direct(&dy, [b, o, h, w], &turned, c);
        let worst = worst(&got, &want);
        assert!(worst < 1e-4, "input gradient off by {worst}");
    }
}
