//! The plugin boundary: the bundled MobileNetV2 plugin loads from its `.so` and builds the
//! same graph as the linked crate; every failure is a clear error and the host lives on.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::plugin;
use figs::search::{Search, SearchConfig};
use figs::space::SearchSpace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

/// target/<profile>, where cargo puts the workspace's cdylibs.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn lib(name: &str) -> PathBuf {
    let p = target_dir().join(format!("lib{name}.so"));
    assert!(p.exists(), "{} is missing: `cargo test` does not build cdylibs, run `cargo build --workspace` first (scripts/test.sh does)", p.display());
    p
}

/// The fixture reads FIGS_FIXTURE_MODE when it is loaded: one loader at a time.
static ENV: Mutex<()> = Mutex::new(());

/// Runs `f`, which may scan the search path, while no fixture mode is set: the fixture that
/// cargo built beside the bundled plugins is on that path, and a scan that caught another
/// test's mode would load it in that mode for the rest of the process.
fn scan<T>(f: impl FnOnce() -> T) -> T {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Loads a fresh copy of the fixture plugin in `mode`.
fn fixture(mode: &str) -> figs::Result<plugin::Plugin> {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap().keep();
    let copy = dir.join(format!("libfixture_{mode}.so"));
    std::fs::copy(lib("figs_fixture_plugin"), &copy).unwrap();
    std::env::set_var("FIGS_FIXTURE_MODE", mode);
    let r = plugin::load(&copy);
    std::env::remove_var("FIGS_FIXTURE_MODE");
    // The loaded library stays mapped without its file; kept, every run of this suite left
    // a 200 MB copy per call in the temp directory.
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn err<T: std::fmt::Debug>(r: figs::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bundled_mobilenet_loads_and_matches_the_linked_crate() {
    let p = scan(|| plugin::find("mobilenet_v2")).unwrap();
    let info = p.info();
    assert_eq!((info.name.as_str(), info.kind.as_str()), ("mobilenet_v2", "search_space"));
    assert!(info.params.iter().any(|s| s.name == "width" && s.default == "1.0"));
    let mut params = BTreeMap::new();
    params.insert("width".to_string(), "0.5".to_string());
    let via_plugin = p.build(&params).unwrap();
    let linked = figs_mobilenet_v2::MobileNetV2.build(&params).unwrap();
    assert_eq!(via_plugin, linked);
    // The same file again is refused, and the host still works.
    let again = err(plugin::load(&info.path));
    assert!(again.contains("already loaded"), "{again}");
    assert!(p.build(&BTreeMap::new()).is_ok());
}

#[test]
fn a_copy_of_a_loaded_plugin_under_another_path_is_refused_by_name() {
    let first = scan(|| plugin::find("mobilenet_v2")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libmy_mobilenet_copy.so");
    std::fs::copy(&first.info().path, &copy).unwrap();
    let e = err(plugin::load(&copy));
    assert!(
        e.contains("libmy_mobilenet_copy.so") && e.contains("a plugin named `mobilenet_v2` is already loaded from"),
        "{e}"
    );
    assert!(e.contains(&first.info().path.display().to_string()), "names the first file: {e}");
    assert!(first.build(&BTreeMap::new()).is_ok(), "the loaded one still works");
}

#[test]
fn a_library_that_declines_is_an_error_when_asked_for_and_skipped_on_the_path() {
    let e = err(fixture(""));
    assert!(e.contains("returned no table") && e.contains("declines"), "{e}");
    // The copy cargo built beside the bundled plugins declines the same way (no mode set),
    // so scanning the search path reports nothing about it and loads nothing from it.
    let bundled = lib("figs_fixture_plugin").canonicalize().unwrap();
    assert!(plugin::discover().iter().any(|p| p.canonicalize().is_ok_and(|c| c == bundled)), "on the path");
    let errors = scan(plugin::load_search_path);
    assert!(plugin::loaded().iter().all(|p| p.info().path != bundled), "the bundled fixture was loaded");
    assert!(errors.iter().all(|e| !e.to_string().contains("fixture")), "{errors:?}");
}

#[test]
fn unknown_parameter_is_named_across_the_boundary() {
    let p = scan(|| plugin::find("mobilenet_v2")).unwrap();
    let mut params = BTreeMap::new();
    params.insert("depth".to_string(), "3".to_string());
    let e = err(p.build(&params));
    assert!(e.contains("mobilenet_v2") && e.contains("no parameter `depth`"), "{e}");
}

#[test]
fn a_file_that_is_not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("libfigs_fake.so");
    std::fs::write(&f, "not an ELF file").unwrap();
    let e = err(plugin::load(&f));
    assert!(e.contains("libfigs_fake.so") && e.contains("not a loadable shared library"), "{e}");
    let e = err(plugin::load(&dir.path().join("missing.so")));
    assert!(e.contains("missing.so") && e.contains("cannot open"), "{e}");
}

#[test]
fn a_library_without_the_entry_symbol() {
    // libz ships with every Debian system; any shared library without the symbol will do.
    let candidates =
        ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libm.so.6"];
    let path = candidates.iter().map(Path::new).find(|p| p.exists()).expect("a system library to load");
    let e = err(plugin::load(path));
    assert!(e.contains("not a figs plugin") && e.contains("figs_plugin_entry"), "{e}");
}

#[test]
fn abi_version_mismatch_names_both_versions() {
    let e = err(fixture("abi"));
    assert!(
        e.contains("ABI version 999") && e.contains(&format!("speaks version {}", plugin::abi::ABI_VERSION)),
        "{e}"
    );
}

#[test]
fn libtorch_version_mismatch_names_both_versions() {
    let e = err(fixture("torch"));
    assert!(e.contains("libtorch 1.13.0") && e.contains("libtorch 2.11.0"), "{e}");
}

/// A short search with the fixture regularizer in `mode`: the error of the first step, if any.
fn search_with(mode: &str) -> (Option<String>, Search) {
    let reg = plugin::RegularizerPlugin::new(fixture(mode).unwrap()).unwrap();
    assert_eq!(reg.info().kind, "regularizer");
    assert_eq!(reg.info().unit.as_deref(), Some("units"));
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(64, 16, (1, 16, 16), 10, 1);
    let cfg = SearchConfig { device: DeviceChoice::Cpu, batch_size: 16, steps: 4, ..SearchConfig::default() };
    let mut s = Search::new(&g, &data.train, cfg, Arc::new(reg)).unwrap();
    let e = s.step().err().map(|e| e.to_string());
    (e, s)
}

#[test]
fn a_regularizer_plugin_runs_a_search() {
    let (e, mut s) = search_with("reg_ok");
    assert_eq!(e, None);
    assert_eq!(s.steps_done(), 1);
    assert!(s.evaluate().is_ok());
}

#[test]
fn bad_penalties_are_clear_errors_and_the_search_survives() {
    for (mode, want) in [
        ("reg_nonscalar", "must be a scalar tensor"),
        ("reg_nan", "the penalty is NaN"),
        ("reg_nograd", "does not depend on r"),
        ("reg_panic", "fixture regularizer asked to panic"),
    ] {
        let (e, mut s) = search_with(mode);
        let e = e.unwrap_or_else(|| panic!("{mode} must fail"));
        assert!(e.contains(want) && e.contains("regularizer `fixture_"), "{mode}: {e}");
        // Nothing was applied, and the session still works.
        assert_eq!(s.steps_done(), 0, "{mode}");
        assert!(s.evaluate().is_ok(), "{mode}");
    }
}

#[test]
fn a_space_is_not_a_regularizer_and_back() {
    let e = err(scan(|| plugin::find_regularizer("mobilenet_v2")));
    assert!(e.contains("no regularizer `mobilenet_v2`") && e.contains("flops"), "{e}");
    let e = err(scan(|| plugin::find("flops")));
    assert!(e.contains("no search space `flops`"), "{e}");
}

#[test]
fn a_panic_in_build_becomes_an_error() {
    let p = fixture("panic").unwrap();
    let e = err(p.build(&BTreeMap::new()));
    assert!(e.contains("panicked") && e.contains("fixture asked to panic"), "{e}");
    // The host survives and can call the plugin again.
    assert!(p.build(&BTreeMap::new()).is_err());
}

#[test]
fn invalid_graphs_from_a_plugin_are_named() {
    let e = err(fixture("badjson").unwrap().build(&BTreeMap::new()));
    assert!(e.contains("not valid JSON"), "{e}");
    let e = err(fixture("cycle").unwrap().build(&BTreeMap::new()));
    assert!(e.contains("invalid graph") && e.contains("cycle"), "{e}");
    let e = err(fixture("mismatch").unwrap().build(&BTreeMap::new()));
    assert!(e.contains("invalid graph") && e.contains("class logits"), "{e}");
    let e = err(fixture("addwidth").unwrap().build(&BTreeMap::new()));
    assert!(e.contains("invalid graph") && e.contains("`sum`") && e.contains("`c`") && e.contains("`d`"), "{e}");
}

#[test]
fn a_well_behaved_fixture_builds() {
    let p = fixture("ok").unwrap();
    let g = p.build(&BTreeMap::new()).unwrap();
    assert_eq!(g.nodes.len(), 4);
}

#[test]
fn unknown_space_lists_what_is_available() {
    let e = err(scan(|| plugin::find("no_such_space")));
    assert!(e.contains("no search space `no_such_space`") && e.contains("mobilenet_v2"), "{e}");
}
