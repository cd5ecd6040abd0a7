//! `gates` (tables of the gate state) and `plot` (charts to SVG and PNG).

use crate::format::table;
use crate::session::Session;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use figs::plot::{
    alive_width_chart, branch_chart, gate_heatmap, pareto_chart, search_curves, superblock_branches, ParetoPoint,
    WidthRow,
};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GatesArgs {
    /// One channel group in detail (per channel: logit, p, alive).
    group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlotKind {
    /// Gate keep probability per channel (group × channel).
    Heatmap,
    /// Alive width per group, supernet vs now.
    Widths,
    /// Which branches survive in each superblock (fbnet).
    Branches,
    /// Loss, accuracy and cost against the step.
    Curves,
    /// Test accuracy against MACs of every retrained network.
    Pareto,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    kind: PlotKind,
    /// Output path without extension (default: <out>/<kind>); writes .svg and .png.
    #[arg(long)]
    out: Option<PathBuf>,
    /// pareto: also draw the seed and found networks of a `figs search` run directory (its
    /// summary.json); repeatable, e.g. one run per λ.
    #[arg(long = "run", value_name = "DIR")]
    runs: Vec<PathBuf>,
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
fn run_points(dir: &std::path::Path, run: &str) -> Result<Vec<(String, String, ParetoPoint)>> {
    let file = dir.join("summary.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        anyhow::anyhow!("cannot read {}: {e} (give the run directory of a `figs search`)", file.display())
    })?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a figs search summary: {e}", file.display()))?;
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
        bail!("{} has no retrained network with a test accuracy (was the run made with --no-retrain?)", file.display());
    }
    Ok(pts)
}

/// A ten-bin histogram of values in [0, 1] as block characters.
fn sparkline(ps: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut bins = [0usize; 10];
    for p in ps {
        bins[((p.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1;
    }
    let max = *bins.iter().max().unwrap_or(&1).max(&1);
    bins.iter().map(|&b| if b == 0 { ' ' } else { BARS[(b * 7).div_ceil(max).min(7)] }).collect()
}

pub fn gates(s: &mut Session, a: GatesArgs) -> Result<()> {
    let search = s.search()?;
    let alive = search.alive();
    let probs = search.probabilities();
    if let Some(name) = &a.group {
        let Some(g) = alive.iter().position(|g| &g.name == name) else {
            bail!("no channel group `{name}`; `gates` lists them");
        };
        let Some(p) = &probs[g] else {
            bail!("group `{name}` has no gates (not searched, or the regularizer uses BN γ)");
        };
        let logit = |p: f64| (p / (1.0 - p)).ln();
        if a.json {
            let v = json!({"group": name, "p": p, "alive": alive[g].alive, "width": alive[g].width});
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        // The export keeps the `alive` highest-logit channels (all with a > 0 unless target
        // mode fitted the count).
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&x, &y| p[y].total_cmp(&p[x]));
        let mut kept = vec![false; p.len()];
        for &c in order.iter().take(alive[g].alive) {
            kept[c] = true;
        }
        let rows: Vec<Vec<String>> = p
            .iter()
            .enumerate()
            .map(|(c, p)| {
                let alive = if kept[c] { "yes" } else { "no" };
                vec![c.to_string(), format!("{:.3}", logit(*p)), format!("{p:.3}"), alive.to_string()]
            })
            .collect();
        println!("{name}: {} of {} channels kept by the export", alive[g].alive, alive[g].width);
        println!("{}", table(&["channel", "logit a", "p = σ(a)", "alive"], &rows));
        return Ok(());
    }
    if a.json {
        let v: Vec<_> = alive
            .iter()
            .zip(&probs)
            .map(|(g, p)| {
                json!({"group": g.name, "alive": g.alive, "width": g.width, "searched": g.gated,
                "mean_p": g.mean_prob, "p": p})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({"step": search.steps_done(), "groups": v}))?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = alive
        .iter()
        .zip(&probs)
        .filter(|(g, _)| g.gated)
        .map(|(g, p)| {
            vec![
                g.name.clone(),
                format!("{}/{}", g.alive, g.width),
                format!("{:.2}", g.mean_prob),
                p.as_ref().map(|p| format!("|{}|", sparkline(p))).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    println!("step {}: gates per searched group (histogram of p from 0 to 1)", search.steps_done());
    println!("{}", table(&["group", "alive", "mean p", "p histogram"], &rows));
    Ok(())
}

pub fn plot(s: &mut Session, a: PlotArgs) -> Result<()> {
    let name = format!("{:?}", a.kind).to_lowercase();
    let stem = a.out.clone().unwrap_or_else(|| s.opts.out.join(&name));
    if !a.runs.is_empty() && !matches!(a.kind, PlotKind::Pareto) {
        bail!("--run adds points to `plot pareto` only");
    }
    let paths = match a.kind {
        PlotKind::Pareto => {
            let mut pts: Vec<ParetoPoint> = s
                .retrained
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
            for (dir, run) in run_labels(&a.runs) {
                for (run, network, p) in run_points(&dir, &run)? {
                    match from_runs
                        .iter_mut()
                        .find(|(q, n, _)| *n == network && q.cost == p.cost && q.accuracy == p.accuracy)
                    {
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
                bail!("no retrained network yet: `retrain found`, `retrain seed` (each adds a point), or `--run DIR` of a `figs search`");
            }
            pareto_chart("test accuracy vs MACs", &pts, "MACs", &stem)?
        }
        kind => {
            let search = s.search()?;
            let step = search.steps_done();
            let alive = search.alive();
            match kind {
                PlotKind::Heatmap => {
                    let rows: Vec<(String, Vec<f64>)> = alive
                        .iter()
                        .zip(search.probabilities())
                        .filter_map(|(g, p)| p.map(|p| (g.name.clone(), p)))
                        .collect();
                    if rows.is_empty() {
                        bail!("this search has no gates to show (the regularizer uses BN γ)");
                    }
                    gate_heatmap(&format!("gate keep probability at step {step}"), &rows, &stem)?
                }
                PlotKind::Widths => {
                    let rows: Vec<WidthRow> = alive
                        .iter()
                        .filter(|g| g.gated)
                        .map(|g| WidthRow { group: g.name.clone(), supernet: g.width, found: g.alive })
                        .collect();
                    alive_width_chart(&format!("alive channels per group at step {step}"), &rows, &stem)?
                }
                PlotKind::Branches => {
                    let groups: Vec<(String, usize, usize)> =
                        alive.iter().map(|g| (g.name.clone(), g.alive, g.width)).collect();
                    let blocks = superblock_branches(&groups);
                    if blocks.is_empty() {
                        bail!("this supernet has no superblock branches (groups named <block>.<branch>.expand…, as in fbnet)");
                    }
                    branch_chart(&format!("surviving branches at step {step}"), &blocks, &stem)?
                }
                PlotKind::Curves => {
                    if search.history().is_empty() {
                        bail!("no steps yet: `step N` first");
                    }
                    let title = format!("search curves ({} steps)", step);
                    search_curves(&title, search.history(), search.evals(), search.initial_cost(), &stem)?
                }
                PlotKind::Pareto => unreachable!("handled above"),
            }
        }
    };
    println!("wrote {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
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
}
