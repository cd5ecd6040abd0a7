//! Small hand-made graphs shared by the unit tests.

use crate::graph::{Act, Graph, GraphBuilder, InputSpec};

/// A 1×4×4 graph with a residual add, a depthwise conv and a concat; its costs are worked
/// out by hand in `cost::tests`.
///
/// ```text
/// a = conv1x1(input, 2)        group A
/// b = conv1x1(a, 2)            group B;  add(a, b) unions A and B into G1
/// d = dwconv3x3(add)           G1
/// e = conv1x1(d, 3)            group C
/// cat = concat(d, e)           [G1 | C]
/// f = conv1x1(cat, 4) + bn     group D
/// gap, flatten, fc(4 -> 2)     output group (ungated)
/// ```
pub fn hand_graph() -> Graph {
    let mut b = GraphBuilder::new("hand", InputSpec { channels: 1, height: 4, width: 4 }, 2);
    let x = b.input();
    let a = b.conv("a", &x, 2, 1, 1);
    let bb = b.conv("b", &a, 2, 1, 1);
    let s = b.add("add", &[&a, &bb]);
    let d = b.dwconv("d", &s, 3, 1);
    let e = b.conv("e", &d, 3, 1, 1);
    let cat = b.concat("cat", &[&d, &e]);
    let f = b.conv("f", &cat, 4, 1, 1);
    let f = b.bn("f_bn", &f);
    let f = b.act("f_act", &f, Act::Relu);
    let p = b.global_avg_pool("gap", &f);
    let p = b.flatten("flat", &p);
    b.linear("fc", &p, 2);
    match b.finish() {
        Ok(g) => g,
        Err(e) => panic!("hand graph is valid: {e}"),
    }
}
