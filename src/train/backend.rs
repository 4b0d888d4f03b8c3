//! Choose where tensors live, once, at start-up. Burn 0.22 picks the backend from a run-time
//! `Device`; every other module receives the device chosen here.

use anyhow::{bail, Result};
use burn::tensor::{Device, DeviceType};
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware wgpu adapter when there is one, else the CPU.
    Auto,
    /// wgpu, software adapters allowed; an error when there is no adapter.
    Wgpu,
    /// Burn's flex CPU backend.
    Cpu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cpu,
    Wgpu,
}

/// The device chosen, and what to tell the user about it.
#[derive(Clone, Debug)]
pub struct Compute {
    pub device: Device,
    pub kind: Kind,
    /// Adapter name (wgpu) or "cpu (flex)".
    pub name: String,
    /// A one-line notice when the choice is not what `auto` hoped for.
    pub notice: Option<String>,
}

impl Compute {
    pub fn cpu() -> Compute {
        Compute {
            device: Device::flex(),
            kind: Kind::Cpu,
            name: "cpu (flex)".into(),
            notice: None,
        }
    }

    /// "wgpu: NVIDIA ..." / "cpu (flex)"
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Cpu => self.name.clone(),
            Kind::Wgpu => format!("wgpu: {}", self.name),
        }
    }
}

/// A wgpu adapter: its device, its name, and whether it is a software rasteriser.
pub struct Adapter {
    pub device: Device,
    pub name: String,
    pub software: bool,
}

fn is_software_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "softpipe"]
        .iter()
        .any(|s| n.contains(s))
}

/// Every wgpu adapter. Drivers can panic while probing; that counts as "no adapter".
pub fn wgpu_adapters() -> Vec<Adapter> {
    let probe = catch_unwind(AssertUnwindSafe(|| {
        Device::enumerate(DeviceType::Wgpu)
            .iter()
            .filter_map(|d| {
                let id = d.identity()?;
                let software = id.physical.is_none() || is_software_name(&id.name);
                Some(Adapter {
                    device: d.clone(),
                    name: id.name,
                    software,
                })
            })
            .collect::<Vec<_>>()
    }));
    probe.unwrap_or_default()
}

pub fn select(choice: BackendChoice) -> Result<Compute> {
    match choice {
        BackendChoice::Cpu => Ok(Compute::cpu()),
        BackendChoice::Wgpu => {
            let mut adapters = wgpu_adapters();
            // Prefer hardware, but take a software adapter when asked for wgpu explicitly.
            adapters.sort_by_key(|a| a.software);
            let Some(a) = adapters.into_iter().next() else {
                bail!("--backend wgpu: no wgpu adapter found (install a GPU driver, or mesa-vulkan-drivers for software Vulkan)");
            };
            Ok(Compute {
                notice: a.software.then(|| format!("wgpu adapter {} is a software rasteriser: expect it to be much slower than --backend cpu", a.name)),
                device: a.device,
                kind: Kind::Wgpu,
                name: a.name,
            })
        }
        BackendChoice::Auto => {
            let adapters = wgpu_adapters();
            if let Some(a) = adapters.iter().find(|a| !a.software) {
                return Ok(Compute {
                    device: a.device.clone(),
                    kind: Kind::Wgpu,
                    name: a.name.clone(),
                    notice: None,
                });
            }
            let why = match adapters.first() {
                Some(a) => format!(
                    "the only wgpu adapter, {}, is a software rasteriser",
                    a.name
                ),
                None => "no GPU adapter found".to_string(),
            };
            Ok(Compute {
                notice: Some(format!("using the CPU (flex): {why}")),
                ..Compute::cpu()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_rasterisers_are_recognised() {
        assert!(is_software_name("llvmpipe (LLVM 15.0.6, 256 bits)"));
        assert!(is_software_name("SwiftShader Device"));
        assert!(!is_software_name("NVIDIA GeForce RTX 4090"));
    }

    #[test]
    fn auto_never_picks_a_software_adapter() {
        let c = select(BackendChoice::Auto).unwrap();
        if c.kind == Kind::Wgpu {
            assert!(!is_software_name(&c.name));
        } else {
            assert!(c.notice.is_some(), "falling back to the CPU must say why");
        }
    }
}
