//! Training-mode BatchNorm as one fused operation on the CPU backend.
//!
//! Burn 0.22 records training BatchNorm as one autodiff node, but the CPU backend (flex) runs
//! the backend's generic `batch_norm_train` and `batch_norm_train_backward`: about eight
//! whole-tensor passes forward and fifteen backward, several of them copies made by
//! `swap_dims` + `reshape`. Here both directions are two passes over the activation, per
//! channel statistics in parallel over channels and the elementwise part in parallel over
//! planes, through Burn's backend-extension mechanism (`#[backend_extension]`): a `Flex`
//! implementation of the kernels and an `Autodiff` implementation that records one node
//! whose backward calls the fused backward kernel. Same formulas, same running statistics
//! (biased batch variance, as Burn's), gradient-checked against Burn's path in the tests.
//!
//! Written so it could go upstream: the two kernels are what `burn-flex` would put behind
//! its `ModuleOps::batch_norm_train{,_backward}`, which would make this module unnecessary.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};
use burn::nn::BatchNorm;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::flex::{dense, f32s, is_flex, planes, tensor, AutodiffTensor};

/// A fused training BatchNorm, with a ReLU after it when `relu`: `(output, batch mean,
/// biased batch variance)`, and its gradients `(input, gamma, beta)` given the output's.
#[backend_extension(Flex, Autodiff)]
pub trait FusedNorm: Backend {
    fn fused_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, var) = burns_forward::<Self>(x, gamma, beta, epsilon);
        (if relu { Self::relu(y) } else { y }, mean, var)
    }

    #[allow(clippy::too_many_arguments)]
    fn fused_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        burns_backward::<Self>(x, gamma, beta, mean, variance, epsilon, relu, output_grad)
    }
}

/// Burn's own training BatchNorm on backend `B` (the trait's default, and flex's for
/// non-f32 tensors).
fn burns_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    (r.output, r.mean, r.variance)
}

/// Burn's own gradients of `burns_forward`, of it and a ReLU when `relu` (the normalised
/// values computed again for the ReLU's mask).
#[allow(clippy::too_many_arguments)]
fn burns_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    relu: bool,
    output_grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let output_grad = if relu {
        let (y, _, _) = burns_forward::<B>(x.clone(), gamma.clone(), beta, epsilon);
        B::relu_backward(B::relu(y), output_grad)
    } else {
        output_grad
    };
    let r = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, output_grad);
    (r.x_grad, r.gamma_grad, r.beta_grad)
}

/// Training BatchNorm of `x` (`[batch, channels, h, w]`) through `bn`, updating its running
/// statistics as `BatchNorm::forward` does; fused on the CPU backend, Burn's own elsewhere
/// (wgpu, inference, a frozen layer).
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    fused(bn, x, false)
}

/// `relu(batch_norm(bn, x))`, the ReLU inside the same two passes on the CPU backend: its
/// forward pass and its gradient mask were two more single-threaded passes over the
/// activation each (flex's element-wise ops run on the calling thread).
pub fn batch_norm_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    fused(bn, x, true)
}

fn fused(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    if !(x.is_autodiff() && bn.training.is_enabled() && is_flex(&device)) {
        let y = bn.forward(x);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let (y, mean, var) = <burn::backend::Dispatch as FusedNorm>::fused_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        relu,
    );
    let mean = Tensor::<1>::from_dispatch(mean).detach();
    let var = Tensor::<1>::from_dispatch(var).detach();
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - m) + mean.mul_scalar(m)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - m) + var.mul_scalar(m)).detach());
    // Synced at once, on this thread: `RunningState` keeps one pending value per thread and
    // averages them at the next sync, so the steps of one training that run on different
    // threads of the pool (`train::on_pool`) would blend their statistics by schedule.
    let _ = (bn.running_mean.value_sync(), bn.running_var.value_sync());
    Tensor::from_dispatch(y)
}

