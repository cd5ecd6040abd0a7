//! `export`, `retrain`, `compare`.

use crate::format::{bar, human, table};
use crate::session::{Retrained, Session};
use anyhow::{bail, Result};
use clap::Args;
use figs::count::count;
use figs::export::Exported;
use figs::graph::Graph;
use figs::train::{train_network, Init, TrainConfig};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to write the architecture (default: <out>/arch.json); the weights go beside it
    /// (arch.safetensors).
    file: Option<PathBuf>,
    /// Also write a self-contained PyTorch module here: DIR/model.py, DIR/arch.json,
    /// DIR/arch.safetensors (`from model import load; net = load()`).
    #[arg(long, value_name = "DIR")]
    pytorch: Option<PathBuf>,
    /// Convert an earlier export (an arch.json with its arch.safetensors beside it) instead
    /// of the search's: `figs export --from runs/x/arch.json --pytorch out/`.
    #[arg(long, value_name = "ARCH", requires = "pytorch", conflicts_with = "file")]
    from: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RetrainArgs {
    /// `found` (the last export, made now if there is none), `seed` (the supernet without
    /// gates) or an architecture file.
    #[arg(default_value = "found", conflicts_with = "space")]
    what: String,
    /// Build the network from this search space instead (e.g. the seed at another width for
    /// the Pareto baseline: `retrain --space mobilenet_v2 -p width=0.5 --baseline`).
    #[arg(long)]
    space: Option<String>,
    /// Space parameter as name=value (repeatable), with --space.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", requires = "space")]
    params: Vec<String>,
    /// Epochs of training (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    epochs: f64,
    /// Start from fresh weights (`scratch`) or from the exported search weights (`search`:
    /// fine-tuning `found`, or an arch.json whose .safetensors lies beside it).
    #[arg(long, default_value = "scratch")]
    init: figs::train::Init,
    /// Label in `compare` and the Pareto plot (default: what was retrained).
    #[arg(long)]
    label: Option<String>,
    /// Draw this network on the Pareto plot's baseline curve (`seed` always is), e.g. the
    /// seed at other width multipliers.
    #[arg(long)]
    baseline: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn export(s: &mut Session, a: ExportArgs) -> Result<()> {
    if let (Some(from), Some(dir)) = (&a.from, &a.pytorch) {
        let e = Exported::load(from)?;
        let files = e.save_pytorch(dir)?;
        return print_written(&files, a.json);
    }
    let e = s.search()?.export_network()?;
    let hint = crate::format::nothing_pruned_hint(s.search()?);
    let path = a.file.unwrap_or_else(|| s.opts.out.join("arch.json"));
    let mut files = vec![path.clone(), e.save(&path)?];
    if let Some(dir) = &a.pytorch {
        files.extend(e.save_pytorch(dir)?);
    }
    let (g, report) = (&e.graph, &e.report);
    let c = count(g, &g.analyze()?);
    if a.json {
        let v = json!({"file": path, "files": files, "params": c.params, "macs": c.macs,
            "removed_nodes": report.removed_nodes, "kept_at_one": report.kept_at_one,
            "folded": report.folded.iter().map(|f| &f.node).collect::<Vec<_>>()});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("exported {} params, {} MACs: {}", human(c.params as f64), human(c.macs as f64), paths(&files));
        if !report.removed_nodes.is_empty() {
            println!("removed nodes (dead branches): {}", report.removed_nodes.join(", "));
        }
        if !report.kept_at_one.is_empty() {
            println!("kept at width 1 to stay connected: {}", report.kept_at_one.join(", "));
        }
        if !report.folded.is_empty() {
            let f: Vec<&str> = report.folded.iter().map(|f| f.node.as_str()).collect();
            println!("constants of removed branches folded into the bias of: {}", f.join(", "));
        }
    }
    if let Some(hint) = hint {
        eprintln!("note: {hint}");
    }
    s.found = Some(e.graph);
    s.found_weights = Some(e.weights);
    s.unsaved_steps = 0;
    Ok(())
}

fn paths(files: &[PathBuf]) -> String {
    files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn print_written(files: &[PathBuf], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&json!({ "files": files }))?);
    } else {
        println!("wrote {}", paths(files));
    }
    Ok(())
}

