//! The fault suite: each test replays one fault of docs/FAULTS.md through the `figs`
//! binary, as a user would meet it, and checks that it is handled: a clear error that
//! names the problem and the fix, nothing lost, no crash.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn figs() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_figs"));
    c.env("OMP_NUM_THREADS", "1").env_remove("WORLD_SIZE").env_remove("RANK");
    c
}

/// A small synthetic search on the CPU into `out` with `extra` flags.
fn search(out: &Path, extra: &[&str]) -> Command {
    search_on(out, "128", extra)
}

/// [`search`] on the first `limit` training examples.
fn search_on(out: &Path, limit: &str, extra: &[&str]) -> Command {
    let mut c = figs();
    c.args(["search", "--synthetic", "--train-limit", limit, "--test-limit", "32", "--device", "cpu"])
        .args(["--threads", "1", "--batch-size", "32", "--no-retrain", "--out"])
        .arg(out)
        .args(extra);
    c
}

/// `figs -c TEXT`: commands separated by `;` in one session.
fn commands(text: &str) -> Command {
    let mut c = figs();
    c.args(["-c", text]);
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(mut c: Command) -> (Option<i32>, String) {
    let o = c.output().unwrap();
    (o.status.code(), text(&o))
}

/// FAULTS.md 1: `--force` on a directory that only looks like a run (a `checkpoints/` dir)
/// deleted the user's files.
#[test]
fn force_never_removes_files_figs_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    std::fs::create_dir_all(p.join("checkpoints")).unwrap();
    std::fs::write(p.join("thesis.tex"), "x").unwrap();
    std::fs::write(p.join("config.json"), "{}").unwrap();
    let (code, log) = run(search(&p, &["--steps", "1", "--force"]));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("not a run that figs created") && log.contains("--out"), "{log}");
    assert!(p.join("thesis.tex").is_file() && p.join("config.json").is_file(), "{log}");

    // A real run with a user's file added later: refused, naming the file.
    let r = dir.path().join("r");
    let (code, log) = run(search(&r, &["--steps", "1"]));
    assert_eq!(code, Some(0), "{log}");
    std::fs::create_dir_all(r.join("data")).unwrap();
    std::fs::write(r.join("checkpoints/notes.md"), "mine").unwrap();
    let (code, log) = run(search(&r, &["--steps", "1", "--force"]));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("did not write") && log.contains("checkpoints/notes.md") && log.contains("data"), "{log}");
    assert!(r.join("checkpoints/notes.md").is_file() && r.join("arch.json").is_file());

    // Once they are gone, --force replaces the run.
    std::fs::remove_file(r.join("checkpoints/notes.md")).unwrap();
    std::fs::remove_dir(r.join("data")).unwrap();
    let (code, log) = run(search(&r, &["--steps", "2", "--force"]));
    assert_eq!(code, Some(0), "{log}");
}

/// FAULTS.md 14: `--out . --force` in a folder holding a `config.json` emptied the folder.
#[test]
fn force_on_the_working_directory_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{\"mine\": 1}").unwrap();
    std::fs::write(dir.path().join("train.py"), "print(1)").unwrap();
    let mut c = search(Path::new("."), &["--steps", "1", "--force"]);
    c.current_dir(dir.path());
    let (code, log) = run(c);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("not a run that figs created"), "{log}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("config.json")).unwrap(), "{\"mine\": 1}");
}

/// FAULTS.md 18 (in part): a non-empty `--out` that is no run must not suggest `--force`.
#[test]
fn a_foreign_out_directory_is_not_offered_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let (code, log) = run(search(dir.path(), &["--steps", "1"]));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("not a figs run") && !log.contains("--force"), "{log}");
}

