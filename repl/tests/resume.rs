//! `figs search` survives a kill: a run killed (SIGKILL) after a checkpoint and continued
//! with `--resume` ends with the same network, weights and metrics as one that ran
//! straight through; an existing run is never silently overwritten; bad settings leave no
//! run directory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: &str = "200";

fn search(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_figs"));
    c.args(["search", "--synthetic", "--train-limit", "256", "--test-limit", "64", "--device", "cpu"])
        .args([
            "--threads",
            "1",
            "--batch-size",
            "32",
            "--steps",
            STEPS,
            "--eval-every",
            "20",
            "--checkpoint-every",
            "10",
            "--no-retrain",
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("OMP_NUM_THREADS", "1");
    c
}

fn run(mut c: Command) -> (bool, String) {
    let o = c.output().unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn a_killed_search_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("killed"));
    let (ok, log) = run(search(&a, &[]));
    assert!(ok, "{log}");

    let mut child = search(&b, &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let first = b.join("checkpoints/step-00000020");
    let start = Instant::now();
    while !first.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(!b.join("summary.json").exists(), "the run finished before the kill; the test proves nothing");

    let (ok, log) = run(search(&b, &[]));
    assert!(!ok && log.contains("--resume"), "an existing run must not be overwritten: {log}");
    let bs = b.to_str().unwrap();
    let (ok, log) = run(search(&b, &["--resume", bs, "--lambda", "2"]));
    assert!(!ok && log.contains("differ from the run's saved settings") && log.contains("--lambda 2"), "{log}");
    // `--resume DIR` alone continues with the settings the run was started with.
    let mut alone = Command::new(env!("CARGO_BIN_EXE_figs"));
    alone.args(["search", "--resume", bs]).env("OMP_NUM_THREADS", "1");
    let (ok, log) = run(alone);
    assert!(ok && log.contains("resuming"), "{log}");

    for f in ["arch.json", "arch.safetensors", "metrics.jsonl"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs after the resume");
    }
    let kept = std::fs::read_dir(b.join("checkpoints")).unwrap().count();
    assert_eq!(kept, 2, "--keep-checkpoints defaults to 2");

    // --force replaces a run, never a directory that holds something else.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let (ok, log) = run(search(&other, &["--force"]));
    assert!(!ok && log.contains("not a run that figs created") && other.join("notes.txt").is_file(), "{log}");
    let (ok, log) = run(search(&b, &["--force", "--steps", "10"]));
    assert!(ok, "{log}");
    assert!(!b.join(format!("checkpoints/step-{:08}", 200)).exists(), "--force replaced the old run");
}

#[test]
fn bad_settings_leave_no_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bad) in [&["--lambda", "NaN"][..], &["-r", "latency", "-R", "hardware=abacus"], &["--gate-lr", "-1"]]
        .into_iter()
        .enumerate()
    {
        let out = dir.path().join(format!("run{i}"));
        let (ok, log) = run(search(&out, bad));
        assert!(!ok, "{bad:?} was accepted: {log}");
        assert!(!out.exists(), "{bad:?} left {} behind: {log}", out.display());
    }
    let none = dir.path().join("none");
    let (ok, log) = run(search(&none, &["--resume", none.to_str().unwrap()]));
    assert!(!ok && log.contains("no checkpoint"), "{log}");
}

#[test]
fn a_full_disk_at_a_checkpoint_is_one_clear_error_and_leaves_no_half_files() {
    // A stand-in for a full disk that needs no mount: a file-size limit (ulimit -f, with
    // SIGXFSZ ignored so writes fail with EFBIG instead of killing the process). The
    // first checkpoint (~0.9 MB) does not fit; metrics and config do.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cmd = search(&out, &[]);
    let args: Vec<String> = cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())).collect();
    let script = format!("trap '' XFSZ; ulimit -f 400; exec '{}' {}", env!("CARGO_BIN_EXE_figs"), args.join(" "));
    let o = Command::new("sh").args(["-c", &script]).env("OMP_NUM_THREADS", "1").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "a clean error exit, no panic or signal: {err}");
    assert!(err.contains("cannot write") && err.contains("previous checkpoints are intact"), "{err}");
    let ck = out.join("checkpoints");
    let left: Vec<String> = std::fs::read_dir(&ck)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "half-written checkpoint files left behind: {left:?}");
    assert!(out.join("config.json").is_file());
}

#[test]
fn a_diverging_search_exports_its_last_checkpoint_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    let lr = ["--lr", "1e12", "--steps", "20", "--checkpoint-every", "1"];
    let (ok, log) = run(search(&with, &lr));
    assert!(!ok && log.contains("diverged") && log.contains("holds the last checkpoint"), "{log}");
    assert!(with.join("arch.json").is_file() && with.join("arch.safetensors").is_file());
    assert!(with.join("summary.json").is_file(), "the run still reports what it exported");
    let (ok, log) = run(search(&without, &["--lr", "1e12", "--steps", "20", "--checkpoint-every", "0"]));
    assert!(!ok && log.contains("nothing exported"), "{log}");
    assert!(!without.join("arch.json").exists());
}
