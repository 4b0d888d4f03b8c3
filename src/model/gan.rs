//! The conditional DCGAN of the paper's section 4: a generator of eight convolutional layers
//! (four transposed 4x4 that double the size, each followed by a 3x3 convolution; BatchNorm +
//! ReLU after all but the last, sigmoid output in [0, 1]) and a discriminator of five
//! convolutional layers with LeakyReLU 0.2. Both are conditioned on the class: the generator
//! takes z ++ one-hot as a 1x1 map and one-hot planes again before each later upsampling
//! (with the input alone it collapsed to one look for every class), the discriminator
//! one-hot planes beside the image.
//!
//! Those counts are for 32x32. The networks are built for the store's side: the generator
//! starts at a `base` of 4x4 (3x3 for sides such as 96) and doubles until it reaches the
//! side, the discriminator halves down to the base; so 32, 64 and 128 (base 4) and 96 (base
//! 3) are drawn, each with the store's channels, and a side that is not 3 or 4 times a power
//! of two (at least 4 times) is refused by `GanConfig::for_side`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub const Z: usize = 64;

/// The discriminator's leaky ReLU slope.
const SLOPE: f32 = 0.2;

/// The side of the images the generator draws when nothing else is said (checkpoints
/// saved before the GAN followed the store's side).
pub const SIDE: u32 = 32;

