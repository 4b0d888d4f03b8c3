//! Max pooling on the CPU backend as a plain per-plane loop, in training and inference.
//!
//! Flex 0.22 runs 2-D max pooling as its 3-D kernel: for every output value a closure that
//! works out the valid window along three axes (integer divisions each) and records an i64
//! index, and a backward pass that reads those indices back. For the classifier's stem
//! pool (3x3, stride 2, on `[32, 64, 16, 16]`) that was ≈7% of a training step under perf,
//! more than the GEMMs of some layers. Here the forward pass keeps only the maxima; the
//! backward pass finds each window's maximum again in the saved input (the same rule: the
//! first largest value, or the last NaN, as flex's) and adds the gradient there. Both run
//! in parallel over the `batch · channels` planes, into unzeroed memory (`flex::build`).
//!
//! The same backend-extension mechanism as `norm` and `conv`; layers with dilation, ceil
//! mode or uneven padding, and other backends, run Burn's own path. Written so it could go
//! upstream: the two kernels are what flex would put behind `max_pool2d` and
//! `max_pool2d_with_indices{,_backward}` for the 2-D case.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::nn::pool::MaxPool2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, IntDType, Tensor};
use burn_flex::FlexTensor;

use super::conv::Window;
use super::flex::{dense, dims, f32s, is_flex, tensor, AutodiffTensor};

/// Max pooling over `window` (dilation 1, no ceil mode) and its input gradient given the
/// output's (`x` the pooled input).
#[backend_extension(Flex, Autodiff)]
pub trait PlaneMaxPool: Backend {
    fn plane_max_pool(x: FloatTensor<Self>, window: Window) -> FloatTensor<Self> {
        burns_pool::<Self>(x, window)
    }

    fn plane_max_pool_grad(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        window: Window,
    ) -> FloatTensor<Self> {
        burns_pool_grad::<Self>(x, output_grad, window)
    }
}

/// Burn's own max pooling on backend `B` (the trait's default, and flex's for non-f32
/// tensors).
fn burns_pool<B: Backend>(x: FloatTensor<B>, w: Window) -> FloatTensor<B> {
    B::max_pool2d(x, w.kernel, w.stride, w.padding, w.dilation, false)
}

/// Burn's own input gradient of `burns_pool`, through its indices.
fn burns_pool_grad<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    w: Window,
) -> FloatTensor<B> {
    let pooled = B::max_pool2d_with_indices(
        x.clone(),
        w.kernel,
        w.stride,
        w.padding,
        w.dilation,
        false,
        IntDType::I64,
    );
    B::max_pool2d_with_indices_backward(
        x,
        w.kernel,
        w.stride,
        w.padding,
        w.dilation,
        false,
        grad,
        pooled.indices,
    )
    .x_grad
}

/// `pool.forward(x)`, through the kernels here on the CPU backend.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match pool.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return pool.forward(x),
    };
    let plain = pool.dilation == [1, 1] && !pool.ceil_mode;
    if !plain || !is_flex(&x.device()) {
        return pool.forward(x);
    }
    let window = Window {
        kernel: pool.kernel_size,
        stride: pool.stride,
        padding,
        dilation: [1, 1],
    };
    Tensor::from_dispatch(<burn::backend::Dispatch as PlaneMaxPool>::plane_max_pool(
        x.into_dispatch(),
        window,
    ))
}

impl PlaneMaxPool for Flex {
    fn plane_max_pool(x: FlexTensor, window: Window) -> FlexTensor {
        let [batch, c, h, w] = dims(&x);
        match window.grid([h, w]) {
            Some([oh, ow]) if x.dtype() == DType::F32 => {
                let x = dense(x);
                let y = kernels::forward(f32s(&x), [h, w], [oh, ow], window);
                tensor(y, vec![batch, c, oh, ow])
            }
            _ => burns_pool::<Self>(x, window),
        }
    }