impl FusedNorm for Flex {
    fn fused_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if x.dtype() != DType::F32 {
            let (y, mean, var) = burns_forward::<Self>(x, gamma, beta, epsilon);
            return (if relu { Self::relu(y) } else { y }, mean, var);
        }
        #[cfg(test)]
        tests::FUSED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let [n, c, plane] = planes::<Self>(&x);
        let (x, gamma, beta) = (dense(x), dense(gamma), dense(beta));
        let (y, mean, var) = kernels::forward(
            f32s(&x),
            [n, c, plane],
            f32s(&gamma),
            f32s(&beta),
            epsilon,
            relu,
        );
        (
            tensor(y, x.layout().shape().to_vec()),
            tensor(mean, vec![c]),
            tensor(var, vec![c]),
        )
    }

    fn fused_norm_train_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        relu: bool,
        output_grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if x.dtype() != DType::F32 {
            return burns_backward::<Self>(
                x,
                gamma,
                beta,
                mean,
                variance,
                epsilon,
                relu,
                output_grad,
            );
        }
        let [n, c, plane] = planes::<Self>(&x);
        let (x, dy) = (dense(x), dense(output_grad));
        let [gamma, beta, mean, variance] = [gamma, beta, mean, variance].map(dense);
        let stats = kernels::Stats {
            gamma: f32s(&gamma),
            beta: f32s(&beta),
            mean: f32s(&mean),
            var: f32s(&variance),
            eps: epsilon,
        };
        let (dx, dgamma, dbeta) =
            kernels::backward(f32s(&x), f32s(&dy), [n, c, plane], &stats, relu);
        (
            tensor(dx, x.layout().shape().to_vec()),
            tensor(dgamma, vec![c]),
            tensor(dbeta, vec![c]),
        )
    }
}

// The autodiff node: the forward kernel now, the backward kernel when gradients flow back.

impl<B: FusedNorm, C: CheckpointStrategy> FusedNorm for Autodiff<B, C> {
    fn fused_norm_train(
        x: AutodiffTensor<B, C>,
        gamma: AutodiffTensor<B, C>,
        beta: AutodiffTensor<B, C>,
        epsilon: f64,
        relu: bool,
    ) -> (
        AutodiffTensor<B, C>,
        AutodiffTensor<B, C>,
        AutodiffTensor<B, C>,
    ) {
        #[derive(Debug)]
        struct FusedNormBackward;

        impl<B: FusedNorm> Backward<B, 3> for FusedNormBackward {
            // Input, gamma and beta checkpointed; the batch statistics as the forward
            // computed them; epsilon and whether a ReLU follows.
            type State = ([NodeId; 3], FloatTensor<B>, FloatTensor<B>, f64, bool);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (states, mean, variance, epsilon, relu) = ops.state;
                let [x, gamma, beta] =
                    states.map(|s| checkpointer.retrieve_node_output::<FloatTensor<B>>(s));
                let (dx, dgamma, dbeta) = B::fused_norm_train_backward(
                    x, gamma, beta, mean, variance, epsilon, relu, grad,
                );
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, dgamma);
                }
                if let Some(node) = node_beta {
                    grads.register::<B>(node.id, dbeta);
                }
            }
        }

        match FusedNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let states = [
                    prep.checkpoint(&x),
                    prep.checkpoint(&gamma),
                    prep.checkpoint(&beta),
                ];
                let (y, mean, var) = B::fused_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                let state = (states, mean.clone(), var.clone(), epsilon, relu);
                let y = prep.finish(state, y);
                (
                    y,
                    AutodiffTensor::<B, C>::new(mean),
                    AutodiffTensor::<B, C>::new(var),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, var) = B::fused_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                (
                    prep.finish(y),
                    AutodiffTensor::<B, C>::new(mean),
                    AutodiffTensor::<B, C>::new(var),
                )
            }
        }
    }
}

/// The two kernels on plain slices, NCHW-contiguous. Statistics accumulate per plane in f32
/// (eight lanes, so they vectorise) and across planes in f64.
mod kernels {
    use super::super::flex::{build, lane_sum};
    use rayon::prelude::*;

    /// Planes handed to one rayon task at least (planes can be 64 values).
    const MIN_PLANES: usize = 32;

