//! Convolutions in training as matrix products over chunks of the batch on the CPU backend.
//!
//! Burn 0.22's generic backward, which the CPU backend (flex) uses, computes a convolution's
//! weight gradient as another convolution with batch and channels swapped: per input channel
//! an im2col and a GEMM only as wide as the kernel (9 columns for 3x3), and for a transposed
//! convolution per output channel with the whole input activation as the "kernel". Those
//! thin products keep the second core idle and re-read the activation once per channel.
//! Here the weight gradient is one GEMM per chunk of images (below): the output gradient laid out as
//! `[out channels, batch · positions]` times the input's im2col, `[batch · positions,
//! in channels · kernel area]` (for a transposed convolution the roles of input and output
//! gradient swap: its weight gradient is the input times the im2col of the output gradient).
//! A convolution's input gradient is one GEMM too, the weight's transpose times the output
//! gradient, summed back into the input's shape row segment by row segment (flex's own
//! transposed convolution, which Burn's generic backward calls, scatters value by value —
//! 8% of a GAN iteration in its profile). The forward passes are the same two products:
//! a convolution is the weight times the input's im2col, a transposed convolution is a
//! convolution's input gradient with its input in the gradient's place, and its input
//! gradient is a plain convolution (flex's forward passes transpose to channels-last on the
//! calling thread, or run one thin GEMM per image). 1x1 convolutions (`pointwise`) take
//! this path too since the products run per chunk of images: their im2col is the images'
//! values as they stand (through whole-batch layouts they were slower than matmuls:
//! classifier epoch 3.04/3.13/3.38 s as matmuls vs 3.32/3.73/3.95 s, same binary).
//!
//! Each product runs over a chunk of the batch at a time — a few images, at least 256 grid
//! positions — laid out and multiplied by one task, the chunks in parallel: the layout
//! buffers stay in cache between the kernel that writes them and the product that reads
//! them, one image's `[channels, positions]` values are the GEMM's rows as they stand (no
//! transposing copy), and a weight gradient is summed per group of chunks. Whole-batch
//! buffers (19 MB for the discriminator's im2col at batch 64) went out to memory and back:
//! GAN bench 8.8 → 10.1 it/s, classifier epoch 2.89 → 2.63 s.
//!
//! 3x3 layers at stride 1 with even sides run their forward pass and input gradient by
//! Winograd's tiles instead (`winograd`: fewer multiply-adds); their weight gradient stays
//! here.
//!
//! The same backend-extension mechanism as `norm`: a `Flex` kernel and an `Autodiff` node
//! that records one operation and calls it when gradients flow back; elsewhere (wgpu,
//! inference, grouped or asymmetric padding) the layers run Burn's own path. Written so it
//! could go upstream: `window_product` is what flex would put behind its
//! `conv2d_weight_backward` and `conv_transpose2d_weight_backward`, `conv_input_grad`
//! behind `conv2d_x_backward`, the Flex `gemm_conv2d` and `gemm_conv_transpose2d` behind
//! `conv2d` and `conv_transpose2d` for large enough batches.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex, TensorMetadata};
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, UnfoldOptions};
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::flex::{dense, dims, f32s, is_flex, tensor, AutodiffTensor};
use super::gemm::{product, product_add, product_into, View};
use super::winograd;
use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Stride, padding (the same on both sides) and dilation of a 2-D window, per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl Window {
    fn conv(self) -> ConvOptions<2> {
        ConvOptions::new(self.stride, self.padding, self.dilation, 1)
    }

    /// The output grid of a convolution over an `h x w` input, or `None` when the window
    /// is larger than the padded input.
    pub(super) fn grid(self, [h, w]: [usize; 2]) -> Option<[usize; 2]> {
        let side = |n: usize, a: usize| {
            (n + 2 * self.padding[a])
                .checked_sub(self.dilation[a] * (self.kernel[a] - 1) + 1)
                .map(|room| room / self.stride[a] + 1)
        };
        Some([side(h, 0)?, side(w, 1)?])
    }

    /// Whether the window over an `h x w` input takes all of it once (kernel the input's
    /// side, no padding or dilation): a 1x1 grid, the layer a matrix product of each
    /// image's values as they stand — the discriminator's last layer, the generator's
    /// first. Through im2col and col2im those took ≈6% of a GAN iteration for 0.3% of its
    /// multiply-adds: a loop step per single value.
    fn covers(self, side: [usize; 2]) -> bool {
        self.kernel == side && self.padding == [0, 0] && self.dilation == [1, 1]
    }

    /// A 1x1 window at stride 1 without padding: its im2col is the images' rows as they
    /// stand (`windows_of`), its col2im their layout back (`spread_into`).
    fn pointwise(self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// The output side of a transposed convolution over an `h x w` input (no output
    /// padding), or `None` when the padding eats it.
    fn transposed_side(self, [h, w]: [usize; 2]) -> Option<[usize; 2]> {
        let side = |n: usize, a: usize| {
            ((n.max(1) - 1) * self.stride[a] + self.dilation[a] * (self.kernel[a] - 1) + 1)
                .checked_sub(2 * self.padding[a])
                .filter(|&s| s > 0 && n > 0)
        };
        Some([side(h, 0)?, side(w, 1)?])
    }

    fn transpose(self) -> ConvTransposeOptions<2> {
        ConvTransposeOptions::new(self.stride, self.padding, [0, 0], self.dilation, 1)
    }
}

/// Convolutions without bias (`x` `[batch, in, h, w]`), a convolution's input gradient, and
/// the product both layers' weight gradients share: `Σ_b a[b] · im2col(t[b])ᵀ` for `a` `[batch, m, oh, ow]` and `t`
/// `[batch, c, h, w]`, the windows of `t` placed on `a`'s `oh x ow` grid; `[m, c, kh, kw]`.
#[backend_extension(Flex, Autodiff)]
pub trait GemmConv: Backend {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        window: Window,
    ) -> FloatTensor<Self> {
        Kind::Conv.forward::<Self>(x, weight, window)
    }

    fn gemm_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        window: Window,
    ) -> FloatTensor<Self> {
        Kind::Transpose.forward::<Self>(x, weight, window)
    }

    /// The input gradient of `gemm_conv2d` (`x` for its shape).
    fn conv_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        window: Window,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, window.conv())
    }

    fn window_product(
        a: FloatTensor<Self>,
        t: FloatTensor<Self>,
        window: Window,
    ) -> FloatTensor<Self> {
        burns_window_product::<Self>(a, t, window)
    }

    /// Both gradients of a layer `kind` recorded, `(input, weight)`, for the backward pass
    /// when it wants both (`x` the layer's input, `output_grad` the gradient of its output).
    fn conv_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        window: Window,
        kind: Kind,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        separate_grads::<Self>(x, weight, output_grad, window, kind)
    }
}

