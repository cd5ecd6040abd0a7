//! Turning alive channel counts into the exported architecture: a plain [`Graph`] with
//! smaller widths and without the branches whose channels all died.

use super::analysis::{Analysis, Source};
use super::{Graph, Op};
use crate::error::{Error, Result};

/// What pruning did besides shrinking widths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReport {
    /// Nodes removed because their branch died (or no longer reaches the output).
    pub removed_nodes: Vec<String>,
    /// Groups whose channels all died but which were kept at width 1 (or one gate block),
    /// because removing them would disconnect the network.
    pub kept_at_one: Vec<String>,
    /// Adds that lost an input which still carried a constant (a removed branch whose own
    /// channels died but whose output BN shift reached the stream): the export folds that
    /// constant into the add's bias.
    pub folded: Vec<Folded>,
    /// The width of every group in the pruned graph (the given alive counts, with the
    /// groups in `kept_at_one` at 1 or one gate block).
    pub widths: Vec<usize>,
}

/// One add whose removed inputs still contributed a constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// The add (in both graphs; its pruned form has `bias: true`).
    pub node: String,
    /// Its removed inputs whose constant output goes into the bias.
    pub from: Vec<String>,
}

/// Prunes `g` to `alive[group]` channels per group (indexed like `analysis.groups`;
/// ungated groups must be given their full width).
///
/// Groups with zero alive channels are removed one at a time, in group order, each
/// together with every node that only it feeds, as long as the output stays reachable (a
/// residual branch, a parallel candidate). A dead group whose removal would disconnect the
/// output is kept at one channel and listed in [`PruneReport::kept_at_one`]; only those.
pub fn prune(g: &Graph, a: &Analysis, alive: &[usize]) -> Result<(Graph, PruneReport)> {
    prune_keeping(g, a, alive, &vec![1; a.groups.len()])
}

/// [`prune`], keeping a dead group that cannot go at `least[group]` channels instead of one
/// (a whole gate block when widths are searched in blocks: `width-multiple`).
pub fn prune_keeping(g: &Graph, a: &Analysis, alive: &[usize], least: &[usize]) -> Result<(Graph, PruneReport)> {
    if alive.len() != a.groups.len() || least.len() != a.groups.len() {
        return Err(Error::GraphGlobal(format!(
            "prune got {} alive counts for {} groups",
            alive.len(),
            a.groups.len()
        )));
    }
    for grp in &a.groups {
        if alive[grp.id] > grp.width || (!grp.gated && alive[grp.id] != grp.width) {
            return Err(Error::GraphGlobal(format!(
                "group `{}` has width {} but {} alive channels were given{}",
                grp.name,
                grp.width,
                alive[grp.id],
                if grp.gated { "" } else { " (ungated groups keep every channel)" }
            )));
        }
    }
    let mut alive = alive.to_vec();
    let mut report = PruneReport::default();
    let mut dead_set: Vec<usize> = Vec::new();
    let candidates: Vec<usize> = a.groups.iter().filter(|g| alive[g.id] == 0).map(|g| g.id).collect();
    for gid in candidates {
        dead_set.push(gid);
        if dead_nodes(g, a, &dead_set).1 {
            dead_set.pop();
            alive[gid] = least[gid].clamp(1, a.groups[gid].width);
            report.kept_at_one.push(a.groups[gid].name.clone());
        }
    }
    let (dead, _) = dead_nodes(g, a, &dead_set);
    let useful = reaches_output(g, a, &dead);
    // A searched group none of whose producers survive (a concat input whose own input
    // died) has no channel left in the pruned graph: count it as 0, so that evaluation
    // closes its gates too and no constant of it needs folding.
    for grp in &a.groups {
        if grp.gated && grp.producers.iter().all(|&p| dead[p] || !useful[p]) {
            alive[grp.id] = 0;
        }
    }
    let constant = constants(g, a, &dead, &alive);

    let mut nodes = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if dead[i] || !useful[i] {
            report.removed_nodes.push(node.name.clone());
            continue;
        }
        let width = |segs: &[super::Seg]| segs.iter().map(|s| s.width.min(alive[s.group])).sum::<usize>();
        let mut n = node.clone();
        n.inputs = node
            .inputs
            .iter()
            .zip(&a.inputs[i])
            .filter(|(_, s)| !matches!(s, Source::Node(j) if dead[*j] || !useful[*j]))
            .map(|(name, _)| name.clone())
            .collect();
        match &mut n.op {
            Op::Conv { out, depthwise, .. } => {
                *out = if *depthwise { width(&a.channels[i]) } else { alive[a.channels[i][0].group] };
            }
            Op::Linear { out, .. } => *out = alive[a.channels[i][0].group],
            _ => {}
        }
        let carries = |s: &Source| matches!(s, Source::Node(j) if constant[*j]);
        let from: Vec<String> =
            node.inputs.iter().zip(&a.inputs[i]).filter(|(_, s)| carries(s)).map(|(n, _)| n.clone()).collect();
        if !from.is_empty() {
            match &mut n.op {
                Op::Add { bias } => *bias = true,
                _ => {
                    return Err(Error::graph(
                        &node.name,
                        format!(
                            "its input `{}` lost every channel upstream but still carries a constant from an unsearched layer (a batch-norm shift or bias), which figs can fold into an add but not into a {}; make that layer searchable, or join the branch with an add",
                            from[0],
                            node.op.kind()
                        ),
                    ))
                }
            }
            report.folded.push(Folded { node: node.name.clone(), from });
        }
        if matches!(n.op, Op::Add { bias: false } | Op::Concat) && n.inputs.len() == 1 {
            n.op = Op::Identity;
        }
        nodes.push(n);
    }
    report.widths = alive;
    let pruned = Graph { nodes, ..g.clone() };
    pruned.analyze().map_err(|e| Error::GraphGlobal(format!("pruning produced an invalid graph: {e}")))?;
    Ok((pruned, report))
}

