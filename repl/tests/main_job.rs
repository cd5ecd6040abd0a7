//! One implementation of the main job: `figs search` is the session's calls in order, so
//! the README's step-by-step script (examples/main-job.figs) gives the same numbers for the
//! same seed. Checked on a small synthetic slice: the script is the committed file with its
//! sizes shrunk (every replaced line must still be in it, so the test follows the file).

use serde_json::Value;
use std::process::Command;

fn figs() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_figs"));
    c.env("OMP_NUM_THREADS", "1");
    c
}

/// examples/main-job.figs with the data, steps, epochs and width made small.
fn small_script(out: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/main-job.figs")).unwrap();
    let mut script = String::from("set seed 3\nset device cpu\nset batch-size 32\nset eval-every 10\n");
    let mut replaced = 0;
    for line in text.lines() {
        let new = match line.trim() {
            "set out runs/main-job" => format!("set out {out}"),
            "data fashion-mnist" => "data synthetic --train-limit 512 --test-limit 128".into(),
            "supernet build mobilenet_v2" => "supernet build mobilenet_v2 -p width=0.25".into(),
            "init --steps 800" => "init --steps 20".into(),
            "step 800" => "step 20".into(),
            l if l.starts_with("retrain") && l.contains("--epochs 1") => l.replace("--epochs 1", "--epochs 0.25"),
            "compare" => "compare --json".into(),
            l => l.to_string(),
        };
        replaced += usize::from(new != line);
        script += &new;
        script.push('\n');
    }
    assert_eq!(replaced, 9, "examples/main-job.figs changed: update this test's replacements\n{text}");
    script
}

#[test]
fn the_main_job_script_and_figs_search_give_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (run, scripted) = (dir.path().join("search"), dir.path().join("script"));
    let o = figs()
        .args(["search", "--synthetic", "--train-limit", "512", "--test-limit", "128", "-p", "width=0.25"])
        .args(["--seed", "3", "--device", "cpu", "--batch-size", "32", "--eval-every", "10", "--steps", "20"])
        .args(["--epochs", "0.25", "--lambda", "0.7", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = dir.path().join("main-job.figs");
    std::fs::write(&file, small_script(&scripted.display().to_string())).unwrap();
    let o = figs().arg("run").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));

    // The same network, bit for bit, with the same weights.
    for f in ["arch.json", "arch.safetensors"] {
        assert!(std::fs::read(run.join(f)).unwrap() == std::fs::read(scripted.join(f)).unwrap(), "{f} differs");
    }
    // The same retrained accuracies.
    let summary: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let at = stdout.find("figs> compare --json\n").expect("compare ran") + "figs> compare --json\n".len();
    let rest = &stdout[at..];
    let compare: Vec<Value> = serde_json::from_str(&rest[..rest.find("figs> ").unwrap_or(rest.len())]).unwrap();
    for network in ["seed", "found"] {
        let a = summary.iter().find(|r| r["network"] == network).unwrap();
        let b = compare.iter().find(|r| r["network"] == network).unwrap();
        assert_eq!((&a["macs"], &a["test_accuracy"]), (&b["macs"], &b["test_accuracy"]), "{network}");
        assert!(a["test_accuracy"].as_f64().is_some(), "{network} was retrained");
    }
}