    fn sum_sq_dev(p: &[f32], m: f32) -> f32 {
        let mut acc = [0f32; 8];
        let chunks = p.chunks_exact(8);
        let rest: f32 = chunks.remainder().iter().map(|&v| (v - m) * (v - m)).sum();
        for ch in chunks {
            for k in 0..8 {
                let d = ch[k] - m;
                acc[k] += d * d;
            }
        }
        acc.iter().sum::<f32>() + rest
    }

    /// `[Σ dy, Σ dy·(x − m)]` in one pass.
    fn sums_dy(dy: &[f32], x: &[f32], m: f32, gate: impl Fn(f32, f32) -> f32) -> [f32; 2] {
        let (mut a8, mut b8) = ([0f32; 8], [0f32; 8]);
        let (g8, v8) = (dy.chunks_exact(8), x.chunks_exact(8));
        let (mut ra, mut rb) = (0f32, 0f32);
        for (&g, &v) in g8.remainder().iter().zip(v8.remainder()) {
            let g = gate(g, v);
            ra += g;
            rb += g * (v - m);
        }
        for (g, v) in g8.zip(v8) {
            for k in 0..8 {
                let g = gate(g[k], v[k]);
                a8[k] += g;
                b8[k] += g * (v[k] - m);
            }
        }
        [a8.iter().sum::<f32>() + ra, b8.iter().sum::<f32>() + rb]
    }

    /// `out[i] = f(a·x[i] + b)` for every plane, with `(a, b)` of the plane's channel.
    fn affine_planes(
        x: &[f32],
        c: usize,
        plane: usize,
        ab: &[(f32, f32)],
        f: impl Fn(f32) -> f32 + Sync,
    ) -> Vec<f32> {
        build(x.len(), plane, MIN_PLANES, |i, o| {
            let (a, b) = ab[i % c];
            for (o, &v) in o.iter_mut().zip(&x[i * plane..][..plane]) {
                o.write(f(a * v + b));
            }
        })
    }

    /// Per channel, the `K` figures of `f` summed over the channel's planes, in f64.
    fn per_channel<const K: usize>(
        n: usize,
        c: usize,
        plane: usize,
        f: impl Fn(usize, std::ops::Range<usize>) -> [f32; K] + Sync,
    ) -> Vec<[f64; K]> {
        (0..c)
            .into_par_iter()
            .map(|ch| {
                let mut total = [0f64; K];
                for b in 0..n {
                    let start = (b * c + ch) * plane;
                    for (t, v) in total.iter_mut().zip(f(ch, start..start + plane)) {
                        *t += v as f64;
                    }
                }
                total
            })
            .collect()
    }