/// FAULTS.md 15: two searches on one run directory at once mixed their files.
#[test]
fn a_second_search_on_a_run_in_progress_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let (code, log) = run(search(&r, &["--steps", "1"]));
    assert_eq!(code, Some(0), "{log}");
    let mut first =
        search(&r, &["--steps", "100000", "--force"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // The first run holds the lock once it has written its config.
    let start = Instant::now();
    let config = r.join("config.json");
    let old = std::fs::metadata(&config).unwrap().modified().unwrap();
    while std::fs::metadata(&config).map(|m| m.modified().unwrap() == old).unwrap_or(true)
        && start.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, log) = run(search(&r, &["--steps", "1", "--force"]));
    let (code2, log2) = run(search(&r, &["--steps", "100000", "--resume", r.to_str().unwrap()]));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("in use by figs process") && log.contains(&first.id().to_string()), "{log}");
    assert_eq!(code2, Some(1), "{log2}");
    assert!(log2.contains("in use by figs process"), "{log2}");
    // The dead holder's lock is taken over.
    let (code, log) = run(search(&r, &["--steps", "1", "--force"]));
    assert_eq!(code, Some(0), "{log}");
}

/// FAULTS.md 2: `--resume` continued a run on other data (another limit, another source),
/// indexing another order with its saved batch position.
#[test]
fn resume_on_other_data_is_refused_naming_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let rs = r.to_str().unwrap().to_string();
    let base = ["--steps", "20", "--checkpoint-every", "10", "--eval-every", "0"];
    let (code, log) = run(search_on(&r, "128", &base));
    assert_eq!(code, Some(0), "{log}");
    // The same flags but 96 examples: refused as a setting that differs from the saved ones…
    let more = ["--steps", "20", "--checkpoint-every", "10", "--eval-every", "0", "--resume", &rs];
    let (code, log) = run(search_on(&r, "96", &more));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("--train-limit 96") && log.contains("the run has 128"), "{log}");
    // …and, for a run whose config.json holds no settings (an older figs), by the
    // checkpoint's data fingerprint: the checkpoint at step 20 does not fit.
    let cfg = r.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("config");
    std::fs::write(&cfg, v.to_string()).unwrap();
    let (code, log) = run(search_on(&r, "96", &more));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("other training data") && log.contains("examples"), "{log}");
    // The same limit resumes.
    let (code, log) = run(search_on(&r, "128", &more));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("resuming"), "{log}");
}

/// FAULTS.md 2: the prompt's `load` checks the data and the rank count as `--resume` does.
#[test]
fn load_at_the_prompt_checks_the_data_and_the_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let setup = |size: usize| {
        format!("data synthetic --size {size}; supernet build mobilenet_v2 -p width=0.25; set device cpu; set batch-size 32")
    };
    let (code, log) = run(commands(&format!("{}; init --steps 10; step 4; save {}", setup(256), ck.display())));
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = run(commands(&format!("{}; load {}", setup(200), ck.display())));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("other training data") && log.contains("examples"), "{log}");
    // A checkpoint of a 2-rank search cannot continue in one process.
    let manifest = ck.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["world"] = 2.into();
    std::fs::write(&manifest, m.to_string()).unwrap();
    let (code, log) = run(commands(&format!("{}; load {}", setup(256), ck.display())));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("2 rank(s)") && log.contains("--nproc-per-node 2"), "{log}");
}

