//! Typed records kept in the sled trees. Every value is serde JSON: readable with any sled
//! tool when something goes wrong, and cheap enough at the sizes thresh targets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Content id of a sample: blake3 of the file bytes (for IDX records, of the record's pixels).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; 32]);

impl Id {
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Id(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        blake3::Hash::from_hex(s).ok().map(|h| Id(*h.as_bytes()))
    }

    /// First 12 hex digits: enough to tell samples apart on screen.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Id::from_hex(&s).ok_or_else(|| serde::de::Error::custom(format!("bad sample id {s:?}")))
    }
}

/// Store-wide settings, fixed when the store is created.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub schema_version: u32,
    /// Class names in their display order (digit keys and model outputs follow it).
    pub classes: Vec<String>,
    /// Side of the square normalised image, in pixels.
    pub size: u32,
    /// 1 = gray, 3 = RGB.
    pub channels: u8,
    /// Unix seconds.
    pub created: u64,
    /// The augmentation preset training uses unless told otherwise, chosen from the data
    /// when the store was created. `None` (stores made before presets): see `Meta::augment`.
    #[serde(default)]
    pub augment: Option<crate::augment::Preset>,
}

impl Meta {
    pub fn pixel_len(&self) -> usize {
        (self.size * self.size) as usize * self.channels as usize
    }

    /// The store's augmentation preset: the one chosen at creation, else numerals for a
    /// 32 px gray store (what every store was before presets) and photos for any other.
    pub fn augment(&self) -> crate::augment::Preset {
        use crate::augment::Preset;
        self.augment
            .unwrap_or(if self.channels == 1 && self.size == 32 {
                Preset::Numerals
            } else {
                Preset::Photos
            })
    }

    /// "32 px gray", "64 px RGB".
    pub fn shape(&self) -> String {
        format!(
            "{} px {}",
            self.size,
            if self.channels == 3 { "RGB" } else { "gray" }
        )
    }
}

/// Where a sample came from: one entry per imported file with these exact bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub path: String,
    /// The label the source gave (folder name or manifest column); `None` = unlabelled.
    pub given: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unreviewed,
    Certified,
    Relabeled,
    Rejected,
    Duplicate,
    Surplus,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Unreviewed,
        State::Certified,
        State::Relabeled,
        State::Rejected,
        State::Duplicate,
        State::Surplus,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Unreviewed => "unreviewed",
            State::Certified => "certified",
            State::Relabeled => "relabeled",
            State::Rejected => "rejected",
            State::Duplicate => "duplicate",
            State::Surplus => "surplus",
        }
    }

    /// Certified by a human (with or without a new label).
    pub fn is_certified(self) -> bool {
        matches!(self, State::Certified | State::Relabeled)
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Imported,
    Synthetic,
    Gathered,
    /// Imported without a label; its label is the model's suggestion, accepted by a person
    /// from the pseudo queue. Never in the test split.
    Pseudo,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Imported => "imported",
            Origin::Synthetic => "synthetic",
            Origin::Gathered => "gathered",
            Origin::Pseudo => "pseudo",
        }
    }
}

/// The review queues, one name for the CLI, the UI and the store: stored lists of ids (the
/// `queues` tree). `Duplicates` is written by each dedup run (the samples it linked), `Similar` on
/// request from one sample, `Outliers` by each ranking; they are looked through, not
/// accepted in bulk.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum QueueName {
    /// The seed set, to certify by hand.
    Certify,
    /// A round's lowest-loss samples the model agrees with, confirmed a page at a time.
    Accept,
    /// A round's highest-loss samples the model disagrees with, one by one.
    Review,
    /// Generated samples waiting for approval.
    Synthetic,
    /// The samples the last dedup tied to a kept sample.
    Duplicates,
    /// A sample and its nearest neighbours in the latest round's embedding space (asked for
    /// from one sample: one mistake found leads to its copies).
    Similar,
    /// A round's unreviewed samples least like any other (largest distance to their k-th
    /// neighbour in embedding space), most isolated first.
    Outliers,
    /// The samples last chosen on the map (a rectangle, or the one under the cursor).
    Selection,
    /// Unlabelled samples the model labels with confidence, with its suggestion as their
    /// label-to-be, most confident first: accepted a page at a time.
    Pseudo,
}