/// `conv_grads` as two separate computations (the trait's default).
fn separate_grads<B: GemmConv>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    window: Window,
    kind: Kind,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let dx = kind.input_grad::<B>(x.clone(), weight, grad.clone(), window);
    (dx, kind.weight_grad::<B>(x, grad, window))
}

/// `window_product` from Burn's own operations (the trait's default, and flex's for
/// non-f32 tensors): unfold, a batched matmul, a sum over the batch.
fn burns_window_product<B: Backend>(
    a: FloatTensor<B>,
    t: FloatTensor<B>,
    window: Window,
) -> FloatTensor<B> {
    let [batch, m, oh, ow] = a.shape().dims();
    let c = t.shape().dims::<4>()[1];
    let [kh, kw] = window.kernel;
    let cols = B::unfold4d(
        t,
        window.kernel,
        UnfoldOptions::new(window.stride, window.padding, window.dilation),
    );
    let a = B::float_reshape(a, [batch, m, oh * ow].into());
    let product = B::float_matmul(a, B::float_swap_dims(cols, 1, 2));
    let sum = B::float_sum_dim(product, 0);
    B::float_reshape(sum, [m, c, kh, kw].into())
}

/// The window of a layer, or `None` when the layer needs Burn's own path (groups, padding
/// that differs between sides).
fn conv_window(conv: &Conv2d) -> Option<Window> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    (conv.groups == 1).then_some(Window {
        kernel: conv.kernel_size,
        stride: conv.stride,
        padding,
        dilation: conv.dilation,
    })
}

fn uses_gemm(x: &Tensor<4>) -> bool {
    x.is_autodiff() && is_flex(&x.device())
}

/// `conv.forward(x)` with the one-GEMM weight gradient on the CPU backend in training.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_leaky(conv, x, None)
}

/// `conv2d`, then a leaky ReLU of `slope` if one is given, added with the bias in one pass
/// in training on the CPU backend (`bias::add`).
pub fn conv2d_leaky(conv: &Conv2d, x: Tensor<4>, slope: Option<f32>) -> Tensor<4> {
    let bias = conv.bias.as_ref().map(|b| b.val());
    match conv_window(conv) {
        Some(window) if uses_gemm(&x) => {
            super::bias::add(gemm_with(window, conv.weight.val(), None, x), bias, slope)
        }
        _ => match slope {
            Some(s) => burn::tensor::activation::leaky_relu(conv.forward(x), s as f64),
            None => conv.forward(x),
        },
    }
}

/// `conv`'s window (stride, padding, dilation) with another `weight` and `bias`, e.g. a
/// slice of its own weight: the one-GEMM path in training on the CPU backend, Burn's
/// functional convolution elsewhere; `None` for a grouped or unevenly padded layer.
pub fn conv2d_with(
    conv: &Conv2d,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    x: Tensor<4>,
) -> Option<Tensor<4>> {
    let window = conv_window(conv)?;
    Some(if uses_gemm(&x) {
        gemm_with(window, weight, bias, x)
    } else {
        burn::tensor::module::conv2d(x, weight, bias, window.conv())
    })
}

fn gemm_with(
    window: Window,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    x: Tensor<4>,
) -> Tensor<4> {
    let y = Tensor::<4>::from_dispatch(<burn::backend::Dispatch as GemmConv>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        window,
    ));
    super::bias::add(y, bias, None)
}

/// `conv.forward(x)` with the one-GEMM weight gradient on the CPU backend in training.
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if conv.groups != 1 || conv.padding_out != [0, 0] || !uses_gemm(&x) {
        return conv.forward(x);
    }
    let window = Window {
        kernel: conv.kernel_size,
        stride: conv.stride,
        padding: conv.padding,
        dilation: conv.dilation,
    };
    let y = Tensor::<4>::from_dispatch(
        <burn::backend::Dispatch as GemmConv>::gemm_conv_transpose2d(
            x.into_dispatch(),
            conv.weight.val().into_dispatch(),
            window,
        ),
    );
    super::bias::add(y, conv.bias.as_ref().map(|b| b.val()), None)
}

