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
/// so a failure or a crash leaves any earlier file as it was.
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
    let bytes = replace_atomically(&path, |tmp| {
        model
            .clone()
            .save_file(tmp)
            .map_err(|e| anyhow::anyhow!("cannot save checkpoint {}: {e:?}", path.display()))
    })?;
    Ok((file, blake3::hash(&bytes).to_hex().to_string()))
}

/// Replace the file at `path` with what `write` puts at the temporary path it is given:
/// written beside it, fsynced, then renamed over it (and the directory fsynced), so `path`
/// holds the old file or the whole new one, never a part or nothing. Returns the new bytes.
pub fn replace_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<Vec<u8>> {
    let dir = path.parent().context("a checkpoint path has a directory")?;
    let name = path
        .file_name()
        .context("a checkpoint path has a file name")?
        .to_string_lossy();
    // Keep the extension last: the recorder may add one when it is missing.
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let result = (|| {
        write(&tmp)?;
        let file = std::fs::File::open(&tmp)
            .with_context(|| format!("cannot read back {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        let bytes =
            std::fs::read(&tmp).with_context(|| format!("cannot read back {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_replace_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bpk");
        std::fs::write(&path, b"old model").unwrap();
        let err = replace_atomically(&path, |tmp| {
            std::fs::write(tmp, b"half a mo")?;
            bail!("disk full")
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old model");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file is removed");

        let bytes =
            replace_atomically(&path, |tmp| Ok(std::fs::write(tmp, b"new model")?)).unwrap();
        assert_eq!(bytes, b"new model");
        assert_eq!(std::fs::read(&path).unwrap(), b"new model");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
