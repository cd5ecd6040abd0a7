//! What a network returns and what its task requires of those outputs. A graph names its
//! output nodes (none named: the last node alone) and its task; the task decides how many
//! outputs there are and what shape each has. The loss and metrics of a task live in
//! [`crate::task`]; this module holds only what validating a graph needs, so the graph does
//! not depend on training code.

use super::analysis::Shape;
use super::Graph;
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
}

impl TaskKind {
    pub fn is_classification(&self) -> bool {
        *self == TaskKind::Classification
    }

    /// Its name in reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Classification => "classification",
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
    }
}
