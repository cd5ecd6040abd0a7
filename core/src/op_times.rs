//! Where a pass's time goes, by libtorch operator (`csrc/op_times.cpp`): self time and calls
//! of each operator between [`start`] and [`stop`], nested operators subtracted, with
//! convolutions split into 1×1, depthwise and k×k, and optionally each shape apart. figs'
//! kernels show as `figs::batch_norm_cl` and `figs::pointwise_conv` (forward) and their
//! autograd nodes (backward). Timing adds a few
//! microseconds to every operator call: compare profiles with each other, not with
//! untimed runs.

use crate::error::{Error, Result};
use crate::ffi::check;
use std::ffi::{c_char, c_int, CStr};

unsafe extern "C" {
    fn figs_op_times_start(shapes: c_int) -> *mut c_char;
    fn figs_op_times_stop(out: *mut *mut c_char) -> *mut c_char;
    fn figs_free_error(s: *mut c_char);
}

/// One operator's share.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    pub name: String,
    /// Nanoseconds spent in the operator itself, not in operators it called.
    pub self_ns: u64,
    pub calls: u64,
}

/// Starts timing every libtorch operator this thread calls (a CPU backward pass runs on the
/// thread that starts it). With `shapes`, each name is followed by the sizes of the
/// operator's first two tensor inputs (a convolution's input and weight), so each layer of a
/// network is timed apart. An error if it is already on.
pub fn start(shapes: bool) -> Result<()> {
    // SAFETY: a plain integer argument; the return is null or an error string `check` frees.
    check(unsafe { figs_op_times_start(c_int::from(shapes)) }, "op_times")
}

/// Stops timing and returns each operator's total since [`start`], longest first.
pub fn stop() -> Result<Vec<OpTime>> {
    let mut out: *mut c_char = std::ptr::null_mut();
    // SAFETY: `out` is written (a malloc'd string) only when the call succeeds.
    check(unsafe { figs_op_times_stop(&mut out) }, "op_times")?;
    if out.is_null() {
        return Err(Error::config("op_times", "libtorch returned no timings".to_owned()));
    }
    // SAFETY: a NUL-terminated malloc'd string, owned here and freed once.
    let text = unsafe {
        let t = CStr::from_ptr(out).to_string_lossy().into_owned();
        figs_free_error(out);
        t
    };
    let mut ops: Vec<OpTime> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.rsplitn(3, '\t');
            let calls = f.next()?.parse().ok()?;
            let self_ns = f.next()?.parse::<i64>().ok()?.max(0) as u64;
            Some(OpTime { name: f.next()?.to_owned(), self_ns, calls })
        })
        .collect();
    ops.sort_by(|a, b| b.self_ns.cmp(&a.self_ns).then_with(|| a.name.cmp(&b.name)));
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    /// A 1×1 and a depthwise convolution and a matrix product are each found under their
    /// own name, called as often as they ran; the matrix product's time is its own, not
    /// counted again in the operators that call it.
    #[test]
    fn times_each_operator_once_by_kind() {
        let x = Tensor::randn([2, 4, 8, 8], (Kind::Float, Device::Cpu));
        let w1 = Tensor::randn([6, 4, 1, 1], (Kind::Float, Device::Cpu));
        let wd = Tensor::randn([4, 1, 3, 3], (Kind::Float, Device::Cpu));
        let m = Tensor::randn([300, 300], (Kind::Float, Device::Cpu));
        assert!(stop().is_err(), "stop before start");
        start(false).unwrap();
        assert!(start(false).is_err(), "started twice");
        let t0 = std::time::Instant::now();
        for _ in 0..3 {
            let _ = x.conv2d(&w1, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
            let _ = x.conv2d(&wd, None::<Tensor>, [1, 1], [1, 1], [1, 1], 4);
        }
        let _ = m.matmul(&m);
        let wall = t0.elapsed().as_nanos() as u64;
        let ops = stop().unwrap();
        let find = |n: &str| ops.iter().find(|o| o.name == n).unwrap_or_else(|| panic!("{n} not in {ops:?}"));
        assert_eq!(find("aten::conv2d (1x1)").calls, 3);
        assert_eq!(find("aten::conv2d (depthwise)").calls, 3);
        assert!(find("aten::mm").calls >= 1);
        let total: u64 = ops.iter().map(|o| o.self_ns).sum();
        assert!(total <= wall, "self times add up to {total} ns within {wall} ns of wall time");
        assert!(stop().is_err(), "stopped twice");
    }

    /// With shapes, the same operator at two shapes is two entries, named with the input's
    /// and the weight's sizes, figs' pointwise kernel too.
    #[test]
    fn shapes_split_an_operator_by_its_inputs() {
        let w1 = Tensor::randn([6, 4, 1, 1], (Kind::Float, Device::Cpu));
        let a = Tensor::randn([2, 4, 8, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([1, 4, 5, 5], (Kind::Float, Device::Cpu));
        start(true).unwrap();
        let _ = a.conv2d(&w1, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        let _ = b.conv2d(&w1, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        let pointwise = crate::pointwise::available();
        if pointwise {
            let _ = crate::pointwise::conv(&crate::device::to_channels_last(&a), &w1).unwrap();
        }
        let ops = stop().unwrap();
        let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        for n in ["aten::conv2d (1x1) [2, 4, 8, 8] [6, 4, 1, 1]", "aten::conv2d (1x1) [1, 4, 5, 5] [6, 4, 1, 1]"] {
            assert!(names.contains(&n), "{n} not in {names:?}");
        }
        if pointwise {
            assert!(names.contains(&"figs::pointwise_conv (1x1) [2, 4, 8, 8] [6, 4, 1, 1]"), "{names:?}");
        }
    }

    /// figs' pointwise kernel is counted as a 1×1 convolution forward and backward, as
    /// `bench/found_where.py --figs` sorts by these names (it counted it as another kind of
    /// convolution until the names said so).
    #[test]
    fn figs_pointwise_kernel_is_a_1x1_convolution_both_ways() {
        if !crate::pointwise::available() {
            eprintln!("SKIPPED: this CPU has no AVX2 and FMA; figs runs 1x1 layers in oneDNN");
            return;
        }
        let x = crate::device::to_channels_last(&Tensor::randn([2, 4, 8, 8], (Kind::Float, Device::Cpu)))
            .set_requires_grad(true);
        let w = Tensor::randn([6, 4, 1, 1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        start(false).unwrap();
        let y = crate::pointwise::conv(&x, &w).unwrap();
        let _ = Tensor::run_backward(&[y.sum(Kind::Float)], &[&x, &w], false, false);
        let ops = stop().unwrap();
        let of = |part: &str| ops.iter().find(|o| o.name.contains(part)).map(|o| o.name.clone());
        assert_eq!(of("figs::pointwise_conv").as_deref(), Some("figs::pointwise_conv (1x1)"), "{ops:?}");
        let node = of("PointwiseConv>").unwrap_or_else(|| panic!("no backward node in {ops:?}"));
        assert!(node.ends_with("PointwiseConv> (1x1)"), "{node}");
    }
}
