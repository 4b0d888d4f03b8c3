//! Convolutions in training as one matrix product each on the CPU backend.
//!
//! Burn 0.22's generic backward, which the CPU backend (flex) uses, computes a convolution's
//! weight gradient as another convolution with batch and channels swapped: per input channel
//! an im2col and a GEMM only as wide as the kernel (9 columns for 3x3), and for a transposed
//! convolution per output channel with the whole input activation as the "kernel". Those
//! thin products keep the second core idle and re-read the activation once per channel.
//! Here the weight gradient is one GEMM: the output gradient laid out as
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
//! calling thread, or run one thin GEMM per image). 1x1 convolutions stay `pointwise`
//! matmuls: through this path their layout copies cost more than they save (classifier
//! epoch 3.04/3.13/3.38 s as matmuls vs 3.32/3.73/3.95 s here, same binary).
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
use super::gemm::{product, View};

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
    /// The weight `[out, in · kh · kw]` times the input's transposed im2col, one GEMM for the
    /// whole batch, then laid back out as `[batch, out, oh, ow]` (`kernels::swap`). Flex's
    /// own convolution transposes the input to channels-last on the calling thread first
    /// (≈6% of a GAN iteration, with the pool idle).
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, window: Window) -> FlexTensor {
        let [batch, c, h, w] = dims(&x);
        let [oh, ow] = match window.grid([h, w]) {
            Some(grid) if f32_pair(&x, &weight) => grid,
            _ => return Kind::Conv.forward::<Self>(x, weight, window),
        };
        ran_gemm();
        let (x, weight) = (dense(x), dense(weight));
        let cols = kernels::im2col_t(f32s(&x), [batch, c, h, w], [oh, ow], window);
        weight_times_cols(&weight, &cols, [batch, oh, ow])
    }

    /// A transposed convolution's forward pass is a convolution's input gradient with the
    /// input in the output gradient's place (`scatter_rows`). Flex's own runs one thin
    /// GEMM per image (16 to 64 columns at the GAN's small sides).
    fn gemm_conv_transpose2d(x: FlexTensor, weight: FlexTensor, window: Window) -> FlexTensor {
        let [batch, _, h, w] = dims(&x);
        let [_, o, _, _] = dims(&weight);
        match window.transposed_side([h, w]) {
            Some([oh, ow]) if f32_pair(&x, &weight) => {
                ran_gemm();
                let (x, weight) = (dense(x), dense(weight));
                scatter_rows(&channel_rows(&x), &weight, [batch, o, oh, ow], window)
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
        scatter_rows(&channel_rows(&dy), &weight, dims(&x), window)
    }

    fn window_product(a: FlexTensor, t: FlexTensor, window: Window) -> FlexTensor {
        if !f32_pair(&a, &t) {
            return burns_window_product::<Self>(a, t, window);
        }
        ran_gemm();
        let (a, t) = (dense(a), dense(t));
        let [_, _, oh, ow] = dims(&a);
        rows_times_cols_t(
            &channel_rows(&a),
            &window_cols(&t, [oh, ow], window),
            &t,
            window,
        )
    }

    /// Both gradients from one layout of the output gradient: a convolution's input and
    /// weight gradients both read it as `[out, batch · positions]` rows, a transposed
    /// convolution's both multiply its im2col.
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
        let [_, _, oh, ow] = dims(&output_grad);
        ran_gemm();
        let (x, weight, dy) = (dense(x), dense(weight), dense(output_grad));
        match kind {
            Kind::Conv => {
                let rows = channel_rows(&dy);
                let dx = scatter_rows(&rows, &weight, [batch, c, h, w], window);
                let cols = window_cols(&x, [oh, ow], window);
                (dx, rows_times_cols_t(&rows, &cols, &x, window))
            }
            Kind::Transpose => {
                let cols = window_cols(&dy, [h, w], window);
                let dx = weight_times_cols(&weight, &cols, [batch, h, w]);
                (dx, rows_times_cols_t(&channel_rows(&x), &cols, &dy, window))
            }
        }
    }
}

