//! The review pipeline (paper steps 2–5). So far: filling the review queues from a round's
//! scores.

pub mod queues;
