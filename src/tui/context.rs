//! The view state every screen reads: the store handle, the keymap, and what the workers
//! last reported (counters, the Rounds and Versions tables, the running store task). The
//! App keeps it; components read it and never scan the store to rebuild it.

use super::graphics::Graphics;
use super::keymap::Keymap;
use super::thumb::Palette;
use crate::pipeline::counts::Counts;
use crate::pipeline::eval::EvalRow;
use crate::pipeline::rounds::{self, TableRow};
use crate::store::Store;

/// How the UI trains a round.
#[derive(Clone, Debug)]
pub struct UiConfig {
    pub epochs: usize,
    pub seed_set: usize,
    pub gan_iters: usize,
    pub eval_epochs: usize,
    /// Samples the menu's "Generate" entry asks for.
    pub generate: usize,
    /// Unlabelled samples whose suggestion is at least this sure go to the pseudo queue
    /// (set from the menu; rounds and re-ranks use it).
    pub pseudo: f32,
    /// The menu's pruning: epochs per training and initialisations (EL2N).
    pub prune_epochs: usize,
    pub prune_inits: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            epochs: env_or("THRESH_UI_EPOCHS", 30),
            seed_set: rounds::DEFAULT_SEED_SET,
            gan_iters: env_or("THRESH_UI_GAN_ITERS", 3000),
            eval_epochs: env_or("THRESH_UI_EVAL_EPOCHS", 100),
            generate: 100,
            pseudo: crate::pipeline::queues::DEFAULT_PSEUDO,
            prune_epochs: env_or(
                "THRESH_UI_PRUNE_EPOCHS",
                crate::train::prune::PruneBy::El2n.default_epochs(),
            ),
            prune_inits: env_or(
                "THRESH_UI_PRUNE_INITS",
                crate::pipeline::prune::DEFAULT_INITS,
            ),
        }
    }
}

pub struct Ctx {
    pub store: Store,
    pub keymap: Keymap,
    pub palette: Palette,
    /// The compute device as the header shows it.
    pub backend: String,
    pub config: UiConfig,
    /// The status line.
    pub status: String,
    /// The store's counters: `None` until the first count (a task) returns; then kept from
    /// each decision's delta and replaced by the fresh count every task ends with.
    pub counts: Option<Counts>,
    /// The Rounds and Versions tables, read (one record per row) when a task that changes
    /// them ends.
    pub rounds_table: Vec<TableRow>,
    pub eval_rows: Vec<EvalRow>,
    pub version_names: Vec<String>,
    /// The pruned versions' records.
    pub prunings: Vec<crate::pipeline::prune::PruneRecord>,
    /// The tasks queued or running on the store worker (the header shows the first).
    pub store_tasks: Vec<&'static str>,
    /// The terminal's graphics protocol, when it has one (else half blocks).
    pub graphics: Option<Graphics>,
}

impl Ctx {
    /// Re-read the Rounds and Versions tables (one record per round or version).
    pub fn refresh_tables(&mut self) -> anyhow::Result<()> {
        self.rounds_table = rounds::table(&self.store)?;
        self.eval_rows = crate::pipeline::eval::stored(&self.store)?;
        self.version_names = self.store.version_names()?;
        self.prunings = crate::pipeline::prune::stored(&self.store)?;
        Ok(())
    }
}
