//! A convolution's per-channel bias, optionally followed by a leaky ReLU, as one pass on
//! the CPU backend in training.
//!
//! Burn adds a convolution's bias as a broadcast `y + bias.reshape([1, c, 1, 1])`, and its
//! backward reduces the output gradient to the bias's shape with one `sum_dim` per
//! broadcast axis: flex runs those as strided scalar loops on the calling thread, ≈12% of
//! a GAN iteration under perf (every GAN layer has a bias, the classifier's none). The
//! discriminator's leaky ReLU after each convolution was three more passes forward (a
//! comparison, a scale, a select) and as many back. Here the forward pass adds the bias
//! and applies the slope as it writes, in place when the convolution's output is not
//! shared; the backward pass gates the gradient by the output's sign and sums each
//! `[batch, channel]` plane once, in parallel over planes.
//!
//! The same backend-extension mechanism as `norm`; other backends (and non-f32 tensors)
//! run Burn's own operations. Written so it could go upstream: the backward's per-channel
//! sums are what flex's `sum_dim` would want for a reduction over all axes but one.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex, TensorMetadata};
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::flex::{dense, f32s, is_flex, planes, tensor, AutodiffTensor};

/// `y` `[batch, c, …]` plus `bias` `[c]` per channel, then a leaky ReLU of `slope` when
/// one is given (`slope > 0`); and that operation's gradients.
#[backend_extension(Flex, Autodiff)]
pub trait ChannelBias: Backend {
    fn channel_bias(
        y: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        slope: Option<f32>,
    ) -> FloatTensor<Self> {
        burns_bias::<Self>(y, bias, slope)
    }

    /// The gradients of `y` and `bias` given the output's (`out`, which the slope reads).
    fn channel_bias_grads(
        out: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        slope: Option<f32>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        burns_bias_grads::<Self>(out, output_grad, slope)
    }
}

/// Burn's own operations: a broadcast add and `leaky_relu`.
fn burns_bias<B: Backend>(
    y: FloatTensor<B>,
    bias: FloatTensor<B>,
    slope: Option<f32>,
) -> FloatTensor<B> {
    let [_, c, _] = planes::<B>(&y);
    let mut shape = vec![1; y.shape().num_dims()];
    shape[1] = c;
    let out = B::float_add(y, B::float_reshape(bias, shape.into()));
    match slope {
        Some(s) => B::leaky_relu(out, s.into()),
        None => out,
    }
}

fn burns_bias_grads<B: Backend>(
    out: FloatTensor<B>,
    grad: FloatTensor<B>,
    slope: Option<f32>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let [_, c, _] = planes::<B>(&out);
    let grad = match slope {
        // slope · g where the output is negative, g elsewhere: s·g + (1 − s)·[out > 0]·g.
        Some(s) => B::float_add(
            B::float_mul_scalar(grad.clone(), s.into()),
            B::float_mul_scalar(B::relu_backward(out, grad), (1.0 - s).into()),
        ),
        None => grad,
    };
    let mut sums = grad.clone();
    for axis in (0..grad.shape().num_dims()).rev().filter(|&a| a != 1) {
        sums = B::float_sum_dim(sums, axis);
    }
    (grad, B::float_reshape(sums, [c].into()))
}

/// `y + bias` (then the slope) through the kernel here on the CPU backend in training;
/// Burn's broadcast add elsewhere.
pub fn add(y: Tensor<4>, bias: Option<Tensor<1>>, slope: Option<f32>) -> Tensor<4> {
    match bias {
        Some(bias) if is_flex(&y.device()) && slope.is_none_or(|s| s > 0.0) => {
            Tensor::from_dispatch(<burn::backend::Dispatch as ChannelBias>::channel_bias(
                y.into_dispatch(),
                bias.into_dispatch(),
                slope,
            ))
        }
        bias => {
            let y = match bias {
                Some(bias) => {
                    let c = bias.dims()[0];
                    y + bias.reshape([1, c, 1, 1])
                }
                None => y,
            };
            match slope {
                Some(s) => burn::tensor::activation::leaky_relu(y, s as f64),
                None => y,
            }
        }
    }
}

