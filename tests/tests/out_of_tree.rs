//! The out-of-tree template plugin builds with cargo on its own (its own target directory,
//! as a third party would build it), loads through the public loader, searches and exports.
//! The first run compiles tch for the template (several minutes); later runs reuse it.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::search::{Search, SearchConfig};
use figs::space::SearchSpace;
use figs_tests::flops;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// Builds `examples/<dir>` with cargo in its own target directory (shared by the templates,
/// so tch is compiled once) and returns the path of `lib<lib>.so`.
fn build_template(dir: &str, lib: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/plugin-template");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("examples").join(dir).join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building {dir} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    target.join(format!("debug/lib{lib}.so"))
}

#[test]
fn template_plugin_builds_loads_and_searches() {
    let so = build_template("plugin-template", "figs_plugin_template");
    let p = figs::plugin::load(&so).unwrap();
    assert_eq!(p.info().name, "tiny_cnn");
    let mut params = BTreeMap::new();
    params.insert("resolution".to_string(), "16".to_string());
    params.insert("width".to_string(), "8".to_string());
    let g = p.build(&params).unwrap();
    let data = synthetic(256, 32, (1, 16, 16), 10, 2);
    let cfg =
        SearchConfig { device: DeviceChoice::Cpu, batch_size: 32, steps: 20, lambda: 2.0, ..SearchConfig::default() };
    let mut s = Search::new(&g, &data.train, cfg, flops()).unwrap();
    s.run(20, &AtomicBool::new(false), |_| {}).unwrap();
    let (arch, _) = s.export().unwrap();
    let dir = tempfile::tempdir().unwrap();
    arch.save(&dir.path().join("arch.json")).unwrap();
    assert_eq!(figs::graph::Graph::load(&dir.path().join("arch.json")).unwrap(), arch);
}

#[test]
fn template_regularizer_builds_loads_and_regularizes() {
    let so = build_template("regularizer-template", "figs_regularizer_template");
    let reg = figs::plugin::RegularizerPlugin::new(figs::plugin::load(&so).unwrap()).unwrap();
    assert_eq!((reg.info().name.as_str(), reg.info().unit.as_deref()), ("channels", Some("channels")));
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(256, 32, (1, 16, 16), 10, 2);
    let searched: usize = g.analyze().unwrap().groups.iter().filter(|g| g.gated).map(|g| g.width).sum();
    let cfg = SearchConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 30,
        lambda: 20.0,
        gate_lr: 0.2,
        ..SearchConfig::default()
    };
    let mut s = Search::new(&g, &data.train, cfg, std::sync::Arc::new(reg)).unwrap();
    assert_eq!(s.initial_cost(), searched as f64, "the toy cost counts every searched channel");
    s.run(30, &AtomicBool::new(false), |_| {}).unwrap();
    assert!(s.current_cost() < searched as f64, "the penalty closed channels: {}", s.current_cost());
}
