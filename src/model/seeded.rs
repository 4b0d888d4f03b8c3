//! Deterministic parameter initialisation.
//!
//! Burn draws initial weights from one process-wide RNG per backend, and it draws them lazily
//! (on a parameter's first use). Two trainings in one process — parallel tests, or the UI
//! training while a CLI-style job scores — would otherwise interleave their draws and lose
//! seed determinism. [`seeded`] seeds the backend, builds the module and materialises every
//! parameter while holding one lock, so the weights depend on the seed alone.

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

static INIT: Mutex<()> = Mutex::new(());

/// Touches every float parameter so its lazy initialiser runs now.
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Builds a module with `build` after seeding `device`'s RNG with `seed`, atomically.
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    // A panic while holding the lock leaves nothing half-written worth protecting.
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let module = build();
    module.visit(&mut Materialise);
    module
}
