//! Slicing the supernet's parameters and BN statistics to the channels the export keeps,
//! and folding the constants of removed branches into add biases.

use crate::error::{Error, Result};
use crate::graph::{Analysis, Graph, Op, PruneReport, Seg, Source};
use crate::net::Net;
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

/// The weights of `pruned` (the export of `net`'s graph under the 0/1 `gates` of the
/// export), on the CPU, named `<node>.<param>`.
pub(crate) fn slice_weights(
    net: &Net,
    vs: &nn::VarStore,
    gates: &[Option<Tensor>],
    pruned: &Graph,
    report: &PruneReport,
) -> Result<super::Weights> {
    let vars = vs.variables();
    let constants = folded_constants(net, gates, report)?;
    let kept: Vec<Tensor> = net
        .analysis()
        .groups
        .iter()
        .map(|grp| match gates.get(grp.id).and_then(Option::as_ref) {
            Some(v) => v.to_device(Device::Cpu).nonzero().view(-1),
            None => Tensor::arange(grp.width as i64, (Kind::Int64, Device::Cpu)),
        })
        .collect();
    slice_named(net, &|name| vars.get(name).map(|t| t.detach()), &kept, pruned, &constants, true)
}

/// The tensors that `lookup` gives for `net`'s parameters (by var-store name,
/// `net.<node>.<param>`) cut to the channels `kept` (per group, int64 indices on the CPU)
/// in `pruned`, on the CPU, named
/// `<node>.<param>`; `constants` (per add) are added to the add biases. With `required`
/// false, a parameter `lookup` lacks is left out (an optimizer moment not made yet, or BN
/// statistics, which have none); otherwise it is an error.
pub(crate) fn slice_named(
    net: &Net,
    lookup: &dyn Fn(&str) -> Option<Tensor>,
    kept: &[Tensor],
    pruned: &Graph,
    constants: &HashMap<String, Tensor>,
    required: bool,
) -> Result<super::Weights> {
    let (g, a) = (net.graph(), net.analysis());
    let _no_grad = tch::no_grad_guard();
    let mut out = Vec::new();
    for node in &pruned.nodes {
        let i = g.index_of(&node.name).ok_or_else(|| Error::graph(&node.name, "not in the supernet"))?;
        let get = |p: &str| -> Result<Option<Tensor>> {
            match lookup(&format!("net.{}.{p}", node.name)) {
                Some(t) => Ok(Some(t.to_device(Device::Cpu))),
                None if required => Err(Error::graph(&node.name, format!("the supernet has no parameter `{p}`"))),
                None => Ok(None),
            }
        };
        let own = channel_index(&a.channels[i], kept, 1);
        let flat_own = || channel_index(&a.channels[i], kept, hw(a, Source::Node(i)));
        let input = a.inputs[i][0];
        let mut push = |p: &str, t: Option<Tensor>| {
            if let Some(t) = t {
                out.push((format!("{}.{p}", node.name), t.contiguous()));
            }
        };
        match node.op {
            Op::Conv { depthwise, bias, .. } => {
                let w = get("weight")?.map(|w| {
                    let w = w.index_select(0, &own);
                    if depthwise {
                        w
                    } else {
                        w.index_select(1, &channel_index(a.source_channels(input), kept, 1))
                    }
                });
                push("weight", w);
                if bias {
                    push("bias", get("bias")?.map(|b| b.index_select(0, &own)));
                }
            }
            Op::BatchNorm => {
                let idx = if a.shapes[i].flat { flat_own() } else { own };
                for p in ["weight", "bias", "running_mean", "running_var"] {
                    push(p, get(p)?.map(|t| t.index_select(0, &idx)));
                }
            }
            Op::Linear { bias, .. } => {
                let cols = channel_index(a.source_channels(input), kept, hw(a, input));
                push("weight", get("weight")?.map(|w| w.index_select(0, &own).index_select(1, &cols)));
                if bias {
                    push("bias", get("bias")?.map(|b| b.index_select(0, &own)));
                }
            }
            Op::Add { bias: true } => {
                let s = a.shapes[i];
                let n = if s.flat { s.features() } else { s.c } as i64;
                let b = match &g.nodes[i].op {
                    Op::Add { bias: true } => get("bias")?,
                    _ => required.then(|| Tensor::zeros([n], (Kind::Float, Device::Cpu))),
                };
                let b = b.map(|b| match constants.get(&node.name) {
                    Some(c) => b + c,
                    None => b,
                });
                push("bias", b.map(|b| b.index_select(0, &if s.flat { flat_own() } else { own.shallow_clone() })));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Spatial positions per channel of a flat tensor (`h·w` of what was flattened), else 1.
fn hw(a: &Analysis, s: Source) -> usize {
    let sh = a.source_shape(s);
    if sh.flat {
        sh.h * sh.w
    } else {
        1
    }
}

/// Indices of the kept channels in a tensor whose channels are `segs` (each `per` values
/// wide: `h·w` features per channel of a flattened image, channel-major).
fn channel_index(segs: &[Seg], kept: &[Tensor], per: usize) -> Tensor {
    let mut parts = Vec::with_capacity(segs.len());
    let mut offset = 0i64;
    for s in segs {
        let ch = &kept[s.group] + offset;
        parts.push(if per == 1 {
            ch
        } else {
            let p = per as i64;
            (ch.view([-1, 1]) * p + Tensor::arange(p, (Kind::Int64, Device::Cpu)).view([1, -1])).view(-1)
        });
        offset += s.width as i64;
    }
    Tensor::cat(&parts, 0)
}

/// Per add in `report.folded`, the constant its removed inputs add in the supernet, per
/// channel (image) or per feature (flat), at the supernet's full width.
///
/// A removed input's value does not depend on the network's input (everything upstream of
/// it that is still computed is multiplied by a closed gate), so one forward pass on zeros
/// reads it. It must also be the same at every position to fit a per-channel bias; a
/// removed branch that ends in a padded depthwise conv or average pool would not be, and is
/// refused with the node named.
fn folded_constants(net: &Net, gates: &[Option<Tensor>], report: &PruneReport) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    if report.folded.is_empty() {
        return Ok(out);
    }
    let (g, a) = (net.graph(), net.analysis());
    let s = a.input_shape;
    let device = gates.iter().flatten().next().map(|t| t.device()).unwrap_or(Device::Cpu);
    let zeros = Tensor::zeros([1, s.c as i64, s.h as i64, s.w as i64], (Kind::Float, device));
    let _no_grad = tch::no_grad_guard();
    let values = net.forward_all(&zeros, false, Some(gates))?;
    for f in &report.folded {
        let mut sum: Option<Tensor> = None;
        for from in &f.from {
            let j = g.index_of(from).ok_or_else(|| Error::graph(from, "not in the supernet"))?;
            let v = values[j].to_device(Device::Cpu).to_kind(Kind::Float).squeeze_dim(0);
            let c = if a.shapes[j].flat {
                v
            } else {
                let mean = v.mean_dim([1, 2].as_slice(), false, Kind::Float);
                let spread = f64::try_from((&v - mean.view([-1, 1, 1])).abs().max())?;
                let scale = f64::try_from(mean.abs().max())?.max(1.0);
                if spread > 1e-4 * scale {
                    return Err(Error::graph(
                        from,
                        format!(
                            "this removed branch adds a constant that varies over the image (by {spread:.3e}) to `{}`, which a per-channel bias cannot hold; end the branch with a batch norm straight into the add",
                            f.node
                        ),
                    ));
                }
                mean
            };
            sum = Some(match sum {
                Some(s) => s + c,
                None => c,
            });
        }
        if let Some(s) = sum {
            out.insert(f.node.clone(), s);
        }
    }
    Ok(out)
}
