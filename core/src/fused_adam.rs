//! The retraining's optimizer: Adam with L2 weight decay (`torch.optim.Adam`), every
//! parameter updated by one call to libtorch's fused kernel (`csrc/fused_adam.cpp`) and the
//! gradients reset to none before each backward pass. tch's `nn::Adam` does the same update
//! with about ten tensor operations per parameter plus one to zero its gradient: a fixed
//! cost of every step that a found network pays as much as its seed.

use crate::error::Result;
use crate::ffi::check;
use std::ffi::c_char;
use tch::{nn, Kind, Tensor};
use torch_sys::C_tensor;

unsafe extern "C" {
    fn figs_fused_adam(
        params: *const *const C_tensor,
        exp_avgs: *const *const C_tensor,
        exp_avg_sqs: *const *const C_tensor,
        steps: *const *const C_tensor,
        n: i64,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *mut c_char;
    fn figs_zero_grads(params: *const *const C_tensor, n: i64) -> *mut c_char;
}

/// PyTorch's defaults, as tch's `nn::Adam`.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

pub struct FusedAdam {
    params: Vec<Tensor>,
    exp_avgs: Vec<Tensor>,
    exp_avg_sqs: Vec<Tensor>,
    steps: Vec<Tensor>,
    lr: f64,
    weight_decay: f64,
}

impl FusedAdam {
    /// Over the trainable variables of `vs`, in the order of their names.
    pub fn new(vs: &nn::VarStore, lr: f64, weight_decay: f64) -> FusedAdam {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params: Vec<Tensor> = vars.into_iter().map(|(_, t)| t).collect();
        let _no_grad = tch::no_grad_guard();
        // zeros_like keeps each parameter's layout (channels-last conv weights), which the
        // fused kernel walks element by element alongside the parameter.
        let exp_avgs = params.iter().map(Tensor::zeros_like).collect();
        let exp_avg_sqs = params.iter().map(Tensor::zeros_like).collect();
        let steps = params.iter().map(|p| Tensor::zeros([], (Kind::Float, p.device()))).collect();
        FusedAdam { params, exp_avgs, exp_avg_sqs, steps, lr, weight_decay }
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Resets the gradients, back-propagates `loss` and applies one update to every
    /// parameter that got a gradient (the others keep their value and step count).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let params = ptrs(&self.params);
        let n = params.len() as i64;
        // SAFETY: the pointers are live tch tensor handles held by `self` for the call.
        check(unsafe { figs_zero_grads(params.as_ptr(), n) }, "optimizer")?;
        loss.backward();
        let (m, v, t) = (ptrs(&self.exp_avgs), ptrs(&self.exp_avg_sqs), ptrs(&self.steps));
        // SAFETY: as above; the four arrays have n entries each, in the same order.
        let err = unsafe {
            figs_fused_adam(
                params.as_ptr(),
                m.as_ptr(),
                v.as_ptr(),
                t.as_ptr(),
                n,
                self.lr,
                BETA1,
                BETA2,
                self.weight_decay,
                EPS,
            )
        };
        check(err, "optimizer")
    }
}

fn ptrs(ts: &[Tensor]) -> Vec<*const C_tensor> {
    ts.iter().map(Tensor::as_ptr).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;
    use tch::Device;

    /// Reference: tch's `nn::Adam`, i.e. libtorch's C++ `torch::optim::Adam`, on a copy of the
    /// same parameters (one laid out channels-last, one never used by the loss).
    #[test]
    fn updates_as_libtorch_adam_with_weight_decay() {
        tch::manual_seed(1);
        let build = |vs: &nn::VarStore| {
            let r = vs.root();
            let w = r.randn("w", &[6, 3, 3, 3], 0.0, 1.0);
            let b = r.randn("b", &[6], 0.0, 1.0);
            let unused = r.randn("unused", &[4], 0.0, 1.0);
            (w, b, unused)
        };
        let (vs_ref, mut vs) = (nn::VarStore::new(Device::Cpu), nn::VarStore::new(Device::Cpu));
        let (w0, b0, _) = build(&vs_ref);
        let (w1, b1, u1) = build(&vs);
        vs.copy(&vs_ref).unwrap();
        {
            let _g = tch::no_grad_guard();
            let cl = crate::device::to_channels_last(&w1);
            w1.shallow_clone().set_data(&cl);
        }
        let u_before = u1.copy();
        let x = Tensor::randn([5, 3, 7, 7], (Kind::Float, Device::Cpu));
        let loss = |w: &Tensor, b: &Tensor| x.conv2d(w, Some(b), [1, 1], [1, 1], [1, 1], 1).square().mean(Kind::Float);
        let mut reference = nn::Adam { wd: 0.01, ..Default::default() }.build(&vs_ref, 0.01).unwrap();
        let mut mine = FusedAdam::new(&vs, 0.01, 0.01);
        for step in 0..6 {
            let lr = 0.01 * (1.0 - step as f64 / 6.0);
            reference.set_lr(lr);
            mine.set_lr(lr);
            reference.backward_step(&loss(&w0, &b0));
            mine.backward_step(&loss(&w1, &b1)).unwrap();
            let d = (&w0 - &w1).abs().max().double_value(&[]).max((&b0 - &b1).abs().max().double_value(&[]));
            assert!(d < 1e-6, "step {step}: parameters differ by {d}");
        }
        assert!(u1.equal(&u_before), "a parameter without a gradient is not moved");
    }
}
