//! COCO-format detection data (`coco:ROOT` or `coco:IMAGES,ANNOTATIONS.json`): images listed
//! by an instances file, decoded when a batch asks for them, like an image folder's.
//!
//! Targets are `[B, G, 5]` float rows `(label, x1, y1, x2, y2)` in input pixels, padded with
//! label-0 rows (see [`super::task`]); the label is the category id (torchvision's
//! convention: COCO's ids run to 90, so its detectors have 91 classes with the
//! background). Crowd annotations and boxes without area are left out of the targets, as
//! torchvision's detection reference does. Training examples go through SSDLite's
//! transform ([`super::iou_crop`]); evaluation resizes the whole image to the input size.

use super::coco::Instances;
use super::iou_crop::{draw_detection, map_box, BoxF};
use crate::data::images::{decode_file, input_batch, with_resampler, write_planes, Crop, Draw, ImageOptions};
use crate::data::{Dataset, Examples, TrainTest};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Tensor;

/// One image: its id and file, size as the annotations give it, and its objects.
#[derive(Debug, Clone)]
struct Item {
    id: i64,
    path: PathBuf,
    width: usize,
    height: usize,
    boxes: Vec<BoxF>,
    labels: Vec<f32>,
}

/// Detection examples read from image files listed by a COCO instances file.
#[derive(Debug)]
pub struct CocoFolder {
    items: Arc<[Item]>,
    classes: usize,
    options: ImageOptions,
}

impl CocoFolder {
    /// The images of `annotations` under `images`.
    pub fn load(images: &Path, annotations: &Path, options: ImageOptions) -> Result<CocoFolder> {
        let gt = Instances::load(annotations)?;
        let bad = |message: String| Error::Data { path: annotations.into(), message };
        if let Some(c) = gt.categories.iter().find(|c| c.id < 1) {
            return Err(bad(format!(
                "category `{}` has id {}; ids start at 1 (0 is the background class)",
                c.name, c.id
            )));
        }
        let classes = gt.categories.iter().map(|c| c.id as usize + 1).max().unwrap_or(1);
        let mut at: HashMap<i64, usize> = HashMap::new();
        let mut items = Vec::with_capacity(gt.images.len());
        for im in &gt.images {
            if im.width == 0 || im.height == 0 {
                return Err(bad(format!(
                    "image {} (`{}`) has no width or height; COCO's instances files give both",
                    im.id, im.file_name
                )));
            }
            at.insert(im.id, items.len());
            let (width, height) = (im.width as usize, im.height as usize);
            let path = images.join(&im.file_name);
            items.push(Item { id: im.id, path, width, height, boxes: vec![], labels: vec![] });
        }
        for a in &gt.annotations {
            let Some(&i) = at.get(&a.image_id) else {
                return Err(bad(format!(
                    "annotation {} is on image {}, which `images` does not list",
                    a.id, a.image_id
                )));
            };
            if a.category_id < 1 || a.category_id as usize >= classes {
                return Err(bad(format!(
                    "annotation {} has category {}, which `categories` does not list",
                    a.id, a.category_id
                )));
            }
            let [x, y, w, h] = a.bbox.map(|v| v as f32);
            if a.iscrowd || w <= 0.0 || h <= 0.0 {
                continue;
            }
            items[i].boxes.push([x, y, x + w, y + h]);
            items[i].labels.push(a.category_id as f32);
        }
        if items.is_empty() {
            return Err(bad("lists no images".into()));
        }
        Ok(CocoFolder { items: items.into(), classes, options })
    }

    /// Example `k`'s image id and its size `(width, height)` in the annotations' pixels.
    pub fn image(&self, k: usize) -> Option<(i64, usize, usize)> {
        self.items.get(k).map(|it| (it.id, it.width, it.height))
    }