impl GemmConv for Flex {
    /// The weight `[out, in · kh · kw]` times the input's transposed im2col, laid out as
    /// `[batch, out, oh, ow]` (`weight_times_windows`). Flex's own convolution transposes
    /// the input to channels-last on the calling thread first (≈6% of a GAN iteration, with
    /// the pool idle).
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, window: Window) -> FlexTensor {
        let [_, _, h, w] = dims(&x);
        let grid = match window.grid([h, w]) {
            Some(grid) if f32_pair(&x, &weight) => grid,
            _ => return Kind::Conv.forward::<Self>(x, weight, window),
        };
        ran_gemm();
        let (x, weight) = (dense(x), dense(weight));
        let ([batch, c, _, _], o) = (dims(&x), dims(&weight)[0]);
        if winograd::applies(window, [h, w], [c, o]) {
            let y = winograd::conv(f32s(&x), [batch, c, h, w], f32s(&weight), o);
            return tensor(y, vec![batch, o, h, w]);
        }
        weight_times_windows(&weight, &x, grid, window)
    }

    /// A transposed convolution's forward pass is a convolution's input gradient with the
    /// input in the output gradient's place (`rows_into_windows`). Flex's own runs one thin
    /// GEMM per image (16 to 64 columns at the GAN's small sides).
    fn gemm_conv_transpose2d(x: FlexTensor, weight: FlexTensor, window: Window) -> FlexTensor {
        let [batch, _, h, w] = dims(&x);
        let [_, o, _, _] = dims(&weight);
        match window.transposed_side([h, w]) {
            Some([oh, ow]) if f32_pair(&x, &weight) => {
                ran_gemm();
                let (x, weight) = (dense(x), dense(weight));
                rows_into_windows(&x, &weight, [batch, o, oh, ow], window)
            }
            _ => Kind::Transpose.forward::<Self>(x, weight, window),
        }
    }

    fn conv_input_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        window: Window,
    ) -> FlexTensor {
        if !f32_pair(&output_grad, &weight) {
            return Self::conv2d_x_backward(x, weight, output_grad, window.conv());
        }
        ran_gemm();
        let (dy, weight) = (dense(output_grad), dense(weight));
        let (shape, [o, c, _, _]) = (dims(&x), dims(&weight));
        let [batch, _, h, w] = shape;
        if winograd::applies(window, [h, w], [c, o]) {
            let dx = winograd::input_grad(f32s(&dy), [batch, o, h, w], f32s(&weight), c);
            return tensor(dx, shape.to_vec());
        }
        rows_into_windows(&dy, &weight, shape, window)
    }

    fn window_product(a: FlexTensor, t: FlexTensor, window: Window) -> FlexTensor {
        if !f32_pair(&a, &t) {
            return burns_window_product::<Self>(a, t, window);
        }
        ran_gemm();
        let (a, t) = (dense(a), dense(t));
        let [batch, m, oh, ow] = dims(&a);
        let [_, c, h, w] = dims(&t);
        let k = c * window.kernel[0] * window.kernel[1];
        let shape = vec![m, c, window.kernel[0], window.kernel[1]];
        if window.covers([h, w]) {
            let (a, t) = (
                View::rows(f32s(&a), batch, m),
                View::rows(f32s(&t), batch, k),
            );
            return product_tensor(a.t(), t, shape);
        }
        let (a, t) = (Images::new(&a), Images::new(&t));
        let pos = oh * ow;
        let (_, sums) = by_chunks(batch, chunk_images(pos), 0, zeros(m * k), |imgs, _, sum| {
            SCRATCH.with_borrow_mut(|[cols, rows, _]| {
                let n = imgs.len();
                let rows = a.rows(imgs.clone(), rows);
                let cols = windows_of(&t, imgs, [c, h, w], [oh, ow], window, cols);
                product_add(
                    View::rows(rows, m, n * pos),
                    View::rows(cols, k, n * pos).t(),
                    sum,
                );
            })
        });
        tensor(total(sums, m * k), shape)
    }

    /// Both gradients chunk by chunk from one layout of the output gradient: a
    /// convolution's input and weight gradients both read it as `[out, positions]` rows,
    /// a transposed convolution's both multiply its im2col.
    fn conv_grads(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        window: Window,
        kind: Kind,
    ) -> (FlexTensor, FlexTensor) {
        if !(f32_pair(&x, &weight) && f32_pair(&output_grad, &weight)) {
            return separate_grads::<Self>(x, weight, output_grad, window, kind);
        }
        let [batch, c, h, w] = dims(&x);
        let [_, oc, oh, ow] = dims(&output_grad);
        let [wo, wi, kh, kw] = dims(&weight);
        // A window over all of the input (or, transposed, of the output): plain products.
        // A Winograd layer's input gradient has its own kernel (`conv_input_grad`), its
        // weight gradient is `window_product`'s: nothing to share between the two.
        if window.covers(if kind == Kind::Conv { [h, w] } else { [oh, ow] })
            || (kind == Kind::Conv && winograd::applies(window, [h, w], [c, oc]))
        {
            return separate_grads::<Self>(x, weight, output_grad, window, kind);
        }
        ran_gemm();
        let (x, weight, dy) = (dense(x), dense(weight), dense(output_grad));
        let ws = f32s(&weight);
        let (xs, dys) = (Images::new(&x), Images::new(&dy));
        let (dx, sums) = match kind {
            Kind::Conv => {
                // Weight [oc, c, kh, kw]; the grid is the output's.
                let (k, pos) = (c * kh * kw, oh * ow);
                by_chunks(
                    batch,
                    chunk_images(pos),
                    c * h * w,
                    zeros(oc * k),
                    |imgs, dx, sum| {
                        SCRATCH.with_borrow_mut(|[cols, rows, _]| {
                            let n = imgs.len();
                            let rows = dys.rows(imgs.clone(), rows);
                            let rows = View::rows(rows, oc, n * pos);
                            let wt = View::rows(ws, oc, k).t();
                            spread_into(wt, rows, [n, c, h, w], [oh, ow], window, dx, cols);
                            let cols = windows_of(&xs, imgs, [c, h, w], [oh, ow], window, cols);
                            product_add(rows, View::rows(cols, k, n * pos).t(), sum);
                        })
                    },
                )
            }
            Kind::Transpose => {
                // Weight [c, oc, kh, kw]; the windows over the output gradient sit on the
                // input's grid.
                let (k, pos) = (oc * kh * kw, h * w);
                by_chunks(
                    batch,
                    chunk_images(pos),
                    c * pos,
                    zeros(c * k),
                    |imgs, dx, sum| {
                        SCRATCH.with_borrow_mut(|[cols, rows, product]| {
                            let n = imgs.len();
                            let cols =
                                windows_of(&dys, imgs.clone(), [oc, oh, ow], [h, w], window, cols);
                            let cols = View::rows(cols, k, n * pos);
                            into_images(View::rows(ws, c, k), cols, [n, c, pos], dx, product);
                            let rows = xs.rows(imgs, rows);
                            product_add(View::rows(rows, c, n * pos), cols.t(), sum);
                        })
                    },
                )
            }
        };
        debug_assert_eq!([wo, wi], if kind == Kind::Conv { [oc, c] } else { [c, oc] });
        (
            tensor(dx, vec![batch, c, h, w]),
            tensor(total(sums, wo * wi * kh * kw), vec![wo, wi, kh, kw]),
        )
    }
}

/// Counts a call of the kernels here, for the tests to tell which path ran.
fn ran_gemm() {
    #[cfg(test)]
    tests::GEMM_CALLS.with(|n| n.set(n.get() + 1));
}

/// Grid positions a chunk of images spans at least: enough columns for the GEMM's tiles,
/// few enough that a chunk's layout buffers stay in cache between the layout kernel that
/// writes them and the product that reads them. Whole-batch buffers (19 MB for the
/// discriminator's im2col at batch 64) went out to memory and back.
const CHUNK_POSITIONS: usize = 256;