pub fn retrain(s: &mut Session, a: RetrainArgs) -> Result<()> {
    if !(a.epochs > 0.0 && a.epochs.is_finite()) {
        bail!("--epochs must be positive, got {}", a.epochs);
    }
    let what = match &a.space {
        Some(space) => format!("{space} {}", a.params.join(" ")).trim().to_string(),
        None => a.what.clone(),
    };
    let mut init: Option<figs::export::Weights> = None;
    let graph: Graph = match (a.space.as_deref(), a.what.as_str()) {
        (None, "found") if a.init == Init::Search => {
            if s.found_weights.is_none() {
                let e = s.search.as_ref().map(|x| x.export_network()).transpose()?;
                let Some(e) = e else { bail!("nothing found yet: `init` and `step N` first") };
                s.found = Some(e.graph);
                s.found_weights = Some(e.weights);
            }
            init = s.found_weights.as_ref().map(|w| w.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
            s.found.clone().ok_or_else(|| anyhow::anyhow!("nothing found yet"))?
        }
        (None, file) if a.init == Init::Search && file != "seed" => {
            // An earlier export: arch.json with arch.safetensors beside it.
            let e = Exported::load(std::path::Path::new(file))?;
            init = Some(e.weights);
            e.graph
        }
        (_, what) if a.init == Init::Search => {
            bail!("--init search starts from exported weights (`found`, or an arch.json with its .safetensors); `{what}` has none")
        }
        (Some(space), _) => crate::cmd_supernet::build_space(space, &a.params, Some(&s.data()?.train))?.2,
        (None, "found") => match (&s.found, &s.search) {
            (Some(g), _) => g.clone(),
            (None, Some(search)) => search.export()?.0,
            (None, None) => bail!("nothing found yet: `init` and `step N` first, or `retrain FILE`"),
        },
        (None, "seed") => s.supernet()?.clone(),
        (None, file) => Graph::load(std::path::Path::new(file))?,
    };
    let data = s.data()?.clone();
    let o = &s.opts;
    let steps = ((a.epochs * (data.train.len() / o.batch_size).max(1) as f64).round() as u64).max(1);
    let cfg =
        TrainConfig { seed: o.seed, device: o.device, batch_size: o.batch_size, steps, lr: o.lr, weight_decay: 0.0 };
    if o.threads > 0 {
        tch::set_num_threads(o.threads);
    }
    let cancel = crate::interrupt::fresh();
    let pb = bar(steps, "retrain");
    let r = train_network(&graph, init.as_deref(), &data.train, &data.test, &cfg, &cancel, |p| {
        pb.inc(1);
        pb.set_message(format!("loss {:.3}", p.loss));
    })?;
    pb.finish_and_clear();
    let label = a.label.unwrap_or(what);
    if r.cancelled {
        println!("retraining stopped by Ctrl-C after {} of {steps} steps; no accuracy recorded", r.steps);
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({"label": label, "result": r}))?);
    } else {
        println!(
            "retrained {label} (from {}): {} params, {} MACs, {} steps in {:.0} s, test accuracy {:.4}",
            r.init.as_str(),
            human(r.counts.params as f64),
            human(r.counts.macs as f64),
            r.steps,
            r.seconds,
            r.test_accuracy
        );
    }
    s.retrained.retain(|x| x.label != label);
    let baseline = a.baseline || a.what == "seed";
    s.retrained.push(Retrained { label, result: r, baseline });
    Ok(())
}

pub fn compare(s: &mut Session, json: bool) -> Result<()> {
    if s.retrained.is_empty() {
        bail!("nothing retrained yet: `retrain seed` and `retrain found`");
    }
    if json {
        let v: Vec<_> = s
            .retrained
            .iter()
            .map(|r| {
                json!({"network": r.label, "params": r.result.counts.params, "macs": r.result.counts.macs,
                "steps": r.result.steps, "init": r.result.init, "test_accuracy": r.result.test_accuracy})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = s
        .retrained
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                human(r.result.counts.params as f64),
                human(r.result.counts.macs as f64),
                r.result.steps.to_string(),
                format!("{:.4}", r.result.test_accuracy),
            ]
        })
        .collect();
    println!("{}", table(&["network", "params", "MACs", "steps", "test acc"], &rows));
    Ok(())
}