impl ChannelBias for Flex {
    fn channel_bias(y: FlexTensor, bias: FlexTensor, slope: Option<f32>) -> FlexTensor {
        if y.dtype() != DType::F32 || bias.dtype() != DType::F32 {
            return burns_bias::<Self>(y, bias, slope);
        }
        let [_, c, plane] = planes::<Self>(&y);
        let bias = dense(bias);
        let bias = f32s(&bias);
        let mut y = dense(y);
        // In place when the convolution's output is ours alone (it always is in the GAN).
        if let Some((start, end)) = y.layout().contiguous_offsets() {
            if let Some(values) = y.try_storage_mut::<f32>() {
                kernels::add_in_place(&mut values[start..end], bias, c, plane, slope);
                return y;
            }
        }
        let out = kernels::add(f32s(&y), bias, c, plane, slope);
        tensor(out, y.layout().shape().to_vec())
    }

    fn channel_bias_grads(
        out: FlexTensor,
        output_grad: FlexTensor,
        slope: Option<f32>,
    ) -> (FlexTensor, FlexTensor) {
        if out.dtype() != DType::F32 || output_grad.dtype() != DType::F32 {
            return burns_bias_grads::<Self>(out, output_grad, slope);
        }
        let [batch, c, plane] = planes::<Self>(&out);
        let grad = dense(output_grad);
        let grad = match slope {
            Some(s) => {
                let out = dense(out);
                let gated = kernels::gate(f32s(&out), f32s(&grad), plane, s);
                tensor(gated, grad.layout().shape().to_vec())
            }
            None => grad,
        };
        let sums = kernels::channel_sums(f32s(&grad), batch, c, plane);
        (grad, tensor(sums, vec![c]))
    }
}

#[derive(Debug)]
struct BiasBackward;

impl<B: ChannelBias> Backward<B, 2> for BiasBackward {
    /// The output when there is a slope (its sign test reads it), and the slope.
    type State = (Option<FloatTensor<B>>, Option<f32>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_y, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (out, slope) = ops.state;
        // Without a slope `out` only gives the shape, which the gradient has too.
        let out = out.unwrap_or_else(|| grad.clone());
        let (dy, dbias) = B::channel_bias_grads(out, grad, slope);
        if let Some(node) = node_y {
            grads.register::<B>(node.id, dy);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, dbias);
        }
    }
}

impl<B: ChannelBias, C: CheckpointStrategy> ChannelBias for Autodiff<B, C> {
    fn channel_bias(
        y: AutodiffTensor<B, C>,
        bias: AutodiffTensor<B, C>,
        slope: Option<f32>,
    ) -> AutodiffTensor<B, C> {
        match BiasBackward
            .prepare::<C>([y.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::channel_bias(y.into_primitive(), bias.into_primitive(), slope);
                // Without a slope the backward pass reads nothing of the output.
                let kept = slope.map(|_| out.clone());
                prep.finish((kept, slope), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::channel_bias(
                y.into_primitive(),
                bias.into_primitive(),
                slope,
            )),
        }
    }
}

/// The kernels on plain `[batch, c, plane]` slices, in parallel over planes.
mod kernels {
    use super::super::flex::{build, lane_sum};
    use rayon::prelude::*;

    /// Planes to a task: at least ≈4k values, so the GAN's 4x4 planes are not a task each.
    fn min_planes(plane: usize) -> usize {
        (4096 / plane.max(1)).max(1)
    }

    fn apply(v: f32, b: f32, slope: Option<f32>) -> f32 {
        let v = v + b;
        match slope {
            Some(s) if v < 0.0 => v * s,
            _ => v,
        }
    }

    pub fn add_in_place(y: &mut [f32], bias: &[f32], c: usize, plane: usize, slope: Option<f32>) {
        #[cfg(test)]
        super::tests::CALLS.with(|n| n.set(n.get() + 1));
        y.par_chunks_mut(plane.max(1))
            .enumerate()
            .with_min_len(min_planes(plane))
            .for_each(|(i, p)| {
                let b = bias[i % c];
                p.iter_mut().for_each(|v| *v = apply(*v, b, slope));
            });
    }

    pub fn add(y: &[f32], bias: &[f32], c: usize, plane: usize, slope: Option<f32>) -> Vec<f32> {
        #[cfg(test)]
        super::tests::CALLS.with(|n| n.set(n.get() + 1));
        build(y.len(), plane, min_planes(plane), |i, out| {
            let b = bias[i % c];
            for (o, &v) in out.iter_mut().zip(&y[i * plane..]) {
                o.write(apply(v, b, slope));
            }
        })
    }