impl QueueName {
    pub const ALL: [QueueName; 9] = [
        QueueName::Certify,
        QueueName::Accept,
        QueueName::Review,
        QueueName::Synthetic,
        QueueName::Duplicates,
        QueueName::Similar,
        QueueName::Outliers,
        QueueName::Selection,
        QueueName::Pseudo,
    ];
    /// The queues whose samples can be accepted (`thresh accept --queue`), and whose skip
    /// lists undo cleans.
    pub const STORED: [QueueName; 5] = [
        QueueName::Certify,
        QueueName::Accept,
        QueueName::Review,
        QueueName::Synthetic,
        QueueName::Pseudo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueueName::Certify => "certify",
            QueueName::Accept => "accept",
            QueueName::Review => "review",
            QueueName::Synthetic => "synthetic",
            QueueName::Duplicates => "duplicates",
            QueueName::Similar => "similar",
            QueueName::Outliers => "outliers",
            QueueName::Selection => "selection",
            QueueName::Pseudo => "pseudo",
        }
    }

    /// Confirmed a page at a time (`a` in the UI), rather than one sample at a time.
    pub fn bulk(self) -> bool {
        matches!(
            self,
            QueueName::Certify | QueueName::Accept | QueueName::Synthetic | QueueName::Pseudo
        )
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for QueueName {
    type Err = String;

    /// A stored queue by name; the error lists the names that work.
    fn from_str(s: &str) -> Result<Self, String> {
        QueueName::STORED
            .into_iter()
            .find(|q| q.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = QueueName::STORED.iter().map(|q| q.name()).collect();
                format!("unknown queue {s:?} ({})", names.join(", "))
            })
    }
}

/// A stored queue: ids in the order to show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The round whose scores filled it (0 for the seed set).
    pub round: u32,
    /// In the order to show: lowest loss first (accept), highest loss first (review).
    pub ids: Vec<Id>,
    /// Exceptions left out of a bulk accept: looked at, not confirmed, left unreviewed.
    #[serde(default)]
    pub skipped: Vec<Id>,
}

impl Queue {
    pub fn new(round: u32, ids: Vec<Id>) -> Self {
        Queue {
            round,
            ids,
            skipped: Vec::new(),
        }
    }
}

/// Who set a sample's state. Automation (import, dedup, balance, split, rounds) changes only
/// what automation set; a state a person set stays until a person, or a command naming that
/// decision, changes it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    #[default]
    Auto,
    Person,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

/// Which dedup stage tied a sample to the kept sample of its group.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Identical file bytes (another source of the same sample).
    Bytes,
    /// Identical normalised pixels (same image, re-encoded).
    Pixels,
    /// Perceptual hashes within the Hamming radius.
    Perceptual,
    /// A person said so (`decide SAMPLE duplicate KEPT`): no dedup setting releases it.
    Human,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Bytes => "bytes",
            Stage::Pixels => "pixels",
            Stage::Perceptual => "perceptual",
            Stage::Human => "human",
        }
    }
}

