//! Matrix products on plain f32 slices for the CPU kernels of `conv`, into memory the
//! caller provides (uninitialised, or accumulated into), on the calling thread: `conv` runs
//! one product per chunk of a batch, the chunks in parallel. Flex's matmul zero-fills its
//! output as bytes and then copies it into a more aligned allocation, both on the calling
//! thread while the pool waits, before the product overwrites every value: ≈10% of a GAN
//! iteration in its profile (kernel page zeroing, memset, memmove).

use std::mem::MaybeUninit;

/// A read-only matrix over a slice: `rows x cols`, element `(r, c)` at
/// `r · row_stride + c · col_stride`.
#[derive(Clone, Copy, Debug)]
pub(super) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// `data` as a row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix of {rows}x{cols}");
        View {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Every `row_stride`-th run of `cols` values of `data` as the rows of a matrix.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            cols <= row_stride || rows <= 1,
            "rows of {cols} every {row_stride}"
        );
        assert!(
            rows == 0 || (rows - 1) * row_stride + cols <= data.len(),
            "matrix of {rows}x{cols} every {row_stride}"
        );
        View {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose, reading the same values (no copy).
    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `a · b` in a fresh buffer, row-major `[a.rows, b.cols]`, on the calling thread.
pub(super) fn product(a: View, b: View) -> Vec<f32> {
    let n = a.rows * b.cols;
    let mut out = Vec::with_capacity(n);
    product_into(a, b, &mut out.spare_capacity_mut()[..n]);
    // SAFETY: `product_into` wrote all n values.
    unsafe { out.set_len(n) };
    out
}

/// `a · b` written into `out` (`a.rows · b.cols` values), on the calling thread: for the
/// tasks that each multiply one chunk of a batch.
pub(super) fn product_into(a: View, b: View, out: &mut [MaybeUninit<f32>]) {
    run(a, b, out, false, gemm::Parallelism::None);
}

/// `out += a · b`, on the calling thread.
pub(super) fn product_add(a: View, b: View, out: &mut [f32]) {
    // SAFETY: initialised values viewed as possibly uninitialised, written only with
    // initialised ones.
    let out = unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) };
    run(a, b, out, true, gemm::Parallelism::None);
}

/// gemm's `out = (read ? out : 0) + a · b`; `out` must be initialised when `read`.
fn run(a: View, b: View, out: &mut [MaybeUninit<f32>], read: bool, parallelism: gemm::Parallelism) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(out.len(), m * n, "output of {m}x{n}");
    if m * n == 0 {
        return;
    }
    if k == 0 {
        if !read {
            out.iter_mut().for_each(|v| {
                v.write(0.0);
            });
        }
        return;
    }
    // SAFETY: `View::rows` checked each slice holds its whole matrix and `t` only swaps the
    // strides, so every element gemm reads lies in `a.data` and `b.data`; `out` holds
    // exactly m·n values at row stride n, all of which gemm writes (and reads only when
    // `read`, when the caller initialised them).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr() as *mut f32,
            1,
            n as isize,
            read,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    /// Plain and transposed operands, on and off the pool, give the textbook product.
    #[test]
    fn product_matches_the_definition() {
        for (m, k, n) in [(3, 4, 5), (1, 7, 1), (200, 190, 210)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32) / 3.0).collect();
            let want = naive(&a, &b, m, k, n);
            let got = product(View::rows(&a, m, k), View::rows(&b, k, n));
            let mut added = want.clone();
            product_add(View::rows(&a, m, k), View::rows(&b, k, n), &mut added);
            // The same values stored transposed, read back through `t`.
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let via_t = product(View::rows(&at, k, m).t(), View::rows(&bt, n, k).t());
            let twice: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
            for (x, y) in [(&want, &got), (&want, &via_t), (&twice, &added)] {
                assert_eq!(x.len(), y.len());
                for (p, q) in x.iter().zip(y) {
                    assert!(
                        (p - q).abs() <= 1e-3 * (1.0 + p.abs()),
                        "{m}x{k}x{n}: {p} vs {q}"
                    );
                }
            }
        }
        assert_eq!(
            product(View::rows(&[], 2, 0), View::rows(&[], 0, 3)),
            [0.0; 6]
        );
    }
}
