//! A toy regularizer plugin: the cost is the number of alive channels in searched groups,
//! the penalty the sum of the gates' keep probabilities. Copy it to start your own.

use figs::graph::Graph;
use figs::regularizer::{BoundRegularizer, Regularizer};
use figs::space::{ParamSpec, Params};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

#[derive(Default)]
pub struct Channels;

struct Bound {
    searched: Vec<bool>,
}

impl Regularizer for Channels {
    fn name(&self) -> &str {
        "channels"
    }
    fn unit(&self) -> &str {
        "channels"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn bind(&self, g: &Graph, given: &BTreeMap<String, String>) -> figs::Result<Box<dyn BoundRegularizer>> {
        Params::new(self.name(), self.params(), given)?; // unknown names are errors
        let a = g.analyze()?;
        Ok(Box::new(Bound { searched: a.groups.iter().map(|g| g.gated).collect() }))
    }
}

impl BoundRegularizer for Bound {
    // r[g]: per-channel values of group g (None: not searched); alive[g]: its alive count.
    fn penalty(&self, r: &[Option<Tensor>], _alive: &[f64]) -> figs::Result<Tensor> {
        let mut sum = Tensor::from(0.0f32);
        for t in r.iter().flatten() {
            sum = sum + t.sum(Kind::Float);
        }
        Ok(sum)
    }
    fn reported(&self, alive: &[f64]) -> figs::Result<f64> {
        Ok(alive.iter().zip(&self.searched).filter(|(_, s)| **s).map(|(a, _)| a).sum())
    }
}

figs::export_plugin!(regularizer: Channels, version: env!("CARGO_PKG_VERSION"), description: "alive channels");
