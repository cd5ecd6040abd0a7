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
fn an_invalid_graph_file_is_named_with_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.json");
    let mut g = hand_graph();
    g.nodes[1].inputs = vec!["nope".into()];
    std::fs::write(&p, g.to_json()).unwrap();
    let e = Graph::load(&p).unwrap_err().to_string();
    assert!(e.contains("bad.json: graph error at node `b`: unknown input `nope`"), "{e}");
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

/// x -> conv r (group R); `branch` of r ends in a conv joining R; add(r, branch); head.
fn residual(branch: impl FnOnce(&mut GraphBuilder, &T) -> T) -> Graph {
    let mut b = GraphBuilder::new("res", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let r = b.conv("r", &x, 4, 1, 1);
    let pj = branch(&mut b, &r);
    let s = b.add("add", &[&r, &pj]);
    let s = b.global_avg_pool("gap", &s);
    let s = b.flatten("flat", &s);
    b.linear("fc", &s, 2);
    b.finish().unwrap()
}

#[test]
fn residual_branch_dies_cleanly() {
    // branch: conv e (E) -> relu -> conv p (joins R).
    let g = residual(|b, r| {
        let e = b.conv("e", r, 8, 1, 1);
        let e = b.act("e_act", &e, Act::Relu);
        b.conv("p", &e, 4, 1, 1)
    });
    let a = g.analyze().unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["input", "r", "e", "fc"]);
    let (p, report) = prune(&g, &a, &[1, 4, 0, 2]).unwrap();
    assert_eq!(report.removed_nodes, ["e", "e_act", "p"]);
    let add = &p.nodes[p.index_of("add").unwrap()];
    assert_eq!(add.op, Op::Identity);
}

#[test]
fn a_residual_branch_with_a_batch_norm_folds_its_shift_into_the_add() {
    let g = residual(|b, r| {
        let e = b.conv("e", r, 8, 1, 1);
        let pj = b.conv("p", &e, 4, 1, 1);
        b.bn("p_bn", &pj)
    });
    let a = g.analyze().unwrap();
    let (p, report) = prune(&g, &a, &[1, 4, 0, 2]).unwrap();
    assert_eq!(report.removed_nodes, ["e", "p", "p_bn"]);
    assert_eq!(report.folded, [Folded { node: "add".into(), from: vec!["p_bn".into()] }]);
    let add = &p.nodes[p.index_of("add").unwrap()];
    assert_eq!((add.op.clone(), add.inputs.clone()), (Op::Add { bias: true }, vec!["r".to_string()]));
}

/// Two blocks on a stream: block 1 is two parallel branches without a skip (like an FBNet
/// superblock at stride 2), block 2 one branch with a skip.
fn two_superblocks() -> Graph {
    let mut b = GraphBuilder::new("sb", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let s = b.conv("stem", &x, 4, 1, 1);
    let e1 = b.conv("e1", &s, 6, 1, 1);
    let p1 = b.conv("p1", &e1, 4, 1, 1);
    let e2 = b.conv("e2", &s, 6, 1, 1);
    let p2 = b.conv("p2", &e2, 4, 1, 1);
    let y = b.add("sum1", &[&p1, &p2]);
    let e3 = b.conv("e3", &y, 6, 1, 1);
    let p3 = b.conv("p3", &e3, 4, 1, 1);
    let z = b.add("sum2", &[&y, &p3]);
    let z = b.global_avg_pool("gap", &z);
    let z = b.flatten("flat", &z);
    b.linear("fc", &z, 2);
    b.finish().unwrap()
}

#[test]
fn prune_keeps_only_the_dead_groups_that_must_stay() {
    // Every branch of block 1 and the one branch of block 2 die. Block 1 cannot lose both
    // branches (nothing would reach the classifier), so one stays at width 1; block 2's
    // branch still goes. (Keeping every dead group at 1 was issue 8's defect 1.)
    let g = two_superblocks();
    let a = g.analyze().unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["input", "stem", "e1", "p1", "e2", "e3", "fc"]);
    let (p, report) = prune(&g, &a, &[1, 4, 0, 4, 0, 0, 2]).unwrap();
    assert_eq!(report.kept_at_one, ["e2"]);
    assert_eq!(report.widths, [1, 4, 0, 4, 1, 0, 2]);
    assert!(report.removed_nodes.iter().any(|n| n == "e3") && report.removed_nodes.iter().any(|n| n == "e1"));
    assert!(p.index_of("e3").is_none() && p.index_of("e2").is_some());
    assert_eq!(p.nodes[p.index_of("sum2").unwrap()].op, Op::Identity);
}

