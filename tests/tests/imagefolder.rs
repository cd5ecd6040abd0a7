//! Image folders (`imagefolder:DIR`) against torchvision, on folders of JPEGs and PNGs of
//! varied sizes generated at test time (tests/pytorch/make_image_folder.py; nothing is
//! downloaded). References: torchvision's `ImageFolder` for the classes and the order of
//! the examples, `torchvision.transforms.v2` for the transforms, PIL for decoding
//! (tests/pytorch/check_image_folder.py).

use figs::data::images::{decode_file, draw, list, Resampler, Rgb};
use figs::data::{load_image_folder, Dataset, ImageOptions};
use figs::device::DeviceChoice;
use figs::export::write_weights;
use figs::search::{Search, SearchConfig};
use figs::train::{train_network, TrainConfig};
use figs_tests::{flops, run_python, tiny_mobilenet_for};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use tch::{Device, Tensor};

const CLASSES: usize = 3;

/// A generated folder: `CLASSES` classes of `per_class` images, 20 to 80 px a side, every
/// fourth a PNG (half of those with alpha), every fifth a grey JPEG (`extra` may add CMYK).
fn folder(dir: &Path, per_class: usize, extra: &[&str]) {
    let (c, n) = (CLASSES.to_string(), per_class.to_string());
    let mut args = vec![dir.to_str().unwrap(), "--classes", &c, "--per-class", &n, "--min", "20", "--max", "80"];
    args.extend_from_slice(extra);
    run_python("make_image_folder.py", &args);
}

fn hwc(img: &Rgb) -> Tensor {
    let t = Tensor::from_slice(&img.pixels).view([img.height as i64, img.width as i64, 3]);
    t.to_kind(tch::Kind::Float)
}

#[test]
fn classes_order_decoding_and_transforms_equal_torchvision() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imgs");
    folder(&root, 8, &["--cmyk-every", "7"]);
    let listing = list(&root, &mut |_| {}).unwrap();
    let (size, shorter) = (24, ImageOptions { size: 24, workers: 1 }.eval_shorter());
    assert_eq!(shorter, 27, "24 / 0.875, rounded");

    let mut cases: Vec<(String, Tensor)> = Vec::new();
    let mut r = Resampler::default();
    for (k, (path, _)) in listing.files.iter().enumerate() {
        let img = decode_file(path).unwrap();
        let d = draw(img.width, img.height, 11, k as u64);
        let c = d.crop;
        let bytes: Vec<f32> = path.to_str().unwrap().bytes().map(f32::from).collect();
        cases.push((format!("path{k}"), Tensor::from_slice(&bytes)));
        cases.push((format!("rgb{k}"), hwc(&img)));
        cases.push((format!("eval{k}"), hwc(&r.eval(img.clone(), shorter, size).unwrap())));
        cases.push((format!("train{k}"), hwc(&r.train(&img, d, size).unwrap())));
        let box_ = [c.top, c.left, c.height, c.width, d.flip as usize].map(|v| v as f32);
        cases.push((format!("draw{k}"), Tensor::from_slice(&box_)));
    }
    let cases_path = dir.path().join("cases.safetensors");
    write_weights(&cases_path, &cases).unwrap();
    let out = run_python(
        "check_image_folder.py",
        &[root.to_str().unwrap(), cases_path.to_str().unwrap(), &size.to_string(), &shorter.to_string()],
    );
    let tv: serde_json::Value = serde_json::from_str(&out).unwrap();
    println!("torchvision vs figs: {tv:#}");

    let classes: Vec<String> = serde_json::from_value(tv["classes"].clone()).unwrap();
    assert_eq!(classes, listing.classes);
    let samples: Vec<(String, i64)> = serde_json::from_value(tv["samples"].clone()).unwrap();
    let ours: Vec<(String, i64)> = listing.files.iter().map(|(p, c)| (p.to_str().unwrap().to_string(), *c)).collect();
    assert_eq!(ours, samples, "the examples and their classes, in torchvision's order");
    assert_eq!(tv["checked"].as_u64().unwrap() as usize, listing.files.len());

    assert_eq!(tv["png_decode_max"].as_i64().unwrap(), 0, "PNG decodes exactly as PIL's");
    // Both decode JPEGs with libjpeg-turbo.
    assert_eq!(tv["jpeg_decode_max"].as_i64().unwrap(), 0, "JPEG decodes exactly as PIL's");
    // CMYK JPEGs go through zune-jpeg here; PIL inverts Adobe CMYK its own way.
    assert!(tv["cmyk_files"].as_u64().unwrap() >= 2);
    let cmyk = tv["cmyk_decode_max"].as_i64().unwrap();
    assert!(cmyk <= 2, "CMYK JPEGs differ from PIL's RGB by {cmyk}/255");
    // The transforms, on the same decoded pixels: within 2/255 (the tolerance).
    assert!(tv["eval_max"].as_i64().unwrap() <= 2, "Resize + CenterCrop differ from torchvision by {}", tv["eval_max"]);
    assert!(
        tv["train_max"].as_i64().unwrap() <= 2,
        "RandomResizedCrop + flip differ from torchvision by {}",
        tv["train_max"]
    );
}

