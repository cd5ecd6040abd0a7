//! glibc's allocator, told to keep the memory a training step frees.
//!
//! libtorch on the CPU allocates every activation and gradient of a step with `malloc` and
//! frees it before the next. With glibc's defaults, blocks above its mmap threshold are
//! fresh mappings, and freed memory at the top of the heap above the trim threshold goes
//! back to the kernel, so every step faults its pages in again, each one zeroed by the
//! kernel. On the benchmark network (docs/PERFORMANCE.md) that was about 4 500 page faults
//! per plain step and 10 000 per FiGS step, and the FiGS step spent ~14 % of its time there.
//! Raising both thresholds once per process keeps the pages mapped and reused; the step then
//! faults no more after its first few. Peak memory barely grows: the pages kept are the
//! ones the next step needs again (the main job, which moves from search to retraining,
//! peaked 9 % higher).

use std::sync::Once;

/// The largest mmap threshold glibc accepts on 64-bit (`HEAP_MAX_SIZE / 2`): every block
/// below it comes from the heap and is reused.
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory kept at the top of the heap before glibc returns it to the kernel.
const TRIM_THRESHOLD: i32 = 1 << 30;

static ONCE: Once = Once::new();

/// Sets glibc's mmap and trim thresholds for this process (once; later calls do nothing),
/// unless the user set either already (`GLIBC_TUNABLES=glibc.malloc.…`, or the older
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`: their choice wins) or asked for
/// glibc's own behaviour with `FIGS_MALLOC=glibc`. (Setting glibc's trim threshold back to
/// its default value is not the same: any explicit threshold also turns off glibc's
/// adaptive mmap threshold, and steps then map and fault every large block, 2.5× slower.)
/// Elsewhere than glibc it does nothing.
///
/// figs' own binaries call it first thing in `main`; the library never calls it, so a host
/// process (a notebook kernel, a user's program) keeps its allocator as it set it, and opts
/// in by calling this itself.
///
/// # Safety
/// glibc documents `mallopt` as MT-Unsafe: call it before the process starts any other
/// thread (first thing in `main`), never while other threads may allocate.
pub unsafe fn keep_freed_memory() {
    ONCE.call_once(|| {
        if user_tuned(|k| std::env::var(k).ok()) || std::env::var("FIGS_MALLOC").is_ok_and(|v| v == "glibc") {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: the caller guarantees no other thread runs (see above); mallopt fails by
        // returning 0, which changes nothing.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    });
}

/// Whether the environment (`var` reads it) already sets glibc's malloc thresholds.
fn user_tuned(var: impl Fn(&str) -> Option<String>) -> bool {
    var("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc."))
        || ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"].iter().any(|k| var(k).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_users_own_allocator_settings_win() {
        assert!(!user_tuned(env(&[])));
        assert!(!user_tuned(env(&[("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")])));
        assert!(user_tuned(env(&[("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")])));
        assert!(user_tuned(env(&[("MALLOC_TRIM_THRESHOLD_", "131072")])));
        assert!(user_tuned(env(&[("MALLOC_MMAP_THRESHOLD_", "65536")])));
    }
}
