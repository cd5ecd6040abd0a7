//! Pointwise (1×1) convolutions on the CPU in channels-last (`csrc/pointwise.cpp`, one
//! autograd function): oneDNN runs the narrow layers a FLOPs search leaves (7 to 21 channels
//! at 28×28) at 14–24 GMAC/s where it runs wide ones at 43–48 and this loop at 33–42, and
//! odd widths (58, 87, 117 channels) at two thirds of the speed of round ones
//! (docs/PERFORMANCE.md). The forward is a register-blocked loop in AVX2; so are both
//! gradients of layers of at most 32 input and output channels, and wider layers' are
//! libtorch's `convolution_backward`.

use crate::error::{Error, Result};
use crate::ffi::check;
use std::ffi::{c_char, c_int};
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

unsafe extern "C" {
    fn figs_pointwise_available() -> c_int;
    fn figs_pointwise_conv(x: *const C_tensor, w: *const C_tensor, out: *mut *mut C_tensor) -> *mut c_char;
}

/// Whether this CPU and build run the loop (AVX2 and FMA).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    // SAFETY: no arguments, no state but a CPU check.
    *AVAILABLE.get_or_init(|| unsafe { figs_pointwise_available() } != 0)
}

/// Whether [`conv`] takes `x` and `w` for a convolution of stride 1, no padding, one group
/// and no bias: a 4-d channels-last float32 CPU input and a `[N, C, 1, 1]` weight.
pub fn applies(x: &Tensor, w: &Tensor) -> bool {
    let ws = w.size();
    x.kind() == Kind::Float
        && x.device() == Device::Cpu
        && w.kind() == Kind::Float
        && ws.len() == 4
        && ws[0] >= 1
        && ws[2] == 1
        && ws[3] == 1
        && x.dim() == 4
        && x.size()[1] == ws[1]
        && crate::device::is_channels_last(x)
        && available()
}

/// `x.conv2d(w)` (stride 1, no padding, one group, no bias) for inputs that [`applies`]
/// takes; gradients flow to `x` and `w`, and the output is channels-last.
pub fn conv(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: both pointers are live tensor handles of tch; the function catches every C++
    // exception and either sets `out` to a new handle, which `Tensor::from_ptr` takes
    // ownership of, or returns a message.
    let err = unsafe { figs_pointwise_conv(x.as_ptr(), w.as_ptr(), &mut out) };
    check(err, "pointwise convolution")?;
    if out.is_null() {
        return Err(Error::config("pointwise convolution", "libtorch returned no tensor".to_owned()));
    }
    // SAFETY: a new tensor handle that nothing else owns.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against libtorch's convolution, forward and both gradients, at output widths around
    /// one to four vectors (1, 7, 8, 9, 16, 17, 24, 25, 32) and past them, where the loop
    /// runs in passes of 24 columns after a tail (33, 48, 58, 87, 310), input widths from 1
    /// to 96, pixel counts that leave every tail of the pixel blocks, and 2 threads over
    /// thousands of pixels at 1–3 channels, where a whole-vector store or read reaches
    /// several rows past its own (the ranges' ends: another thread's rows, the tensor's end;
    /// an early version corrupted the heap there).
    #[test]
    fn matches_libtorch_forward_and_backward() {
        if !available() {
            eprintln!("SKIPPED: this CPU has no AVX2 and FMA; figs runs these layers in oneDNN");
            return;
        }
        tch::manual_seed(11);
        tch::set_num_threads(2);
        let cl = |t: Tensor| crate::device::to_channels_last(&t);
        for (n, k, b, h) in [
            (1, 3, 1, 1),
            (7, 8, 2, 5),
            (8, 16, 3, 7),
            (9, 21, 1, 3),
            (16, 57, 2, 9),
            (7, 1, 5, 45),
            (17, 5, 2, 3),
            (24, 9, 1, 7),
            (25, 30, 3, 5),
            (32, 96, 1, 4),
            (1, 2, 4, 40),
            (3, 1, 3, 41),
            (2, 5, 2, 33),
            (33, 9, 2, 5),
            (48, 16, 1, 7),
            (58, 9, 3, 6),
            (87, 40, 2, 3),
            (310, 30, 1, 4),
            (26, 3, 2, 37),
        ] {
            let x = cl(Tensor::randn([b, k, h, h], (Kind::Float, Device::Cpu))).set_requires_grad(true);
            let w = cl(Tensor::randn([n, k, 1, 1], (Kind::Float, Device::Cpu))).set_requires_grad(true);
            assert!(applies(&x, &w), "n {n} k {k}");
            let g = Tensor::randn([b, n, h, h], (Kind::Float, Device::Cpu));
            let y = conv(&x, &w).unwrap();
            let want = x.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
            let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
            assert!(diff(&y, &want) < 1e-4 * (k as f64).sqrt(), "forward n {n} k {k}: {}", diff(&y, &want));
            assert!(crate::device::is_channels_last(&y));
            let got = Tensor::run_backward(&[(&y * &g).sum(Kind::Float)], &[&x, &w], false, false);
            let exp = Tensor::run_backward(&[(&want * &g).sum(Kind::Float)], &[&x, &w], false, false);
            // A weight gradient sums thousands of products, in another order than libtorch's:
            // compared relative to its size.
            for (a, e) in got.iter().zip(&exp) {
                let scale = e.abs().max().double_value(&[]).max(1.0);
                assert!(diff(a, e) < 1e-5 * scale, "gradient n {n} k {k}: {} of {scale}", diff(a, e));
            }
        }
        tch::set_num_threads(1);
    }

    #[test]
    fn refuses_what_it_does_not_run() {
        let x = Tensor::randn([1, 4, 3, 3], (Kind::Float, Device::Cpu));
        let w5 = Tensor::randn([2, 5, 1, 1], (Kind::Float, Device::Cpu));
        let w3 = Tensor::randn([2, 4, 3, 3], (Kind::Float, Device::Cpu));
        let xcl = crate::device::to_channels_last(&x);
        assert!(!applies(&xcl, &w5) && !applies(&xcl, &w3), "other input width, not 1x1");
        assert!(!applies(&x, &Tensor::randn([2, 4, 1, 1], (Kind::Float, Device::Cpu))), "NCHW input");
        if available() {
            let e = conv(&xcl, &w5).unwrap_err().to_string();
            assert!(e.contains("[N, 4, 1, 1]"), "{e}");
        }
    }
}
