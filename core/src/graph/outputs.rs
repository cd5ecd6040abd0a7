//! What a network returns and what its task requires of those outputs. A graph names its
//! output nodes (none named: the last node alone) and its task; the task decides how many
//! outputs there are and what shape each has. The loss and metrics of a task live in
//! [`crate::task`]; this module holds only what validating a graph needs, so the graph does
//! not depend on training code.

use super::analysis::Shape;
use super::{Graph, Op};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a network is trained to do (`task` in `arch.json`; absent: classification).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// The first output is `classes` logits as flat features; further outputs (features
    /// for retrieval, an auxiliary head) are returned by the network and its export, and
    /// the loss does not read them.
    #[default]
    Classification,
    /// Two `per_box` outputs over the same default boxes: `classes` logits per box (class 0
    /// the background, as torchvision counts `num_classes`), then 4 box offsets per box.
    Detection,
}

impl TaskKind {
    pub fn is_classification(&self) -> bool {
        *self == TaskKind::Classification
    }

    /// Its name in reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Classification => "classification",
            TaskKind::Detection => "detection",
        }
    }
}

/// The indices of the graph's output nodes, in the order the network returns them.
pub(crate) fn resolve(g: &Graph) -> Result<Vec<usize>> {
    if g.outputs.is_empty() {
        return Ok(vec![g.nodes.len() - 1]);
    }
    let mut out = Vec::with_capacity(g.outputs.len());
    for name in &g.outputs {
        let i = g.index_of(name).ok_or_else(|| {
            Error::GraphGlobal(format!(
                "`outputs` names `{name}`, which is not a node of the graph; name an existing node"
            ))
        })?;
        if out.contains(&i) {
            return Err(Error::GraphGlobal(format!("`outputs` names `{name}` twice; name each output once")));
        }
        out.push(i);
    }
    Ok(out)
}

/// Checks that the outputs are what the graph's task needs.
pub(crate) fn check(g: &Graph, outputs: &[usize], shapes: &[Shape]) -> Result<()> {
    match g.task {
        TaskKind::Classification => {
            let i = &outputs[0];
            let out = shapes[*i];
            if !out.flat || out.features() != g.classes {
                let which = if g.outputs.is_empty() { "the last node" } else { "the first output" };
                return Err(Error::graph(
                    &g.nodes[*i].name,
                    format!(
                        "{which} must output {} class logits as flat features, but it outputs {}x{}x{}{}",
                        g.classes,
                        out.c,
                        out.h,
                        out.w,
                        if out.flat { " (flat)" } else { " (image)" }
                    ),
                ));
            }
            Ok(())
        }
        TaskKind::Detection => check_detection(g, outputs, shapes),
    }
}

/// A detection graph returns (class logits, box offsets), both `per_box` over the same
/// feature maps with the same boxes per cell.
fn check_detection(g: &Graph, outputs: &[usize], shapes: &[Shape]) -> Result<()> {
    let fail = |m: String| Err(Error::GraphGlobal(format!("a detection graph {m}")));
    let [logits, offsets] = outputs else {
        return fail(format!(
            "returns two outputs, class logits and box offsets (both per_box); this one returns {}",
            outputs.len()
        ));
    };
    for (&i, values, what) in [(logits, g.classes, "class logits"), (offsets, 4, "box offsets")] {
        let node = &g.nodes[i];
        match node.op {
            Op::PerBox { values: v } if v == values => {}
            _ => {
                return Err(Error::graph(
                    &node.name,
                    format!(
                        "a detection graph's {what} must be a per_box node with `values` {values}{}; this is a {}",
                        if values == g.classes { " (the classes, background included)" } else { "" },
                        node.op.kind()
                    ),
                ))
            }
        }
    }
    let maps = |i: usize| -> Vec<(usize, usize, usize)> {
        g.nodes[i]
            .inputs
            .iter()
            .map(|n| g.index_of(n).map_or((0, 0, 0), |j| (shapes[j].h, shapes[j].w, shapes[j].c)))
            .collect()
    };
    let per_cell = |m: Vec<(usize, usize, usize)>, values: usize| -> Vec<(usize, usize, usize)> {
        m.into_iter().map(|(h, w, c)| (h, w, c / values)).collect()
    };
    if per_cell(maps(*logits), g.classes) != per_cell(maps(*offsets), 4) {
        return fail(format!(
            "needs its logits `{}` and offsets `{}` read from feature maps of the same sizes, in the same order, with the same boxes per cell",
            g.nodes[*logits].name, g.nodes[*offsets].name
        ));
    }
    Ok(())
}

/// The feature maps a detection graph predicts on, in order: (height, width, default boxes
/// per cell), read from its class-logit output's inputs.
pub fn detection_maps(g: &Graph, a: &super::Analysis) -> Vec<(usize, usize, usize)> {
    let Some(&first) = a.outputs.first() else { return Vec::new() };
    a.inputs[first]
        .iter()
        .map(|&s| {
            let sh = a.source_shape(s);
            (sh.h, sh.w, sh.c / g.classes.max(1))
        })
        .collect()
}