    /// A layer's parameters and batch statistics, per channel.
    pub struct Stats<'a> {
        pub gamma: &'a [f32],
        pub beta: &'a [f32],
        pub mean: &'a [f32],
        pub var: &'a [f32],
        pub eps: f64,
    }

    impl Stats<'_> {
        /// Per channel `(a, b)` with `y = a·x + b` the normalised output; the backward pass
        /// computes them exactly as the forward pass did, so its ReLU mask is the forward's.
        fn affine(&self) -> Vec<(f32, f32)> {
            (0..self.gamma.len())
                .map(|ch| {
                    let a = self.gamma[ch] as f64 / (self.var[ch] as f64 + self.eps).sqrt();
                    let b = self.beta[ch] as f64 - self.mean[ch] as f64 * a;
                    (a as f32, b as f32)
                })
                .collect()
        }
    }

    /// `(y, mean, biased variance)`, `y` through a ReLU when `relu`.
    pub fn forward(
        x: &[f32],
        [n, c, plane]: [usize; 3],
        gamma: &[f32],
        beta: &[f32],
        eps: f64,
        relu: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let count = (n * plane) as f64;
        let mean: Vec<f32> = per_channel(n, c, plane, |_, r| [lane_sum(&x[r])])
            .into_iter()
            .map(|[s]| (s / count) as f32)
            .collect();
        let var: Vec<f32> = per_channel(n, c, plane, |ch, r| [sum_sq_dev(&x[r], mean[ch])])
            .into_iter()
            .map(|[s]| (s / count) as f32)
            .collect();
        let ab = Stats {
            gamma,
            beta,
            mean: &mean,
            var: &var,
            eps,
        }
        .affine();
        let y = if relu {
            affine_planes(x, c, plane, &ab, |y| if y > 0.0 { y } else { 0.0 })
        } else {
            affine_planes(x, c, plane, &ab, |y| y)
        };
        (y, mean, var)
    }

    /// `(dx, dgamma, dbeta)` for `y = γ·(x − μ)/σ + β` with batch statistics μ, σ² = var + ε:
    /// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ · (dy − dβ/M − x̂·dγ/M), M = values per channel;
    /// with `relu`, `dy` first zeroed where `y` was not positive.
    pub fn backward(
        x: &[f32],
        dy: &[f32],
        [n, c, plane]: [usize; 3],
        stats: &Stats,
        relu: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let ab = stats.affine();
        if relu {
            backward_gated(x, dy, [n, c, plane], stats, |ch, g, v| {
                let (a, b) = ab[ch];
                if a * v + b > 0.0 {
                    g
                } else {
                    0.0
                }
            })
        } else {
            backward_gated(x, dy, [n, c, plane], stats, |_, g, _| g)
        }
    }

    /// `backward` with the output gradient `gate(channel, dy, x)`.
    fn backward_gated(
        x: &[f32],
        dy: &[f32],
        [n, c, plane]: [usize; 3],
        stats: &Stats,
        gate: impl Fn(usize, f32, f32) -> f32 + Sync,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let count = (n * plane) as f64;
        let sums = per_channel(n, c, plane, |ch, r| {
            sums_dy(&dy[r.clone()], &x[r], stats.mean[ch], |g, v| gate(ch, g, v))
        });
        let mut k = Vec::with_capacity(c);
        let (mut dgamma, mut dbeta32) = (Vec::with_capacity(c), Vec::with_capacity(c));
        for (ch, &[dbeta, dxc]) in sums.iter().enumerate() {
            let inv = 1.0 / (stats.var[ch] as f64 + stats.eps).sqrt();
            let dg = dxc * inv;
            let scale = stats.gamma[ch] as f64 * inv;
            // dx = scale·dy + kx·x + k0
            let kx = -scale * inv * dg / count;
            let k0 = -scale * dbeta / count - kx * stats.mean[ch] as f64;
            k.push((scale as f32, kx as f32, k0 as f32));
            dgamma.push(dg as f32);
            dbeta32.push(dbeta as f32);
        }
        let dx = build(x.len(), plane, MIN_PLANES, |i, o| {
            let ch = i % c;
            let (s, kx, k0) = k[ch];
            let (g, v) = (&dy[i * plane..][..plane], &x[i * plane..][..plane]);
            for ((o, &g), &v) in o.iter_mut().zip(g).zip(v) {
                o.write(s * gate(ch, g, v) + kx * v + k0);
            }
        });
        (dx, dgamma, dbeta32)
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex::normal;
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Device;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Calls of the CPU kernel, so a test can tell the fused path ran.
    pub(super) static FUSED_CALLS: AtomicUsize = AtomicUsize::new(0);

    fn close(a: &Tensor<1>, b: &Tensor<1>, tol: f32, what: &str) {
        let a: Vec<f32> = a.to_data().try_to_vec::<f32>().unwrap();
        let b: Vec<f32> = b.to_data().try_to_vec::<f32>().unwrap();
        // Relative to `b`, the reference each call passes second.
        let worst = super::super::flex::worst_relative(&b, &a);
        assert!(worst < tol, "{what}: worst relative error {worst}");
    }

    /// The fused node gives Burn's outputs, gradients (input, gamma, beta) and running
    /// statistics, on a shape with odd plane sizes (a remainder after eight lanes), alone
    /// and with the ReLU inside.
    #[test]
    fn fused_batch_norm_matches_burns() {
        check_fused(false);
        check_fused(true);
    }

    fn check_fused(relu: bool) {
        let what = if relu { "with ReLU" } else { "alone" };
        let device = Device::flex().autodiff();
        burn::tensor::Tensor::<1>::zeros([1], &device); // device initialised
        let shape = [5, 6, 7, 3];
        let input = normal(shape, 11, &device) * 2.0 + 0.3;
        let weight = normal(shape, 12, &device);
        let gamma = normal([6], 13, &device) * 0.5 + 1.0;
        let mut runs = Vec::new();
        for fused in [false, true] {
            let bn = BatchNormConfig::new(6).init(&device);
            let gamma = gamma.clone().detach();
            let bn = BatchNorm {
                gamma: burn::module::Param::from_tensor(gamma.clone()),
                beta: burn::module::Param::from_tensor(gamma.clone() * 0.3 - 0.1),
                ..bn
            };
            let x = input.clone().detach().require_grad();
            let y = if fused {
                let before = FUSED_CALLS.load(Ordering::SeqCst);
                let y = if relu {
                    batch_norm_relu(&bn, x.clone())
                } else {
                    batch_norm(&bn, x.clone())
                };
                assert!(
                    FUSED_CALLS.load(Ordering::SeqCst) > before,
                    "{what}: the fused kernel ran"
                );
                y
            } else if relu {
                burn::tensor::activation::relu(bn.forward(x.clone()))
            } else {
                bn.forward(x.clone())
            };
            // A loss whose gradient is not uniform, so every term of dx matters.
            let loss = (y.clone() * weight.clone()).sum();
            let grads = loss.backward();
            let dx = x.grad(&grads).unwrap();
            let dg = bn.gamma.val().grad(&grads).unwrap();
            let db = bn.beta.val().grad(&grads).unwrap();
            runs.push((
                y.inner().flatten::<1>(0, 3),
                dx.flatten::<1>(0, 3),
                dg,
                db,
                // Synced: `value` alone is the state before the step's update (Burn's
                // layer leaves it pending on this thread), which the two paths share.
                bn.running_mean.value_sync().inner(),
                bn.running_var.value_sync().inner(),
            ));
        }
        let (a, b) = (&runs[0], &runs[1]);
        if relu {
            // The ReLU zeroed a good share of the outputs (so the mask matters).
            let y: Vec<f32> = b.0.to_data().try_to_vec::<f32>().unwrap();
            let zeros = y.iter().filter(|&&v| v == 0.0).count();
            assert!(
                zeros > y.len() / 4 && zeros < y.len(),
                "{zeros} of {}",
                y.len()
            );
        }
        close(&b.0, &a.0, 1e-5, &format!("{what}: output"));
        close(&b.1, &a.1, 1e-4, &format!("{what}: input gradient"));
        close(&b.2, &a.2, 1e-4, &format!("{what}: gamma gradient"));
        close(&b.3, &a.3, 1e-4, &format!("{what}: beta gradient"));
        close(&b.4, &a.4, 1e-6, &format!("{what}: running mean"));
        close(&b.5, &a.5, 1e-6, &format!("{what}: running variance"));
    }

    #[test]
    fn inference_and_frozen_layers_keep_burns_path() {
        let device = Device::flex();
        assert!(is_flex(&device) && is_flex(&device.clone().autodiff()));
        let bn = BatchNormConfig::new(2).init(&device);
        let x = Tensor::<4>::ones([1, 2, 2, 2], &device);
        let y = batch_norm(&bn, x);
        // Running statistics at init (mean 0, var 1): y ≈ x.
        let v: Vec<f32> = y.to_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|&v| (v - 1.0).abs() < 1e-3), "{v:?}");
    }

    #[test]
    fn kernels_handle_a_single_plane_value() {
        let (y, m, v) = kernels::forward(&[1.0, 3.0], [2, 1, 1], &[2.0], &[0.5], 0.0, false);
        assert_eq!(m, vec![2.0]);
        assert_eq!(v, vec![1.0]);
        assert_eq!(y, vec![-1.5, 2.5]);
        let (y, ..) = kernels::forward(&[1.0, 3.0], [2, 1, 1], &[2.0], &[0.5], 0.0, true);
        assert_eq!(y, vec![0.0, 2.5]);
        let _ = rayon::current_num_threads();
    }
}
