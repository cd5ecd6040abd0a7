use super::*;
use crate::device::DeviceChoice;
use crate::search::Optimizer;

#[test]
fn every_default_reads_back_from_its_text_and_json() {
    let d = Config::default();
    for s in Config::settings() {
        let mut c = Config::default();
        c.set(s.name, &s.default).unwrap_or_else(|e| panic!("{}: default text `{}`: {e}", s.name, s.default));
        assert_eq!(c, d, "{}: `set {} {}` changes the configuration", s.name, s.name, s.default);
    }
    assert_eq!(Config::from_json(&d.to_json()).unwrap(), d);
    d.check().unwrap();
}

#[test]
fn names_are_unique_and_documented() {
    let all = Config::settings();
    let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "a setting name appears twice");
    assert!(all.iter().all(|s| !s.help.is_empty()));
}

#[test]
fn set_checks_and_refuses_without_change() {
    let mut c = Config::default();
    c.set("lambda", "2").unwrap();
    c.set("target", "40us").unwrap();
    c.set("device", "cpu").unwrap();
    c.set("optimizer", "sgd").unwrap();
    c.set("param", "width=0.5 depth=2").unwrap();
    assert_eq!((c.search.lambda, c.run.device, c.search.optimizer), (2.0, DeviceChoice::Cpu, Optimizer::Sgd));
    assert_eq!(c.search.param, ["width=0.5", "depth=2"]);
    assert!((c.target_value("s", "latency").unwrap().unwrap() - 40e-6).abs() < 1e-15);
    assert!(c.target_value("FLOPs", "flops").is_err());
    c.set("target", "off").unwrap();
    assert_eq!(c.search.target, None);
    let before = c.clone();
    for (name, value, says) in [
        ("lr", "-1", "positive"),
        ("straight-through", "maybe", "true or false"),
        ("lambda", "inf", "finite"),
        ("param", "width", "name=value"),
        ("keep-checkpoints", "0", "keep at least 1"),
        ("colour", "red", "no such option"),
    ] {
        let e = c.set(name, value).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains(name), "{name} {value}: {e}");
    }
    assert_eq!(c, before, "a refused value changes nothing");
}

#[test]
fn typed_fields_are_checked_when_used() {
    let mut c = Config::default();
    c.search.lambda = -1.0;
    c.gates.tau = 0.0;
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("lambda") && e.contains("tau"), "{e}");
}

#[test]
fn differences_name_the_settings() {
    let a = Config::default();
    let b = a.clone().with("lambda", "1").unwrap().with("seed", "3").unwrap();
    let names: Vec<&str> = a.differences(&b).iter().map(|d| d.0).collect();
    assert_eq!(names, ["lambda", "seed"]);
}

#[test]
fn engine_defaults_are_the_configuration_defaults() {
    let c = Config::default();
    let s = crate::search::SearchConfig::default();
    assert_eq!(s, c.search_config("", Default::default(), None));
    assert_eq!(crate::gate::GateConfig::default(), c.gate_config());
    let t = crate::train::TrainConfig::default();
    assert_eq!((t.lr, t.batch_size, t.seed), (c.search.lr, c.search.batch_size, c.run.seed));
    let mut c2 = c.clone();
    c2.set("tau-final", "1").unwrap();
    assert_eq!(c2.gate_config().tau_final, None, "tau-final = tau: a constant temperature");
    assert_eq!(c.train_config(1000, 1.5).steps, 11, "1000 / 128 = 7 steps per epoch, × 1.5 = 10.5, rounded");
}