/// Images per chunk for a grid of `positions`.
pub(super) fn chunk_images(positions: usize) -> usize {
    (CHUNK_POSITIONS / positions.max(1)).max(1)
}

thread_local! {
    /// A task's layout buffers (windows, rows, a product), reused chunk after chunk.
    pub(super) static SCRATCH: RefCell<[Vec<f32>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// `scratch` refilled with `n` values by `write` (which must write them all).
pub(super) fn fill(
    scratch: &mut Vec<f32>,
    n: usize,
    write: impl FnOnce(&mut [MaybeUninit<f32>]),
) -> &[f32] {
    scratch.clear();
    scratch.reserve(n);
    write(&mut scratch.spare_capacity_mut()[..n]);
    // SAFETY: `write` wrote all n values (each caller passes a kernel that does).
    unsafe { scratch.set_len(n) };
    scratch
}

/// `a · b` as a tensor of `shape`, on the calling thread.
fn product_tensor(a: View, b: View, shape: Vec<usize>) -> FlexTensor {
    tensor(product(a, b), shape)
}

/// A summing accumulator's initial value: `n` zeros.
fn zeros(n: usize) -> impl Fn() -> Vec<f32> + Sync {
    move || vec![0.0; n]
}

/// The groups' accumulators added up, in order (the same sum for the same thread count).
fn total(sums: Vec<Vec<f32>>, n: usize) -> Vec<f32> {
    let mut sums = sums.into_iter();
    let mut out = sums.next().unwrap_or_else(|| vec![0.0; n]);
    for s in sums {
        out.iter_mut().zip(&s).for_each(|(o, v)| *o += v);
    }
    out
}

/// A dense `[batch, channels, positions]` tensor's values, image by image.
struct Images<'a> {
    values: &'a [f32],
    channels: usize,
    positions: usize,
}

impl<'a> Images<'a> {
    fn new(t: &'a FlexTensor) -> Self {
        let [_, channels, h, w] = dims(t);
        Images {
            values: f32s(t),
            channels,
            positions: h * w,
        }
    }

    /// The values of images `imgs`.
    fn of(&self, imgs: Range<usize>) -> &'a [f32] {
        let per = self.channels * self.positions;
        &self.values[imgs.start * per..imgs.end * per]
    }

    /// Images `imgs` as the GEMM's `[channels, n · positions]` rows: the values themselves
    /// for one image, else laid out in `scratch`.
    fn rows<'s>(&self, imgs: Range<usize>, scratch: &'s mut Vec<f32>) -> &'s [f32]
    where
        'a: 's,
    {
        let n = imgs.len();
        let values = self.of(imgs);
        if n == 1 {
            return values;
        }
        fill(scratch, values.len(), |dst| {
            kernels::swap(values, n, self.channels, self.positions, dst)
        })
    }
}

/// The transposed im2col of images `imgs` of `t` (`[c, h, w]` each) for `window` on
/// `grid`, in `scratch`: `[c · kh · kw, n · grid]`. For a pointwise window that is the
/// images' own rows (`Images::rows`: no copy for one image).
fn windows_of<'s>(
    t: &Images<'s>,
    imgs: Range<usize>,
    [c, h, w]: [usize; 3],
    grid: [usize; 2],
    window: Window,
    scratch: &'s mut Vec<f32>,
) -> &'s [f32] {
    if window.pointwise() {
        return t.rows(imgs, scratch);
    }
    let n = imgs.len();
    let k = c * window.kernel[0] * window.kernel[1];
    fill(scratch, k * n * grid[0] * grid[1], |dst| {
        kernels::im2col_t(t.of(imgs), [n, c, h, w], grid, window, dst)
    })
}

/// `a · rows` (`[c · kh · kw, n · grid]`, a window's columns) summed back into `n` images
/// `[c, h, w]` in `out` by col2im, through `scratch`; for a pointwise window the product
/// laid out as the images directly (`into_images`).
fn spread_into(
    a: View,
    rows: View,
    [n, c, h, w]: [usize; 4],
    grid: [usize; 2],
    window: Window,
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Vec<f32>,
) {
    if window.pointwise() {
        return into_images(a, rows, [n, c, h * w], out, scratch);
    }
    let k = c * window.kernel[0] * window.kernel[1];
    let spread = fill(scratch, k * n * grid[0] * grid[1], |dst| {
        product_into(a, rows, dst)
    });
    kernels::col2im(spread, [n, c, h, w], grid, window, out);
}

/// `a · cols` (`[o, n · positions]`) laid out as `[n, o, positions]` in `out`: directly for
/// one image, through `scratch` for more.
fn into_images(
    a: View,
    cols: View,
    [n, o, pos]: [usize; 3],
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Vec<f32>,
) {
    if n == 1 {
        return product_into(a, cols, out);
    }
    let product = fill(scratch, o * n * pos, |dst| product_into(a, cols, dst));
    kernels::swap(product, o, n, pos, out);
}

/// Runs `task(images, out, sum)` over the batch's chunks of `chunk` images (the last maybe
/// fewer), in parallel over a few contiguous groups of chunks, each group with its own
/// accumulator from `init`. The output has `per_image` values per image; each task gets
/// its chunk's part, unwritten, and must write all of it. Returns the output and the
/// groups' accumulators in batch order.
pub(super) fn by_chunks<A: Send>(
    batch: usize,
    chunk: usize,
    per_image: usize,
    init: impl Fn() -> A + Sync,
    task: impl Fn(Range<usize>, &mut [MaybeUninit<f32>], &mut A) + Sync,
) -> (Vec<f32>, Vec<A>) {
    let chunks = batch.div_ceil(chunk);
    // Two groups per thread: one slow group does not hold the others up.
    let groups = chunks.clamp(1, 2 * rayon::current_num_threads());
    let per_group = chunks.div_ceil(groups) * chunk;
    let mut out = Vec::with_capacity(batch * per_image);
    let mut rest = &mut out.spare_capacity_mut()[..batch * per_image];
    let mut parts = Vec::new();
    for start in (0..batch).step_by(per_group.max(1)) {
        let images = start..(start + per_group).min(batch);
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(images.len() * per_image);
        parts.push((images, part));
        rest = tail;
    }
    let sums = parts
        .into_par_iter()
        .map(|(images, part)| {
            let mut sum = init();
            for start in images.clone().step_by(chunk) {
                let end = (start + chunk).min(images.end);
                let at = (start - images.start) * per_image;
                task(
                    start..end,
                    &mut part[at..at + (end - start) * per_image],
                    &mut sum,
                );
            }
            sum
        })
        .collect();
    // SAFETY: the parts cover all batch · per_image values and every task writes its
    // chunk's whole part (each caller's kernels; their tests compare every value).
    unsafe { out.set_len(batch * per_image) };
    (out, sums)
}

