//! thresh: find what is wrong with a small image dataset and fix it from the keyboard.
//!
//! The library holds every stage; `cli` (and later the terminal UI) are thin layers on top.
//! The library never touches the terminal except through `cli`.

pub mod alloc;
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
