//! Which targets target mode can reach: between the smallest network the search can
//! make and the supernet.

use crate::error::{Error, Result};
use crate::graph::Analysis;
use crate::regularizer::BoundRegularizer;

/// Target mode can only land between the smallest network it can reach (every searched
/// group at one channel: it never closes a group's last) and the supernet. A target
/// outside that range used to run and end far above it, or prune nothing.
pub(super) fn check_reachable(
    target: f64,
    cost0: f64,
    searched: &[usize],
    analysis: &Analysis,
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
    let smallest: Vec<f64> =
        analysis.groups.iter().map(|g| if searched.contains(&g.id) { 1.0 } else { g.width as f64 }).collect();
    let min = bound.reported(&smallest)?;
    if target < min {
        return Err(Error::config(
            "target",
            format!(
                "{} is below the smallest network the search can reach ({}: every searched channel group at one channel); give at least that",
                fmt(target),
                fmt(min)
            ),
        ));
    }
    Ok(())
}

impl super::Search {
    /// Fits the alive counts to `target` by logit rank: closes the lowest-logit open
    /// channels (never a group's last) while the cost is above the target, then reopens the
    /// highest-logit closed channels that still fit. Gates rank channels; in target mode the
    /// budget, not the sign of the logit, decides how many stay.
    pub(super) fn close_to_target(&self, counts: &mut [usize], target: f64) {
        // A failing regularizer counts as over the target: channels close, never open.
        let cost = |c: &[usize]| {
            self.bound.reported(&c.iter().map(|&n| n as f64).collect::<Vec<f64>>()).unwrap_or(f64::INFINITY)
        };
        // Per searched group: open scores (descending) and closed scores (descending).
        let n = self.analysis.groups.len();
        let mut open: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut closed: Vec<Vec<f64>> = Vec::with_capacity(n);
        for g in 0..n {
            let mut v = self
                .score(g)
                .and_then(|s| Vec::<f64>::try_from(s.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu)).ok())
                .unwrap_or_default();
            v.sort_by(|x, y| y.total_cmp(x));
            let split = v.iter().take_while(|&&x| x > 0.0).count();
            closed.push(v.split_off(split));
            open.push(v);
        }
        while cost(counts) > target {
            let pick = open
                .iter()
                .enumerate()
                .filter(|(g, v)| counts[*g] > 1 && !v.is_empty())
                .min_by(|(_, x), (_, y)| x[x.len() - 1].total_cmp(&y[y.len() - 1]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            if let Some(x) = open[g].pop() {
                closed[g].insert(0, x);
            }
            counts[g] -= 1;
        }
        let mut blocked = vec![false; closed.len()];
        loop {
            let pick = closed
                .iter()
                .enumerate()
                .filter(|(g, v)| !blocked[*g] && !v.is_empty())
                .max_by(|(_, x), (_, y)| x[0].total_cmp(&y[0]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            counts[g] += 1;
            if cost(counts) <= target {
                closed[g].remove(0);
            } else {
                counts[g] -= 1;
                blocked[g] = true;
            }
        }
    }
}
