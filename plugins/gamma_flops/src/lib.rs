//! The `gamma_flops` regularizer: MorphNet's baseline. The network trains without gates; the
//! per-channel value is the |γ| of the batch norm after each conv (the max over the BNs of a
//! channel group), a channel is alive while |γ| is above the search's `gamma_threshold`, and
//! the cost is FLOPs ([`figs::cost`]). Compare it with `flops` to see what the gates buy.

pub use figs::regularizer::CostRegularizer;

/// What this plugin exports, for code that links the crate.
pub const GAMMA_FLOPS: CostRegularizer = CostRegularizer::gamma_flops();

figs::export_plugin!(
    regularizer: CostRegularizer = GAMMA_FLOPS,
    version: env!("CARGO_PKG_VERSION"),
    description: "FLOPs with BN |γ| as the source (MorphNet's GammaFlopsRegularizer baseline, no gates)",
);