    fn plane_max_pool_grad(x: FlexTensor, output_grad: FlexTensor, window: Window) -> FlexTensor {
        let [batch, c, h, w] = dims(&x);
        let [_, _, oh, ow] = dims(&output_grad);
        if x.dtype() != DType::F32 || output_grad.dtype() != DType::F32 {
            return burns_pool_grad::<Self>(x, output_grad, window);
        }
        let (x, dy) = (dense(x), dense(output_grad));
        let dx = kernels::backward(f32s(&x), f32s(&dy), [h, w], [oh, ow], window);
        tensor(dx, vec![batch, c, h, w])
    }
}

#[derive(Debug)]
struct PoolBackward;

impl<B: PlaneMaxPool> Backward<B, 1> for PoolBackward {
    type State = (NodeId, Window);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, window) = ops.state;
        if let Some(node) = node_x {
            let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
            grads.register::<B>(node.id, B::plane_max_pool_grad(x, grad, window));
        }
    }
}

impl<B: PlaneMaxPool, C: CheckpointStrategy> PlaneMaxPool for Autodiff<B, C> {
    fn plane_max_pool(x: AutodiffTensor<B, C>, window: Window) -> AutodiffTensor<B, C> {
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y = B::plane_max_pool(x.into_primitive(), window);
                prep.finish((x_state, window), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::plane_max_pool(x.into_primitive(), window)),
        }
    }
}

/// The kernels on plain NCHW slices, in parallel over planes.
mod kernels {
    use super::super::flex::{build, zero};
    use super::Window;
    use std::cell::RefCell;

    /// The input rows (or columns) `first..last` output position `o` pools over.
    fn span(o: usize, stride: usize, pad: usize, kernel: usize, n: usize) -> (usize, usize) {
        let start = (o * stride) as isize - pad as isize;
        let first = start.max(0) as usize;
        let last = ((start + kernel as isize).max(0) as usize).min(n);
        (first.min(last), last)
    }

    /// `a` or `b`, whichever wins flex's rule with `b` later in the window: larger, or NaN.
    fn later_max(a: f32, b: f32) -> f32 {
        if b > a || b.is_nan() {
            b
        } else {
            a
        }
    }

