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
/// Checks a libtorch intra-op thread count: 0 (libtorch's default) up to the machine's
/// logical cores. More threads than cores only make them wait for each other, and a typo
/// such as 100000 would start that many threads and never return.
/// The text form of a device choice (`cpu`, `cuda:0`, `auto`), which parses back.
pub fn device_str(d: DeviceChoice) -> String {
    match d {
        DeviceChoice::Cpu => "cpu".into(),
        DeviceChoice::Auto => "auto".into(),
        DeviceChoice::Cuda(n) => format!("cuda:{n}"),
    }
}

pub fn check_threads(n: i64) -> std::result::Result<(), String> {
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    if n < 0 {
        return Err(format!("must be 0 (libtorch's default) or more, got {n}"));
    }
    if n as u64 > cores as u64 {
        return Err(format!(
            "this machine has {cores} logical cores: give at most {cores} (0: libtorch's default), got {n}"
        ));
    }
    Ok(())
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// How 4-d activations and conv weights are laid out in memory.
///
/// On the CPU, oneDNN's convolutions run about twice as fast on channels-last (NHWC)
/// tensors as on PyTorch's default NCHW when the widths come in blocks of 8
/// (docs/PERFORMANCE.md has the measurements), so `auto` picks channels-last there and
/// keeps NCHW on CUDA, where fp32 cuDNN gains little.
/// The layout changes no result beyond float rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MemoryFormat {
    /// Channels-last on the CPU, contiguous (NCHW) on CUDA.
    #[default]
    Auto,
    ChannelsLast,
    Contiguous,
}

impl std::str::FromStr for MemoryFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(MemoryFormat::Auto),
            "channels-last" | "channels_last" | "nhwc" => Ok(MemoryFormat::ChannelsLast),
            "contiguous" | "nchw" => Ok(MemoryFormat::Contiguous),
            _ => Err(Error::config(
                "memory-format",
                format!("unknown memory format `{s}`; use auto, channels-last or contiguous"),
            )),
        }
    }
}

impl MemoryFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryFormat::Auto => "auto",
            MemoryFormat::ChannelsLast => "channels-last",
            MemoryFormat::Contiguous => "contiguous",
        }
    }

    /// Whether 4-d tensors on `device` are kept channels-last: `auto` picks it on the CPU,
    /// where oneDNN's convolutions run fastest that way (a training step of the main job's
    /// seed 1.9× faster than NCHW, its found network with odd widths 1.9×: docs/PERFORMANCE.md;
    /// libtorch's batch norm, which was slow at odd widths, is replaced there by figs' own,
    /// [`crate::batch_norm_cl`]).
    pub fn channels_last(self, device: Device) -> bool {
        match self {
            MemoryFormat::Auto => device == Device::Cpu,
            MemoryFormat::ChannelsLast => true,
            MemoryFormat::Contiguous => false,
        }
    }
}

/// A copy of the 4-d tensor `t` with channels-last strides (`[H·W·C, 1, W·C, C]`), which is
/// what PyTorch's `to(memory_format=torch.channels_last)` makes. Strides are set explicitly:
/// for a dimension of size 1 a permute-and-copy would leave strides that libtorch reads as
/// NCHW. Other tensors are returned as they are.
pub fn to_channels_last(t: &tch::Tensor) -> tch::Tensor {
    let s = t.size();
    if s.len() != 4 || is_channels_last(t) {
        return t.shallow_clone();
    }
    let mut out = tch::Tensor::empty_strided(&s, channels_last_strides(&s), (t.kind(), t.device()));
    out.copy_(t);
    out
}

/// Whether the 4-d tensor `t` has exactly the strides [`to_channels_last`] gives.
pub fn is_channels_last(t: &tch::Tensor) -> bool {
    let s = t.size();
    s.len() == 4 && t.stride() == channels_last_strides(&s)
}

fn channels_last_strides(s: &[i64]) -> [i64; 4] {
    let (c, h, w) = (s[1], s[2], s[3]);
    [h * w * c, 1, w * c, c]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn channels_last_has_nhwc_strides_and_the_same_values() {
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let cl = to_channels_last(&t);
        assert_eq!(cl.stride(), [60, 1, 15, 3]);
        assert!(cl.equal(&t));
        // A single channel (the Fashion-MNIST input, a depthwise weight) too.
        let one = Tensor::ones([8, 1, 3, 3], (Kind::Float, Device::Cpu));
        assert_eq!(to_channels_last(&one).stride(), [9, 1, 3, 1]);
    }

    #[test]
    fn auto_is_channels_last_on_the_cpu_only() {
        assert!(MemoryFormat::Auto.channels_last(Device::Cpu));
        assert!(!MemoryFormat::Auto.channels_last(Device::Cuda(0)));
        assert!(MemoryFormat::ChannelsLast.channels_last(Device::Cuda(0)));
        assert!(!MemoryFormat::Contiguous.channels_last(Device::Cpu));
        assert!("nope".parse::<MemoryFormat>().unwrap_err().to_string().contains("channels-last"));
    }
}
