//! Which targets target mode can reach: between the smallest network the search can
//! make and the supernet.

use crate::error::{Error, Result};
use crate::graph::Analysis;
use crate::regularizer::BoundRegularizer;

/// Target mode can only land between the smallest network it can reach (every searched
/// group at one gate block, `least(g)` channels: it never closes a group's last) and the
/// supernet. A target outside that range used to run and end far above it, or prune
/// nothing.
pub(super) fn check_reachable(
    target: f64,
    cost0: f64,
    searched: &[usize],
    analysis: &Analysis,
    least: &dyn Fn(usize) -> usize,
    bound: &dyn BoundRegularizer,
    unit: &str,
) -> Result<()> {
    let fmt = |v: f64| {
        if unit == "FLOPs" {
            format!("{v:.0} FLOPs = {:.0} MACs", v / 2.0)
        } else {
            format!("{v} {unit}")
        }
    };
    if target >= cost0 {
        return Err(Error::config(
            "target",
            format!(
                "{} is not below the supernet's cost ({}): nothing would be pruned; give a smaller target",
                fmt(target),
                fmt(cost0)
            ),
        ));
    }
    let smallest: Vec<f64> = analysis
        .groups
        .iter()
        .map(|g| if searched.contains(&g.id) { least(g.id) as f64 } else { g.width as f64 })
        .collect();
    let min = bound.reported(&smallest)?;
    if target < min {
        return Err(Error::config(
            "target",
            format!(
                "{} is below the smallest network the search can reach ({}: every searched channel group at one channel, or one block of width-multiple); give at least that",
                fmt(target),
                fmt(min)
            ),
        ));
    }
    Ok(())
}

impl super::Search {
    /// Fits the alive counts to `target` by logit rank: closes the lowest-logit open
    /// gates (never a group's last) while the cost is above the target, then reopens the
    /// highest-logit closed gates that still fit. Gates rank channels (or blocks of
    /// `width-multiple` channels, which open and close together); in target mode the
    /// budget, not the sign of the logit, decides how many stay. A closed group costs
    /// `floor[g]` channels (what pruning keeps of it).
    pub(super) fn close_to_target(&self, counts: &mut [usize], target: f64, floor: &[usize]) {
        // A failing regularizer counts as over the target: channels close, never open.
        let cost = |c: &[usize]| {
            let alive: Vec<f64> = c.iter().zip(floor).map(|(&n, &f)| n.max(f) as f64).collect();
            self.bound.reported(&alive).unwrap_or(f64::INFINITY)
        };
        // Per searched group: open scores (descending), closed scores (descending), and
        // the channels per gate.
        let n = self.analysis.groups.len();
        let mut open: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut closed: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut block = Vec::with_capacity(n);
        for g in 0..n {
            let (s, b) = self.block_score(g).map_or((None, 1), |(s, b)| (Some(s), b));
            let mut v = s
                .and_then(|s| Vec::<f64>::try_from(s.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu)).ok())
                .unwrap_or_default();
            v.sort_by(|x, y| y.total_cmp(x));
            let split = v.iter().take_while(|&&x| x > 0.0).count();
            closed.push(v.split_off(split));
            open.push(v);
            block.push(b);
        }
        while cost(counts) > target {
            let pick = open
                .iter()
                .enumerate()
                .filter(|(g, v)| counts[*g] > block[*g] && !v.is_empty())
                .min_by(|(_, x), (_, y)| x[x.len() - 1].total_cmp(&y[y.len() - 1]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            if let Some(x) = open[g].pop() {
                closed[g].insert(0, x);
            }
            counts[g] -= block[g];
        }
        // A closed group that pruning keeps stays closed: reopening it would only relabel
        // the channel that pruning keeps.
        let mut blocked: Vec<bool> = counts.iter().zip(floor).map(|(&c, &f)| c == 0 && f > 0).collect();
        loop {
            let pick = closed
                .iter()
                .enumerate()
                .filter(|(g, v)| !blocked[*g] && !v.is_empty())
                .max_by(|(_, x), (_, y)| x[0].total_cmp(&y[0]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            counts[g] += block[g];
            if cost(counts) <= target {
                closed[g].remove(0);
            } else {
                counts[g] -= block[g];
                blocked[g] = true;
            }
        }
    }
}