/// `weight` `[o, k]` times the windows of `t` on `grid`, as `[batch, o, grid]`: a
/// convolution's output, or a transposed convolution's input gradient.
fn weight_times_windows(
    weight: &FlexTensor,
    t: &FlexTensor,
    grid: [usize; 2],
    window: Window,
) -> FlexTensor {
    let [batch, c, h, w] = dims(t);
    let o = dims(weight)[0];
    let (k, pos) = (c * window.kernel[0] * window.kernel[1], grid[0] * grid[1]);
    if window.covers([h, w]) {
        let (ts, ws) = (
            View::rows(f32s(t), batch, k),
            View::rows(f32s(weight), o, k),
        );
        return product_tensor(ts, ws.t(), vec![batch, o, 1, 1]);
    }
    let (ws, ts) = (f32s(weight), Images::new(t));
    let (y, _) = by_chunks(
        batch,
        chunk_images(pos),
        o * pos,
        || (),
        |imgs, out, _| {
            SCRATCH.with_borrow_mut(|[cols, _, product]| {
                let n = imgs.len();
                let cols = windows_of(&ts, imgs, [c, h, w], grid, window, cols);
                into_images(
                    View::rows(ws, o, k),
                    View::rows(cols, k, n * pos),
                    [n, o, pos],
                    out,
                    product,
                );
            })
        },
    );
    tensor(y, vec![batch, o, grid[0], grid[1]])
}

/// The weight `[o, c, kh, kw]`'s transpose times `src` `[batch, o, grid]` as rows, each
/// column summed back into `shape` `[batch, c, h, w]` where the window at its grid position
/// reads (`kernels::col2im`): a transposed convolution's output, or a convolution's input
/// gradient. Flex's transposed convolution, which Burn's generic input gradient calls,
/// scatters value by value.
fn rows_into_windows(
    src: &FlexTensor,
    weight: &FlexTensor,
    shape: [usize; 4],
    window: Window,
) -> FlexTensor {
    let [o, c, kh, kw] = dims(weight);
    let [batch, _, h, w] = shape;
    let grid = window
        .grid([h, w])
        .expect("the window fits the input it was taken from");
    let (k, pos) = (c * kh * kw, grid[0] * grid[1]);
    debug_assert_eq!(dims(src), [batch, o, grid[0], grid[1]]);
    if window.covers([h, w]) {
        let (srcs, ws) = (
            View::rows(f32s(src), batch, o),
            View::rows(f32s(weight), o, k),
        );
        return product_tensor(srcs, ws, shape.to_vec());
    }
    let (ws, srcs) = (f32s(weight), Images::new(src));
    let (out, _) = by_chunks(
        batch,
        chunk_images(pos),
        c * h * w,
        || (),
        |imgs, out, _| {
            SCRATCH.with_borrow_mut(|[cols, rows, _]| {
                let n = imgs.len();
                let rows = View::rows(srcs.rows(imgs, rows), o, n * pos);
                let wt = View::rows(ws, o, k).t();
                spread_into(wt, rows, [n, c, h, w], grid, window, out, cols);
            })
        },
    );
    tensor(out, shape.to_vec())
}

/// Whether both operands are f32, the only type the kernels here handle (others take
/// Burn's path).
fn f32_pair(a: &FlexTensor, b: &FlexTensor) -> bool {
    a.dtype() == DType::F32 && b.dtype() == DType::F32
}

/// Which of the two layers a node records: the weight gradient is `window_product` of the
/// output gradient and the input for a convolution, of the input and the output gradient
/// for a transposed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Conv,
    Transpose,
}

impl Kind {
    /// The layer's forward pass, Burn's own (without bias: `bias::add` adds it).
    fn forward<B: Backend>(
        self,
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        window: Window,
    ) -> FloatTensor<B> {
        match self {
            Kind::Conv => B::conv2d(x, weight, None, window.conv()),
            Kind::Transpose => B::conv_transpose2d(x, weight, None, window.transpose()),
        }
    }

    /// The gradient of the layer's input `x`.
    fn input_grad<B: GemmConv>(
        self,
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        grad: FloatTensor<B>,
        window: Window,
    ) -> FloatTensor<B> {
        match self {
            Kind::Conv => B::conv_input_grad(x, weight, grad, window),
            // A transposed convolution's input gradient is the plain convolution of the
            // output gradient with the same weight.
            Kind::Transpose => B::gemm_conv2d(grad, weight, window),
        }
    }

    /// The gradient of the layer's weight, from its input `x`.
    fn weight_grad<B: GemmConv>(
        self,
        x: FloatTensor<B>,
        grad: FloatTensor<B>,
        window: Window,
    ) -> FloatTensor<B> {
        match self {
            Kind::Conv => B::window_product(grad, x, window),
            Kind::Transpose => B::window_product(x, grad, window),
        }
    }
}

#[derive(Debug)]
struct GemmConvBackward;

impl<B: GemmConv> Backward<B, 2> for GemmConvBackward {
    type State = (NodeId, NodeId, Window, Kind);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, window, kind) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
        match (node_x, node_weight) {
            (Some(nx), Some(nw)) => {
                let (dx, dw) = B::conv_grads(x, weight, grad, window, kind);
                grads.register::<B>(nx.id, dx);
                grads.register::<B>(nw.id, dw);
            }
            (Some(nx), None) => {
                grads.register::<B>(nx.id, kind.input_grad::<B>(x, weight, grad, window));
            }
            (None, Some(nw)) => {
                grads.register::<B>(nw.id, kind.weight_grad::<B>(x, grad, window));
            }
            (None, None) => {}
        }
    }
}

