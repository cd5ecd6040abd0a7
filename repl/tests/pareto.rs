//! `figs pareto` in small: a synthetic slice, two budgets, one seed, a few steps. The files
//! and the chart appear, a re-run skips every point that is done, and a directory made
//! with another recipe is refused.

use std::process::Command;

fn pareto(out: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_figs"))
        .args(["pareto", "--synthetic", "--train-limit", "256", "--test-limit", "128", "--budgets", "0.5,0.95"])
        .args(["--seeds", "1", "--steps", "6", "--epochs", "0.25", "--batch-size", "32", "--device", "cpu"])
        .args(["-p", "width=0.35", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_small_sweep_writes_results_table_and_chart_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (ok, stdout, stderr) = pareto(&out, &[]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // seed + figs, gamma, width at both budgets.
    let keys: Vec<String> = lines.iter().map(|l| format!("{}:{}", l["method"], l["budget"])).collect();
    for m in ["figs", "gamma", "width"] {
        for b in ["0.5", "0.95"] {
            let k = format!("\"{m}\":{b}");
            assert!(keys.iter().any(|x| *x == k), "{k} missing from {keys:?}");
        }
    }
    assert!(keys.iter().any(|x| x == "\"seed\":1.0"), "{keys:?}");
    for l in &lines {
        let (frac, budget) = (l["macs_fraction"].as_f64().unwrap(), l["budget"].as_f64().unwrap());
        assert!(frac <= budget + 1e-9, "a point over its budget: {l}");
        assert!((0.0..=1.0).contains(&l["test_accuracy"].as_f64().unwrap()));
        // The continuous multiplier (round_nearest=1 by default) lands close under the budget.
        if l["method"] == "width" {
            assert!(frac >= 0.9 * budget, "width baseline far under its budget: {l}");
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| figs | 0.5 | 1 |") && summary.contains("| seed | 1 | 1 |"), "{summary}");
    // FiGS minus width and minus γ at both budgets, one pair each (seed 1).
    for b in ["0.5", "0.95"] {
        for m in ["width", "gamma"] {
            assert!(summary.contains(&format!("| {b} | {m} | 1: ")), "{b} {m} pair missing:\n{summary}");
        }
    }
    let svg = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    assert!(svg.contains("figs") && svg.contains("gamma") && svg.contains("width"));
    assert!(out.join("pareto.png").is_file() && out.join("points/figs_0.5_1/arch.json").is_file());

    // Everything done is skipped.
    let (ok, stdout, _) = pareto(&out, &[]);
    assert!(ok && stdout.contains("7 done, 0 to run"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("results.jsonl")).unwrap().lines().count(), lines.len());

    // Another recipe in the same directory is refused, naming what differs.
    let (ok, _, stderr) = pareto(&out, &["--lambda", "2"]);
    assert!(!ok && stderr.contains("another recipe") && stderr.contains("lambda"), "{stderr}");
}

#[test]
fn a_width_multiplier_that_cannot_reach_the_budget_is_skipped_with_the_reason() {
    // torchvision's multiples of 8: this seed's floor is ~90 % of its MACs (every layer
    // at 8 channels), so 0.5 is out of reach and said so, not recorded.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (ok, stdout, stderr) = pareto(&out, &["--methods", "width", "--width-param", "round_nearest=8"]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("skipped: no width multiplier fits"), "{stdout}");
    let recorded = std::fs::read_to_string(out.join("results.jsonl")).unwrap_or_default();
    assert_eq!(recorded.lines().count(), 1, "only the 0.95 point: {recorded}");
    let (ok, _, stderr) = pareto(&dir.path().join("b"), &["--methods", "width", "--width-param", "nokey"]);
    assert!(!ok && stderr.contains("KEY=VALUE"), "{stderr}");
}

#[test]
fn a_failing_point_is_reported_and_the_sweep_goes_on() {
    // lr 1e30 makes every loss non-finite: each point fails by itself, none is recorded,
    // every one is tried, and the command ends with an error that lists them.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let (ok, stdout, stderr) = pareto(&out, &["--lr", "1e30", "--methods", "figs,seed"]);
    assert!(!ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stderr.matches("failed, not recorded").count(), 3, "{stderr}");
    assert!(stderr.contains("3 point(s) failed") && stderr.contains("figs:0.95:1"), "{stderr}");
    let recorded = std::fs::read_to_string(out.join("results.jsonl")).unwrap_or_default();
    assert!(recorded.is_empty(), "{recorded}");
}

#[test]
fn a_point_another_live_process_claims_is_skipped_and_a_dead_ones_claim_is_taken_over() {
    // The width points are quick. The test process is alive and on this host: its claim on
    // width:0.95:1 holds; a claim by a pid that does not exist here is stale.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let claims = out.join("claims");
    std::fs::create_dir_all(&claims).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    std::fs::write(claims.join("width_0.95_1"), format!("{host} {}\n", std::process::id())).unwrap();
    std::fs::write(claims.join("width_0.5_1"), format!("{host} {}\n", u32::MAX - 1)).unwrap();
    let (ok, stdout, stderr) = pareto(&out, &["--methods", "width", "--width-param", "round_nearest=1"]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("being run by") && stdout.contains("width_0.95_1"), "{stdout}");
    let recorded = std::fs::read_to_string(out.join("results.jsonl")).unwrap_or_default();
    assert_eq!(recorded.lines().count(), 1, "only the point with the stale claim ran: {recorded}");
    assert!(recorded.contains("\"budget\":0.5"), "{recorded}");
    assert!(!claims.join("width_0.5_1").exists(), "a finished point releases its claim");
    // Once the claim goes, the next run does the point.
    std::fs::remove_file(claims.join("width_0.95_1")).unwrap();
    let (ok, stdout, _) = pareto(&out, &["--methods", "width", "--width-param", "round_nearest=1"]);
    assert!(ok && stdout.contains("1 done, 1 to run"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("results.jsonl")).unwrap().lines().count(), 2);
}
