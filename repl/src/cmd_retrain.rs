//! `export`, `retrain`, `compare`.

use crate::format::{human, table};
use crate::progress::Bars;
use crate::shell::Shell;
use anyhow::Result;
use clap::Args;
use figs::export::Exported;
use figs::session::{Network, RetrainSpec};
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
    /// Also write DIR/model.onnx (PyTorch's exporter, in the Python setup made: see
    /// docs/FORMATS.md), checked against model.py with onnxruntime and TorchScript.
    #[arg(long, requires = "pytorch")]
    onnx: bool,
    /// Write the PyTorch module (and ONNX file) with every searched width rounded up to a
    /// multiple of K by zero channels: the same outputs, and much faster in onnxruntime and
    /// PyTorch's channels-last kernels than odd widths (docs/FORMATS.md). The search's own
    /// export (arch.json) stays unpadded.
    #[arg(long, value_name = "K", requires = "pytorch")]
    pad_to: Option<usize>,
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

fn paths(files: &[PathBuf]) -> String {
    files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

pub fn export(sh: &mut Shell, a: ExportArgs) -> Result<()> {
    let onnx = |dir: &std::path::Path| -> Result<Option<serde_json::Value>> {
        if !a.onnx {
            return Ok(None);
        }
        let (file, report) = figs::export::onnx::write_onnx(dir)?;
        if !a.json {
            let d = |k: &str| report[k].as_f64().map_or("?".into(), |v| format!("{v:.1e}"));
            println!(
                "wrote {} (opset {}); against model.py: onnxruntime {}, torch.jit.script {} (relative max difference)",
                file.display(),
                report["opset"],
                d("onnxruntime_max_rel_diff"),
                d("script_max_rel_diff")
            );
        }
        Ok(Some(report))
    };
    // The module (and ONNX file) are written from the export in memory, padded with --pad-to.
    let module = |e: &Exported, dir: &std::path::Path| -> Result<Vec<PathBuf>> {
        let Some(k) = a.pad_to else { return Ok(e.save_pytorch(dir)?) };
        let p = e.padded(k)?;
        if !a.json {
            let c = figs::count::count(&p.graph, &p.graph.analyze()?);
            println!("padded to multiples of {k}: {} params, {} MACs", human(c.params as f64), human(c.macs as f64));
        }
        Ok(p.save_pytorch(dir)?)
    };
    if let (Some(from), Some(dir)) = (&a.from, &a.pytorch) {
        let files = module(&Exported::load(from)?, dir)?;
        if !a.json {
            println!("wrote {}", paths(&files));
        }
        let onnx = onnx(dir)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&json!({ "files": files, "onnx": onnx }))?);
        }
        return Ok(());
    }
    let file = a.file.unwrap_or_else(|| sh.core.out_dir().join("arch.json"));
    let mut r = sh.core.export_to(&file, None)?;
    if let Some(dir) = &a.pytorch {
        let e = sh.core.exported().ok_or_else(|| anyhow::anyhow!("the export left no network in the session"))?;
        r.files.extend(module(e, dir)?);
    }
    if !a.json {
        println!("exported {} params, {} MACs: {}", human(r.params as f64), human(r.macs as f64), paths(&r.files));
        if !r.removed_nodes.is_empty() {
            println!("removed nodes (dead branches): {}", r.removed_nodes.join(", "));
        }
        if !r.kept_at_one.is_empty() {
            println!("kept at one channel (or gate block) to stay connected: {}", r.kept_at_one.join(", "));
        }
        if !r.folded.is_empty() {
            println!("constants of removed branches folded into the bias of: {}", r.folded.join(", "));
        }
    }
    let onnx = match &a.pytorch {
        Some(dir) => onnx(dir)?,
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(o) = onnx {
            v["onnx"] = o;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    if let Some(hint) = &r.hint {
        eprintln!("note: {hint}");
    }
    Ok(())
}

pub fn retrain(sh: &mut Shell, a: RetrainArgs) -> Result<()> {
    let network = match (&a.space, a.what.as_str()) {
        (Some(space), _) => Network::Space { space: space.clone(), params: a.params.clone() },
        (None, "found") => Network::Found,
        (None, "seed") => Network::Seed,
        (None, file) => Network::File(PathBuf::from(file)),
    };
    let spec = RetrainSpec { network, epochs: a.epochs, init: a.init, label: a.label, baseline: a.baseline };
    sh.core.set_cancel(crate::interrupt::fresh());
    let bars = Bars::attach(&mut sh.core, a.json);
    let r = sh.core.retrain(spec);
    bars.finish();
    let r = r?;
    if r.result.cancelled {
        println!("retraining stopped by Ctrl-C after {} steps; no accuracy recorded", r.result.steps);
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "retrained {} (from {}): {} params, {} MACs, {} steps in {:.0} s, {}",
            r.label,
            r.result.init.as_str(),
            human(r.result.counts.params as f64),
            human(r.result.counts.macs as f64),
            r.result.steps,
            r.result.seconds,
            r.result.headline()
        );
    }
    Ok(())
}

pub fn compare(sh: &mut Shell, json: bool) -> Result<()> {
    let c = sh.core.compare()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    let header = c.header();
    println!("{}", table(&header.iter().map(String::as_str).collect::<Vec<_>>(), &c.rows()));
    Ok(())
}
