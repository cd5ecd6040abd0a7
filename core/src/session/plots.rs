//! The session's charts: what each kind draws from the session's state.

use super::{Chart, Session};
use crate::error::{Error, Result};
use crate::plot::{
    alive_width_chart, branch_chart, gate_heatmap, pareto_chart, search_curves, superblock_branches, ParetoPoint,
    WidthRow,
};
use std::path::{Path, PathBuf};

/// What [`Session::plot`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    Heatmap,
    Widths,
    Branches,
    Curves,
    Pareto,
}

impl PlotKind {
    /// Every kind, in the order the prompt lists them.
    pub const ALL: [PlotKind; 5] =
        [PlotKind::Heatmap, PlotKind::Widths, PlotKind::Branches, PlotKind::Curves, PlotKind::Pareto];

    /// The kind's name, also the default file stem.
    pub fn name(self) -> &'static str {
        match self {
            PlotKind::Heatmap => "heatmap",
            PlotKind::Widths => "widths",
            PlotKind::Branches => "branches",
            PlotKind::Curves => "curves",
            PlotKind::Pareto => "pareto",
        }
    }

    /// What the chart shows (the prompt's help).
    pub fn help(self) -> &'static str {
        match self {
            PlotKind::Heatmap => "Gate keep probability per channel (group × channel)",
            PlotKind::Widths => "Alive width per group, supernet vs now",
            PlotKind::Branches => "Which branches survive in each superblock (fbnet)",
            PlotKind::Curves => "Loss, accuracy and cost against the step",
            PlotKind::Pareto => "Test accuracy against MACs of every retrained network",
        }
    }
}

impl std::str::FromStr for PlotKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PlotKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::config("plot", format!("unknown chart `{s}`; use heatmap, widths, branches, curves or pareto"))
        })
    }
}

fn usage(message: &str) -> Error {
    Error::Session(message.to_string())
}

pub(super) fn draw(s: &Session, kind: PlotKind, stem: &Path, runs: &[PathBuf]) -> Result<Chart> {
    if !runs.is_empty() && kind != PlotKind::Pareto {
        return Err(usage("--run adds points to `plot pareto` only"));
    }
    // The search, its step and its alive widths: what every chart but the Pareto one draws.
    let state = || s.search().map(|x| (x, x.steps_done(), x.alive()));
    let (title, paths) = match kind {
        PlotKind::Pareto => {
            // Without a supernet the points are runs alone, whose summary.json records accuracy.
            let metric = s
                .supernet()
                .and_then(|g| Ok(crate::task::of(g)?.metric_name().to_string()))
                .unwrap_or_else(|_| "accuracy".into());
            let title = format!("test {metric} vs MACs");
            let paths = pareto_chart(&title, &pareto_points(s, runs)?, &metric, "MACs", stem)?;
            (title, paths)
        }
        PlotKind::Curves => {
            let (search, step, _) = state()?;
            if search.history().is_empty() {
                return Err(usage("no steps yet: `step N` first"));
            }
            let title = format!("search curves ({step} steps)");
            let metric = search.task().metric_name();
            let paths = search_curves(&title, search.history(), search.evals(), metric, search.initial_cost(), stem)?;
            (title, paths)
        }
        PlotKind::Heatmap => {
            let (search, step, alive) = state()?;
            let rows: Vec<(String, Vec<f64>)> =
                alive.iter().zip(search.probabilities()).filter_map(|(g, p)| p.map(|p| (g.name.clone(), p))).collect();
            if rows.is_empty() {
                return Err(usage("this search has no gates to show (the regularizer uses BN γ)"));
            }
            let title = format!("gate keep probability at step {step}");
            let paths = gate_heatmap(&title, &rows, stem)?;
            (title, paths)
        }
        PlotKind::Widths => {
            let (_, step, alive) = state()?;
            let rows: Vec<WidthRow> = alive
                .iter()
                .filter(|g| g.gated)
                .map(|g| WidthRow { group: g.name.clone(), supernet: g.width, found: g.alive })
                .collect();
            let title = format!("alive channels per group at step {step}");
            let paths = alive_width_chart(&title, &rows, stem)?;
            (title, paths)
        }
        PlotKind::Branches => {
            let (_, step, alive) = state()?;
            let groups: Vec<(String, usize, usize)> =
                alive.iter().map(|g| (g.name.clone(), g.alive, g.width)).collect();
            let blocks = superblock_branches(&groups);
            if blocks.is_empty() {
                return Err(usage(
                    "this supernet has no superblock branches (groups named <block>.<branch>.expand…, as in fbnet)",
                ));
            }
            let title = format!("surviving branches at step {step}");
            let paths = branch_chart(&title, &blocks, stem)?;
            (title, paths)
        }
    };
    Ok(Chart::from_paths(&title, paths))
}

