//! The session commands in script mode (`figs run FILE.figs`, `figs -c`): a whole workflow
//! on synthetic data, checked against the files it writes; errors stop a script with its
//! line; every command's help renders.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn figs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_figs"))
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The JSON that command `cmd` printed in a script's output (between its echo and the next).
fn json_after(stdout: &str, cmd: &str) -> Value {
    let echo = format!("figs> {cmd}\n");
    let start = stdout.find(&echo).unwrap_or_else(|| panic!("`{cmd}` not echoed in:\n{stdout}")) + echo.len();
    let rest = &stdout[start..];
    let end = rest.find("figs> ").unwrap_or(rest.len());
    serde_json::from_str(&rest[..end]).unwrap_or_else(|e| panic!("`{cmd}` did not print JSON ({e}):\n{}", &rest[..end]))
}

const WORKFLOW: &str = r#"# a whole FiGS session on synthetic data
data synthetic --size 512
plugins mobilenet_v2 --json
supernet build mobilenet_v2 -p width=0.5
regularizer flops --lambda 4
set device cpu
set batch-size 32
set eval-every 10
init --steps 30
step 20 --json
step \
  10
status --json
gates --json
gates stem.conv
plot heatmap
plot widths
plot curves
export --json
retrain found --epochs 0.25
retrain seed --epochs 0.25
retrain --space mobilenet_v2 -p width=0.25 --epochs 0.25 --baseline
compare --json
plot pareto
"#;

#[test]
fn target_mode_at_the_prompt_reports_how_close_the_export_is() {
    let script = "data synthetic --size 256\nsupernet build mobilenet_v2 -p width=0.35\n\
        regularizer flops --target 1M --json\nset device cpu\nset batch-size 16\ninit --steps 10\n\
        step 5\nstatus --json\nstatus\neval";
    let o = figs().arg("-c").arg(script.replace('\n', ";")).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let reg = json_after(&stdout, "regularizer flops --target 1M --json");
    assert_eq!((reg["unit"].as_str(), reg["target"].as_f64()), (Some("FLOPs"), Some(1e6)), "{reg}");
    let status = json_after(&stdout, "status --json");
    assert_eq!(status["target"].as_f64(), Some(1e6), "{status}");
    let pct = 100.0 * status["cost"].as_f64().unwrap() / 1e6;
    // In target mode the export keeps the best channels that fit, so it lands at or under.
    assert!(pct <= 100.0, "{status}");
    let side = if pct < 100.0 { "under" } else { "exactly" };
    let shown = format!("1.00 M FLOPs; export at {pct:.2}% of it ({side})");
    assert!(stdout.contains(&format!("target              {shown}")), "status shows `{shown}`:\n{stdout}");
    assert!(stdout.contains(&format!("% of supernet); target {shown}")), "eval reports the target:\n{stdout}");
}

#[test]
fn pareto_draws_the_networks_of_earlier_search_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Two `figs search` summaries (their format: repl/src/cmd_job.rs), numbers made up.
    for (run, macs, acc) in [("lambda-0.5", 1_250_000, 0.83), ("lambda-2", 600_000, 0.79)] {
        let d = dir.path().join(run);
        std::fs::create_dir(&d).unwrap();
        let rows = serde_json::json!([
            {"network": "seed", "params": 73_300, "macs": 3_130_000, "test_accuracy": 0.85},
            {"network": "found", "params": 40_000, "macs": macs, "test_accuracy": acc},
        ]);
        std::fs::write(d.join("summary.json"), rows.to_string()).unwrap();
    }
    let no_retrain = dir.path().join("no-retrain");
    std::fs::create_dir(&no_retrain).unwrap();
    std::fs::write(no_retrain.join("summary.json"), r#"[{"network": "seed", "macs": 1, "test_accuracy": null}]"#)
        .unwrap();
    let stem = dir.path().join("p");
    let line =
        // lambda-2 twice (once by another spelling of the path): drawn once.
        format!("plot pareto --run {0}/lambda-0.5 --run {0}/lambda-2 --run {0}/./lambda-2 --out {1}", dir.path().display(), stem.display());
    let o = figs().arg("-c").arg(&line).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.contains("lambda-0.5 found") && svg.contains("lambda-2 found"), "both runs drawn");
    assert!(svg.contains("seed (lambda-0.5, lambda-2)"), "the shared seed is one point");
    let bad = format!("plot pareto --run {}", no_retrain.display());
    let (_, stderr) = text(&figs().arg("-c").arg(&bad).output().unwrap());
    assert!(stderr.contains("no-retrain/summary.json") && stderr.contains("--no-retrain"), "{stderr}");
    let (_, stderr) = text(&figs().arg("-c").arg("plot pareto --run /nonexistent").output().unwrap());
    assert!(stderr.contains("/nonexistent/summary.json"), "{stderr}");
}

