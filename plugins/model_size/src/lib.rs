//! The `model_size` regularizer: number of conv and linear weights, with FiGS gates as the
//! source. The rule itself is [`figs::cost`]; see docs/MATH.md.

pub use figs::regularizer::CostRegularizer;

/// What this plugin exports, for code that links the crate.
pub const MODEL_SIZE: CostRegularizer = CostRegularizer::model_size();

figs::export_plugin!(
    regularizer: CostRegularizer = MODEL_SIZE,
    version: env!("CARGO_PKG_VERSION"),
    description: "conv and linear weights (MorphNet's model-size regularizer on FiGS gates)",
);