/// The retrained networks of the session and of `runs`.
fn pareto_points(s: &Session, runs: &[PathBuf]) -> Result<Vec<ParetoPoint>> {
    let mut pts: Vec<ParetoPoint> = s
        .retrained()
        .iter()
        .map(|r| ParetoPoint {
            label: r.label.clone(),
            cost: r.result.counts.macs as f64,
            accuracy: r.result.test_accuracy,
            baseline: r.baseline,
        })
        .collect();
    // Runs that share a seed network retrain it identically: one point labelled
    // `seed (run-a, run-b)`, not labels printed over each other.
    let mut from_runs: Vec<(ParetoPoint, String, Vec<String>)> = Vec::new();
    for (dir, run) in run_labels(runs) {
        for (run, network, p) in run_points(&dir, &run)? {
            match from_runs.iter_mut().find(|(q, n, _)| *n == network && q.cost == p.cost && q.accuracy == p.accuracy) {
                Some((_, _, runs)) => runs.push(run),
                None => from_runs.push((p, network, vec![run])),
            }
        }
    }
    pts.extend(from_runs.into_iter().map(|(p, network, runs)| ParetoPoint {
        label: if runs.len() == 1 {
            format!("{} {network}", runs[0])
        } else {
            format!("{network} ({})", runs.join(", "))
        },
        ..p
    }));
    if pts.is_empty() {
        return Err(usage(
            "no retrained network yet: `retrain found`, `retrain seed` (each adds a point), or `--run DIR` of a `figs search`",
        ));
    }
    Ok(pts)
}

/// Each run directory once, labelled by its last component, or by the path as given where
/// two runs share that name (`a/out`, `b/out`).
fn run_labels(dirs: &[PathBuf]) -> Vec<(PathBuf, String)> {
    // Same directory however spelt: compare canonical paths (as given where it does not exist).
    let key = |d: &PathBuf| d.canonicalize().unwrap_or_else(|_| d.clone());
    let mut unique: Vec<&PathBuf> = Vec::new();
    for d in dirs {
        if !unique.iter().any(|u| key(u) == key(d)) {
            unique.push(d);
        }
    }
    let name = |d: &PathBuf| {
        d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| d.display().to_string())
    };
    unique
        .iter()
        .map(|d| {
            let shared = unique.iter().filter(|o| name(o) == name(d)).count() > 1;
            ((*d).clone(), if shared { d.display().to_string() } else { name(d) })
        })
        .collect()
}

/// The retrained networks of a `figs search` run directory as (`run`, network, point); the
/// seed joins the baseline curve.
fn run_points(dir: &Path, run: &str) -> Result<Vec<(String, String, ParetoPoint)>> {
    let file = dir.join("summary.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        usage(&format!("cannot read {}: {e} (give the run directory of a `figs search`)", file.display()))
    })?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| usage(&format!("{} is not a figs search summary: {e}", file.display())))?;
    let pts: Vec<(String, String, ParetoPoint)> = rows
        .iter()
        .filter_map(|r| {
            let network = r["network"].as_str()?;
            let point = ParetoPoint {
                label: String::new(),
                cost: r["macs"].as_f64()?,
                accuracy: r["test_accuracy"].as_f64()?,
                baseline: network == "seed",
            };
            Some((run.to_string(), network.to_string(), point))
        })
        .collect();
    if pts.is_empty() {
        return Err(usage(&format!(
            "{} has no retrained network with a test accuracy (was the run made with --no-retrain?)",
            file.display()
        )));
    }
    Ok(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_named_by_their_directory_unless_two_share_a_name() {
        let dirs: Vec<PathBuf> = ["x/lambda-1", "y/out", "z/out", "x/lambda-1"].iter().map(PathBuf::from).collect();
        let labels: Vec<String> = run_labels(&dirs).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["lambda-1", "y/out", "z/out"]);
    }

    #[test]
    fn kinds_parse_by_name() {
        for k in ["heatmap", "widths", "branches", "curves", "pareto"] {
            assert_eq!(k.parse::<PlotKind>().unwrap().name(), k);
        }
        assert!("pie".parse::<PlotKind>().unwrap_err().to_string().contains("heatmap, widths"));
    }
}