/// Counts a call of the kernels here, for the tests to tell which path ran.
fn ran_gemm() {
    #[cfg(test)]
    tests::GEMM_CALLS.with(|n| n.set(n.get() + 1));
}

/// `t` `[batch, c, h, w]` as the GEMM's `[c, batch · h · w]` rows.
fn channel_rows(t: &FlexTensor) -> Vec<f32> {
    let [batch, c, h, w] = dims(t);
    kernels::swap(f32s(t), batch, c, h * w)
}

/// The transposed im2col of `t` for windows on a `grid`: `[c · kh · kw, batch · grid]`.
fn window_cols(t: &FlexTensor, grid: [usize; 2], window: Window) -> Vec<f32> {
    kernels::im2col_t(f32s(t), dims(t), grid, window)
}

/// `weight` `[o, k]` times `cols` `[k, batch · oh · ow]`, laid out as `[batch, o, oh, ow]`.
fn weight_times_cols(weight: &FlexTensor, cols: &[f32], [batch, oh, ow]: [usize; 3]) -> FlexTensor {
    let o = dims(weight)[0];
    let (n, k) = (batch * oh * ow, weight.layout().shape().num_elements() / o);
    let y = product(View::rows(f32s(weight), o, k), View::rows(cols, k, n));
    tensor(kernels::swap(&y, o, batch, oh * ow), vec![batch, o, oh, ow])
}

/// `rows` `[m, n]` times `cols` `[c · kh · kw, n]` transposed (gemm takes the strides, no
/// copy): `[m, c, kh, kw]`, with `c` the channels of `t`, the tensor `cols` was taken from.
fn rows_times_cols_t(rows: &[f32], cols: &[f32], t: &FlexTensor, window: Window) -> FlexTensor {
    let c = dims(t)[1];
    let [kh, kw] = window.kernel;
    let k = c * kh * kw;
    let (n, m) = (cols.len() / k, rows.len() / (cols.len() / k));
    let product = product(View::rows(rows, m, n), View::rows(cols, k, n).t());
    tensor(product, vec![m, c, kh, kw])
}