#[test]
fn a_script_runs_the_whole_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = dir.path().join("session.figs");
    std::fs::write(&script, format!("set out {}\n{WORKFLOW}", out.display())).unwrap();
    let o = figs().arg("run").arg(&script).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let plugins = json_after(&stdout, "plugins mobilenet_v2 --json");
    assert_eq!(plugins["plugins"][0]["name"], "mobilenet_v2");
    let first = json_after(&stdout, "step 20 --json");
    assert_eq!((first["step"].as_u64(), first["steps_run"].as_u64()), (Some(20), Some(20)), "{first}");
    assert_eq!(first["last_step"]["step"], 20, "{first}");
    let status = json_after(&stdout, "status --json");
    assert_eq!(status["step"], 30, "two `step` commands (one continued over two lines)");
    assert_eq!(status["regularizer"], "flops");
    assert_eq!(status["lambda"], 4.0);
    let gates = json_after(&stdout, "gates --json");
    let alive: u64 = gates["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["searched"] == true)
        .map(|g| g["alive"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(alive), status["alive_channels"].as_u64());
    for f in [
        "heatmap.svg",
        "heatmap.png",
        "widths.svg",
        "curves.svg",
        "curves.png",
        "pareto.svg",
        "pareto.png",
        "arch.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing; stdout:\n{stdout}");
    }
    let heat = std::fs::read_to_string(out.join("heatmap.svg")).unwrap();
    assert!(heat.contains("stem.conv"), "the heat map names the groups");
    // The retrained `found` network is the exported arch.json.
    let arch = figs::graph::Graph::load(&out.join("arch.json")).unwrap();
    let counts = figs::count::count(&arch, &arch.analyze().unwrap());
    let exported = json_after(&stdout, "export --json");
    assert_eq!(exported["macs"].as_u64(), Some(counts.macs), "{exported}");
    let cmp = json_after(&stdout, "compare --json");
    let found = cmp.as_array().unwrap().iter().find(|r| r["network"] == "found").unwrap();
    let seed = cmp.as_array().unwrap().iter().find(|r| r["network"] == "seed").unwrap();
    assert_eq!(found["macs"].as_u64(), Some(counts.macs));
    assert!(found["macs"].as_u64() <= seed["macs"].as_u64());
    let narrow = cmp.as_array().unwrap().iter().find(|r| r["network"] == "mobilenet_v2 width=0.25").unwrap();
    assert!(narrow["macs"].as_u64() < seed["macs"].as_u64(), "a quarter-width seed is smaller: {cmp}");
    let acc = found["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(stdout.contains("stem.conv:") && stdout.contains("logit a"), "gates GROUP shows channels:\n{stdout}");
}

#[test]
fn a_failing_line_stops_the_script_and_names_it() {
    let o = figs().args(["-c", "get lr; set lr -1; get lr"]).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stderr.contains("-c, line 2") && stderr.contains("invalid setting `lr`: `-1` is not valid"), "{stderr}");
    assert_eq!(stdout.matches("figs> get lr").count(), 1, "nothing after the failing line ran:\n{stdout}");
}

#[test]
fn session_errors_name_the_missing_step() {
    for (cmd, want) in [
        ("step", "no search yet"),
        ("init", "no supernet yet"),
        ("export", "no search yet"),
        ("retrain seed", "no supernet yet"),
        ("data cifar10", "needs a directory"),
        ("supernet build no_such_space", "no search space `no_such_space`"),
        ("regularizer no_such_reg", "no regularizer `no_such_reg`"),
        ("set device tpu", "unknown device `tpu`"),
        ("bogus", "unrecognized subcommand"),
    ] {
        let o = figs().args(["-c", cmd]).output().unwrap();
        let (_, stderr) = text(&o);
        assert!(!o.status.success(), "{cmd}");
        assert!(stderr.contains(want), "{cmd}: {stderr}");
    }
}

