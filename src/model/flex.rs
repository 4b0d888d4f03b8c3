//! What the CPU backend's extension kernels (`norm`, `conv`, `pool`, `bias`) share: telling the CPU
//! device apart, moving between flex tensors and the plain f32 slices the kernels work on,
//! and building outputs on the compute pool.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata};
use burn::tensor::{Device, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Autodiff's tensor over backend `B` (its type is not exported by name).
pub(super) type AutodiffTensor<B, C> = FloatTensor<Autodiff<B, C>>;

/// Whether `device` is the CPU backend, with or without autodiff.
pub(super) fn is_flex(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// `t` with its values in one dense run (a copy only when they are not).
pub(super) fn dense(t: FlexTensor) -> FlexTensor {
    match t.as_slice::<f32>() {
        Some(_) => t,
        None => t.to_contiguous(),
    }
}

/// The values of a dense f32 tensor.
pub(super) fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("dense f32 tensor")
}

/// The four dimensions of an NCHW tensor (or a weight `[out, in, kh, kw]`).
pub(super) fn dims(t: &FlexTensor) -> [usize; 4] {
    let d = t.layout().shape().to_vec();
    [d[0], d[1], d[2], d[3]]
}

/// `[batch, channels, values per plane]` of an activation `[batch, channels, …]`.
pub(super) fn planes<B: Backend>(t: &FloatTensor<B>) -> [usize; 3] {
    let d = t.shape().to_vec();
    [d[0], d[1], d[2..].iter().product()]
}

/// `values` summed in eight lanes, so the loop vectorises (a plain fold is one serial chain
/// of additions).
pub(super) fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

pub(super) fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `n` values built in chunks of `chunk` (at least `min_chunks` to a task) by
/// `fill(index, chunk)` on the pool, in fresh unzeroed memory: a zeroed vector would be a
/// serial pass over the whole output on the calling thread, with the pool idle (≈5% of a
/// GAN iteration, 2.5% of a classifier step under perf). `fill` must write every value of
/// its chunk (`zero` first where it accumulates).
pub(super) fn build(
    n: usize,
    chunk: usize,
    min_chunks: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    out.spare_capacity_mut()[..n]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .with_min_len(min_chunks.max(1))
        .for_each(|(i, c)| fill(i, c));
    // SAFETY: the chunks cover all n values and every `fill` writes its whole chunk (each
    // caller; their tests compare every value against Burn's).
    unsafe { out.set_len(n) };
    out
}

/// `dst` set to zeros, as the initialised slice it now is.
pub(super) fn zero(dst: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    for d in dst.iter_mut() {
        d.write(0.0);
    }
    // SAFETY: every value was just written.
    unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The largest difference between `other` and `reference`, relative to `1 + |reference|`:
/// what the kernels' tests hold under a tolerance against Burn's own results.
#[cfg(test)]
pub(super) fn worst_relative(reference: &[f32], other: &[f32]) -> f32 {
    assert_eq!(
        reference.len(),
        other.len(),
        "compared values differ in count"
    );
    reference
        .iter()
        .zip(other)
        .map(|(r, o)| (r - o).abs() / (1.0 + r.abs()))
        .fold(0f32, f32::max)
}

/// Standard-normal values of `shape` on `device` from their own seeded generator: a test's
/// inputs that do not depend on what other tests draw from the device's shared RNG at the
/// same time.
#[cfg(test)]
pub(super) fn normal<const D: usize>(
    shape: [usize; D],
    seed: u64,
    device: &Device,
) -> burn::tensor::Tensor<D> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    burn::tensor::Tensor::from_data(TensorData::new(values, shape), device)
}
