//! The Queues screen's model: which queue, its items with their scores, the cursor, marks,
//! sort and filter. Loading goes through the library; keys and drawing are in `queues`.

use crate::pipeline::queues::Queue;
use crate::store::{Id, QueueName, Sample, State, Store};
use crate::train::StoredScore;
use anyhow::Result;
use std::collections::HashSet;

/// The queues the screen can show, in `[`/`]` order.
pub const QUEUES: [QueueName; 9] = [
    QueueName::Certify,
    QueueName::Accept,
    QueueName::Review,
    QueueName::Pseudo,
    QueueName::Outliers,
    QueueName::Similar,
    QueueName::Selection,
    QueueName::Duplicates,
    QueueName::Synthetic,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    /// The queue's own order (accept: lowest loss first; review: highest first).
    Queue,
    Loss,
    Margin,
    El2n,
    Forgetting,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Queue => SortBy::Loss,
            SortBy::Loss => SortBy::Margin,
            SortBy::Margin => SortBy::El2n,
            SortBy::El2n => SortBy::Forgetting,
            SortBy::Forgetting => SortBy::Queue,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Queue => "queue order",
            SortBy::Loss => "loss ↓",
            SortBy::Margin => "margin ↑",
            SortBy::El2n => "EL2N ↓",
            SortBy::Forgetting => "forgetting ↓",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Item {
    pub sample: Sample,
    pub score: Option<StoredScore>,
    pub pixels: Vec<u8>,
}

pub struct QueuesView {
    pub queue: usize,
    pub items: Vec<Item>,
    /// Indices into `items` after filter and sort.
    pub shown: Vec<usize>,
    pub cursor: usize,
    pub marked: HashSet<Id>,
    pub sort: SortBy,
    pub filter: String,
    pub list: bool,
}

impl Default for QueuesView {
    fn default() -> Self {
        QueuesView {
            queue: 0,
            items: Vec::new(),
            shown: Vec::new(),
            cursor: 0,
            marked: HashSet::new(),
            sort: SortBy::Queue,
            filter: String::new(),
            list: false,
        }
    }
}

impl QueuesView {
    pub fn name(&self) -> QueueName {
        QUEUES[self.queue]
    }

    /// Reload the current queue from the store (after a switch, a rank, an undo): point
    /// reads of its own samples and scores, so the cost follows the queue, not the store.
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        let round = store.latest_round()?;
        let ids: Vec<Id> = store
            .queue::<Queue>(self.name())?
            .map(|q| q.ids)
            .unwrap_or_default();
        self.items = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(sample) = store.sample(&id)? else {
                continue;
            };
            let pixels = store.pixels(&id)?.unwrap_or_default();
            let score = match round {
                Some(r) => store.score::<StoredScore>(r, &id)?,
                None => None,
            };
            self.items.push(Item {
                sample,
                score,
                pixels,
            });
        }
        self.marked
            .retain(|id| self.items.iter().any(|i| i.sample.id == *id));
        self.refilter();
        Ok(())
    }

    /// Re-read the samples of `ids` (after a decision) without reloading the queue.
    pub fn refresh(&mut self, store: &Store, ids: &[Id]) -> Result<()> {
        for item in &mut self.items {
            if ids.contains(&item.sample.id) {
                if let Some(s) = store.sample(&item.sample.id)? {
                    item.sample = s;
                }
            }
        }
        self.refilter();
        Ok(())
    }

    pub fn refilter(&mut self) {
        let f = self.filter.to_lowercase();
        let mut shown: Vec<usize> = (0..self.items.len())
            .filter(|&i| {
                f.is_empty() || {
                    let s = &self.items[i].sample;
                    s.label.as_deref().unwrap_or("").to_lowercase() == f
                        || s.state.name().starts_with(&f)
                        || s.sources
                            .iter()
                            .any(|src| src.path.to_lowercase().contains(&f))
                }
            })
            .collect();
        let key = |i: &usize| -> f32 {
            let s = self.items[*i].score.as_ref();
            match self.sort {
                SortBy::Queue => 0.0,
                SortBy::Loss => -s.map_or(0.0, |s| s.loss),
                SortBy::Margin => s.map_or(0.0, |s| s.margin),
                SortBy::El2n => -s.map_or(0.0, |s| s.el2n),
                SortBy::Forgetting => -(s.map_or(0, |s| s.forgetting) as f32),
            }
        };
        if self.sort != SortBy::Queue {
            shown.sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
        self.shown = shown;
        self.cursor = self.cursor.min(self.shown.len().saturating_sub(1));
    }

    pub fn current(&self) -> Option<&Item> {
        self.shown.get(self.cursor).map(|&i| &self.items[i])
    }

    /// Unreviewed items left in the queue.
    pub fn pending(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.sample.state == State::Unreviewed)
            .count()
    }

    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.current().map(|i| i.sample.id) {
            if !self.marked.remove(&id) {
                self.marked.insert(id);
            }
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.shown.is_empty() {
            return;
        }
        let max = self.shown.len() as isize - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, max) as usize;
    }

    /// The page: the shown items from `first` for `count` cells.
    pub fn page(&self, first: usize, count: usize) -> Vec<Id> {
        self.shown
            .iter()
            .skip(first)
            .take(count)
            .map(|&i| self.items[i].sample.id)
            .collect()
    }
}
