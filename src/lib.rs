//! thresh: find what is wrong with a small image dataset and fix it from the keyboard.
//!
//! The library holds every stage; `cli` (and later the terminal UI) are thin layers on top.
//! The library never touches the terminal except through `cli`.

/// mimalloc instead of the system allocator, for the binary, the tests and the benches:
/// training allocates and frees tensors of hundreds of KiB every step; glibc hands each one
/// back to the OS (mmap above 128 KiB) and the next step page-faults it in again — ≈13% of a
/// CPU training step under perf.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod augment;
pub mod cli;
pub mod dedup;
pub mod demo;
pub mod feature;
pub mod ingest;
pub mod jobs;
pub mod model;
pub mod pipeline;
pub mod store;
pub mod train;
pub mod tui;
