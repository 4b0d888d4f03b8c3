//! Classifier checkpoints: burnpack files under the store directory, referenced from the
//! store with their blake3 checksum so a damaged or swapped file is refused, never loaded.

use super::{Classifier, ClassifierConfig};
use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// File name relative to `<store>/models/`.
    pub file: String,
    pub blake3: String,
    pub config: ClassifierConfig,
}

/// Save `model` as `<store_dir>/models/<name>.bpk`. The writer goes through a temporary file,
/// so a failure leaves any earlier file as it was.
pub fn save(
    model: &Classifier,
    config: &ClassifierConfig,
    store_dir: &Path,
    name: &str,
) -> Result<Checkpoint> {
    let (file, blake3) = save_module(model, store_dir, name)?;
    Ok(Checkpoint {
        file,
        blake3,
        config: config.clone(),
    })
}

/// Save any module as `<store_dir>/models/<name>.bpk`; returns (file name, blake3).
pub fn save_module<M: Module>(model: &M, store_dir: &Path, name: &str) -> Result<(String, String)> {
    let dir = store_dir.join("models");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = format!("{name}.bpk");
    let path = dir.join(&file);
    if path.exists() {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    model
        .clone()
        .save_file(&path)
        .map_err(|e| anyhow::anyhow!("cannot save checkpoint {}: {e:?}", path.display()))?;
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read back {}", path.display()))?;
    Ok((file, blake3::hash(&bytes).to_hex().to_string()))
}

/// The path of a checkpoint file whose bytes match `blake3`, or why not.
pub fn verified(file: &str, expect: &str, store_dir: &Path) -> Result<std::path::PathBuf> {
    let path = store_dir.join("models").join(file);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let sum = blake3::hash(&bytes).to_hex().to_string();
    if sum != expect {
        bail!(
            "checkpoint {} is corrupt or was replaced (blake3 {} , the store expects {})",
            path.display(),
            &sum[..12],
            &expect[..12.min(expect.len())]
        );
    }
    Ok(path)
}

/// Load a checkpoint onto `device`, after checking its checksum.
pub fn load(ck: &Checkpoint, store_dir: &Path, device: &Device) -> Result<Classifier> {
    let path = verified(&ck.file, &ck.blake3, store_dir)?;
    ck.config.init(device).try_load_file(&path).map_err(|e| {
        anyhow::anyhow!(
            "checkpoint {} does not fit the model {:?}: {e:?}",
            path.display(),
            ck.config
        )
    })
}
