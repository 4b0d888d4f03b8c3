//! What the CPU backend's extension kernels (`norm`, `conv`) share: telling the CPU device
//! apart, and moving between flex tensors and the plain f32 slices the kernels work on.

use burn::backend::tensor::FloatTensor;
use burn::backend::Autodiff;
use burn::tensor::{Device, TensorData};
use burn_flex::FlexTensor;

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

pub(super) fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