/// All the batches of an epoch drawn from `seed`'s order, as the search draws them.
fn epoch(d: &Dataset, seed: u64) -> Vec<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    d.shuffled_batches(8, &mut rng, Device::Cpu).map(|b| b.unwrap()).collect()
}

fn same(a: &[(Tensor, Tensor)], b: &[(Tensor, Tensor)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((xa, ya), (xb, yb))| xa.equal(xb) && ya.equal(yb))
}

#[test]
fn training_batches_are_augmented_the_same_for_the_same_seed_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), 10, &["--split"]);
    let load = |workers| load_image_folder(dir.path(), ImageOptions { size: 16, workers }, 0.1, &mut |_| {}).unwrap();
    let one = load(1);
    assert_eq!((one.train.len(), one.test.len()), (30, 6), "train/ and val/ are used as they are");
    assert_eq!(one.train.image_shape(), (3, 16, 16));
    let a = epoch(&one.train, 3);
    assert_eq!(a.len(), 3, "30 examples in batches of 8, the partial one dropped");
    assert!(same(&a, &epoch(&one.train, 3)), "the same seed draws the same crops");
    assert!(same(&a, &epoch(&load(3).train, 3)), "three decoding threads deliver what one does, in order");
    assert!(!same(&a, &epoch(&one.train, 4)));
    // Evaluation batches are not augmented: the same inputs every time.
    let ev = |d: &Dataset| d.ordered_batches(8, Device::Cpu).map(|b| b.unwrap()).collect::<Vec<_>>();
    assert!(same(&ev(&one.test), &ev(&load(2).test)));
    // A training batch is random crops, not the evaluation form of the same images.
    let e = one.train.examples();
    let ids = [0, 5, 9, 20];
    let (train, _) = e.batch(&ids, Some(7)).unwrap();
    let (eval, _) = e.batch(&ids, None).unwrap();
    assert!(train.equal(&e.batch(&ids, Some(7)).unwrap().0) && !train.equal(&eval));
}

#[test]
fn a_file_that_cannot_be_decoded_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), 4, &[]);
    let bad = dir.path().join("class_01").join("broken.jpg");
    std::fs::write(&bad, [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F']).unwrap();
    let tt = load_image_folder(dir.path(), ImageOptions { size: 16, workers: 2 }, 0.25, &mut |_| {}).unwrap();
    let all = tt.train.ordered_batches(4, Device::Cpu).chain(tt.test.ordered_batches(4, Device::Cpu));
    let errors: Vec<String> = all.filter_map(|b| b.err()).map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert!(e.contains("broken.jpg") && e.contains("broken JPEG") && e.contains("remove or replace"), "{e}");
}

#[test]
fn a_search_resumes_bit_exactly_and_the_found_network_retrains_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), 24, &["--split"]);
    let tt = load_image_folder(dir.path(), ImageOptions { size: 16, workers: 2 }, 0.1, &mut |_| {}).unwrap();
    let g = tiny_mobilenet_for(3, 16, CLASSES);
    let cfg = SearchConfig { seed: 2, device: DeviceChoice::Cpu, batch_size: 8, steps: 24, ..SearchConfig::default() };
    let stop = AtomicBool::new(false);
    let mut s = Search::new(&g, &tt.train, cfg, flops()).unwrap();
    // 65 training examples after the validation split: 8 batches an epoch, so step 12 is
    // in the second epoch's middle.
    s.run(12, &stop, |_| {}).unwrap();
    let ck = dir.path().join("ck");
    s.save_checkpoint(&ck).unwrap();
    s.run(12, &stop, |_| {}).unwrap();
    let mut r = Search::resume(&g, &tt.train, flops(), &ck).unwrap();
    r.run(12, &stop, |_| {}).unwrap();
    assert_eq!(r.checksum(), s.checksum(), "a resumed search on an image folder differs");
    assert!(s.evaluate().unwrap().accuracy.is_finite());

    let found = s.export_network().unwrap().graph;
    let tc = TrainConfig { device: DeviceChoice::Cpu, batch_size: 8, steps: 40, lr: 0.01, ..TrainConfig::default() };
    let t = train_network(&found, None, &tt.train, &tt.test, &tc, &stop, |_| {}).unwrap();
    assert_eq!(t.steps, 40);
    assert!(t.test_accuracy.is_finite() && t.test_loss.is_finite(), "{t:?}");
}