/// Removed nodes whose output (on alive channels) is a non-zero constant: a branch cut
/// off upstream, whose zeros a batch norm's shift, a bias or a sigmoid turn into a
/// constant that the supernet still adds to what the branch feeds.
fn constants(g: &Graph, a: &Analysis, dead: &[bool], alive: &[usize]) -> Vec<bool> {
    let mut c = vec![false; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if !dead[i] || !a.channels[i].iter().any(|seg| alive[seg.group] > 0) {
            continue;
        }
        let makes = match node.op {
            Op::BatchNorm | Op::Act { act: super::Act::Sigmoid | super::Act::HardSigmoid } => true,
            Op::Conv { bias, .. } | Op::Linear { bias, .. } | Op::Add { bias } => bias,
            _ => false,
        };
        c[i] = makes || a.inputs[i].iter().any(|s| matches!(s, Source::Node(j) if c[*j]));
    }
    c
}

/// Which nodes die when `groups` are removed, and whether that cuts the network: an
/// output dies, or a mul loses its scale but not its image (a squeeze-and-excitation whose
/// squeeze channels all died still scales the block by a constant, which the pruned graph
/// could not express: such a group is kept at one channel instead).
fn dead_nodes(g: &Graph, a: &Analysis, groups: &[usize]) -> (Vec<bool>, bool) {
    let mut dead = vec![false; g.nodes.len()];
    let mut cut = false;
    for (i, node) in g.nodes.iter().enumerate() {
        let in_dead: Vec<bool> = a.inputs[i].iter().map(|s| matches!(s, Source::Node(j) if dead[*j])).collect();
        dead[i] = if node.op.is_producer() {
            groups.contains(&a.channels[i][0].group) || in_dead.iter().all(|&d| d)
        } else {
            match node.op {
                Op::Add { .. } | Op::Concat => in_dead.iter().all(|&d| d),
                Op::Mul => {
                    cut |= in_dead[1] && !in_dead[0];
                    in_dead[0]
                }
                _ => in_dead.iter().any(|&d| d),
            }
        };
    }
    let out_dead = a.outputs.iter().any(|&o| dead[o]);
    (dead, cut || out_dead)
}

/// Live nodes from which an output can be reached over live edges.
fn reaches_output(g: &Graph, a: &Analysis, dead: &[bool]) -> Vec<bool> {
    let mut useful = vec![false; g.nodes.len()];
    for &o in &a.outputs {
        useful[o] = !dead[o];
    }
    for i in (0..g.nodes.len()).rev() {
        if !useful[i] {
            continue;
        }
        for s in &a.inputs[i] {
            if let Source::Node(j) = s {
                if !dead[*j] {
                    useful[*j] = true;
                }
            }
        }
    }
    useful
}
