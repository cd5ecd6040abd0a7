//! The `latency` regularizer: per-layer roofline latency on a device from a hardware table
//! (bundled: `cpu`, the default, `h200`, `h200_bf16`; or your own JSON file with `table=PATH`).
//!
//! Reported cost: `Σ max(FLOPs / peak, bytes / bandwidth)` over conv and linear layers, in
//! seconds, where bytes are input and output activations plus weights. Penalty:
//! `Σ_g (∂latency/∂A_g) · R_g` at the current alive counts `A` (first-order, the active side
//! of each max), so compute-bound layers are pushed by their FLOPs and memory-bound ones by
//! their traffic. Elementwise ops, launch overheads and caches are not modelled.

pub mod device;
pub mod hardware;
pub mod roofline;

use figs::graph::Graph;
use figs::regularizer::{BoundRegularizer, Regularizer};
use figs::space::{ParamSpec, Params};
use roofline::Roofline;
use std::collections::BTreeMap;
use tch::Tensor;

#[derive(Debug, Default, Clone, Copy)]
pub struct Latency;

impl Regularizer for Latency {
    fn name(&self) -> &str {
        "latency"
    }
    fn unit(&self) -> &str {
        "s"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("hardware", "cpu", "device entry of the hardware table (bundled: cpu, h200, h200_bf16)"),
            ParamSpec::new("table", "", "path of your own hardware table JSON (default: the bundled one)"),
            ParamSpec::new("batch", "1", "batch size the latency is measured at"),
        ]
    }
    fn bind(&self, graph: &Graph, params: &BTreeMap<String, String>) -> figs::Result<Box<dyn BoundRegularizer>> {
        let p = Params::new("latency", self.params(), params)?;
        let bad = |m: String| figs::Error::Regularizer { name: "latency".into(), message: m };
        let table = p.raw("table");
        let (json, origin) = if table.is_empty() {
            (hardware::BUNDLED.to_string(), "(bundled)".to_string())
        } else {
            let text =
                std::fs::read_to_string(table).map_err(|e| bad(format!("cannot read hardware table {table}: {e}")))?;
            (text, table.to_string())
        };
        let hw = hardware::pick(&json, &origin, p.raw("hardware")).map_err(bad)?;
        let batch: f64 = p.get("batch")?;
        if !(batch >= 1.0 && batch.is_finite()) {
            return Err(bad(format!("batch must be at least 1, got {batch}")));
        }
        let a = graph.analyze()?;
        Ok(Box::new(Roofline::new(graph, &a, hw, batch)))
    }
}

impl BoundRegularizer for Roofline {
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> figs::Result<Tensor> {
        Ok(figs::regularizer::first_order_penalty(&self.gradient(alive), r, alive))
    }

    fn reported(&self, alive: &[f64]) -> figs::Result<f64> {
        Ok(self.latency(alive))
    }

    fn penalty_on_device(&self, r: &[Option<Tensor>], alive: &Tensor) -> Option<figs::Result<Tensor>> {
        Some(self.penalty_t(r, alive))
    }

    fn reported_on_device(&self, alive: &Tensor) -> Option<figs::Result<Tensor>> {
        Some(self.latency_t(alive))
    }
}

figs::export_plugin!(
    regularizer: Latency,
    version: env!("CARGO_PKG_VERSION"),
    description: "roofline latency max(FLOPs/peak, bytes/bandwidth) per layer on a device from a hardware table",
);

#[cfg(test)]
mod tests;