/// FAULTS.md 6: two searches in one `out` shared `checkpoints/`: the second one's were
/// skipped or pruned, and `load` restored the first search without a word. Now the second
/// search saves none and says why; the first one's stay as they were.
#[test]
fn a_second_search_never_mixes_its_checkpoints_with_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "data synthetic --size 256; supernet build mobilenet_v2 -p width=0.25; set device cpu; set batch-size 32; \
         set out {}; set checkpoint-every 5; set eval-every 0; init --steps 10; step 10; init --steps 10; step 10",
        dir.path().display()
    );
    let (code, log) = run(commands(&script));
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("another search") && log.contains("set out DIR") && log.contains("saves no checkpoints"),
        "{log}"
    );
    let ids: std::collections::BTreeSet<String> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .map(|e| {
            let m = std::fs::read_to_string(e.unwrap().path().join("manifest.json")).unwrap();
            serde_json::from_str::<serde_json::Value>(&m).unwrap()["search_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "the checkpoints of one search only: {ids:?}");
    // The first search's checkpoints are all there.
    let ck = dir.path().join("checkpoints");
    assert!(ck.join("step-00000005").is_dir() && ck.join("step-00000010").is_dir(), "{log}");
}

/// FAULTS.md 18: a damaged newest checkpoint sent the user to resume an older one, which
/// was refused; now resume falls back to the newest intact one and says so.
#[test]
fn resume_passes_over_a_damaged_checkpoint_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let rs = r.to_str().unwrap().to_string();
    let args = ["--steps", "20", "--checkpoint-every", "10", "--eval-every", "0"];
    let (code, log) = run(search(&r, &args));
    assert_eq!(code, Some(0), "{log}");
    let newest = r.join("checkpoints/step-00000020/weights.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let (code, log) =
        run(search(&r, &["--steps", "20", "--checkpoint-every", "10", "--eval-every", "0", "--resume", &rs]));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("damaged checkpoint") && log.contains("step 10"), "{log}");
}

/// FAULTS.md 18: a run stopped before its first checkpoint: `--resume` said "run without
/// --resume", and without it figs said "pass --resume". Now the advice is --force.
#[test]
fn a_run_without_checkpoints_is_not_sent_in_circles() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let (code, log) = run(search(&r, &["--steps", "2", "--checkpoint-every", "0"]));
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = run(search(&r, &["--steps", "2", "--resume", r.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("--force") && !log.contains("run without --resume"), "{log}");
    let (code, log) = run(search(&r, &["--steps", "2", "--force"]));
    assert_eq!(code, Some(0), "{log}");
}

/// Waits until `run`'s metrics hold `lines` lines (the search is stepping).
fn wait_for_steps(run: &Path, lines: usize) {
    let start = Instant::now();
    let stepping =
        || std::fs::read_to_string(run.join("metrics.jsonl")).map(|t| t.lines().count() >= lines).unwrap_or(false);
    while !stepping() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stepping(), "the search never started stepping");
}

/// FAULTS.md 17: SIGTERM (what `timeout` and Slurm send) killed the search and lost every
/// step since the last checkpoint. Now it stops after the step, checkpoints, exports and
/// exits non-zero.
#[test]
fn sigterm_stops_checkpoints_exports_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let child = search(&r, &["--steps", "100000", "--eval-every", "0", "--checkpoint-every", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_steps(&r, 3);
    // SAFETY: signals a child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains("stopped by SIGTERM") && log.contains("--resume"), "{log}");
    assert!(r.join("arch.json").is_file() && r.join("model.py").is_file(), "{log}");
    let saved = std::fs::read_dir(r.join("checkpoints")).unwrap().count();
    assert_eq!(saved, 1, "the stop's checkpoint: {log}");
}

/// FAULTS.md 16: `figs search … | head -1` died of SIGPIPE with nothing exported. Now the
/// search goes on, exports, and run.log holds the whole report.
#[test]
fn a_closed_stdout_does_not_kill_the_search() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let mut child = search(&r, &["--steps", "30"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is gone: every later write to stdout fails with EPIPE.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{first}{}", text(&o));
    assert!(r.join("arch.json").is_file() && r.join("summary.json").is_file());
    let log = std::fs::read_to_string(r.join("run.log")).unwrap();
    assert!(log.contains("figs search:") && log.contains("seed vs found"), "{log}");
}

/// FAULTS.md 16 and 19: values that were silently accepted (or ran away) are refused
/// before anything is written, each naming the problem and the fix.
#[test]
fn silently_accepted_values_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--target-macs", "1"], &["below the smallest network", "MACs"]),
        (&["--target-macs", "100M"], &["not below the supernet's cost"]),
        (&["--batch-size", "1000000000"], &["larger than the training split", "give at most"]),
        (&["--keep-checkpoints", "0"], &["--keep-checkpoints: `0` is not valid: keep at least 1"]),
        (&["--data", "/somewhere"], &["cannot be used with"]),
        (&["--lambda", "inf"], &["finite number"]),
        (&["--threads", "1000"], &["logical cores", "give at most"]),
    ];
    for (i, (flags, want)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        let (code, log) = run(search(&out, &[&["--steps", "2"], *flags].concat()));
        assert_ne!(code, Some(0), "{flags:?} was accepted: {log}");
        assert!(want.iter().all(|w| log.contains(w)), "{flags:?}: {log}");
        assert!(!log.contains("panicked"), "{flags:?}: {log}");
        assert!(!out.exists(), "{flags:?} left {} behind", out.display());
    }
    let (code, log) = run({
        let mut c = search(&dir.path().join("rank"), &["--steps", "2"]);
        c.env("RANK", "1");
        c
    });
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("RANK=1") && log.contains("WORLD_SIZE"), "{log}");
    let (code, log) = run(commands("set threads 100000"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("logical cores"), "{log}");
    let (code, log) = run({
        let mut c = figs();
        c.arg("plugins").env("FIGS_PLUGIN_PATH", "/nonexistent/plugins");
        c
    });
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("FIGS_PLUGIN_PATH names /nonexistent/plugins, which does not exist"), "{log}");
}