/// The weight `[o, c, kh, kw]`'s transpose times `rows` `[o, batch · oh · ow]`:
/// `[c · kh · kw, batch · oh · ow]` in one GEMM, each column summed back into `shape`
/// `[batch, c, h, w]` where the window at its grid position reads (`kernels::col2im`).
/// Flex's transposed convolution, which Burn's generic input gradient calls, scatters value
/// by value.
fn scatter_rows(
    rows: &[f32],
    weight: &FlexTensor,
    shape: [usize; 4],
    window: Window,
) -> FlexTensor {
    let [o, c, kh, kw] = dims(weight);
    let n = rows.len() / o;
    let [batch, _, h, w] = shape;
    let cols = product(
        View::rows(f32s(weight), o, c * kh * kw).t(),
        View::rows(rows, o, n),
    );
    // The grid the rows were laid out on: n = batch · oh · ow, and the window's grid over
    // `shape` is that grid.
    let grid = window
        .grid([h, w])
        .expect("the window fits the input it was taken from");
    debug_assert_eq!(batch * grid[0] * grid[1], n);
    tensor(
        kernels::col2im(&cols, shape, grid, window),
        vec![batch, c, h, w],
    )
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
    use super::super::flex::{build, zero};
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

    /// `a` `[p, q, l]` as `[q, p, l]`: a layer's `[batch, channels, positions]` as the GEMM's
    /// `[channels, batch · positions]` (`p` = batch), and back (`q` = batch).
    pub fn swap(a: &[f32], p: usize, q: usize, l: usize) -> Vec<f32> {
        build(a.len(), p * l, 1, |j, out| {
            for (i, dst) in out.chunks_exact_mut(l).enumerate() {
                let start = (i * q + j) * l;
                copy(dst, &a[start..start + l]);
            }
        })
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
    pub fn im2col_t(t: &[f32], shape: [usize; 4], grid: [usize; 2], win: Window) -> Vec<f32> {
        let [batch, c, h, w] = shape;
        let [oh, ow] = grid;
        let [kh, kw] = win.kernel;
        let cols = batch * oh * ow;
        build(c * kh * kw * cols, cols, 1, |row, out| {
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
        })
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
    /// `[batch, c, h, w]`, each value added where `im2col_t` took it from; in parallel over
    /// the output planes, so no two tasks write one value.
    pub fn col2im(cols: &[f32], shape: [usize; 4], grid: [usize; 2], win: Window) -> Vec<f32> {
        let [batch, c, h, w] = shape;
        let [oh, ow] = grid;
        let [kh, kw] = win.kernel;
        let n = batch * oh * ow;
        let (sy, sx) = (win.stride[0] as isize, win.stride[1] as isize);
        build(batch * c * h * w, h * w, 1, |index, plane| {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::flex::worst_relative;
    use super::*;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::nn::PaddingConfig2d;
    use burn::tensor::{Device, Distribution};
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
        device.seed(5);
        let x0 = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device);
        let y = burns(layer, x0.clone());
        let upstream = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
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
        check_conv(conv(5, 4, 3, 1, 1).init(&d), [3, 5, 7, 6], "3x3");
        check_conv(
            conv(3, 6, 7, 2, 3).with_bias(false).init(&d),
            [2, 3, 11, 9],
            "7x7 stride 2, no bias",
        );
        check_conv(conv(4, 3, 4, 2, 1).init(&d), [2, 4, 8, 10], "4x4 stride 2");
        check_conv(conv(2, 3, 3, 1, 0).init(&d), [2, 2, 6, 6], "3x3 unpadded");
        // Stride 1 with rows as long as the image's (`shifted_block`): taps two beyond the
        // edges, and padding across only (fewer grid rows than image rows).
        check_conv(conv(3, 2, 5, 1, 2).init(&d), [2, 3, 6, 7], "5x5");
        check_conv(
            Conv2dConfig::new([2, 3], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(0, 1, 0, 1))
                .init(&d),
            [2, 2, 6, 5],
            "3x3 padded across only",
        );
        check_conv(
            conv(2, 3, 3, 1, 2).with_dilation([2, 2]).init(&d),
            [2, 2, 7, 5],
            "3x3 dilated",
        );
        check_conv(
            conv(3, 2, 3, 2, 1).with_stride([2, 1]).init(&d),
            [2, 3, 9, 6],
            "strides differing by axis",
        );
        // An even side under a stride of 2 (Burn's input gradient needs `padding_out`).
        check_conv(
            conv(2, 3, 3, 2, 1).init(&d),
            [2, 2, 8, 8],
            "3x3 stride 2, even side",
        );
        // A stride dividing the sides with a grid narrower than half the image's rows.
        check_conv(
            conv(2, 3, 3, 2, 0).init(&d),
            [2, 2, 8, 8],
            "3x3 stride 2 unpadded, even side",
        );
        // Taps that fall wholly outside the image at a stride of 2.
        check_conv(
            conv(2, 2, 3, 2, 2).with_dilation([2, 2]).init(&d),
            [1, 2, 2, 2],
            "dilated taps beyond the image",
        );
        let transpose = |i, o, k: usize, s: usize, p: usize| {
            ConvTranspose2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding([p, p])
        };
        check_transpose(transpose(6, 5, 4, 2, 1).init(&d), [3, 6, 4, 5], "4x4 up");
        check_transpose(
            transpose(7, 4, 4, 1, 0).init(&d),
            [3, 7, 1, 1],
            "1x1 to 4x4",
        );
        check_transpose(
            transpose(3, 2, 3, 2, 0).init(&d),
            [2, 3, 3, 4],
            "3x3 up, unpadded",
        );
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
