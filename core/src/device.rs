//! Choosing the compute device: `cpu`, `cuda` (`cuda:N`) or `auto`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::Device;

/// A device as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
    /// CUDA device 0 when libtorch sees one, else the CPU.
    #[default]
    Auto,
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(DeviceChoice::Cuda(n)),
                None => Err(Error::config("device", format!("unknown device `{s}`; use cpu, cuda, cuda:N or auto"))),
            },
        }
    }
}

impl DeviceChoice {
    /// Resolves to a tch device, failing clearly where CUDA is asked for but absent.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda(n) => {
                let count = tch::Cuda::device_count() as usize;
                if count == 0 {
                    Err(Error::Device {
                        requested: format!("cuda:{n}"),
                        message: "libtorch sees no CUDA device on this machine; use the CPU (`--device cpu` on the command line, `set device cpu` at the prompt) or auto".into(),
                    })
                } else if n >= count {
                    Err(Error::Device {
                        requested: format!("cuda:{n}"),
                        message: format!("only {count} CUDA device(s) exist"),
                    })
                } else {
                    Ok(Device::Cuda(n))
                }
            }
        }
    }
}

/// A short name for a tch device (`cpu`, `cuda:0`).
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
