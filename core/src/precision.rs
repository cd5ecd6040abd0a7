//! Mixed precision for training passes: `bf16` runs convolutions, linear layers and the
//! activations between them in bfloat16 (what `torch.autocast(dtype=torch.bfloat16)` does
//! for a convolutional network), while parameters, optimizer state, batch-norm statistics,
//! the loss and every evaluation stay float32. Evaluation in float32 keeps the promise that
//! the exported network computes what the search evaluated (DESIGN.md).
//!
//! Worth it on GPUs with bfloat16 tensor cores; on this project's CPU (AVX-512 with BF16)
//! PyTorch's own CPU autocast made the benchmark network's training step 2.1× slower
//! (docs/PERFORMANCE.md), so the default is `fp32`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::config("precision", format!("unknown precision `{s}`; use fp32 or bf16"))),
        }
    }
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_names_and_refuses_others() {
        for p in [Precision::Fp32, Precision::Bf16] {
            assert_eq!(p.as_str().parse::<Precision>().unwrap(), p);
        }
        let e = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("fp16") && e.contains("bf16"), "{e}");
    }
}