#[test]
fn cuda_on_a_machine_without_it_fails_at_init_and_the_session_goes_on() {
    // A GPU, where there is one, is hidden from the process: the check runs everywhere.
    let o = figs()
        .env("CUDA_VISIBLE_DEVICES", "-1")
        .args(["-c", "data synthetic --size 128; supernet build mobilenet_v2 -p width=0.25; set device cuda; supernet show; init"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(stdout.contains("device unavailable here (option cuda:0)"), "supernet show says so: {stdout}");
    assert!(stderr.contains("line 5") && stderr.contains("cuda"), "{stderr}");
}

#[test]
fn a_superblock_space_and_a_loaded_plugin_file_at_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    // A plugin file outside the search path, loaded by hand: a copy of the bundled `flops`.
    let bundled = Path::new(env!("CARGO_BIN_EXE_figs")).with_file_name("libfigs_flops.so");
    let copy = dir.path().join("libmy_flops.so");
    std::fs::copy(&bundled, &copy).unwrap();
    let stem = dir.path().join("branches");
    let script = format!(
        "set out {2}; plugins flops --load {0} --json; plugins --load {0}; data synthetic --size 128; \
         supernet build fbnet -p kernels=3,5 -p width=0.5; set device cpu; set batch-size 16; \
         regularizer flops --lambda 20; init --gate-lr 0.3; step 10; plot branches --out {1}; export --json",
        copy.display(),
        stem.display(),
        dir.path().join("out").display()
    );
    let o = figs().arg("-c").arg(&script).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let listed = json_after(&stdout, &format!("plugins flops --load {} --json", copy.display()));
    assert_eq!(listed["plugins"][0]["path"], copy.canonicalize().unwrap().display().to_string(), "{listed}");
    // The bundled file of the same name is then refused, and said so.
    assert!(listed["errors"].to_string().contains("a plugin named `flops` is already loaded"), "{listed}");
    // Loading the same file again is a note, not an error that would stop the script.
    assert!(stderr.contains("libmy_flops.so is already loaded (plugin `flops`)"), "{stderr}");
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.contains("block1"), "the branch chart names the superblocks");
    let exported = json_after(&stdout, "export --json");
    assert!(exported["macs"].as_u64().is_some_and(|m| m > 0), "{exported}");
    assert!(dir.path().join("out/arch.json").is_file(), "the export went to `set out`");
}

/// The command names under `Commands:` in a help text, without `help` itself.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|n| n != "help")
        .collect()
}

#[test]
fn an_export_that_pruned_nothing_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    // Two Adam steps move a gate logit from 2.5 by about 2 × 0.05: nothing can close.
    let script = format!(
        "set out {}; data synthetic --size 128; supernet build mobilenet_v2 -p width=0.25; set device cpu; \
         set batch-size 16; init; step 2; export",
        dir.path().display()
    );
    let o = figs().arg("-c").arg(&script).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("note: nothing was pruned") && stderr.contains("Raise λ"), "{stderr}");
}

#[test]
fn every_command_has_help() {
    let o = figs().arg("--help").output().unwrap();
    let (top, _) = text(&o);
    let names = listed_commands(&top);
    assert!(names.len() >= 18, "{names:?}");
    let mut nested = 0;
    for n in &names {
        let o = figs().args(["-c", &format!("help {n}")]).output().unwrap();
        let (stdout, stderr) = text(&o);
        assert!(o.status.success() && stdout.contains("Usage:"), "help {n}: {stdout}{stderr}");
        // A command with subcommands lists them: each has its own help too.
        for sub in listed_commands(&stdout) {
            let o = figs().args(["-c", &format!("help {n} {sub}")]).output().unwrap();
            let (stdout, stderr) = text(&o);
            assert!(o.status.success() && stdout.contains("Usage:"), "help {n} {sub}: {stdout}{stderr}");
            nested += 1;
        }
    }
    assert_eq!(nested, 3, "supernet build, load, show");
    let o = figs().args(["-c", "help supernet build"]).output().unwrap();
    assert!(text(&o).0.contains("--param"));
}

