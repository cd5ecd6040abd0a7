//! The `latency_table` regularizer: measured latency on your own device, from a table that
//! `figs profile` wrote (every conv and linear layer with its batch norm and activation,
//! timed on a grid of the widths the search reaches; figs::latency).
//!
//! Reported cost: the table's prediction for the alive counts, in seconds (so
//! `--target 2ms` works). Penalty: `Σ_g (∂latency/∂A_g) · R_g` at the current alive counts,
//! the slope of the table's interpolation by central differences of one gate block — like
//! the roofline `latency` plugin, first-order.

use figs::graph::Graph;
use figs::latency::{Bound, LatencyTable};
use figs::regularizer::{BoundRegularizer, Regularizer};
use figs::space::{ParamSpec, Params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

#[derive(Debug, Default, Clone, Copy)]
pub struct LatencyTableReg;

fn bad(m: String) -> figs::Error {
    figs::Error::Regularizer { name: "latency_table".into(), message: m }
}

impl Regularizer for LatencyTableReg {
    fn name(&self) -> &str {
        "latency_table"
    }
    fn unit(&self) -> &str {
        "s"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::new(
            "table",
            "",
            "the table `figs profile` wrote (default: the one cached for this supernet on this machine)",
        )]
    }
    fn bind(&self, graph: &Graph, params: &BTreeMap<String, String>) -> figs::Result<Box<dyn BoundRegularizer>> {
        let p = Params::new("latency_table", self.params(), params)?;
        let path = match p.raw("table") {
            "" => cached_table(graph)?,
            t => PathBuf::from(t),
        };
        let table = LatencyTable::load(&path)?;
        let a = graph.analyze()?;
        let bound = table.bind(graph, &a).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        Ok(Box::new(Measured { bound, step: table.block.max(1) as f64 }))
    }
}

/// The cached table of `graph` measured on this machine's CPU; an error says how to make
/// one, or which to choose when several fit (other threads, batch or layout).
fn cached_table(graph: &Graph) -> figs::Result<PathBuf> {
    let probe = figs::latency::TableKey {
        device: figs::latency::measure::device_label(tch::Device::Cpu),
        library: figs::latency::measure::LIBRARY.into(),
        threads: 1,
        batch: 1,
        channels_last: true,
        graph: figs::latency::measure::graph_id(graph),
    };
    let dir = figs::latency::cache_path(&probe).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut fits = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if let Ok(t) = LatencyTable::load(&path) {
                if t.key.graph == probe.graph && t.key.device == probe.device {
                    fits.push(path);
                }
            }
        }
    }
    fits.sort();
    match fits.len() {
        1 => Ok(fits.remove(0)),
        0 => Err(bad(format!(
            "no latency table of this supernet ({}) for this machine in {}: measure one with `figs profile` \
             (the same space and parameters), or give -R table=FILE",
            probe.graph,
            dir.display()
        ))),
        _ => Err(bad(format!(
            "several cached tables fit this supernet ({}); choose one with -R table=FILE",
            fits.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A table bound to a graph.
struct Measured {
    bound: Bound,
    /// The finite-difference step: one gate block.
    step: f64,
}

impl Measured {
    fn seconds(&self, alive: &[f64]) -> f64 {
        self.bound.predict(alive) * 1e-3
    }

    /// Per group, `d latency / d alive_g` (seconds per channel) at `alive`.
    fn gradient(&self, alive: &[f64]) -> Vec<f64> {
        let mut a = alive.to_vec();
        (0..alive.len())
            .map(|g| {
                let x = alive[g];
                let lo = (x - self.step).max(0.0);
                let hi = x + self.step;
                a[g] = hi;
                let up = self.seconds(&a);
                a[g] = lo;
                let down = self.seconds(&a);
                a[g] = x;
                (up - down) / (hi - lo)
            })
            .collect()
    }
}

impl BoundRegularizer for Measured {
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> figs::Result<Tensor> {
        Ok(figs::regularizer::first_order_penalty(&self.gradient(alive), r, alive))
    }

    fn reported(&self, alive: &[f64]) -> figs::Result<f64> {
        Ok(self.seconds(alive))
    }
}

figs::export_plugin!(
    regularizer: LatencyTableReg,
    version: env!("CARGO_PKG_VERSION"),
    description: "measured latency on your device: a table of every layer from `figs profile`, interpolated",
);
