//! The App's message queue (gitui's `queue.rs`): what components ask of the App or of each
//! other. Components push, the App drains the queue after every event and routes each
//! message to the one place that handles it.

use super::component::Popup;
use super::screens::Screen;
use crate::jobs::tasks::Task;
use crate::pipeline::counts::Counts;
use crate::pipeline::decide::Decision;
use std::collections::VecDeque;

pub enum Msg {
    /// One line for the status bar.
    Status(String),
    /// A decision's change to the counters (kept without a scan).
    Counted(Counts),
    /// Run a task on the worker it belongs to.
    Run(Task),
    /// A new pseudo-label threshold: keep it for later rounds and re-rank with it.
    Pseudo(f32),
    /// Decide the open queue's current sample (from the Sample screen or the picker).
    Decide(Decision),
    /// Move the open queue's cursor (from the Sample screen).
    Move(isize),
    /// Filter the open queue.
    Filter(String),
    /// The latest round's queues are decided: fill in its Table-1 figures on the worker.
    RoundClosed(u32),
    Show(Screen),
    Open(Box<dyn Popup>),
    /// Decisions changed samples the open queue may show: read it again.
    Reload,
    /// Make `ids` (chosen on the map of `round`) the selection queue and show `screen`.
    Select {
        round: u32,
        ids: Vec<crate::store::Id>,
        screen: Screen,
    },
}

pub type Msgs = VecDeque<Msg>;
