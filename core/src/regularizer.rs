//! The regularizer interface: a resource cost of the network and its differentiable
//! surrogate, computed from per-channel values `r` and alive counts of every channel group.
//!
//! A [`Regularizer`] declares where `r` comes from ([`Source`]: the gates' keep
//! probabilities or BN |γ|) and, bound to one graph, maps `r` and the alive counts to a
//! scalar penalty tensor and to the reported cost. Concrete regularizers live in `plugins/`;
//! [`CostRegularizer`] is the FLOPs / model-size rule of [`crate::cost`] packaged for them.

use crate::cost::{CostKind, CostModel};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::space::{ParamSpec, Params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Where the per-channel regularization values `r` come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Logistic-Sigmoid gates (FiGS): `r` is the keep probability or the sampled gate; a
    /// channel is alive when its logit is above 0.
    Gates,
    /// Batch-norm scales (MorphNet's γ-L1 baseline): `r = |γ|`, alive when `|γ|` is above
    /// the search's `gamma_threshold`; the network is trained without gates.
    BnGamma,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Gates => "gates",
            Source::BnGamma => "bn_gamma",
        }
    }
}

/// A regularizer family: parameters in, a [`BoundRegularizer`] for one graph out.
pub trait Regularizer: Send + Sync {
    /// Short name, e.g. `flops`.
    fn name(&self) -> &str;
    /// Where `r` comes from.
    fn source(&self) -> Source {
        Source::Gates
    }
    /// Unit of the reported cost (`FLOPs`, `weights`, `s`): targets are given in it.
    fn unit(&self) -> &str;
    /// Parameters [`Regularizer::bind`] accepts.
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// Prepares the cost rules of `graph`. Unknown parameters and bad values are errors.
    fn bind(&self, graph: &Graph, params: &BTreeMap<String, String>) -> Result<Box<dyn BoundRegularizer>>;
}

/// A regularizer prepared for one graph; indices are the graph's channel groups
/// ([`crate::graph::Analysis::groups`]).
pub trait BoundRegularizer: Send {
    /// The differentiable penalty, a scalar tensor. `r[g]` holds the per-channel values of
    /// group `g` (`None` where the group is not searched: count it at full width);
    /// `alive[g]` is the group's current alive count.
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> Result<Tensor>;
    /// The cost of the network with `alive[g]` channels in every group.
    fn reported(&self, alive: &[f64]) -> Result<f64>;
    /// [`BoundRegularizer::penalty`] with the alive counts in a float tensor `[groups]` on
    /// the search's device, so that a search step never waits for the device to read them.
    /// `None` (the default): only the host form exists, and the search reads the counts
    /// back once per step (docs/PERFORMANCE.md).
    fn penalty_on_device(&self, _r: &[Option<Tensor>], _alive: &Tensor) -> Option<Result<Tensor>> {
        None
    }
    /// [`BoundRegularizer::reported`] of alive counts in a float tensor `[groups]`, as a
    /// scalar tensor on its device; `None` (the default) if only the host form exists.
    fn reported_on_device(&self, _alive: &Tensor) -> Option<Result<Tensor>> {
        None
    }
}

/// Checks what a regularizer returned: one finite floating-point value that carries a
/// gradient whenever some `r` does. A penalty without one would silently do nothing.
/// A first-order penalty: `Σ_g grad[g] · Σ r[g]` over the groups with per-channel values,
/// plus `grad[g] · alive[g]` (a constant) for the others — how a cost whose derivative in
/// the alive counts is known at `alive` (`latency`, `latency_table`) penalises.
pub fn first_order_penalty(grad: &[f64], r: &[Option<Tensor>], alive: &[f64]) -> Tensor {
    let mut constant = 0.0;
    let mut total: Option<Tensor> = None;
    for (g, c) in grad.iter().enumerate() {
        match r.get(g).and_then(Option::as_ref) {
            Some(r) => {
                let term = r.sum(Kind::Float) * *c;
                total = Some(match total {
                    Some(t) => t + term,
                    None => term,
                });
            }
            None => constant += c * alive.get(g).copied().unwrap_or(0.0),
        }
    }
    match total {
        Some(t) => t + constant,
        None => Tensor::from(constant).to_kind(Kind::Float),
    }
}

pub fn check_penalty(name: &str, t: &Tensor, r: &[Option<Tensor>]) -> Result<()> {
    check_shape_and_kind(name, t)?;
    let v = t.double_value(&[]);
    if !v.is_finite() {
        return Err(penalty_not_finite(name, v));
    }
    check_gradient(name, t, r)
}

/// The checks of [`check_penalty`] that need no value from the device: shape, kind and
/// gradient. A search step makes these and checks the value when its metrics reach the host.
pub fn check_penalty_form(name: &str, t: &Tensor, r: &[Option<Tensor>]) -> Result<()> {
    check_shape_and_kind(name, t)?;
    check_gradient(name, t, r)
}

fn check_shape_and_kind(name: &str, t: &Tensor) -> Result<()> {
    let bad = |m: String| Err(Error::Regularizer { name: name.into(), message: m });
    if t.numel() != 1 {
        return bad(format!("the penalty must be a scalar tensor, got shape {:?}", t.size()));
    }
    if !matches!(t.kind(), Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16) {
        return bad(format!("the penalty must be a floating-point tensor, got {:?}", t.kind()));
    }
    Ok(())
}

