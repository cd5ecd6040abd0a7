//! COCO's JSON formats for boxes: the instances ground truth (`images`, `annotations`,
//! `categories`) and the results list (`image_id`, `category_id`, `bbox`, `score`) that
//! detectors write and `COCOeval` scores. Boxes are `[x, y, width, height]` in pixels.
//! Fields figs does not use (`segmentation`, `info`, `licenses`, …) are read past.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// An instances file: what `pycocotools.coco.COCO` loads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Instances {
    pub images: Vec<Image>,
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    pub id: i64,
    #[serde(default)]
    pub file_name: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Annotation {
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    pub bbox: [f64; 4],
    /// The object's area, which picks its size range (small < 32², large > 96²). COCO's own
    /// files give the segmentation's area; a file without it gets the box's (pycocotools
    /// fails on such a file instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<f64>,
    /// A crowd region: detections on it are neither hits nor false positives.
    #[serde(default, deserialize_with = "int_or_bool")]
    pub iscrowd: bool,
}

impl Annotation {
    pub fn area(&self) -> f64 {
        self.area.unwrap_or(self.bbox[2] * self.bbox[3])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    #[serde(default)]
    pub name: String,
}

/// One detected box, as in COCO's results format.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image_id: i64,
    pub category_id: i64,
    pub bbox: [f64; 4],
    pub score: f64,
}

/// COCO writes `iscrowd` as 0 or 1; some tools write a boolean.
fn int_or_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(i64),
        Bool(bool),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Int(i) => i != 0,
        Flag::Bool(b) => b,
    })
}

fn coco_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Coco { path: path.to_path_buf(), message: message.into() }
}

/// Reads `path` as JSON; `expected` says what the file should hold when it does not parse.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, expected: &str) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&text).map_err(|e| coco_error(path, format!("{e}; expected {expected}")))
}

/// Why a box is not one: `None` when it is finite with a non-negative size.
fn bad_box(b: &[f64; 4]) -> Option<&'static str> {
    if b.iter().any(|v| !v.is_finite()) {
        Some("a coordinate that is not a finite number")
    } else if b[2] < 0.0 || b[3] < 0.0 {
        Some("a negative width or height (COCO boxes are [x, y, width, height])")
    } else {
        None
    }
}

impl Instances {
    /// Reads and checks an instances file.
    pub fn load(path: &Path) -> Result<Instances> {
        let gt: Instances = read_json(path, "COCO's instances format: {\"images\", \"annotations\", \"categories\"}")?;
        gt.check().map_err(|m| coco_error(path, m))?;
        Ok(gt)
    }

    /// What would make `COCOeval` read the file differently from what it says: repeated
    /// ids (pycocotools silently keeps the last) and boxes that are not boxes.
    pub fn check(&self) -> std::result::Result<(), String> {
        repeated(self.images.iter().map(|i| i.id)).map_or(Ok(()), |id| Err(format!("image id {id} appears twice")))?;
        repeated(self.categories.iter().map(|c| c.id))
            .map_or(Ok(()), |id| Err(format!("category id {id} appears twice")))?;
        repeated(self.annotations.iter().map(|a| a.id))
            .map_or(Ok(()), |id| Err(format!("annotation id {id} appears twice")))?;
        for a in &self.annotations {
            if let Some(why) = bad_box(&a.bbox) {
                return Err(format!("annotation {} has {why}: {:?}", a.id, a.bbox));
            }
            if a.area.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(format!("annotation {} has area {:?}; give a finite area ≥ 0 or none", a.id, a.area));
            }
        }
        Ok(())
    }
}

fn repeated(ids: impl Iterator<Item = i64>) -> Option<i64> {
    let mut seen = HashSet::new();
    ids.into_iter().find(|id| !seen.insert(*id))
}

/// Reads a results file and checks it against its ground truth: every image it names is
/// in `gt` (as pycocotools' `loadRes` asserts), every box and score finite.
pub fn load_detections(path: &Path, gt: &Instances) -> Result<Vec<Detection>> {
    let dets: Vec<Detection> =
        read_json(path, "COCO's results format: [{\"image_id\", \"category_id\", \"bbox\", \"score\"}, …]")?;
    check_detections(&dets, gt).map_err(|m| coco_error(path, m))?;
    Ok(dets)
}

pub fn check_detections(dets: &[Detection], gt: &Instances) -> std::result::Result<(), String> {
    let images: HashSet<i64> = gt.images.iter().map(|i| i.id).collect();
    for (i, d) in dets.iter().enumerate() {
        if let Some(why) = bad_box(&d.bbox) {
            return Err(format!("detection {i} (0-based) has {why}: {:?}", d.bbox));
        }
        if !d.score.is_finite() {
            return Err(format!("detection {i} (0-based) has score {}", d.score));
        }
        if !images.contains(&d.image_id) {
            return Err(format!(
                "detection {i} (0-based) is on image {}, which the ground truth does not list; \
                 score detections against the ground truth of the same images",
                d.image_id
            ));
        }
    }
    Ok(())
}

/// Writes `value` as JSON through a temporary file (never half-written).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    crate::io::write_atomic(path, &bytes)
}
