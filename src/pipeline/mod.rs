//! The review pipeline (paper steps 2–5) as library calls the CLI and the UI share:
//! decisions with undo (`decide`), seed set and rounds with their queues (`rounds`,
//! `queues`), the simulated reviewer (`simulate`), class balance (`balance`), dup-aware
//! splits (`split`) and frozen dataset versions with export (`versions`).

pub mod balance;
pub mod counts;
pub mod decide;
pub mod eval;
pub mod prune;
pub mod queues;
pub mod rounds;
pub mod simulate;
pub mod split;
pub mod synth;
pub mod versions;