/// FAULTS.md 20: under a file-size limit metrics.jsonl got half a line, and the error
/// surfaced only after the whole search. Now the search stops at the failed write and the
/// file ends with its last whole line.
#[test]
fn a_failed_metrics_write_stops_the_search_and_leaves_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let cmd = search(&r, &["--steps", "100000", "--eval-every", "0", "--checkpoint-every", "0"]);
    let args: Vec<String> = cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())).collect();
    // 40 blocks of 512 bytes: config and supernet fit, about 95 steps of metrics do.
    let script = format!("trap '' XFSZ; ulimit -f 40; exec '{}' {}", env!("CARGO_BIN_EXE_figs"), args.join(" "));
    let o = Command::new("sh").args(["-c", &script]).env("OMP_NUM_THREADS", "1").output().unwrap();
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains("cannot write") && log.contains("metrics.jsonl") && log.contains("--resume"), "{log}");
    let metrics = std::fs::read_to_string(r.join("metrics.jsonl")).unwrap();
    assert!(metrics.ends_with('\n'), "metrics.jsonl ends in half a line");
    for l in metrics.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("a half line ({e}): {l}"));
    }
    let steps = metrics.lines().count();
    assert!(steps > 10 && steps < 1000, "the search ran on after the failed write ({steps} lines)");
}

/// FAULTS.md 20: `model.py` loading a truncated `arch.safetensors` raised raw shape or
/// struct errors. Now it says the weights file is damaged and to export it again.
#[test]
fn model_py_says_a_truncated_weights_file_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let (code, log) = run(search(&r, &["--steps", "2"]));
    assert_eq!(code, Some(0), "{log}");
    let weights = r.join("arch.safetensors");
    let whole = std::fs::read(&weights).unwrap();
    let venv = std::env::var("FIGS_TORCH_VENV").expect("FIGS_TORCH_VENV (set by scripts/setup.sh)");
    for cut in [whole.len() / 2, 4, 12] {
        std::fs::write(&weights, &whole[..cut]).unwrap();
        let o = Command::new(format!("{venv}/bin/python"))
            .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); from model import load; load()"])
            .arg(&r)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "cut at {cut}: loaded");
        assert!(err.contains("arch.safetensors is damaged") && err.contains("export it again"), "cut at {cut}: {err}");
    }
}
