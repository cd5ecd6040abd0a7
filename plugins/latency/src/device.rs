//! The roofline on the search's device: latency and penalty from alive counts held in a
//! tensor, so a search step never reads them back to the host (docs/PERFORMANCE.md, "No
//! host read in a step"). The same formulas as [`Roofline::latency`] and
//! [`Roofline::gradient`], per layer as tensors: FLOPs `f = q·A_in·A_out + l·A_out` and bytes
//! `b = bi·A_in + bo·A_out + bq·A_in·A_out`, where a dense layer has `q` = its FLOPs per
//! channel pair, `bi`, `bo`, `bq` = its input, output and weight bytes, and a depthwise one
//! `l` = its FLOPs per channel and `bo` = all its bytes per channel.

use crate::roofline::Roofline;
use figs::Error;
use tch::{Device, Kind, Tensor};

/// Per layer coefficients and per segment indices, on one device.
pub struct Indexed {
    device: Device,
    groups: i64,
    in_layer: Tensor,
    in_group: Tensor,
    out_layer: Tensor,
    out_group: Tensor,
    q: Tensor,
    l: Tensor,
    bi: Tensor,
    bo: Tensor,
    bq: Tensor,
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indexed({:?})", self.device)
    }
}

impl Indexed {
    fn new(r: &Roofline, groups: i64, device: Device) -> Indexed {
        let (mut in_layer, mut in_group, mut out_layer, mut out_group) = (vec![], vec![], vec![], vec![]);
        let (mut q, mut l, mut bi, mut bo, mut bq) = (vec![], vec![], vec![], vec![], vec![]);
        for (i, layer) in r.layers.iter().enumerate() {
            for s in &layer.ins {
                in_layer.push(i as i64);
                in_group.push(s.group as i64);
            }
            for s in &layer.out {
                out_layer.push(i as i64);
                out_group.push(s.group as i64);
            }
            if layer.depthwise {
                q.push(0.0);
                l.push(layer.flops);
                bi.push(0.0);
                bo.push(layer.in_bytes + layer.out_bytes + layer.weight_bytes);
                bq.push(0.0);
            } else {
                q.push(layer.flops);
                l.push(0.0);
                bi.push(layer.in_bytes);
                bo.push(layer.out_bytes);
                bq.push(layer.weight_bytes);
            }
        }
        let long = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        let double = |v: &[f64]| Tensor::from_slice(v).to_device(device);
        Indexed {
            device,
            groups,
            in_layer: long(&in_layer),
            in_group: long(&in_group),
            out_layer: long(&out_layer),
            out_group: long(&out_group),
            q: double(&q),
            l: double(&l),
            bi: double(&bi),
            bo: double(&bo),
            bq: double(&bq),
        }
    }

    /// Per layer, the alive channels summed over its input resp. output segments.
    fn per_layer(&self, alive: &Tensor) -> (Tensor, Tensor) {
        let n = self.q.size()[0];
        let sum = |layer: &Tensor, group: &Tensor| {
            Tensor::zeros([n], (Kind::Double, self.device)).index_add(0, layer, &alive.index_select(0, group))
        };
        (sum(&self.in_layer, &self.in_group), sum(&self.out_layer, &self.out_group))
    }

    /// Per layer, compute and memory seconds.
    fn times(&self, r: &Roofline, a_in: &Tensor, a_out: &Tensor) -> (Tensor, Tensor) {
        let quad = a_in * a_out;
        let flops = &self.q * &quad + &self.l * a_out;
        let bytes = &self.bi * a_in + &self.bo * a_out + &self.bq * &quad;
        (flops / r.hw.peak_flops, bytes / r.hw.bandwidth)
    }
}

impl Roofline {
    /// Checks `alive` (one count per group, any float kind) and runs `f` on it as float64
    /// with the index tensors for its device, built on first use.
    fn with_indexed<T>(&self, alive: &Tensor, f: impl FnOnce(&Indexed, &Tensor) -> T) -> figs::Result<T> {
        let groups = self.groups as i64;
        if alive.size() != [groups] {
            return Err(Error::Regularizer {
                name: "latency".into(),
                message: format!("alive counts have shape {:?}, expected [{groups}] (one per group)", alive.size()),
            });
        }
        let mut slot = self.indexed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !matches!(slot.as_ref(), Some(ix) if ix.device == alive.device()) {
            *slot = Some(Indexed::new(self, groups, alive.device()));
        }
        let ix = slot.as_ref().expect("just built");
        Ok(f(ix, &alive.detach().to_kind(Kind::Double)))
    }

    /// [`Roofline::latency`] of alive counts in a tensor `[groups]`, as a float64 scalar on
    /// its device.
    pub fn latency_t(&self, alive: &Tensor) -> figs::Result<Tensor> {
        self.with_indexed(alive, |ix, a| {
            let (a_in, a_out) = ix.per_layer(a);
            let (c, m) = ix.times(self, &a_in, &a_out);
            c.maximum(&m).sum(Kind::Double)
        })
    }

    /// The penalty `Σ_g (∂latency/∂A_g) · R_g` (ungated groups: `A_g`, a constant) with the
    /// alive counts in a tensor `[groups]`, as a float32 scalar with the gradient of `r`.
    pub fn penalty_t(&self, r: &[Option<Tensor>], alive: &Tensor) -> figs::Result<Tensor> {
        self.with_indexed(alive, |ix, a| {
            let (a_in, a_out) = ix.per_layer(a);
            let (c, m) = ix.times(self, &a_in, &a_out);
            let compute = c.ge_tensor(&m);
            let peak = self.hw.peak_flops;
            let bw = self.hw.bandwidth;
            // The active side of each max, differentiated by A_in and by A_out.
            let d_in = (&ix.q * &a_out / peak).where_self(&compute, &((&ix.bi + &ix.bq * &a_out) / bw));
            let d_out = ((&ix.q * &a_in + &ix.l) / peak).where_self(&compute, &((&ix.bo + &ix.bq * &a_in) / bw));
            let per_group = |layer: &Tensor, group: &Tensor, d: &Tensor| {
                Tensor::zeros([ix.groups], (Kind::Double, ix.device)).index_add(0, group, &d.index_select(0, layer))
            };
            let grad = per_group(&ix.in_layer, &ix.in_group, &d_in) + per_group(&ix.out_layer, &ix.out_group, &d_out);
            let sums: Vec<Tensor> = (0..ix.groups)
                .map(|g| match r.get(g as usize).and_then(Option::as_ref) {
                    Some(r) => r.sum(Kind::Double),
                    None => a.select(0, g),
                })
                .collect();
            if sums.is_empty() {
                return Tensor::zeros([], (Kind::Float, ix.device));
            }
            (grad * Tensor::stack(&sums, 0)).sum(Kind::Double).to_kind(Kind::Float)
        })
    }
}
