//! Burn modules. The classifier is the Data-Centric AI competition's reference network: a
//! ResNet-50 stem cut after its first stage (7x7/2 conv + BN + ReLU + 3x3/2 max-pool, then
//! bottleneck blocks width-width-4·width, a projection shortcut on the first), global average
//! pool and a linear head.

mod bias;
pub mod checkpoint;
pub mod conv;
mod flex;
pub mod gan;
mod gemm;
pub mod norm;
pub mod pool;
mod seeded;
mod winograd;

pub use seeded::seeded;

/// Whether `device` is the CPU backend (flex), with or without autodiff.
pub fn runs_on_cpu(device: &burn::tensor::Device) -> bool {
    flex::is_flex(device)
}

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Shape of the classifier. The reference network is `width 64, blocks 3`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub classes: usize,
    /// 1 = gray, 3 = RGB.
    pub channels: usize,
    /// Stem and bottleneck width; block outputs are 4x this.
    pub width: usize,
    /// Number of bottleneck blocks.
    pub blocks: usize,
}

impl ClassifierConfig {
    pub fn reference(classes: usize, channels: usize) -> Self {
        ClassifierConfig {
            classes,
            channels,
            width: 64,
            blocks: 3,
        }
    }

    pub fn init(&self, device: &Device) -> Classifier {
        let w = self.width;
        let blocks = (0..self.blocks)
            .map(|i| Bottleneck::new(if i == 0 { w } else { 4 * w }, w, 4 * w, device))
            .collect();
        Classifier {
            stem: Conv2dConfig::new([self.channels, w], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(w).init(device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(4 * w, self.classes).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    c1: Conv2d,
    b1: BatchNorm,
    c2: Conv2d,
    b2: BatchNorm,
    c3: Conv2d,
    b3: BatchNorm,
    proj: Option<Conv2d>,
    proj_bn: Option<BatchNorm>,
}

impl Bottleneck {
    fn new(cin: usize, mid: usize, cout: usize, d: &Device) -> Self {
        let project = cin != cout;
        Bottleneck {
            c1: Conv2dConfig::new([cin, mid], [1, 1])
                .with_bias(false)
                .init(d),
            b1: BatchNormConfig::new(mid).init(d),
            c2: Conv2dConfig::new([mid, mid], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(d),
            b2: BatchNormConfig::new(mid).init(d),
            c3: Conv2dConfig::new([mid, cout], [1, 1])
                .with_bias(false)
                .init(d),
            b3: BatchNormConfig::new(cout).init(d),
            proj: project.then(|| {
                Conv2dConfig::new([cin, cout], [1, 1])
                    .with_bias(false)
                    .init(d)
            }),
            proj_bn: project.then(|| BatchNormConfig::new(cout).init(d)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match (&self.proj, &self.proj_bn) {
            (Some(p), Some(bn)) => norm::batch_norm(bn, pointwise(p, x.clone())),
            _ => x.clone(),
        };
        let y = norm::batch_norm_relu(&self.b1, pointwise(&self.c1, x));
        let y = norm::batch_norm_relu(&self.b2, conv::conv2d(&self.c2, y));
        let y = norm::batch_norm(&self.b3, pointwise(&self.c3, y));
        relu(y + shortcut)
    }
}

/// A 1x1 convolution (stride 1, no padding, no bias — the bottlenecks' first and last and
/// the projection) as plain matrix products. Burn 0.22's generic backward computes a
/// convolution's weight gradient as another convolution with batch and channels swapped,
/// which for 1x1 kernels is an im2col and a GEMM per input channel (≈30% of a training step
/// on the CPU backend, measured). On the CPU backend in training the layer goes through
/// `conv`'s chunked products, which take a 1x1 window's im2col as the images' values
/// themselves (`Window::pointwise`): same binary 2.63/2.62/2.84 s per classifier epoch as a
/// broadcast matmul (`[1, o, c] x [b, c, h·w]`, the way before) vs 2.44/2.42/2.75 s this way
/// even before that shortcut. Elsewhere in training (wgpu) it stays that matmul. Same
/// parameters, same result (tested against `Conv2d::forward`). Without autodiff (scoring,
/// evaluation) the backend's own 1x1 convolution is as fast or faster.
pub fn pointwise(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !x.is_autodiff() {
        return conv.forward(x);
    }
    if flex::is_flex(&x.device()) {
        return conv::conv2d(conv, x);
    }
    let [b, c, h, w] = x.dims();
    let [o, ..] = conv.weight.dims();
    let weight = conv.weight.val().reshape([1, o, c]);
    weight
        .matmul(x.reshape([b, c, h * w]))
        .reshape([b, o, h, w])
}

#[derive(Module, Debug)]
pub struct Classifier {
    stem: Conv2d,
    bn: BatchNorm,
    pool: MaxPool2d,
    blocks: Vec<Bottleneck>,
    gap: AdaptiveAvgPool2d,
    head: Linear,
}

impl Classifier {
    /// Logits `[batch, classes]` for images `[batch, channels, side, side]` in 0..=1.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head(self.features(x))
    }

    /// The pooled penultimate vector `[batch, 256]` (the embedding the head reads).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        // Centre the input: paper is 1, ink near 0.
        let x = (x - 0.5) * 2.0;
        let mut y = pool::max_pool2d(
            &self.pool,
            norm::batch_norm_relu(&self.bn, conv::conv2d(&self.stem, x)),
        );
        for b in &self.blocks {
            y = b.forward(y);
        }
        self.gap.forward(y).flatten(1, 3)
    }

    /// Logits from `features`.
    pub fn head(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }

    /// The same features with a freshly initialised head for `cfg.classes` classes (a warm
    /// start onto other classes). Wrap in `seeded` for repeatable weights.
    pub fn with_new_head(mut self, cfg: &ClassifierConfig, device: &Device) -> Classifier {
        self.head = LinearConfig::new(4 * cfg.width, cfg.classes).init(device);
        self
    }
}

/// A convolution followed by an inference-mode BatchNorm, as one convolution with a bias:
/// `w' = w·γ/√(var+ε)` per output channel, `b' = β + (b − mean)·γ/√(var+ε)`.
fn fold(conv: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let w = conv.weight.val();
    let [o, ..] = w.dims();
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => scale.zeros_like(),
    };
    let mut out = conv.clone();
    out.bias = Some(Param::from_tensor(
        bn.beta.val() + (bias - bn.running_mean.value()) * scale.clone(),
    ));
    out.weight = Param::from_tensor(w * scale.reshape([o, 1, 1, 1]));
    out
}

/// The classifier for inference (scoring, evaluation) with every BatchNorm folded into the
/// convolution before it: the same outputs as `Classifier::forward` without autodiff, and
/// no per-layer normalisation pass over the activations.
#[derive(Module, Debug)]
pub struct Folded {
    stem: Conv2d,
    pool: MaxPool2d,
    blocks: Vec<FoldedBottleneck>,
    gap: AdaptiveAvgPool2d,
    head: Linear,
}

#[derive(Module, Debug)]
struct FoldedBottleneck {
    c1: Conv2d,
    c2: Conv2d,
    c3: Conv2d,
    proj: Option<Conv2d>,
}

impl Classifier {
    /// This classifier with its BatchNorms folded (their running statistics), for inference.
    pub fn folded(&self) -> Folded {
        Folded {
            stem: fold(&self.stem, &self.bn),
            pool: self.pool.clone(),
            blocks: self
                .blocks
                .iter()
                .map(|b| FoldedBottleneck {
                    c1: fold(&b.c1, &b.b1),
                    c2: fold(&b.c2, &b.b2),
                    c3: fold(&b.c3, &b.b3),
                    proj: match (&b.proj, &b.proj_bn) {
                        (Some(p), Some(bn)) => Some(fold(p, bn)),
                        _ => None,
                    },
                })
                .collect(),
            gap: self.gap.clone(),
            head: self.head.clone(),
        }
    }
}

impl Folded {
    /// Logits, as `Classifier::forward` gives them in inference mode.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head(self.features(x))
    }

    /// Logits from `features`.
    pub fn head(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }

    /// The pooled penultimate vector, as `Classifier::features` gives it in inference mode.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = (x - 0.5) * 2.0;
        let mut y = pool::max_pool2d(&self.pool, relu(self.stem.forward(x)));
        for b in &self.blocks {
            let shortcut = match &b.proj {
                Some(p) => p.forward(y.clone()),
                None => y.clone(),
            };
            let z = relu(b.c1.forward(y));
            let z = relu(b.c2.forward(z));
            y = relu(b.c3.forward(z) + shortcut);
        }
        self.gap.forward(y).flatten(1, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// A narrow two-block classifier: quick, same structure as the reference.
    fn small() -> ClassifierConfig {
        ClassifierConfig {
            classes: 10,
            channels: 1,
            width: 8,
            blocks: 2,
        }
    }

    #[test]
    fn reference_shapes() {
        let d = Device::flex();
        let cfg = small();
        let m = cfg.init(&d);
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32; 3 * 32 * 32], [3, 1, 32, 32]),
            &d,
        );
        assert_eq!(m.forward(x).dims(), [3, 10]);
        let rgb = ClassifierConfig { channels: 3, ..cfg }.init(&d);
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32; 2 * 3 * 32 * 32], [2, 3, 32, 32]),
            &d,
        );
        assert_eq!(rgb.forward(x).dims(), [2, 10]);
    }

    /// Folding the BatchNorms gives the classifier's inference outputs (with non-trivial
    /// statistics and affine parameters in every norm).
    #[test]
    fn folded_batch_norms_give_the_same_logits() {
        use burn::module::RunningState;
        let d = Device::flex();
        let cfg = small();
        let mut m = cfg.init(&d);
        let mut k = 0usize;
        let mut perturb = |bn: &mut BatchNorm| {
            let n = bn.gamma.dims()[0];
            let v = |a: f32, b: f32, k: usize| -> Tensor<1> {
                let vals: Vec<f32> = (0..n)
                    .map(|i| a + b * (((i + k) * 7 % 11) as f32 / 11.0))
                    .collect();
                Tensor::<1>::from_data(TensorData::new(vals, [n]), &d)
            };
            bn.gamma = Param::from_tensor(v(0.5, 1.0, k));
            bn.beta = Param::from_tensor(v(-0.3, 0.6, k + 1));
            bn.running_mean = RunningState::new(v(-0.2, 0.4, k + 2));
            bn.running_var = RunningState::new(v(0.3, 2.0, k + 3));
            k += 4;
        };
        perturb(&mut m.bn);
        for b in &mut m.blocks {
            perturb(&mut b.b1);
            perturb(&mut b.b2);
            perturb(&mut b.b3);
            if let Some(bn) = &mut b.proj_bn {
                perturb(bn);
            }
        }
        let n = 4 * 32 * 32;
        let px: Vec<f32> = (0..n).map(|i| ((i * 31 % 97) as f32) / 96.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(px, [4, 1, 32, 32]), &d);
        let a = m
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = m
            .folded()
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(a.len(), 40);
        let spread = a.iter().fold(0f32, |s, v| s.max(v.abs()));
        assert!(spread > 0.1, "logits too flat to compare: {a:?}");
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-3 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }

    /// The 1x1 convolution as a matmul gives the convolution's output and the same
    /// gradients for the input and the weight (checked against Burn's own conv2d).
    #[test]
    fn pointwise_matches_conv2d_forward_and_gradients() {
        let d = Device::flex().autodiff();
        let conv = Conv2dConfig::new([6, 5], [1, 1]).with_bias(false).init(&d);
        let n = 3 * 6 * 4 * 4;
        let values: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let input = || {
            Tensor::<4>::from_data(TensorData::new(values.clone(), [3, 6, 4, 4]), &d).require_grad()
        };
        let up: Vec<f32> = (0..3 * 5 * 16)
            .map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0)
            .collect();
        let upstream = Tensor::<4>::from_data(TensorData::new(up, [3, 5, 4, 4]), &d);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let x = input();
            let y = f(x.clone());
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let gx = values(x.grad(&grads).unwrap());
            let gw = values(conv.weight.grad(&grads).unwrap());
            (values(y), gx, gw)
        };
        let (y0, gx0, gw0) = run(&|x| conv.forward(x));
        let (y1, gx1, gw1) = run(&|x| pointwise(&conv, x));
        for (a, b) in [(y0, y1), (gx0, gx1), (gw0, gw1)] {
            assert_eq!(a.len(), b.len());
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-4, "{p} vs {q}");
            }
        }
    }
}
