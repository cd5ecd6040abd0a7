//! What identifies a data set to a resumed search (checkpoint manifests record it).

use super::Dataset;
use crate::error::Result;
use tch::{Device, Kind, Tensor};

/// What identifies a data set to a resumed search: its size, classes, image shape and
/// storage, and a hash of every label and of a strided sample of images. A search resumed
/// on other data would index another order with its saved batch position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub examples: usize,
    pub classes: usize,
    /// `[channels, height, width]`.
    pub shape: Vec<usize>,
    /// The images' element type (`Uint8`, `Float`).
    pub storage: String,
    /// FNV-1a (hex) of every label and of up to [`FINGERPRINT_IMAGES`] images spread
    /// evenly over the set.
    pub content: String,
}

/// Images hashed into a [`Fingerprint`]: enough to tell data sets apart, cheap at any size.
pub const FINGERPRINT_IMAGES: usize = 64;

impl Fingerprint {
    /// The fields that differ from `other`, as `name: this vs other`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let pairs = [
            ("examples", self.examples.to_string(), other.examples.to_string()),
            ("classes", self.classes.to_string(), other.classes.to_string()),
            ("image shape", format!("{:?}", self.shape), format!("{:?}", other.shape)),
            ("storage", self.storage.clone(), other.storage.clone()),
        ];
        let mut d: Vec<String> =
            pairs.iter().filter(|(_, a, b)| a != b).map(|(n, a, b)| format!("{n} {a} vs {b}")).collect();
        // The same sizes with other contents: another directory, another split or order.
        if d.is_empty() && self.content != other.content {
            d.push(format!("content hash {} vs {}", self.content, other.content));
        }
        d
    }
}

impl Dataset {
    /// This set's [`Fingerprint`].
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        let n = self.len();
        let (c, h, w) = self.image_shape();
        // Labels hash as they always have (old checkpoints keep resuming); detection
        // targets, being float, as their bits.
        let targets = self.targets()?.flatten(0, -1);
        let labels: Vec<i64> = if targets.is_floating_point() {
            Vec::<f64>::try_from(targets.to_kind(Kind::Double))?.iter().map(|v| v.to_bits() as i64).collect()
        } else {
            Vec::<i64>::try_from(targets)?
        };
        let picks: Vec<i64> = if n == 0 {
            Vec::new()
        } else {
            let k = FINGERPRINT_IMAGES.min(n);
            (0..k).map(|i| (i * n / k) as i64).collect()
        };
        // The inputs as stored (bytes, floats): what the data is, before normalisation.
        let sample = if picks.is_empty() {
            Tensor::zeros([0], (Kind::Double, Device::Cpu))
        } else {
            self.examples().batch(&self.ids(&picks), None)?.0.to_device(Device::Cpu)
        };
        let pixels = Vec::<f64>::try_from(sample.to_kind(Kind::Double).flatten(0, -1))?;
        let bytes =
            labels.iter().flat_map(|l| l.to_le_bytes()).chain(pixels.iter().flat_map(|p| p.to_bits().to_le_bytes()));
        Ok(Fingerprint {
            examples: n,
            classes: self.classes(),
            shape: vec![c, h, w],
            storage: self.examples().storage(),
            content: format!("{:016x}", crate::checkpoint::fnv1a(bytes)),
        })
    }
}