fn record<B: GemmConv, C: CheckpointStrategy>(
    x: AutodiffTensor<B, C>,
    weight: AutodiffTensor<B, C>,
    window: Window,
    kind: Kind,
) -> AutodiffTensor<B, C> {
    let forward = |x: FloatTensor<B>, weight: FloatTensor<B>| match kind {
        Kind::Conv => B::gemm_conv2d(x, weight, window),
        Kind::Transpose => B::gemm_conv_transpose2d(x, weight, window),
    };
    match GemmConvBackward
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let y = forward(x.into_primitive(), weight.into_primitive());
            prep.finish((x_state, weight_state, window, kind), y)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(x.into_primitive(), weight.into_primitive()))
        }
    }
}

impl<B: GemmConv, C: CheckpointStrategy> GemmConv for Autodiff<B, C> {
    fn gemm_conv2d(
        x: AutodiffTensor<B, C>,
        weight: AutodiffTensor<B, C>,
        window: Window,
    ) -> AutodiffTensor<B, C> {
        record::<B, C>(x, weight, window, Kind::Conv)
    }

    fn gemm_conv_transpose2d(
        x: AutodiffTensor<B, C>,
        weight: AutodiffTensor<B, C>,
        window: Window,
    ) -> AutodiffTensor<B, C> {
        record::<B, C>(x, weight, window, Kind::Transpose)
    }
}

/// The layout kernels on plain NCHW slices, in parallel over rows. Each builds its output
/// in fresh, unzeroed memory that its tasks fill (padding included) on the pool, rather
/// than a zeroed allocation on the calling thread (≈5% of a GAN iteration went to
/// memset and page zeroing there while the pool waited).
mod kernels {
    use super::super::flex::zero;
    use super::Window;
    use std::mem::MaybeUninit;

