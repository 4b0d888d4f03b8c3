//! The conditional DCGAN of the paper's section 4: a generator of eight convolutional layers
//! (four transposed 4x4 that double the size, each followed by a 3x3 convolution; BatchNorm +
//! ReLU after all but the last, sigmoid output in [0, 1]) and a discriminator of five
//! convolutional layers with LeakyReLU 0.2. Both are conditioned on the class: the generator
//! takes z ++ one-hot as a 1x1 map and one-hot planes again before each later upsampling
//! (with the input alone it collapsed to one look for every class), the discriminator
//! one-hot planes beside the image.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, sigmoid};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub const Z: usize = 64;

/// The side of the images the generator draws and the discriminator reads.
pub const SIDE: u32 = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GanConfig {
    pub classes: usize,
    pub channels: usize,
    /// Channels of the last hidden generator layer; earlier layers double it (x8 at 4x4).
    pub width: usize,
}

impl GanConfig {
    pub fn new(classes: usize, channels: usize) -> Self {
        GanConfig {
            classes,
            channels,
            width: 16,
        }
    }

    pub fn generator(&self, device: &Device) -> Generator {
        let w = self.width;
        let chans = [8 * w, 4 * w, 2 * w, w];
        let mut ups = Vec::new();
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        let mut prev = Z + self.classes;
        for (i, &c) in chans.iter().enumerate() {
            // 1 -> 4 first (kernel 4, stride 1), then 4 -> 8 -> 16 -> 32; from the second
            // stage on the class comes in again as one-hot planes (stronger conditioning).
            let (stride, pad) = if i == 0 { (1, 0) } else { (2, 1) };
            let input = if i == 0 { prev } else { prev + self.classes };
            ups.push(
                ConvTranspose2dConfig::new([input, c], [4, 4])
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
        let conv = |i: usize, o: usize, k: usize, s: usize, p: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device)
        };
        Discriminator {
            convs: vec![
                conv(self.channels + self.classes, w, 4, 2, 1), // 32 -> 16
                conv(w, 2 * w, 4, 2, 1),                        // 16 -> 8
                conv(2 * w, 4 * w, 4, 2, 1),                    // 8 -> 4
                conv(4 * w, 4 * w, 3, 1, 1),                    // 4 -> 4
                conv(4 * w, 1, 4, 1, 0),                        // 4 -> 1: the logit
            ],
        }
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
    /// `z`: [B, Z], `onehot`: [B, classes] -> images [B, C, 32, 32] in [0, 1].
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
            x = relu(self.bns[2 * i].forward(self.ups[i].forward(x)));
            x = self.convs[i].forward(x);
            if i != last {
                x = relu(self.bns[2 * i + 1].forward(x));
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
    /// `images`: [B, C, 32, 32] in [0, 1], `onehot`: [B, classes] -> logits [B].
    pub fn forward(&self, images: Tensor<4>, onehot: Tensor<2>) -> Tensor<1> {
        let [b, _, h, w] = images.dims();
        let classes = onehot.dims()[1];
        let planes = onehot
            .reshape([b, classes, 1, 1])
            .expand([b, classes, h, w]);
        // Centre the image like the classifier does.
        let mut x = Tensor::cat(vec![(images - 0.5) * 2.0, planes], 1);
        let last = self.convs.len() - 1;
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if i != last {
                x = leaky_relu(x, 0.2);
            }
        }
        x.reshape([b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_range() {
        let device = Device::flex();
        let cfg = GanConfig {
            classes: 3,
            channels: 1,
            width: 4,
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
}
