//! Batch norm for channels-last float tensors on the CPU, optionally with the ReLU or ReLU6
//! after it in the same passes (`csrc/batch_norm_cl.cpp`, one autograd function):
//! libtorch's own channels-last kernel is 3–8× slower at widths that are not a multiple of
//! 8 (a found network's 7, 21, 57 channels) than at the aligned widths around them, which made a found network retrain no faster than its seed
//! (docs/PERFORMANCE.md, "Found network against seed"). Same arithmetic as libtorch's:
//! batch statistics and the running estimates' update in training, running statistics in
//! evaluation; the activation's gradient as libtorch's (ReLU: where its input > 0, ReLU6:
//! where 0 < input < 6).

use crate::error::{Error, Result};
use crate::graph::Act;
use std::ffi::{c_char, c_int};
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

unsafe extern "C" {
    fn figs_batch_norm_cl(
        input: *const C_tensor,
        weight: *const C_tensor,
        bias: *const C_tensor,
        running_mean: *const C_tensor,
        running_var: *const C_tensor,
        train: c_int,
        momentum: f64,
        eps: f64,
        act: c_int,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
}

/// Whether [`batch_norm`] takes `x`: a 4-d float32 CPU tensor laid out channels-last.
pub fn applies(x: &Tensor) -> bool {
    x.kind() == Kind::Float && x.device() == Device::Cpu && crate::device::is_channels_last(x)
}

/// Whether [`batch_norm`] can apply `act` in its own passes.
pub fn fuses(act: Act) -> bool {
    matches!(act, Act::Relu | Act::Relu6)
}

/// `act(torch.batch_norm(x, weight, bias, running_mean, running_var, train, momentum, eps))`
/// for a tensor that [`applies`] (`act`: `None`, or one that [`fuses`]); gradients flow to
/// `x`, `weight` and `bias`, and the output is channels-last.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    running_mean: &Tensor,
    running_var: &Tensor,
    train: bool,
    momentum: f64,
    eps: f64,
    act: Option<Act>,
) -> Result<Tensor> {
    let act = match act {
        None => 0,
        Some(Act::Relu) => 1,
        Some(Act::Relu6) => 2,
        Some(a) => return Err(Error::config("batch norm", format!("{a:?} cannot be fused into a batch norm"))),
    };
    let opt = |t: Option<&Tensor>| t.map_or(std::ptr::null(), |t| t.as_ptr());
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: every pointer is a live tensor handle of tch (or null where the C++ side takes
    // an optional one); the function catches every C++ exception and either sets `out` to a
    // new tensor handle, which `Tensor::from_ptr` takes ownership of, or returns a message.
    let err = unsafe {
        figs_batch_norm_cl(
            x.as_ptr(),
            opt(weight),
            opt(bias),
            running_mean.as_ptr(),
            running_var.as_ptr(),
            c_int::from(train),
            momentum,
            eps,
            act,
            &mut out,
        )
    };
    crate::ffi::check(err, "batch norm")?;
    // SAFETY: no error, so `out` is a new tensor handle that nothing else owns.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn;

    fn cl(t: &Tensor) -> Tensor {
        crate::device::to_channels_last(t)
    }

    unsafe extern "C" {
        fn figs_batch_norm_cl_baseline(on: c_int);
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// Reference: libtorch's own batch norm on the same values (its NCHW kernel); both copies
    /// of the kernel's loops (AVX2 where this CPU has it, and the x86-64 baseline).
    #[test]
    fn matches_libtorch_forward_backward_and_running_statistics() {
        for baseline in [0, 1] {
            // SAFETY: sets an atomic flag; both copies compute the same within this test's
            // tolerances, so other tests running meanwhile are unaffected.
            unsafe { figs_batch_norm_cl_baseline(baseline) };
            matches_libtorch();
        }
        unsafe { figs_batch_norm_cl_baseline(0) };
    }

    /// Test data from the test's own generator: libtorch's global one is shared with the tests
    /// running beside this one, and a draw whose ReLU6 input lands within rounding of 0 or 6
    /// (where figs' FMA and libtorch's arithmetic may cut the gradient on different sides)
    /// made the comparison fail about one run in forty.
    struct Draws(rand_chacha::ChaCha8Rng);

    impl Draws {
        fn uniform(&mut self, shape: &[i64]) -> Tensor {
            use rand::Rng;
            let n = shape.iter().product::<i64>() as usize;
            let v: Vec<f32> = (0..n).map(|_| self.0.gen::<f32>()).collect();
            Tensor::from_slice(&v).view(shape)
        }

        /// Standard normal values (Box–Muller).
        fn normal(&mut self, shape: &[i64]) -> Tensor {
            let u1 = self.uniform(shape).clamp_min(1e-7);
            let u2 = self.uniform(shape);
            (u1.log() * -2.0).sqrt() * (u2 * (2.0 * std::f64::consts::PI)).cos()
        }
    }

    fn matches_libtorch() {
        use rand::SeedableRng;
        let mut draw = Draws(rand_chacha::ChaCha8Rng::seed_from_u64(3));
        // Two threads split the larger shapes into several chunks of periods (per-thread
        // partial sums); the small ones stay in one.
        let threads = tch::get_num_threads();
        let shapes = [
            (4, 7, 5),
            (8, 21, 6),
            (2, 57, 3),
            (3, 8, 4),
            (5, 64, 2),
            (1, 3, 3),
            (6, 133, 1),
            (16, 21, 16),
            (32, 57, 8),
        ];
        for (t, &(n, c, h)) in [1, 2].iter().flat_map(|t| shapes.iter().map(move |s| (*t, s))) {
            tch::set_num_threads(t);
            for (train, act) in [
                (true, None),
                (false, None),
                (true, Some(Act::Relu6)),
                (false, Some(Act::Relu)),
                (true, Some(Act::Relu)),
            ] {
                let x0 = (draw.normal(&[n, c, h, h]) * 3.0 + 1.5).set_requires_grad(true);
                let w0 = draw.uniform(&[c]).set_requires_grad(true);
                let b0 = draw.normal(&[c]).set_requires_grad(true);
                let (rm0, rv0) = (draw.normal(&[c]), draw.uniform(&[c]) + 0.5);
                let (rm1, rv1) = (rm0.copy(), rv0.copy());
                let ref_y =
                    Tensor::batch_norm(&x0, Some(&w0), Some(&b0), Some(&rm0), Some(&rv0), train, 0.1, 1e-5, false);
                // Values around 0 and 6, so both ends of ReLU6 cut gradients.
                let ref_y = match act {
                    Some(a) => crate::net::activate(&(ref_y * 4.0), a),
                    None => ref_y,
                };
                let x1 = cl(&x0.detach()).set_requires_grad(true);
                let (w1, b1) = (w0.detach().copy().set_requires_grad(true), b0.detach().copy().set_requires_grad(true));
                assert!(applies(&x1));
                let (w4, b4) =
                    if act.is_some() { (&w1 * 4.0, &b1 * 4.0) } else { (w1.shallow_clone(), b1.shallow_clone()) };
                let y = batch_norm(&x1, Some(&w4), Some(&b4), &rm1, &rv1, train, 0.1, 1e-5, act).unwrap();
                assert!(applies(&y), "the output is channels-last");
                assert!(
                    max_diff(&y, &ref_y) < 5e-5,
                    "{n}×{c}×{h} {t} threads, train {train} {act:?}: {}",
                    max_diff(&y, &ref_y)
                );
                assert!(max_diff(&rm1, &rm0) < 1e-6 && max_diff(&rv1, &rv0) < 1e-5, "running statistics");
                let g = draw.normal(&ref_y.size());
                let r = Tensor::run_backward(&[(&ref_y * &g).sum(Kind::Float)], &[&x0, &w0, &b0], false, false);
                let m = Tensor::run_backward(&[(&y * &g).sum(Kind::Float)], &[&x1, &w1, &b1], false, false);
                for (k, (a, b)) in r.iter().zip(&m).enumerate() {
                    let scale = a.abs().max().double_value(&[]).max(1.0);
                    assert!(
                        max_diff(a, b) / scale < 1e-4,
                        "{n}×{c}×{h} train {train} {act:?} grad {k}: {}",
                        max_diff(a, b)
                    );
                }
            }
        }
        tch::set_num_threads(threads);
    }

    /// Reference: libtorch's NCHW batch norm. Values of mean 1000 and spread 1, where the
    /// one-pass Σx² − (Σx)²/M in floats would lose the variance; the kernel's sums are
    /// shifted by a sample of each channel.
    #[test]
    fn batch_statistics_hold_far_from_zero() {
        tch::manual_seed(5);
        for &(n, c, h) in &[(64, 7, 28), (64, 57, 7)] {
            let x = Tensor::randn([n, c, h, h], (Kind::Float, Device::Cpu)) + 1000.0;
            let (rm0, rv0) =
                (Tensor::zeros([c], (Kind::Float, Device::Cpu)), Tensor::ones([c], (Kind::Float, Device::Cpu)));
            let (rm1, rv1) = (rm0.copy(), rv0.copy());
            let want = Tensor::batch_norm(&x, None, None, Some(&rm0), Some(&rv0), true, 0.1, 1e-5, false);
            let got = batch_norm(&cl(&x), None, None, &rm1, &rv1, true, 0.1, 1e-5, None).unwrap();
            assert!(max_diff(&got, &want) < 1e-3, "{n}×{c}×{h}: output differs by {}", max_diff(&got, &want));
            assert!(max_diff(&rm1, &rm0) < 1e-4, "running mean differs by {}", max_diff(&rm1, &rm0));
            assert!(max_diff(&rv1, &rv0) < 1e-5, "running variance differs by {}", max_diff(&rv1, &rv0));
        }
    }

    #[test]
    fn a_weight_of_the_wrong_size_is_an_error_not_a_read_past_its_end() {
        let x = cl(&Tensor::ones([2, 3, 2, 2], (Kind::Float, Device::Cpu)));
        let (rm, rv) = (Tensor::zeros([3], (Kind::Float, Device::Cpu)), Tensor::ones([3], (Kind::Float, Device::Cpu)));
        let w = Tensor::ones([2], (Kind::Float, Device::Cpu));
        let e = batch_norm(&x, Some(&w), None, &rm, &rv, true, 0.1, 1e-5, None).unwrap_err().to_string();
        assert!(e.contains("the weight has 2 values for 3 channels"), "{e}");
    }

    #[test]
    fn a_single_value_per_channel_in_training_is_an_error_not_a_crash() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bn = nn::batch_norm2d(vs.root(), 3, Default::default());
        let x = cl(&Tensor::ones([1, 3, 1, 1], (Kind::Float, Device::Cpu)));
        let e =
            batch_norm(&x, bn.ws.as_ref(), bn.bs.as_ref(), &bn.running_mean, &bn.running_var, true, 0.1, 1e-5, None);
        assert!(e.unwrap_err().to_string().contains("more than 1 value per channel"));
    }
}