    fn copy(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            d.write(*s);
        }
    }

    /// `dst[k] = src[k · step]`: the taps of a strided window along a row.
    fn gather(dst: &mut [MaybeUninit<f32>], src: &[f32], step: usize) {
        let Some(last) = dst.len().checked_sub(1) else {
            return;
        };
        assert!(last * step < src.len(), "gather past the row");
        for (k, d) in dst.iter_mut().enumerate() {
            // SAFETY: k · step ≤ last · step < src.len() (the assert): one check per row
            // instead of one per tap, in the loop of every strided window.
            d.write(unsafe { *src.get_unchecked(k * step) });
        }
    }

    /// `dst[k · step] += src[k]`: `gather`'s inverse, summing.
    fn scatter_add(dst: &mut [f32], src: &[f32], step: usize) {
        let Some(last) = src.len().checked_sub(1) else {
            return;
        };
        assert!(last * step < dst.len(), "scatter past the row");
        for (k, s) in src.iter().enumerate() {
            // SAFETY: as in `gather`, k · step ≤ last · step < dst.len().
            unsafe { *dst.get_unchecked_mut(k * step) += *s };
        }
    }

    /// `a` `[p, q, l]` as `[q, p, l]` in `out`: images' `[n, channels, positions]` as the
    /// GEMM's `[channels, n · positions]` (`p` = n), and back (`q` = n).
    pub fn swap(a: &[f32], p: usize, q: usize, l: usize, out: &mut [MaybeUninit<f32>]) {
        for (j, out) in out.chunks_exact_mut(p * l).enumerate() {
            for (i, dst) in out.chunks_exact_mut(l).enumerate() {
                let start = (i * q + j) * l;
                copy(dst, &a[start..start + l]);
            }
        }
    }

    /// The grid columns `first..last` whose image column `x · sx + dx` lies in `0..w`.
    fn span(w: usize, ow: usize, dx: isize, sx: isize) -> (usize, usize) {
        let first = if dx < 0 {
            ((-dx + sx - 1) / sx) as usize
        } else {
            0
        };
        let room = w as isize - 1 - dx;
        let last = if room < 0 {
            0
        } else {
            ((room / sx + 1) as usize).min(ow)
        };
        (first.min(ow), last.max(first).min(ow))
    }

    /// The offsets of kernel tap `(i, j)` from a window's grid position.
    fn offsets(win: Window, i: usize, j: usize) -> (isize, isize) {
        (
            (i * win.dilation[0]) as isize - win.padding[0] as isize,
            (j * win.dilation[1]) as isize - win.padding[1] as isize,
        )
    }

    /// The transposed im2col of `t` `[batch, c, h, w]`: `[c · kh · kw, batch · oh · ow]`,
    /// row `(c, i, j)` holding `t[b, c, y·s − p + i·d, x·s − p + j·d]` (0 outside) at column
    /// `(b, y, x)`.
    pub fn im2col_t(
        t: &[f32],
        shape: [usize; 4],
        grid: [usize; 2],
        win: Window,
        out: &mut [MaybeUninit<f32>],
    ) {
        let [batch, c, h, w] = shape;
        let [oh, ow] = grid;
        let [kh, kw] = win.kernel;
        let cols = batch * oh * ow;
        for (row, out) in out.chunks_exact_mut(cols).enumerate() {
            let (ch, i, j) = (row / (kh * kw), row / kw % kh, row % kw);
            let (dy, dx) = offsets(win, i, j);
            let (sy, sx) = (win.stride[0] as isize, win.stride[1] as isize);
            let (first, last) = span(w, ow, dx, sx);
            // Rows as long as the image's, stride 1: the whole block at once (below).
            let whole = sy == 1 && sx == 1 && ow == w;
            for b in 0..batch {
                let plane = &t[(b * c + ch) * h * w..][..h * w];
                let block = &mut out[b * oh * ow..][..oh * ow];
                if whole {
                    shifted_block(block, plane, [oh, ow], (dy, dx), (first, last));
                    continue;
                }
                for y in 0..oh {
                    let dst = &mut out[(b * oh + y) * ow..][..ow];
                    let src_y = y as isize * sy + dy;
                    if src_y < 0 || src_y >= h as isize {
                        zero(dst);
                        continue;
                    }
                    let src = &plane[src_y as usize * w..][..w];
                    zero(&mut dst[..first]);
                    zero(&mut dst[last..]);
                    // `span` keeps every tap from `s0` on inside the row.
                    let s0 = (first as isize * sx + dx) as usize;
                    if sx == 1 {
                        copy(&mut dst[first..last], &src[s0..s0 + (last - first)]);
                    } else {
                        gather(&mut dst[first..last], &src[s0..], sx as usize);
                    }
                }
            }
        }
    }

    /// One image's rows of `im2col_t` for a tap at offset `(dy, dx)` when grid and image
    /// rows have the same length and stride 1: output `(y, x)` reads `plane[(y + dy)·w + x +
    /// dx]`, a constant shift, so the in-image part is one contiguous copy from the first
    /// valid value to the last; then the columns outside `first..last` (which the copy
    /// filled with the neighbouring rows' ends) and the rows outside the image are zeroed.
    /// At 8x8 the row-by-row copy ran its scalar tail on every 7 or 8 values.
    fn shifted_block(
        block: &mut [MaybeUninit<f32>],
        plane: &[f32],
        [oh, w]: [usize; 2],
        (dy, dx): (isize, isize),
        (first, last): (usize, usize),
    ) {
        let rows = plane.len() / w;
        let y0 = (-dy).clamp(0, oh as isize) as usize;
        let y1 = (rows as isize - dy).clamp(y0 as isize, oh as isize) as usize;
        if y0 == y1 || first == last {
            zero(block);
            return;
        }
        let (start, end) = (y0 * w + first, (y1 - 1) * w + last);
        let from = (start as isize + dy * w as isize + dx) as usize;
        zero(&mut block[..start]);
        copy(&mut block[start..end], &plane[from..from + (end - start)]);
        zero(&mut block[end..]);
        for y in y0..y1 - 1 {
            zero(&mut block[y * w + last..(y + 1) * w + first]);
        }
    }

    /// The inverse of `im2col_t`: `cols` `[c · kh · kw, batch · oh · ow]` summed back into
    /// `[batch, c, h, w]` in `out`, each value added where `im2col_t` took it from.
    pub fn col2im(
        cols: &[f32],
        shape: [usize; 4],
        grid: [usize; 2],
        win: Window,
        out: &mut [MaybeUninit<f32>],
    ) {
        let [batch, c, h, w] = shape;
        let [oh, ow] = grid;
        let [kh, kw] = win.kernel;
        let n = batch * oh * ow;
        let (sy, sx) = (win.stride[0] as isize, win.stride[1] as isize);
        for (index, plane) in out.chunks_exact_mut(h * w).enumerate() {
            let plane = zero(plane);
            let (b, ch) = (index / c, index % c);
            for i in 0..kh {
                for j in 0..kw {
                    let (dy, dx) = offsets(win, i, j);
                    let (first, last) = span(w, ow, dx, sx);
                    if first >= last {
                        continue;
                    }
                    let block = &cols[((ch * kh + i) * kw + j) * n + b * oh * ow..][..oh * ow];
                    for y in 0..oh {
                        let dst_y = y as isize * sy + dy;
                        if dst_y < 0 || dst_y >= h as isize {
                            continue;
                        }
                        let dst = &mut plane[dst_y as usize * w..][..w];
                        let src = &block[y * ow..][first..last];
                        let d0 = (first as isize * sx + dx) as usize;
                        scatter_add(&mut dst[d0..], src, sx as usize);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex::normal;
    use super::super::flex::worst_relative;
    use super::*;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::nn::PaddingConfig2d;
    use burn::tensor::Device;
    use std::cell::Cell;

    thread_local! {
        /// Calls of the CPU kernel on this thread (tests run in parallel), so a test can
        /// tell the GEMM path ran.
        pub(super) static GEMM_CALLS: Cell<usize> = const { Cell::new(0) };
    }

    fn calls() -> usize {
        GEMM_CALLS.with(Cell::get)
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Output and gradients (input, weight, bias) of `layer` through Burn's own path and
    /// through `ours`, under a loss that weighs every output differently: with both the
    /// input and the weights wanting gradients (`conv_grads`), the input alone (the layer
    /// without gradients: `conv_input_grad`) and the weights alone (`window_product`).
    fn check<M: burn::module::Module>(
        layer: &M,
        weight: &dyn Fn(&M) -> Tensor<4>,
        bias: &dyn Fn(&M) -> Option<Tensor<1>>,
        burns: &dyn Fn(&M, Tensor<4>) -> Tensor<4>,
        ours: &dyn Fn(&M, Tensor<4>) -> Tensor<4>,
        input: [usize; 4],
        what: &str,
    ) {
        let device = Device::flex().autodiff();
        let x0 = normal(input, 5, &device);
        let y = burns(layer, x0.clone());
        let upstream = normal(y.dims(), 6, &device);
        let frozen = layer.clone().no_grad();
        for (wants, layer, x_grad, w_grad) in [
            ("both gradients", layer, true, true),
            ("the input's gradient", &frozen, true, false),
            ("the weight's gradient", layer, false, true),
        ] {
            let what = format!("{what}, {wants}");
            let mut runs = Vec::new();
            for mine in [false, true] {
                let x = x0.clone().detach();
                let x = if x_grad { x.require_grad() } else { x };
                let before = calls();
                let y = if mine {
                    ours(layer, x.clone())
                } else {
                    burns(layer, x.clone())
                };
                let grads = (y.clone() * upstream.clone()).sum().backward();
                let ran = calls() > before;
                assert_eq!(ran, mine, "{what}: the GEMM kernels ran only on our path");
                let db = bias(layer)
                    .and_then(|b| b.grad(&grads))
                    .map(|g| g.reshape([1, 1, 1, -1]));
                runs.push([
                    Some(values(y.inner())),
                    x.grad(&grads).map(values),
                    weight(layer).grad(&grads).map(values),
                    db.map(values),
                ]);
            }
            let names = [
                "output",
                "input gradient",
                "weight gradient",
                "bias gradient",
            ];
            for (k, name) in names.iter().enumerate() {
                let (a, b) = (&runs[0][k], &runs[1][k]);
                assert_eq!(a.is_some(), b.is_some(), "{what}: {name}");
                let (Some(a), Some(b)) = (a, b) else { continue };
                let worst = worst_relative(a, b);
                assert!(worst < 1e-4, "{what}: {name} differs by {worst}");
            }
            // Each run has the gradients it asked for and no others.
            assert_eq!(runs[1][1].is_some(), x_grad, "{what}: input gradient");
            assert_eq!(runs[1][2].is_some(), w_grad, "{what}: weight gradient");
        }
    }

    fn check_conv(conv: Conv2d, input: [usize; 4], what: &str) {
        check(
            &conv,
            &|c: &Conv2d| c.weight.val(),
            &|c: &Conv2d| c.bias.as_ref().map(|b| b.val()),
            &|c: &Conv2d, x| c.forward(x),
            &|c: &Conv2d, x| conv2d(c, x),
            input,
            what,
        );
    }

    fn check_transpose(conv: ConvTranspose2d, input: [usize; 4], what: &str) {
        check(
            &conv,
            &|c: &ConvTranspose2d| c.weight.val(),
            &|c: &ConvTranspose2d| c.bias.as_ref().map(|b| b.val()),
            &|c: &ConvTranspose2d, x| c.forward(x),
            &|c: &ConvTranspose2d, x| conv_transpose2d(c, x),
            input,
            what,
        );
    }

    /// The layers the classifier and the GAN use (and odd sizes, a dilation, strides whose
    /// windows run off the edge) give Burn's outputs and gradients.
    #[test]
    fn gemm_weight_gradient_matches_burns_convolution() {
        let d = Device::flex().autodiff();
        let conv = |i, o, k: usize, s: usize, p: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        };
        let convs = [
            (conv(5, 4, 3, 1, 1), [3, 5, 7, 6], "3x3"),
            (
                conv(3, 6, 7, 2, 3).with_bias(false),
                [2, 3, 11, 9],
                "7x7 stride 2, no bias",
            ),
            (conv(4, 3, 4, 2, 1), [2, 4, 8, 10], "4x4 stride 2"),
            (conv(2, 3, 3, 1, 0), [2, 2, 6, 6], "3x3 unpadded"),
            // Stride 1 with rows as long as the image's (`shifted_block`): taps two beyond the
            // edges, and padding across only (fewer grid rows than image rows).
            (conv(3, 2, 5, 1, 2), [2, 3, 6, 7], "5x5"),
            (
                Conv2dConfig::new([2, 3], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(0, 1, 0, 1)),
                [2, 2, 6, 5],
                "3x3 padded across only",
            ),
            (
                conv(2, 3, 3, 1, 2).with_dilation([2, 2]),
                [2, 2, 7, 5],
                "3x3 dilated",
            ),
            (
                conv(3, 2, 3, 2, 1).with_stride([2, 1]),
                [2, 3, 9, 6],
                "strides differing by axis",
            ),
            // An even side under a stride of 2 (Burn's input gradient needs `padding_out`).
            (conv(2, 3, 3, 2, 1), [2, 2, 8, 8], "3x3 stride 2, even side"),
            // Stride 2 without padding on an even side: windows that stop short of the edge.
            (
                conv(2, 3, 3, 2, 0),
                [2, 2, 8, 8],
                "3x3 stride 2 unpadded, even side",
            ),
            // Taps that fall wholly outside the image at a stride of 2.
            (
                conv(2, 2, 3, 2, 2).with_dilation([2, 2]),
                [1, 2, 2, 2],
                "dilated taps beyond the image",
            ),
            // 1x1 windows (the images' values as the windows), image by image and in chunks.
            (conv(3, 4, 1, 1, 0), [3, 3, 16, 17], "1x1, image by image"),
            (conv(3, 4, 1, 1, 0), [3, 3, 4, 4], "1x1, one chunk"),
            // Windows over the whole input (a 1x1 grid: plain products), one with a stride.
            (conv(5, 4, 4, 1, 0), [3, 5, 4, 4], "4x4 over 4x4"),
            (conv(2, 3, 3, 2, 0), [2, 2, 3, 3], "3x3 stride 2 over 3x3"),
            // Grids large enough for chunks of one image (each its own task and sum), and
            // chunks of two with a last one of one.
            (conv(2, 3, 3, 1, 1), [3, 2, 17, 16], "3x3, image by image"),
            (conv(2, 2, 3, 1, 1), [5, 2, 10, 10], "3x3, chunks of two"),
            // Even sides: Winograd's tiles (`winograd`), oblong, and small images in chunks.
            (
                conv(16, 17, 3, 1, 1),
                [3, 16, 8, 6],
                "3x3 by Winograd, oblong",
            ),
            (
                conv(17, 16, 3, 1, 1),
                [20, 17, 4, 4],
                "3x3 by Winograd, 4x4 chunks",
            ),
        ];
        for (layer, input, what) in convs {
            check_conv(super::super::seeded(&d, 7, || layer.init(&d)), input, what);
        }
        let transpose = |i, o, k: usize, s: usize, p: usize| {
            ConvTranspose2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding([p, p])
        };
        let transposed = [
            (transpose(6, 5, 4, 2, 1), [3, 6, 4, 5], "4x4 up"),
            (transpose(7, 4, 4, 1, 0), [3, 7, 1, 1], "1x1 to 4x4"),
            (
                transpose(2, 3, 4, 2, 1),
                [3, 2, 16, 17],
                "4x4 up, image by image",
            ),
            (transpose(3, 2, 3, 2, 0), [2, 3, 3, 4], "3x3 up, unpadded"),
        ];
        for (layer, input, what) in transposed {
            check_transpose(super::super::seeded(&d, 8, || layer.init(&d)), input, what);
        }
    }

    /// Without autodiff (scoring, generation) and for grouped layers the layers run Burn's
    /// own path.
    #[test]
    fn inference_and_grouped_layers_keep_burns_path() {
        let d = Device::flex();
        let before = calls();
        let conv = Conv2dConfig::new([2, 2], [3, 3]).init(&d);
        let x = Tensor::<4>::ones([1, 2, 4, 4], &d);
        assert_eq!(values(conv2d(&conv, x.clone())), values(conv.forward(x)));
        let ad = d.autodiff();
        let grouped = Conv2dConfig::new([2, 2], [3, 3]).with_groups(2).init(&ad);
        let x = Tensor::<4>::ones([1, 2, 4, 4], &ad).require_grad();
        let _ = conv2d(&grouped, x.clone()).sum().backward();
        assert!(conv_window(&grouped).is_none());
        assert_eq!(calls(), before);
    }
}
