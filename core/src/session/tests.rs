use super::*;

#[test]
fn calls_out_of_order_say_what_comes_first() {
    let mut s = Session::new();
    let e = s.step(1).unwrap_err().to_string();
    assert!(e.starts_with("no search yet"), "{e}");
    let e = s.init().unwrap_err().to_string();
    assert!(e.starts_with("no supernet yet"), "{e}");
    let e = s.retrain(RetrainSpec::seed()).unwrap_err().to_string();
    assert!(e.starts_with("no supernet yet"), "{e}");
    let e = s.compare().unwrap_err().to_string();
    assert!(e.starts_with("nothing retrained yet"), "{e}");
    let e = s.plot(PlotKind::Pareto, None, &[]).unwrap_err().to_string();
    assert!(e.starts_with("no retrained network yet"), "{e}");
    let e = s.data(DataSpec::new("mnist")).unwrap_err().to_string();
    assert!(e.contains("needs a directory"), "{e}");
    let e = s.data(DataSpec::new("imagenet")).unwrap_err().to_string();
    assert!(e.contains("unknown data set `imagenet`"), "{e}");
    let e = s.retrain(RetrainSpec::seed().epochs(0.0)).unwrap_err().to_string();
    assert!(e.contains("epochs") && e.contains("positive"), "{e}");
}

#[test]
fn data_and_a_loaded_supernet() {
    let mut s = Session::new();
    s.set("seed", "3").unwrap();
    let d = s.data(DataSpec::new("synthetic").size(128).limit(100, 20)).unwrap();
    assert_eq!((d.train, d.test, d.image, d.classes), (100, 20, [1, 28, 28], 10));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hand.json");
    crate::testutil::hand_graph().save(&file).unwrap();
    let info = s.load_supernet(&file).unwrap();
    assert_eq!((info.name.as_str(), info.input, info.classes), ("hand", [1, 4, 4], 2));
    assert!(info.groups.iter().any(|g| g.searchable));
    assert!(s.space().is_none());
    assert!(s.set("lambda", "-1").is_err());
    assert_eq!(
        s.get("lambda").unwrap(),
        crate::config::Config::default().search.lambda,
        "a refused value leaves the option"
    );
}