#[test]
fn a_batch_norm_after_a_gate_is_refused() {
    // A BN after the add sees the searched channels of group `a` after their gate: a
    // closed channel would come out as the BN's shift, not 0.
    let mut b = GraphBuilder::new("bn_after_add", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let a1 = b.conv("a", &x, 2, 1, 1);
    let a2 = b.conv("b", &a1, 2, 1, 1);
    let s = b.add("add", &[&a1, &a2]);
    let s = b.bn("add_bn", &s);
    let s = b.global_avg_pool("gap", &s);
    let s = b.flatten("flat", &s);
    b.linear("fc", &s, 2);
    let e = b.finish().unwrap_err().to_string();
    assert!(e.contains("node `add_bn`") && e.contains("shift") && e.contains("group `a`"), "{e}");
}

#[test]
fn a_sigmoid_on_searched_channels_is_refused() {
    let mut b = GraphBuilder::new("sig", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let y = b.conv_bn_act("c", &x, 3, 1, 1, Act::Sigmoid);
    let y = b.global_avg_pool("gap", &y);
    let y = b.flatten("flat", &y);
    b.linear("fc", &y, 2);
    let e = b.finish().unwrap_err().to_string();
    assert!(e.contains("node `c.act`") && e.contains("0.5"), "{e}");
    // The same graph with the producer out of the search is fine.
    let mut b = GraphBuilder::new("sig", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let y = b.fixed_conv("c", &x, 3, 1, 1);
    let y = b.act("c_act", &y, Act::Sigmoid);
    let y = b.global_avg_pool("gap", &y);
    let y = b.flatten("flat", &y);
    b.linear("fc", &y, 2);
    assert!(b.finish().is_ok());
}

#[test]
fn outputs_are_named_nodes_each_once() {
    let mut g = hand_graph();
    g.outputs = vec!["fc".into(), "nope".into()];
    assert!(err_of(&g).contains("`outputs` names `nope`, which is not a node"), "{}", err_of(&g));
    g.outputs = vec!["fc".into(), "e".into(), "fc".into()];
    assert!(err_of(&g).contains("`outputs` names `fc` twice"), "{}", err_of(&g));
    g.outputs = vec!["e".into(), "fc".into()];
    assert!(
        err_of(&g).contains("node `e`: the first output must output 2 class logits as flat features"),
        "a classifier's first output is its logits: {}",
        err_of(&g)
    );
}

#[test]
fn an_output_keeps_its_channels_and_survives_pruning() {
    // `e` is gated in the hand graph; as a second output it keeps every channel, and
    // closing every other group still leaves it in the pruned graph.
    let mut g = hand_graph();
    g.outputs = vec!["fc".into(), "e".into()];
    let a = g.analyze().unwrap();
    assert_eq!(a.outputs, [g.index_of("fc").unwrap(), g.index_of("e").unwrap()]);
    let grp = |n: &str| a.groups.iter().find(|x| x.name == n).unwrap();
    assert!(!grp("e").gated, "an output's group is ungated");
    assert!(grp("f").gated);
    let mut alive: Vec<usize> = a.groups.iter().map(|x| x.width).collect();
    alive[grp("f").id] = 0;
    let (p, _) = prune(&g, &a, &alive).unwrap();
    assert_eq!(p.outputs, g.outputs);
    assert!(p.index_of("e").is_some());
    let json = p.to_json();
    assert!(json.contains("\"outputs\"") && !json.contains("\"task\""), "{json}");
}

#[test]
fn a_graph_without_outputs_or_task_writes_neither() {
    // arch.json of a classifier stays as it was before graphs named outputs.
    let json = hand_graph().to_json();
    assert!(!json.contains("\"outputs\"") && !json.contains("\"task\""), "{json}");
    let back = Graph::from_json(&json).unwrap();
    assert_eq!(back.task, TaskKind::Classification);
}

/// A residual block whose branch is conv e (E) → squeeze-and-excitation (squeeze group S,
/// its second conv joins E through the mul) → conv p (joins R).
fn se_residual() -> Graph {
    residual(|b, r| {
        let e = b.conv("e", r, 8, 1, 1);
        let e = b.act("e_act", &e, Act::Relu);
        let s = b.global_avg_pool("se_pool", &e);
        let conv =
            |out| Op::Conv { out, kernel: 1, stride: 1, padding: 0, depthwise: false, bias: true, searchable: true };
        let s = b.node("se_fc1", conv(2), &[&s], 2);
        let s = b.act("se_relu", &s, Act::Relu);
        let s = b.node("se_fc2", conv(8), &[&s], 8);
        let s = b.act("se_gate", &s, Act::HardSigmoid);
        let e = b.mul("se_scale", &e, &s);
        b.conv("p", &e, 4, 1, 1)
    })
}

#[test]
fn a_mul_joins_the_scale_to_the_image_and_its_sigmoid_is_allowed() {
    let g = se_residual();
    let a = g.analyze().unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["input", "r", "e", "se_fc1", "fc"], "se_fc2 is in e's group");
    // The hard-sigmoid gives 0.5 on closed channels but only scales them (zero) in the mul;
    // fed anywhere else it is refused.
    let mut bad = g.clone();
    let at = bad.index_of("se_gate").unwrap() + 1;
    bad.nodes.insert(at, Node { name: "leak".into(), op: Op::Act { act: Act::Relu }, inputs: vec!["se_gate".into()] });
    let e = err_of(&bad);
    assert!(e.contains("node `se_gate`") && e.contains("0.5"), "{e}");
    let mut wrong_shape = g.clone();
    let m = wrong_shape.index_of("se_scale").unwrap();
    wrong_shape.nodes[m].inputs = vec!["e_act".into(), "e_act".into()];
    assert!(err_of(&wrong_shape).contains("must be 8x1x1"), "{}", err_of(&wrong_shape));
}

#[test]
fn a_squeeze_that_dies_is_kept_at_one_and_an_expansion_that_dies_takes_its_squeeze() {
    let g = se_residual();
    let a = g.analyze().unwrap();
    // Every squeeze channel dies: the block would still be scaled by hardsigmoid(bias), a
    // constant the pruned graph cannot hold, so the squeeze keeps one channel.
    let (p, report) = prune(&g, &a, &[1, 4, 8, 0, 2]).unwrap();
    assert_eq!(report.kept_at_one, ["se_fc1"]);
    assert!(report.removed_nodes.is_empty(), "{:?}", report.removed_nodes);
    let fc1 = &p.nodes[p.index_of("se_fc1").unwrap()];
    assert!(matches!(fc1.op, Op::Conv { out: 1, .. }));
    // The expansion dies: the whole branch with its squeeze-and-excitation goes.
    let (p, report) = prune(&g, &a, &[1, 4, 0, 2, 2]).unwrap();
    assert!(report.kept_at_one.is_empty());
    assert!(p.index_of("se_scale").is_none() && p.index_of("se_fc2").is_none() && p.index_of("p").is_none());
}
