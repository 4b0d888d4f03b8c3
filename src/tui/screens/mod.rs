//! The screens, one file each: every one owns its state, the actions it answers (listed as
//! hints) and its drawing. `Screen` names them in tab order.

pub mod data;
pub mod map;
pub mod queue_view;
pub mod queues;
pub mod rounds;
pub mod sample;
pub mod training;
pub mod versions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Queues,
    Sample,
    Training,
    Data,
    Rounds,
    Versions,
    Map,
}

/// The tabs, in order.
pub const SCREENS: [Screen; 7] = [
    Screen::Queues,
    Screen::Sample,
    Screen::Training,
    Screen::Data,
    Screen::Rounds,
    Screen::Versions,
    Screen::Map,
];

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Queues => "Queues",
            Screen::Sample => "Sample",
            Screen::Training => "Training",
            Screen::Data => "Data",
            Screen::Rounds => "Rounds",
            Screen::Versions => "Versions",
            Screen::Map => "Map",
        }
    }

    /// The tab `step` places away, wrapping around.
    pub fn step(self, step: isize) -> Screen {
        let n = SCREENS.len() as isize;
        let i = SCREENS.iter().position(|s| *s == self).unwrap_or(0) as isize;
        SCREENS[(i + step).rem_euclid(n) as usize]
    }
}