fn check_gradient(name: &str, t: &Tensor, r: &[Option<Tensor>]) -> Result<()> {
    if r.iter().flatten().any(Tensor::requires_grad) && !t.requires_grad() {
        return Err(Error::Regularizer {
            name: name.into(),
            message: "the penalty does not depend on r (no gradient): it would not regularize anything".into(),
        });
    }
    Ok(())
}

/// The error for a penalty whose value `v` is NaN or infinite.
pub fn penalty_not_finite(name: &str, v: f64) -> Error {
    Error::Regularizer {
        name: name.into(),
        message: format!("the penalty is {v}; check the regularizer's parameters (a zero peak or bandwidth?)"),
    }
}

/// Every parameter in `specs`, with its value in `given` or else its default (names `specs`
/// does not declare are kept, for `bind` to refuse): what a search records, so that a later
/// change of a plugin's default cannot change a resumed run unnoticed.
pub fn with_defaults(specs: &[ParamSpec], given: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all: BTreeMap<String, String> = specs.iter().map(|p| (p.name.clone(), p.default.clone())).collect();
    all.extend(given);
    all
}

/// Checks a reported cost.
pub fn check_cost(name: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::Regularizer {
            name: name.into(),
            message: format!("the reported cost is {v}; it must be finite and ≥ 0"),
        })
    }
}

/// FLOPs or model size of conv and linear layers ([`CostModel`]), from gates or from BN γ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostRegularizer {
    pub name: &'static str,
    pub kind: CostKind,
    pub source: Source,
}

impl CostRegularizer {
    pub const fn flops() -> CostRegularizer {
        CostRegularizer { name: "flops", kind: CostKind::Flops, source: Source::Gates }
    }
    pub const fn model_size() -> CostRegularizer {
        CostRegularizer { name: "model_size", kind: CostKind::ModelSize, source: Source::Gates }
    }
    pub const fn gamma_flops() -> CostRegularizer {
        CostRegularizer { name: "gamma_flops", kind: CostKind::Flops, source: Source::BnGamma }
    }
}

struct BoundCost(CostModel);

impl Regularizer for CostRegularizer {
    fn name(&self) -> &str {
        self.name
    }
    fn source(&self) -> Source {
        self.source
    }
    fn unit(&self) -> &str {
        match self.kind {
            CostKind::Flops => "FLOPs",
            CostKind::ModelSize => "weights",
        }
    }
    fn bind(&self, graph: &Graph, params: &BTreeMap<String, String>) -> Result<Box<dyn BoundRegularizer>> {
        Params::new(self.name, Vec::new(), params)?;
        let a = graph.analyze()?;
        Ok(Box::new(BoundCost(CostModel::new(graph, &a, self.kind))))
    }
}

impl BoundRegularizer for BoundCost {
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> Result<Tensor> {
        let sums: Vec<Option<Tensor>> = r.iter().map(|r| r.as_ref().map(|r| r.sum(Kind::Float))).collect();
        Ok(self.0.regularizer(alive, &sums))
    }
    fn reported(&self, alive: &[f64]) -> Result<f64> {
        Ok(self.0.reported(alive))
    }
    fn penalty_on_device(&self, r: &[Option<Tensor>], alive: &Tensor) -> Option<Result<Tensor>> {
        let zero = Tensor::zeros([], (Kind::Float, alive.device()));
        let sums: Vec<Tensor> =
            r.iter().map(|r| r.as_ref().map_or_else(|| zero.shallow_clone(), |r| r.sum(Kind::Float))).collect();
        if sums.is_empty() {
            return Some(Ok(self.0.regularizer_t(alive, &Tensor::zeros([0], (Kind::Float, alive.device())))));
        }
        Some(Ok(self.0.regularizer_t(alive, &Tensor::stack(&sums, 0))))
    }
    fn reported_on_device(&self, alive: &Tensor) -> Option<Result<Tensor>> {
        Some(Ok(self.0.reported_t(alive)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hand_graph;

    #[test]
    fn cost_regularizer_reports_the_cost_model() {
        let g = hand_graph();
        let b = CostRegularizer::flops().bind(&g, &BTreeMap::new()).unwrap();
        let a = g.analyze().unwrap();
        let full: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
        // 1616 FLOPs, worked out by hand in cost::tests.
        assert_eq!(b.reported(&full).unwrap(), 1616.0);
    }

    #[test]
    fn unknown_parameter_is_refused() {
        let mut p = BTreeMap::new();
        p.insert("peak".to_string(), "1".to_string());
        let e = CostRegularizer::flops().bind(&hand_graph(), &p).err().unwrap().to_string();
        assert!(e.contains("peak") && e.contains("flops"), "{e}");
    }

    #[test]
    fn bad_penalties_are_named() {
        let r = vec![Some(Tensor::ones([3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true))];
        let e = |t: Tensor| check_penalty("x", &t, &r).unwrap_err().to_string();
        assert!(e(Tensor::ones([2], (Kind::Float, tch::Device::Cpu))).contains("scalar"));
        assert!(e(Tensor::from(f32::NAN)).contains("NaN"));
        assert!(e(Tensor::from(1.0f32)).contains("no gradient"));
        let ok = r[0].as_ref().unwrap().sum(Kind::Float);
        assert!(check_penalty("x", &ok, &r).is_ok());
    }
}