    /// Example `id`'s pixels at the input size and its targets in input pixels.
    fn example(&self, id: usize, augment: Option<u64>) -> Result<(crate::data::images::Rgb, Vec<[f32; 5]>)> {
        let it = self.items.get(id).ok_or_else(|| {
            Error::config("data", format!("example {id} is outside this set of {} images", self.items.len()))
        })?;
        let bad = |message: String| Error::Data { path: it.path.clone(), message };
        let img = decode_file(&it.path).map_err(|why| bad(format!("{why}; remove or replace the file")))?;
        if (img.width, img.height) != (it.width, it.height) {
            return Err(bad(format!(
                "is {}x{} but the annotations say {}x{}; the instances file does not describe these images",
                img.width, img.height, it.width, it.height
            )));
        }
        let (d, kept) = match augment {
            Some(key) => draw_detection(it.width, it.height, &it.boxes, key, id as u64),
            None => (whole(it), (0..it.boxes.len()).collect()),
        };
        let s = self.options.size;
        let px = with_resampler(|r| r.train(&img, d, s)).map_err(|e| bad(format!("resizing failed: {e}")))?;
        let rows = kept
            .iter()
            .filter_map(|&k| map_box(&it.boxes[k], &d, s).map(|b| [it.labels[k], b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((px, rows))
    }
}

/// The evaluation "draw": the whole image, not flipped.
fn whole(it: &Item) -> Draw {
    Draw { crop: Crop { top: 0, left: 0, height: it.height, width: it.width }, flip: false }
}

/// Rows of every example, padded with label-0 rows to the most objects: `[N, G, 5]`.
fn padded(rows: &[Vec<[f32; 5]>]) -> Result<Tensor> {
    let g = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut flat = vec![0f32; rows.len() * g * 5];
    for (i, r) in rows.iter().enumerate() {
        for (k, row) in r.iter().enumerate() {
            flat[(i * g + k) * 5..(i * g + k + 1) * 5].copy_from_slice(row);
        }
    }
    Ok(Tensor::f_from_slice(&flat)?.f_view([rows.len() as i64, g as i64, 5])?)
}

impl Examples for CocoFolder {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn input_shape(&self) -> (usize, usize, usize) {
        (3, self.options.size, self.options.size)
    }

    fn batch(&self, ids: &[i64], augment: Option<u64>) -> Result<(Tensor, Tensor)> {
        let mut rows = Vec::with_capacity(ids.len());
        let x = input_batch(ids.len(), self.options.size, |k, planes| {
            // A plain sign check, not `try_from`: tests/tests/host_sync.rs counts that as a host read.
            if ids[k] < 0 {
                return Err(Error::config("data", format!("example {} does not exist", ids[k])));
            }
            let id = ids[k] as usize;
            let (px, r) = self.example(id, augment)?;
            write_planes(&px, planes);
            rows.push(r);
            Ok(())
        })?;
        Ok((x, padded(&rows)?))
    }

    fn targets(&self) -> Result<Tensor> {
        let s = self.options.size;
        let rows: Vec<Vec<[f32; 5]>> = self
            .items
            .iter()
            .map(|it| {
                let d = whole(it);
                let kept = it.boxes.iter().zip(&it.labels);
                kept.filter_map(|(b, &l)| map_box(b, &d, s).map(|b| [l, b[0], b[1], b[2], b[3]])).collect()
            })
            .collect();
        padded(&rows)
    }

    fn workers(&self) -> usize {
        self.options.workers
    }

    fn at_size(&self, size: usize) -> Option<Arc<dyn Examples>> {
        let options = ImageOptions { size, ..self.options };
        Some(Arc::new(CocoFolder { items: self.items.clone(), classes: self.classes, options }))
    }

    fn storage(&self) -> String {
        format!("COCO image files at {} px", self.options.size)
    }

    fn task(&self) -> crate::graph::TaskKind {
        crate::graph::TaskKind::Detection
    }
}

/// The split pairs a COCO root may hold: figs' made-here sets and COCO 2017.
const SPLITS: [(&str, &str); 2] = [("train", "val"), ("train2017", "val2017")];

/// Loads `coco:ROOT` (`ROOT/{train,val}/` with `ROOT/annotations/instances_{train,val}.json`,
/// or COCO 2017's `train2017`/`val2017` names) or, with `annotations`, one split of which a
/// seeded `holdout` share is the test set.
pub fn load_coco(root: &Path, annotations: Option<&Path>, options: ImageOptions, holdout: f64) -> Result<TrainTest> {
    if !root.is_dir() {
        return Err(Error::Data { path: root.into(), message: crate::data::not_a_dir(root).into() });
    }
    let of = |images: &Path, ann: &Path| -> Result<Dataset> {
        if !ann.is_file() {
            return Err(Error::Data {
                path: ann.into(),
                message: "does not exist; give the instances file that lists these images".into(),
            });
        }
        Ok(Dataset::of(Arc::new(CocoFolder::load(images, ann, options)?)))
    };
    if let Some(ann) = annotations {
        let all = of(root, ann)?;
        let (train, test) = all.split_as(holdout, crate::data::images::HOLDOUT_SEED, "test-fraction")?;
        return Ok(TrainTest { train, test });
    }
    let ann = |split: &str| root.join("annotations").join(format!("instances_{split}.json"));
    for (tr, te) in SPLITS {
        if root.join(tr).is_dir() && root.join(te).is_dir() {
            let (train, test) = (of(&root.join(tr), &ann(tr))?, of(&root.join(te), &ann(te))?);
            if train.classes() != test.classes() {
                return Err(Error::Data {
                    path: ann(te),
                    message: format!(
                        "has category ids up to {}, instances_{tr}.json up to {}: both splits need the same categories",
                        test.classes() - 1,
                        train.classes() - 1
                    ),
                });
            }
            return Ok(TrainTest { train, test });
        }
    }
    Err(Error::Data {
        path: root.into(),
        message: "holds neither train/ and val/ nor train2017/ and val2017/ (with annotations/instances_<split>.json); give `coco:IMAGES,ANNOTATIONS.json` for a single split".into(),
    })
}