fn default_side() -> usize {
    SIDE as usize
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GanConfig {
    pub classes: usize,
    pub channels: usize,
    /// Channels of the last hidden generator layer; earlier layers double it (x8 at 4x4).
    pub width: usize,
    /// Side of the images drawn and judged.
    #[serde(default = "default_side")]
    pub side: usize,
}

/// `(base, doublings)` with `side = base · 2^doublings`, base 3 or 4 and at least two
/// doublings; `None` for a side the networks cannot be built for.
pub fn ladder(side: usize) -> Option<(usize, usize)> {
    let (mut base, mut k) = (side, 0);
    while base > 4 && base % 2 == 0 {
        base /= 2;
        k += 1;
    }
    (matches!(base, 3 | 4) && k >= 2).then_some((base, k))
}

impl GanConfig {
    /// The 32x32 networks of the paper.
    pub fn new(classes: usize, channels: usize) -> Self {
        GanConfig {
            classes,
            channels,
            width: 16,
            side: SIDE as usize,
        }
    }

    /// The networks for a store of `side` x `side` images, or why there are none.
    pub fn for_side(classes: usize, channels: usize, side: usize) -> Result<Self, String> {
        match ladder(side) {
            Some(_) => Ok(GanConfig {
                side,
                ..GanConfig::new(classes, channels)
            }),
            None => Err(format!(
                "the GAN draws squares of 4 or 3 times a power of two (32, 64, 96, 128) and this store holds {side}x{side} images: import into a store with --size 32, 64, 96 or 128"
            )),
        }
    }

    fn steps(&self) -> (usize, usize) {
        ladder(self.side).unwrap_or((4, 3))
    }

    pub fn generator(&self, device: &Device) -> Generator {
        let w = self.width;
        let (base, doublings) = self.steps();
        // 8w at the base, halving per stage down to w; extra stages of larger sides keep 8w
        // at the small, cheap resolutions and w at the full one.
        let chans: Vec<usize> = (0..=doublings)
            .map(|i| w << (doublings - i).min(3))
            .collect();
        let mut ups = Vec::new();
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        let mut prev = Z + self.classes;
        for (i, &c) in chans.iter().enumerate() {
            // 1 -> base first (kernel base, stride 1), then doubling to the side; from the
            // second stage on the class comes in again as one-hot planes (stronger
            // conditioning).
            let (kernel, stride, pad) = if i == 0 { (base, 1, 0) } else { (4, 2, 1) };
            let input = if i == 0 { prev } else { prev + self.classes };
            ups.push(
                ConvTranspose2dConfig::new([input, c], [kernel, kernel])
                    .with_stride([stride, stride])
                    .with_padding([pad, pad])
                    .init(device),
            );
            bns.push(BatchNormConfig::new(c).init(device));
            let out = if i == chans.len() - 1 {
                self.channels
            } else {
                c
            };
            convs.push(
                Conv2dConfig::new([c, out], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            if i != chans.len() - 1 {
                bns.push(BatchNormConfig::new(c).init(device));
            }
            prev = c;
        }
        Generator { ups, convs, bns }
    }

    pub fn discriminator(&self, device: &Device) -> Discriminator {
        let w = self.width * 2;
        let (base, halvings) = self.steps();
        let conv = |i: usize, o: usize, k: usize, s: usize, p: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device)
        };
        // Halve down to the base (at 32: 32 -> 16 -> 8 -> 4 with w, 2w, 4w channels), one
        // 3x3 at the base, then a base x base kernel to the logit.
        let mut convs = Vec::new();
        let mut prev = self.channels + self.classes;
        for i in 0..halvings {
            let c = w << i.min(2);
            convs.push(conv(prev, c, 4, 2, 1));
            prev = c;
        }
        convs.push(conv(prev, 4 * w, 3, 1, 1));
        convs.push(conv(4 * w, 1, base, 1, 0));
        Discriminator { convs }
    }
}

#[derive(Module, Debug)]
pub struct Generator {
    ups: Vec<ConvTranspose2d>,
    convs: Vec<Conv2d>,
    /// Two per stage (after the transposed conv and the conv), one fewer at the end.
    bns: Vec<BatchNorm>,
}

impl Generator {
    /// `z`: [B, Z], `onehot`: [B, classes] -> images [B, C, side, side] in [0, 1].
    pub fn forward(&self, z: Tensor<2>, onehot: Tensor<2>) -> Tensor<4> {
        let [b, _] = z.dims();
        let classes = onehot.dims()[1];
        let input = Tensor::cat(vec![z, onehot.clone()], 1);
        let c = input.dims()[1];
        let mut x = input.reshape([b, c, 1, 1]);
        let last = self.ups.len() - 1;
        for i in 0..self.ups.len() {
            if i > 0 {
                let [_, _, h, w] = x.dims();
                let planes = onehot
                    .clone()
                    .reshape([b, classes, 1, 1])
                    .expand([b, classes, h, w]);
                x = Tensor::cat(vec![x, planes], 1);
            }
            x = super::norm::batch_norm_relu(
                &self.bns[2 * i],
                super::conv::conv_transpose2d(&self.ups[i], x),
            );
            x = super::conv::conv2d(&self.convs[i], x);
            if i != last {
                x = super::norm::batch_norm_relu(&self.bns[2 * i + 1], x);
            }
        }
        sigmoid(x)
    }
}

#[derive(Module, Debug)]
pub struct Discriminator {
    convs: Vec<Conv2d>,
}

impl Discriminator {
    /// `images`: [B, C, side, side] in [0, 1], `onehot`: [B, classes] -> logits [B].
    pub fn forward(&self, images: Tensor<4>, onehot: Tensor<2>) -> Tensor<1> {
        let [b, ..] = images.dims();
        // Centre the image like the classifier does.
        let mut x = self.first_layer((images - 0.5) * 2.0, onehot);
        let last = self.convs.len() - 1;
        for (i, conv) in self.convs.iter().enumerate().skip(1) {
            // The activation goes with the layer's bias (one pass in training).
            let slope = (i != last).then_some(SLOPE);
            x = super::conv::conv2d_leaky(conv, x, slope);
        }
        x.reshape([b])
    }

    /// The first convolution over the image and its class's one-hot planes. The planes are
    /// constant, so their part of the output is a per-class map — the class's kernels over
    /// a plane of ones (zero-padded as the planes are) — which each image takes by its
    /// one-hot row: the convolution's sum split by input channels. The layer then reads 1
    /// (or 3) channels instead of 11 (or 13) at the full side, in the im2col and the GEMM
    /// of every pass; the concatenated planes are never built. Same weights, same result.
    /// Returns the layer's activations (leaky ReLU applied).
    fn first_layer(&self, x: Tensor<4>, onehot: Tensor<2>) -> Tensor<4> {
        let conv = &self.convs[0];
        let [b, c, h, w] = x.dims();
        let classes = onehot.dims()[1];
        let weight = conv.weight.val();
        let [o, _, kh, kw] = weight.dims();
        let per_class = weight
            .clone()
            .slice([0..o, c..c + classes])
            .swap_dims(0, 1)
            .reshape([classes * o, 1, kh, kw]);
        let ones = Tensor::<4>::ones([1, 1, h, w], &x.device());
        let bias = conv.bias.as_ref().map(|b| b.val());
        let image = weight.slice([0..o, 0..c]);
        match (
            super::conv::conv2d_with(conv, per_class, None, ones),
            super::conv::conv2d_with(conv, image, None, x.clone()),
        ) {
            (Some(maps), Some(y)) => {
                let [_, _, oh, ow] = maps.dims();
                let maps = onehot.matmul(maps.reshape([classes, o * oh * ow]));
                super::bias::add(y + maps.reshape([b, o, oh, ow]), bias, Some(SLOPE))
            }
            // A layer Burn's functional convolution cannot take apart: the planes as input.
            _ => {
                let planes = onehot
                    .reshape([b, classes, 1, 1])
                    .expand([b, classes, h, w]);
                super::conv::conv2d_leaky(conv, Tensor::cat(vec![x, planes], 1), Some(SLOPE))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::leaky_relu;

    #[test]
    fn shapes_and_range() {
        let device = Device::flex();
        let cfg = GanConfig {
            width: 4,
            ..GanConfig::new(3, 1)
        };
        let g = cfg.generator(&device);
        let d = cfg.discriminator(&device);
        let z = Tensor::<2>::zeros([2, Z], &device);
        let oh = Tensor::<2>::from_data([[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0]], &device);
        let img = g.forward(z, oh.clone());
        assert_eq!(img.dims(), [2, 1, 32, 32]);
        let v: Vec<f32> = img.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(d.forward(img, oh).dims(), [2]);
        // Eight convolutional layers in the generator, five in the discriminator.
        assert_eq!(g.ups.len() + g.convs.len(), 8);
        assert_eq!(d.convs.len(), 5);
    }

    /// The discriminator's split first layer gives the logits and gradients (weights, bias,
    /// image) of the convolution over the image with its one-hot planes concatenated.
    #[test]
    fn class_maps_match_the_concatenated_planes() {
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        device.seed(8);
        let cfg = GanConfig {
            width: 3,
            ..GanConfig::new(4, 2)
        };
        let d = cfg.discriminator(&device);
        let images = Tensor::<4>::random([3, 2, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
        let oh = Tensor::<2>::from_data(
            [
                [0.0f32, 1.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
                [1.0, 0.0, 0.0, 0.0],
            ],
            &device,
        );
        let concatenated = |x: Tensor<4>| {
            let planes = oh.clone().reshape([3, 4, 1, 1]).expand([3, 4, 32, 32]);
            let mut x = Tensor::cat(vec![(x - 0.5) * 2.0, planes], 1);
            for (i, conv) in d.convs.iter().enumerate() {
                x = super::super::conv::conv2d(conv, x);
                if i + 1 != d.convs.len() {
                    x = leaky_relu(x, 0.2);
                }
            }
            x.reshape([3])
        };
        let mut runs = Vec::new();
        for split in [false, true] {
            let x = images.clone().detach().require_grad();
            let logits = if split {
                d.forward(x.clone(), oh.clone())
            } else {
                concatenated(x.clone())
            };
            let grads = (logits.clone() * Tensor::<1>::from_data([1.0f32, -2.0, 0.5], &device))
                .sum()
                .backward();
            let flat = |t: Tensor<4>| t.inner().into_data().try_to_vec::<f32>().unwrap();
            runs.push([
                logits.inner().into_data().try_to_vec::<f32>().unwrap(),
                flat(x.grad(&grads).unwrap()),
                flat(d.convs[0].weight.val().grad(&grads).unwrap()),
                d.convs[0]
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ]);
        }
        for (k, what) in [
            "logits",
            "image gradient",
            "weight gradient",
            "bias gradient",
        ]
        .iter()
        .enumerate()
        {
            let (a, b) = (&runs[0][k], &runs[1][k]);
            let worst = super::super::flex::worst_relative(a, b);
            assert!(worst < 1e-4, "{what} differs by {worst}");
            assert!(a.iter().any(|v| *v != 0.0), "{what} is all zeros");
        }
    }

    /// Every side the store offers gets networks of its own size and channels; others are
    /// refused with a reason.
    #[test]
    fn networks_follow_the_store_side_and_channels() {
        let device = Device::flex();
        for side in [64usize, 96, 128] {
            let cfg = GanConfig {
                width: 2,
                ..GanConfig::for_side(2, 3, side).unwrap()
            };
            let g = cfg.generator(&device);
            let d = cfg.discriminator(&device);
            let z = Tensor::<2>::zeros([2, Z], &device);
            let oh = Tensor::<2>::from_data([[1.0f32, 0.0], [0.0, 1.0]], &device);
            let img = g.forward(z, oh.clone());
            assert_eq!(img.dims(), [2, 3, side, side], "side {side}");
            assert_eq!(d.forward(img, oh).dims(), [2], "side {side}");
        }
        for side in [40usize, 8, 100] {
            let e = GanConfig::for_side(2, 1, side).unwrap_err();
            assert!(e.contains(&format!("{side}x{side}")), "{e}");
        }
        assert_eq!(ladder(32), Some((4, 3)));
        assert_eq!(ladder(96), Some((3, 5)));
    }
}