    /// The output gradient times the slope where the output is negative.
    pub fn gate(out: &[f32], grad: &[f32], plane: usize, slope: f32) -> Vec<f32> {
        build(grad.len(), plane, min_planes(plane), |i, dst| {
            let at = i * plane;
            for ((d, &g), &o) in dst.iter_mut().zip(&grad[at..]).zip(&out[at..]) {
                d.write(if o < 0.0 { g * slope } else { g });
            }
        })
    }

    /// The sum of each channel's planes over the batch: `[c]`.
    pub fn channel_sums(grad: &[f32], batch: usize, c: usize, plane: usize) -> Vec<f32> {
        #[cfg(test)]
        super::tests::CALLS.with(|n| n.set(n.get() + 1));
        if plane == 0 {
            return vec![0.0; c];
        }
        let per_plane: Vec<f32> = grad
            .par_chunks(plane.max(1))
            .with_min_len(min_planes(plane))
            .map(lane_sum)
            .collect();
        (0..c)
            .map(|ch| (0..batch).map(|b| per_plane[b * c + ch]).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex::normal;
    use super::*;
    use burn::tensor::activation::leaky_relu;
    use burn::tensor::Device;
    use std::cell::Cell;

    thread_local! {
        /// Runs of the kernels on this thread, so a test can tell they ran.
        pub(super) static CALLS: Cell<usize> = const { Cell::new(0) };
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Output and the gradients of the input and the bias against Burn's broadcast add
    /// (and `leaky_relu`), with and without a slope, on a shared and an unshared input.
    #[test]
    fn bias_and_slope_match_burns() {
        let device = Device::flex().autodiff();
        for (shape, slope) in [
            ([3, 4, 5, 6], None),
            ([3, 4, 5, 6], Some(0.2)),
            ([2, 3, 1, 1], Some(0.1)),
            ([4, 1, 4, 4], None),
        ] {
            let what = format!("{shape:?} slope {slope:?}");
            let (x0, b0, upstream) = (
                normal(shape, 1, &device),
                normal([shape[1]], 2, &device),
                normal(shape, 3, &device),
            );
            let mut runs = Vec::new();
            for mine in [false, true] {
                let x = x0.clone().detach().require_grad();
                let bias = b0.clone().detach().require_grad();
                // `x * 1` is a fresh, unshared tensor (the in-place path); `x` itself is
                // held by the graph (the copying path): both run.
                for input in [x.clone() * 1.0, x.clone()] {
                    let before = CALLS.with(Cell::get);
                    let y = if mine {
                        add(input, Some(bias.clone()), slope)
                    } else {
                        let y = input + bias.clone().reshape([1, shape[1], 1, 1]);
                        match slope {
                            Some(s) => leaky_relu(y, s as f64),
                            None => y,
                        }
                    };
                    let grads = (y.clone() * upstream.clone()).sum().backward();
                    // The forward kernel and the backward's sums on our path only.
                    assert_eq!(CALLS.with(Cell::get) - before, if mine { 2 } else { 0 });
                    runs.push([
                        values(y.inner()),
                        values(x.grad(&grads).unwrap()),
                        values(bias.grad(&grads).unwrap()),
                    ]);
                }
            }
            for (k, part) in ["output", "input gradient", "bias gradient"]
                .iter()
                .enumerate()
            {
                for other in 1..4 {
                    let worst = super::super::flex::worst_relative(&runs[0][k], &runs[other][k]);
                    assert!(worst < 1e-5, "{what}: {part} differs by {worst}");
                }
            }
            if slope.is_some() {
                // The slope mattered: some outputs are negative and scaled.
                assert!(runs[0][0].iter().any(|v| *v < 0.0), "{what}");
            }
        }
    }

    /// Without autodiff (scoring, generating) the same values as Burn's.
    #[test]
    fn inference_adds_as_burn_does() {
        let device = Device::flex();
        let (x, b) = (normal([2, 3, 4, 4], 4, &device), normal([3], 5, &device));
        let before = CALLS.with(Cell::get);
        let mine = values(add(x.clone(), Some(b.clone()), Some(0.2)));
        assert_eq!(CALLS.with(Cell::get), before + 1);
        let burns = values(leaky_relu(x + b.reshape([1, 3, 1, 1]), 0.2));
        assert!(super::super::flex::worst_relative(&burns, &mine) < 1e-6);
    }
}