/// A sample judged a duplicate of the kept sample of its group.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DupLink {
    pub of: Id,
    pub stage: Stage,
    /// Hamming distance between the perceptual hashes (0 for pixel duplicates).
    pub distance: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub id: Id,
    /// Import order; the first imported sample of a duplicate group is kept.
    pub seq: u64,
    pub sources: Vec<Source>,
    /// blake3 of the normalised pixels (dedup stage 2).
    pub pixel_hash: Id,
    /// 64-bit perceptual hash of the normalised pixels (dedup stage 3; `phash::DEFAULT_KIND`).
    pub phash: u64,
    /// The plain DCT hash, searched beside `phash` (`phash::Hashes`). Stores made before it
    /// have none: dedup computes it from the pixels.
    #[serde(default)]
    pub phash_plain: Option<u64>,
    /// Size of the decoded image before normalisation.
    pub width: u32,
    pub height: u32,
    /// Current label (starts as the first source's given label).
    pub label: Option<String>,
    pub state: State,
    pub split: Option<Split>,
    pub fold: Option<u32>,
    pub origin: Origin,
    /// Duplicate group, when the sample belongs to one (kept sample included).
    pub group: Option<u64>,
    /// Set on the non-kept members of a group.
    pub dup: Option<DupLink>,
    /// Sources or duplicate-group members disagree on the label.
    pub conflict: bool,
    /// Unix seconds.
    pub created: u64,
    /// Why a rejected sample was rejected (junk, ambiguous, invalid, ...).
    #[serde(default)]
    pub reason: Option<String>,
    /// For a surplus sample: the state it returns to when its class has room again.
    #[serde(default)]
    pub parked: Option<State>,
    /// Who set the state (for a surplus sample: the state it is parked with).
    #[serde(default)]
    pub by: Author,
}

impl Sample {
    /// A freshly imported, unreviewed sample with one source.
    pub fn imported(
        id: Id,
        seq: u64,
        source: Source,
        pixel_hash: Id,
        hashes: crate::dedup::phash::Hashes,
        size: (u32, u32),
    ) -> Sample {
        Sample {
            id,
            seq,
            label: source.given.clone(),
            sources: vec![source],
            pixel_hash,
            phash: hashes.centred,
            phash_plain: Some(hashes.plain),
            width: size.0,
            height: size.1,
            state: State::Unreviewed,
            split: None,
            fold: None,
            origin: Origin::Imported,
            group: None,
            dup: None,
            conflict: false,
            created: super::now_secs(),
            reason: None,
            parked: None,
            by: Author::Auto,
        }
    }

    pub fn given(&self) -> Option<&str> {
        self.sources.first().and_then(|s| s.given.as_deref())
    }

    /// Part of the data: labelled, not rejected, duplicate or surplus, and not a generated
    /// sample waiting for approval. What trains, balances and goes into versions.
    pub fn in_data(&self) -> bool {
        !self.pending_synthetic()
            && self.label.is_some()
            && matches!(
                self.state,
                State::Unreviewed | State::Certified | State::Relabeled
            )
    }

    /// A person decided this sample: automation must leave its state, label and duplicate
    /// link alone. Certified, relabelled and rejected states are always a person's (stores
    /// written before `by` existed included).
    pub fn human_decided(&self) -> bool {
        self.by == Author::Person
            || matches!(
                self.state,
                State::Certified | State::Relabeled | State::Rejected
            )
            || self.parked.is_some_and(State::is_certified)
            || self.dup.is_some_and(|d| d.stage == Stage::Human)
    }

    /// A generated sample nobody has approved yet: not part of the data.
    pub fn pending_synthetic(&self) -> bool {
        self.origin == Origin::Synthetic && self.state == State::Unreviewed
    }

    /// Do the sources of this sample disagree on the label?
    pub fn sources_disagree(&self) -> bool {
        self.sources.windows(2).any(|w| w[0].given != w[1].given)
    }
}

/// One entry of the append-only audit log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    /// Unix milliseconds.
    pub time: u64,
    pub sample: Option<Id>,
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub round: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_parse_and_the_error_lists_them() {
        for q in QueueName::STORED {
            assert_eq!(q.name().parse::<QueueName>(), Ok(q));
        }
        assert_eq!(
            "dups".parse::<QueueName>(),
            Err("unknown queue \"dups\" (certify, accept, review, synthetic, pseudo)".to_string())
        );
    }
}
