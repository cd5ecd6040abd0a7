//! Channel groups: sets of channels that must be kept or removed together, found by
//! union-find over the producers that an `add` joins.

use super::analysis::Seg;
use super::{Graph, Op};

/// Index of a channel group in [`super::Analysis::groups`].
pub type GroupId = usize;

/// A set of channels that live and die together.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: GroupId,
    /// Name of the first node that produces the group (`input` for the image).
    pub name: String,
    pub width: usize,
    /// Nodes (dense conv / linear) that write this group.
    pub producers: Vec<usize>,
    /// Whether the group carries a Logistic-Sigmoid gate: every producer is searchable and
    /// the group is neither the input image nor a network output.
    pub gated: bool,
}

#[derive(Debug, Default)]
pub(crate) struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    pub(crate) fn fresh(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    pub(crate) fn find(&self, mut x: usize) -> usize {
        while self.parent[x] != x {
            x = self.parent[x];
        }
        x
    }

    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        // Keep the older element as root so group names follow the first producer.
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

pub(crate) struct Resolved {
    pub groups: Vec<Group>,
    /// Union-find root -> dense group id.
    pub map: Vec<GroupId>,
}

pub(crate) fn resolve(
    g: &Graph,
    uf: &mut UnionFind,
    producer_of: &[Option<usize>],
    channels: &[Vec<Seg>],
    input_elem: usize,
    output_nodes: &[usize],
) -> Resolved {
    let n = uf.parent.len();
    let mut map = vec![usize::MAX; n];
    let mut groups: Vec<Group> = Vec::new();
    let new_group = |root: usize, name: String, width: usize, groups: &mut Vec<Group>, map: &mut Vec<usize>| {
        map[root] = groups.len();
        groups.push(Group { id: groups.len(), name, width, producers: vec![], gated: false });
    };
    new_group(uf.find(input_elem), super::INPUT.to_string(), g.input.channels, &mut groups, &mut map);
    for (i, p) in producer_of.iter().enumerate() {
        let Some(elem) = p else { continue };
        let root = uf.find(*elem);
        if map[root] == usize::MAX {
            new_group(root, g.nodes[i].name.clone(), channels[i][0].width, &mut groups, &mut map);
        }
        groups[map[root]].producers.push(i);
    }
    let output_root =
        output_nodes.iter().flat_map(|&o| &channels[o]).map(|s| map[uf.find(s.group)]).collect::<Vec<_>>();
    for grp in groups.iter_mut() {
        grp.gated = grp.id != 0
            && !output_root.contains(&grp.id)
            && !grp.producers.is_empty()
            && grp.producers.iter().all(|&p| match g.nodes[p].op {
                Op::Conv { searchable, .. } | Op::Linear { searchable, .. } => searchable,
                _ => false,
            });
    }
    // The input may have been joined with a producer by an `add`: that group stays ungated
    // (it is group 0 or was merged into it above, since the input element is the oldest).
    Resolved { groups, map }
}