#[test]
fn scripts_and_the_shell_share_the_command_table() {
    // `figs get lr` in a shell and `get lr` in a script print the same.
    let a = figs().args(["get", "lr"]).output().unwrap();
    let b = figs().args(["-c", "get lr"]).output().unwrap();
    assert_eq!(text(&a).0.trim(), text(&b).0.trim_start_matches("figs> get lr\n").trim());
    let missing = Path::new("/nonexistent/x.figs");
    let o = figs().arg("run").arg(missing).output().unwrap();
    assert!(text(&o).1.contains("cannot read script /nonexistent/x.figs"));
}

#[test]
fn the_main_job_script_is_valid_and_check_catches_a_bad_line() {
    // examples/main-job.figs takes minutes on real data; `run --check` parses every line.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/main-job.figs");
    let o = figs().arg("run").arg("--check").arg(&path).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success() && stdout.contains("all valid"), "{stdout}{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.figs");
    std::fs::write(&bad, "data synthetic\nstep --epochs\n").unwrap();
    let o = figs().arg("run").arg("--check").arg(&bad).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(!o.status.success() && stderr.contains("line 2"), "{stdout}{stderr}");
    assert!(!stdout.contains("data: synthetic"), "check runs nothing: {stdout}");
}

#[test]
fn ctrl_c_stops_a_script_after_the_interrupted_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = format!(
        "set out {}; data synthetic --size 256; supernet build mobilenet_v2 -p width=0.25; set device cpu; \
         set batch-size 16; init; step 100000; export",
        out.display()
    );
    let child = figs()
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stdout.contains("stopped by Ctrl-C after"), "{stdout}");
    assert!(stderr.contains("stopped by Ctrl-C after line 7"), "{stderr}");
    assert!(!stdout.contains("figs> export") && !out.join("arch.json").exists(), "the script stopped: {stdout}");
}

#[test]
fn a_target_in_the_wrong_unit_is_refused_and_changes_nothing() {
    let o = figs().args(["-c", "regularizer latency --target 2M"]).output().unwrap();
    let (_, stderr) = text(&o);
    assert!(stderr.contains("`latency` measures time") && stderr.contains("40us"), "{stderr}");
    let o = figs().args(["-c", "regularizer flops --target 40us"]).output().unwrap();
    assert!(text(&o).1.contains("`40us` is a time"), "{}", text(&o).1);
    let o = figs().args(["-c", "regularizer model_size --target 2k"]).output().unwrap();
    assert!(text(&o).0.contains("target 2.0 k weights"), "{}", text(&o).0);
}

