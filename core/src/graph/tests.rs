//! Unit tests of validation, grouping and pruning on hand-made graphs.

use super::*;
use crate::testutil::hand_graph;

fn err_of(g: &Graph) -> String {
    match g.analyze() {
        Ok(_) => panic!("graph `{}` should be invalid", g.name),
        Err(e) => e.to_string(),
    }
}

#[test]
fn groups_of_hand_graph() {
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    // a and b are joined by the add; input and classifier groups come first/last.
    assert_eq!(names, ["input", "a", "e", "f", "fc"]);
    let g1 = &a.groups[1];
    assert_eq!(g1.producers.len(), 2);
    assert!(g1.gated && a.groups[2].gated && a.groups[3].gated);
    assert!(!a.groups[0].gated && !a.groups[4].gated, "input and output are never gated");
    // concat composes [G1 | C].
    let cat = g.index_of("cat").unwrap();
    assert_eq!(a.channels[cat], vec![Seg { group: 1, width: 2 }, Seg { group: 2, width: 3 }]);
    assert_eq!(a.shapes[cat].c, 5);
}

#[test]
fn gates_sit_after_bn_or_after_the_conv() {
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let gated: Vec<&str> =
        g.nodes.iter().zip(&a.gate_after).filter(|(_, &x)| x).map(|(n, _)| n.name.as_str()).collect();
    // a feeds both b and the add, b feeds the add, d feeds e and cat: no BN follows them.
    assert_eq!(gated, ["a", "b", "d", "e", "f_bn"]);
}

#[test]
fn unknown_input_is_named() {
    let mut g = hand_graph();
    g.nodes[1].inputs = vec!["nope".into()];
    assert!(err_of(&g).contains("node `b`: unknown input `nope`"), "{}", err_of(&g));
}

#[test]
fn cycle_is_reported() {
    let mut g = hand_graph();
    // a reads b, b reads a.
    g.nodes[0].inputs = vec!["b".into()];
    let e = err_of(&g);
    assert!(e.contains("cycle") && e.contains("a") && e.contains("b"), "{e}");
}

#[test]
fn channel_mismatch_at_add_names_both_inputs() {
    let mut g = hand_graph();
    if let Op::Conv { out, .. } = &mut g.nodes[1].op {
        *out = 3;
    }
    let e = err_of(&g);
    assert!(e.contains("node `add`") && e.contains("`a` (2x4x4)") && e.contains("`b` (3x4x4)"), "{e}");
}

#[test]
fn conv_on_flat_features_is_refused() {
    let mut b = GraphBuilder::new("bad", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let f = b.flatten("flat", &x);
    let c = b.conv("c", &f, 2, 1, 1);
    b.linear("fc", &c, 2);
    let e = b.finish().unwrap_err().to_string();
    assert!(e.contains("node `c`") && e.contains("flat features"), "{e}");
}

#[test]
fn depthwise_width_must_match() {
    let mut g = hand_graph();
    let d = g.index_of("d").unwrap();
    if let Op::Conv { out, .. } = &mut g.nodes[d].op {
        *out = 5;
    }
    assert!(err_of(&g).contains("depthwise conv must keep its input width"));
}

#[test]
fn output_must_be_class_logits() {
    let mut g = hand_graph();
    g.classes = 3;
    assert!(err_of(&g).contains("must output 3 class logits"), "{}", err_of(&g));
}

#[test]
fn duplicate_and_reserved_names() {
    let mut g = hand_graph();
    g.nodes[1].name = "a".into();
    assert!(err_of(&g).contains("two nodes have this name"));
    let mut g = hand_graph();
    g.nodes[0].name = "input".into();
    assert!(err_of(&g).contains("reserved"));
}

#[test]
fn json_round_trip() {
    let g = hand_graph();
    let back = Graph::from_json(&g.to_json()).unwrap();
    assert_eq!(g, back);
    let bad = Graph::from_json("{\"name\": 3}").unwrap_err().to_string();
    assert!(bad.contains("invalid type"), "{bad}");
}

#[test]
fn prune_shrinks_widths() {
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let (p, report) = prune(&g, &a, &[1, 1, 2, 3, 2]).unwrap();
    assert!(report.removed_nodes.is_empty() && report.kept_at_one.is_empty());
    let out = |name: &str| match p.nodes[p.index_of(name).unwrap()].op {
        Op::Conv { out, .. } | Op::Linear { out, .. } => out,
        _ => unreachable!(),
    };
    assert_eq!((out("a"), out("b"), out("d"), out("e"), out("f"), out("fc")), (1, 1, 1, 2, 3, 2));
}

#[test]
fn prune_removes_a_dead_concat_branch() {
    // Group C (conv e) dies: e is removed and the concat becomes an identity of d.
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let (p, report) = prune(&g, &a, &[1, 2, 0, 4, 2]).unwrap();
    assert_eq!(report.removed_nodes, ["e"]);
    let cat = &p.nodes[p.index_of("cat").unwrap()];
    assert_eq!((cat.op.clone(), cat.inputs.clone()), (Op::Identity, vec!["d".to_string()]));
}

#[test]
fn prune_keeps_a_group_that_would_disconnect_the_net() {
    // Group D (conv f) is on the only path to the classifier: kept at width 1.
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let (p, report) = prune(&g, &a, &[1, 2, 3, 0, 2]).unwrap();
    assert_eq!(report.kept_at_one, ["f"]);
    assert!(p.analyze().is_ok());
}

#[test]
fn prune_refuses_partial_ungated_groups() {
    let g = hand_graph();
    let a = g.analyze().unwrap();
    let e = prune(&g, &a, &[1, 2, 3, 4, 1]).unwrap_err().to_string();
    assert!(e.contains("ungated groups keep every channel"), "{e}");
}

#[test]
fn residual_branch_dies_cleanly() {
    // x -> conv r (group R) ; branch: conv e (E) -> conv p (joins R) ; add(r, p).
    let mut b = GraphBuilder::new("res", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let r = b.conv("r", &x, 4, 1, 1);
    let e = b.conv("e", &r, 8, 1, 1);
    let e = b.act("e_act", &e, Act::Relu);
    let pj = b.conv("p", &e, 4, 1, 1);
    let s = b.add("add", &[&r, &pj]);
    let s = b.global_avg_pool("gap", &s);
    let s = b.flatten("flat", &s);
    b.linear("fc", &s, 2);
    let g = b.finish().unwrap();
    let a = g.analyze().unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["input", "r", "e", "fc"]);
    let (p, report) = prune(&g, &a, &[1, 4, 0, 2]).unwrap();
    assert_eq!(report.removed_nodes, ["e", "e_act", "p"]);
    let add = &p.nodes[p.index_of("add").unwrap()];
    assert_eq!(add.op, Op::Identity);
}
