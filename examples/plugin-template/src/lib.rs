//! `tiny_cnn`: a plain stack of conv-BN-ReLU stages with a searchable width per stage — the
//! smallest useful figs search space, as a template for your own.

use figs::graph::{Act, Graph, GraphBuilder, InputSpec};
use figs::space::{ParamSpec, Params, SearchSpace};
use std::collections::BTreeMap;

/// The space. `Default` is required by `export_plugin!`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TinyCnn;

impl SearchSpace for TinyCnn {
    fn name(&self) -> &str {
        "tiny_cnn"
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("resolution", "28", "input height = width"),
            ParamSpec::new("channels", "1", "input channels"),
            ParamSpec::new("classes", "10", "output classes"),
            ParamSpec::new("width", "32", "channels of the first stage (doubled at each later stage)"),
            ParamSpec::new("stages", "3", "number of stride-2 stages"),
        ]
    }

    fn build(&self, given: &BTreeMap<String, String>) -> figs::Result<Graph> {
        // Params rejects unknown names and unparsable values with errors naming them.
        let p = Params::new(self.name(), self.params(), given)?;
        let (res, ch, classes): (usize, usize, usize) = (p.get("resolution")?, p.get("channels")?, p.get("classes")?);
        let (width, stages): (usize, usize) = (p.get("width")?, p.get("stages")?);
        let mut b = GraphBuilder::new("tiny_cnn", InputSpec { channels: ch, height: res, width: res }, classes);
        let mut x = b.input();
        for s in 0..stages {
            x = b.conv_bn_act(&format!("stage{s}"), &x, width << s, 3, 2, Act::Relu);
        }
        let x = b.global_avg_pool("pool", &x);
        let x = b.flatten("flatten", &x);
        b.linear("classifier", &x, classes);
        // finish() validates the graph: shapes, channel groups, the output.
        b.finish()
    }
}

figs::export_plugin!(
    search_space: TinyCnn,
    version: env!("CARGO_PKG_VERSION"),
    description: "template: conv-BN-ReLU stages with searchable widths",
);
