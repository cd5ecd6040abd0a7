//! The `flops` regularizer: FLOPs of conv and linear layers (2 per multiply-accumulate), with
//! FiGS gates as the source. The rule itself is [`figs::cost`]; see docs/MATH.md.

pub use figs::regularizer::CostRegularizer;

/// What this plugin exports, for code that links the crate.
pub const FLOPS: CostRegularizer = CostRegularizer::flops();

figs::export_plugin!(
    regularizer: CostRegularizer = FLOPS,
    version: env!("CARGO_PKG_VERSION"),
    description: "FLOPs of conv and linear layers (MorphNet's FLOP regularizer on FiGS gates)",
);