    /// One plane pooled into `out`, separably: the maximum along each input row's column
    /// windows into `rows` (`[h, ow]`), then along each output row's row window, whole
    /// rows at a time.
    fn pool_plane(
        x: &[f32],
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        win: Window,
        rows: &mut [f32],
        out: &mut [f32],
    ) {
        for (x, r) in x.chunks_exact(w).zip(rows.chunks_exact_mut(ow)) {
            for (ox, r) in r.iter_mut().enumerate() {
                let (a, b) = span(ox, win.stride[1], win.padding[1], win.kernel[1], w);
                *r = x[a..b]
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| later_max(m, v));
            }
        }
        for (oy, out) in out[..oh * ow].chunks_exact_mut(ow).enumerate() {
            out.fill(f32::NEG_INFINITY);
            let (a, b) = span(oy, win.stride[0], win.padding[0], win.kernel[0], h);
            for r in rows[a * ow..b * ow].chunks_exact(ow) {
                for (o, &v) in out.iter_mut().zip(r) {
                    *o = later_max(*o, v);
                }
            }
        }
    }

    /// `x` `[planes, h, w]` pooled to `[planes, oh, ow]` (−∞ for an empty window, as flex).
    pub fn forward(x: &[f32], side: [usize; 2], grid: [usize; 2], win: Window) -> Vec<f32> {
        #[cfg(test)]
        super::tests::CALLS.with(|n| n.set(n.get() + 1));
        let (plane, out) = (side[0] * side[1], grid[0] * grid[1]);
        build(x.len() / plane * out, out, 1, |i, y| {
            let y = zero(y);
            SCRATCH.with_borrow_mut(|(rows, _)| {
                rows.resize(side[0] * grid[1], 0.0);
                pool_plane(&x[i * plane..][..plane], side, grid, win, rows, y);
            })
        })
    }

    thread_local! {
        /// A task's scratch for `pool_plane`: row maxima, and the plane's output in `backward`.
        static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }

    /// The input gradient: each output's gradient added where its window's maximum is in
    /// `x` — the first value equal to it in row order, or the last NaN when it is NaN
    /// (flex's indices).
    pub fn backward(
        x: &[f32],
        dy: &[f32],
        side: [usize; 2],
        grid: [usize; 2],
        win: Window,
    ) -> Vec<f32> {
        #[cfg(test)]
        super::tests::CALLS.with(|n| n.set(n.get() + 1));
        let ([h, w], [oh, ow]) = (side, grid);
        let (plane, out) = (h * w, oh * ow);
        build(x.len(), plane, 1, |i, dx| {
            let dx = zero(dx);
            let (x, dy) = (&x[i * plane..][..plane], &dy[i * out..][..out]);
            SCRATCH.with_borrow_mut(|(rows, y)| {
                rows.resize(h * ow, 0.0);
                y.resize(out, 0.0);
                pool_plane(x, side, grid, win, rows, y);
                for (o, (&m, &g)) in y.iter().zip(dy).enumerate() {
                    let ys = span(o / ow, win.stride[0], win.padding[0], win.kernel[0], h);
                    let xs = span(o % ow, win.stride[1], win.padding[1], win.kernel[1], w);
                    let mut at = (ys.0..ys.1).flat_map(|r| (xs.0..xs.1).map(move |c| r * w + c));
                    let found = if m.is_nan() {
                        at.rfind(|&i| x[i].is_nan())
                    } else {
                        at.find(|&i| x[i] == m)
                    };
                    if let Some(i) = found {
                        dx[i] += g;
                    }
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex::normal;
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, TensorData};
    use std::cell::Cell;

    thread_local! {
        /// Runs of the kernels on this thread, so a test can tell they ran.
        pub(super) static CALLS: Cell<usize> = const { Cell::new(0) };
    }

    fn calls() -> usize {
        CALLS.with(Cell::get)
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Output and input gradient against Burn's own pooling, for the stem's pool and other
    /// windows, on random values with ties (rounded to halves) and a NaN.
    #[test]
    fn pooling_and_its_gradient_match_burns() {
        let device = Device::flex().autodiff();
        for (case, (kernel, stride, pad, input)) in [
            (3, 2, 1, [2, 3, 9, 8]),
            (3, 2, 1, [1, 2, 16, 16]),
            (2, 2, 0, [2, 2, 6, 7]),
            (3, 1, 1, [1, 3, 5, 5]),
        ]
        .into_iter()
        .enumerate()
        {
            let seed = 10 * case as u64;
            let pool = MaxPool2dConfig::new([kernel, kernel])
                .with_strides([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init();
            let what = format!("{kernel}x{kernel}/{stride} pad {pad} on {input:?}");
            let mut raw = normal(input, seed, &device)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            raw.iter_mut().for_each(|v| *v = (*v * 2.0).round() / 2.0);
            raw[5] = f32::NAN;
            let x0 = Tensor::<4>::from_data(TensorData::new(raw, input), &device);
            let y = pool.forward(x0.clone());
            let upstream = normal(y.dims(), seed + 1, &device);
            let mut runs = Vec::new();
            for mine in [false, true] {
                let x = x0.clone().detach().require_grad();
                let before = calls();
                let y = if mine {
                    max_pool2d(&pool, x.clone())
                } else {
                    pool.forward(x.clone())
                };
                let grads = (y.clone() * upstream.clone()).sum().backward();
                // Forward and backward kernels on our path, neither on Burn's.
                assert_eq!(calls() - before, if mine { 2 } else { 0 }, "{what}");
                runs.push((values(y.inner()), values(x.grad(&grads).unwrap())));
            }
            let same = |a: &[f32], b: &[f32]| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
            };
            assert!(same(&runs[0].0, &runs[1].0), "{what}: output");
            assert!(same(&runs[0].1, &runs[1].1), "{what}: input gradient");
            assert!(
                runs[1].0.iter().any(|v| v.is_nan()),
                "{what}: the NaN wins its windows"
            );
        }
    }

    /// Without autodiff (scoring) the same maxima as Burn's.
    #[test]
    fn inference_pools_as_burn_does() {
        let device = Device::flex();
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let x = normal([3, 4, 16, 16], 4, &device);
        let before = calls();
        assert_eq!(
            values(max_pool2d(&pool, x.clone())),
            values(pool.forward(x))
        );
        assert_eq!(calls(), before + 1);
    }
}
