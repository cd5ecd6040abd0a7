//! CIFAR-10 reaches every job through the one data path (`--data cifar10:DIR`): `figs
//! search` and `figs pareto` on a CIFAR-format folder generated here (no CIFAR-10 can be
//! downloaded on these machines). Before the typed configuration only the prompt's `data`
//! read CIFAR-10.

mod common;

use common::figs;
use std::path::Path;

/// Writes `cifar-10-batches-bin`'s six files with `per_file` records each: label byte,
/// then 3 × 32 × 32 pixels, a bright square whose place depends on the class.
fn cifar_dir(dir: &Path, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"];
    for (f, name) in names.iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..per_file {
            let label = ((i + f) % 10) as u8;
            bytes.push(label);
            for c in 0..3 {
                for y in 0..32usize {
                    for x in 0..32usize {
                        let on = x / 8 == (label % 4) as usize && y / 8 == (label / 4) as usize;
                        let noise = ((i * 31 + x * 7 + y * 13 + c * 5) % 17) as u8;
                        bytes.push(if on { 200 + noise } else { 30 + noise });
                    }
                }
            }
        }
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
}

#[test]
fn figs_search_and_figs_pareto_read_cifar10() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar-10-batches-bin");
    cifar_dir(&data, 40);
    let spec = format!("cifar10:{}", data.display());
    let run = dir.path().join("run");
    let common = ["--device", "cpu", "--threads", "1", "--batch-size", "16", "--steps", "4", "--eval-every", "0"];
    let (ok, log) = figs(
        &[&["search", "--data", &spec, "--epochs", "0.1", "--out", run.to_str().unwrap()][..], &common[..]].concat(),
    );
    assert!(ok, "{log}");
    assert!(log.contains("CIFAR-10") && log.contains("(200 train / 40 test images)"), "{log}");
    let arch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("arch.json")).unwrap()).unwrap();
    assert_eq!(arch["input"]["channels"], 3, "the found network reads colour images");
    assert_eq!(arch["input"]["height"], 32);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["config"]["data"]["data"], spec.as_str());

    let sweep = dir.path().join("sweep");
    let (ok, log) = figs(
        &[
            &["pareto", "--data", &spec, "--epochs", "0.1", "--budgets", "0.6", "--seeds", "1"][..],
            &["--methods", "figs,seed", "--out", sweep.to_str().unwrap()],
            &common[..8],
        ]
        .concat(),
    );
    assert!(ok, "{log}");
    let results = std::fs::read_to_string(sweep.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2, "{results}");
    let recipe = std::fs::read_to_string(sweep.join("config.json")).unwrap();
    assert!(recipe.contains("cifar-10-batches-bin (train 200, test 40)"), "{recipe}");
}