#[test]
fn export_writes_weights_and_a_pytorch_module_and_retrain_can_start_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let (out, pt, pt2) = (dir.path().join("out"), dir.path().join("pt"), dir.path().join("pt2"));
    let script = format!(
        "data synthetic --size 256; supernet build mobilenet_v2 -p width=0.35; regularizer flops --lambda 4; \
         set device cpu; set batch-size 32; set out {}; init --steps 10; step 10; export --pytorch {} --json; \
         retrain found --init search --epochs 0.25 --json",
        out.display(),
        pt.display()
    );
    let o = figs().arg("-c").arg(&script).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for f in [out.join("arch.json"), out.join("arch.safetensors"), pt.join("model.py"), pt.join("arch.safetensors")] {
        assert!(f.is_file(), "{} missing; stdout:\n{stdout}", f.display());
    }
    let module = std::fs::read_to_string(pt.join("model.py")).unwrap();
    assert!(module.contains("class FoundNet(nn.Module)") && !module.contains("figs import"), "{module}");
    let retrained = json_after(&stdout, "retrain found --init search --epochs 0.25 --json");
    assert_eq!(retrained["result"]["init"], "search", "{retrained}");

    // In a shell, an earlier export converts without a search, to ONNX too.
    let arch = out.join("arch.json");
    let o = figs().args(["export", "--onnx", "--from"]).arg(&arch).arg("--pytorch").arg(&pt2).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success() && pt2.join("model.py").is_file(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(pt2.join("model.onnx").is_file() && stdout.contains("onnxruntime"), "stdout:\n{stdout}");
    let o = figs().args(["export", "--onnx"]).arg(&arch).output().unwrap();
    let (_, stderr) = text(&o);
    assert!(!o.status.success() && stderr.contains("--pytorch"), "--onnx needs the module's directory: {stderr}");
    assert_eq!(
        std::fs::read(pt2.join("arch.safetensors")).unwrap(),
        std::fs::read(out.join("arch.safetensors")).unwrap()
    );

    // Padded for the runtimes: every searched width a multiple of 8, checked by the ONNX
    // exporter against the padded module (core's export::pad tests hold it to the unpadded
    // network's outputs).
    let pt3 = dir.path().join("pt3");
    let o = figs()
        .args(["export", "--onnx", "--pad-to", "8", "--from"])
        .arg(&arch)
        .arg("--pytorch")
        .arg(&pt3)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success() && pt3.join("model.onnx").is_file(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let padded: serde_json::Value = serde_json::from_slice(&std::fs::read(pt3.join("arch.json")).unwrap()).unwrap();
    let outs: Vec<u64> = padded["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["op"] == "conv" && n["searchable"] != false)
        .map(|n| n["out"].as_u64().unwrap())
        .collect();
    assert!(outs.iter().all(|w| w % 8 == 0), "conv widths {outs:?}");

    // An earlier export fine-tunes from its own weight file.
    let script = format!(
        "data synthetic --size 128; set device cpu; retrain {} --init search --epochs 0.1 --json",
        arch.display()
    );
    let o = figs().arg("-c").arg(&script).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success() && stdout.contains("\"init\": \"search\""), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // A missing weight file and `--init search` of a network without search weights are errors.
    std::fs::remove_file(out.join("arch.safetensors")).unwrap();
    let o = figs().args(["export", "--from"]).arg(&arch).arg("--pytorch").arg(&pt2).output().unwrap();
    let (_, stderr) = text(&o);
    assert!(!o.status.success() && stderr.contains("arch.safetensors"), "{stderr}");
    let o = figs()
        .args(["-c", "data synthetic --size 64; supernet build mobilenet_v2 -p width=0.25; retrain seed --init search"])
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert!(!o.status.success() && stderr.contains("--init search"), "{stderr}");
}

#[test]
fn a_script_that_runs_itself_is_refused_and_check_validates_values() {
    // Issue 11, defect 4: self-recursion overflowed the stack (abort) and `run --check`
    // passed both it and `set lr banana`.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.figs");
    let b = dir.path().join("b.figs");
    std::fs::write(&a, format!("get seed\nrun {}\n", b.display())).unwrap();
    std::fs::write(&b, format!("run {}\n", a.display())).unwrap();
    for args in [vec!["run"], vec!["run", "--check"]] {
        let o = figs().args(&args).arg(&a).output().unwrap();
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("runs itself") && stderr.contains("b.figs"), "{args:?}: {stderr}");
    }
    let bad = dir.path().join("bad.figs");
    std::fs::write(&bad, "get lr\nset lr banana\n").unwrap();
    let o = figs().args(["run", "--check"]).arg(&bad).output().unwrap();
    let (_, stderr) = text(&o);
    assert!(!o.status.success() && stderr.contains("line 2") && stderr.contains("banana"), "{stderr}");
}

#[test]
fn save_and_load_continue_a_search_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let setup = "data synthetic --size 256; supernet build mobilenet_v2 -p width=0.25; set device cpu; \
                 set batch-size 32; init --steps 20";
    let straight = figs().args(["-c", &format!("{setup}; step 20; status --json")]).output().unwrap();
    let script = format!("{setup}; step 8; save {0}; save {0}; step 5; load {0}; step 12; status --json", ck.display());
    let o = figs().args(["-c", &script]).output().unwrap();
    let (stdout, stderr) = text(&o);
    // The second `save` to the same path is refused and stops the script: run the rest
    // without it.
    assert!(!o.status.success() && stderr.contains("never overwrites"), "{stderr}");
    let script = format!("{setup}; load {}; step 12; status --json", ck.display());
    let o = figs().args(["-c", &script]).output().unwrap();
    let (stdout2, stderr2) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stdout2}\n{stderr2}");
    let (a, _) = text(&straight);
    // Everything but the count of steps since the last export/save/load.
    let status = |out: &str| {
        let mut v = json_after(out, "status --json");
        v.as_object_mut().unwrap().remove("unexported_steps");
        v
    };
    assert_eq!(status(&stdout2), status(&a), "loaded run differs");
    let o = figs().args(["-c", &format!("{setup}; load {}", dir.path().display())]).output().unwrap();
    assert!(!o.status.success() && text(&o).1.contains("checkpoint directory"), "{}", text(&o).1);
}
