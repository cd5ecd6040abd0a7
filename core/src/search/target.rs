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
