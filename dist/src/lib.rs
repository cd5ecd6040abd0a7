//! Data-parallel figs on PyTorch's own distributed layer, c10d: a `TCPStore` for the
//! rendezvous and a process group — `ProcessGroupGloo` for CPU tensors, `ProcessGroupNCCL`
//! for CUDA ones — reached through a small C++ shim (`src/shim.cpp`, `src/shim_nccl.cpp`)
//! compiled against the torch wheel's headers. tch's `Tensor` is an
//! `at::Tensor` underneath, so tensors cross without copies.
//!
//! [`ProcessGroup::from_env`] joins the group that `torchrun` describes in the environment
//! (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`). See docs/DISTRIBUTED.md.

use std::ffi::{c_char, c_int, c_long, c_void, CString};
use tch::Tensor;

extern "C" {
    fn figs_dist_init(
        rank: c_int,
        world: c_int,
        addr: *const c_char,
        port: c_int,
        serve: c_int,
        timeout_ms: c_long,
        prefix: *const c_char,
        backend: c_int,
        device: c_int,
        err: *mut c_char,
        errlen: usize,
    ) -> *mut c_void;
    fn figs_dist_has_nccl() -> c_int;
    fn figs_dist_free(g: *mut c_void);
    fn figs_dist_all_reduce_mean(
        g: *mut c_void,
        ts: *mut *mut c_void,
        n: c_int,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn figs_dist_broadcast(
        g: *mut c_void,
        ts: *mut *mut c_void,
        n: c_int,
        root: c_int,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn figs_dist_barrier(g: *mut c_void, err: *mut c_char, errlen: usize) -> c_int;
}

/// What can go wrong, with what to check.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The torchrun environment is incomplete or inconsistent.
    #[error("distributed environment: {0}")]
    Env(String),
    /// c10d refused or failed (a peer died, a timeout, a port in use); its message follows.
    #[error("{what} failed: {message}. Check that every rank runs the same figs command, that MASTER_ADDR:MASTER_PORT is reachable, and that no rank died (its own log says why)")]
    C10d { what: &'static str, message: String },
    /// A tensor handed to a collective is not on the group's device (NCCL takes only CUDA
    /// tensors of this rank's GPU, Gloo CPU ones): a bug in the caller, refused before c10d
    /// sees it.
    #[error("{what}: tensor {index} is on {found}, but this process group carries tensors on {expected}; make it on the group's device")]
    WrongDevice { what: &'static str, index: usize, found: String, expected: String },
}

pub type Result<T> = std::result::Result<T, DistError>;

/// Which c10d process group carries the collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors (and the rendezvous of any job).
    Gloo,
    /// CUDA tensors, on this rank's device.
    Nccl { device: usize },
}

impl Backend {
    /// The backend PyTorch's DDP would pick for tensors on `device`.
    pub fn for_device(device: tch::Device) -> Backend {
        match device {
            tch::Device::Cuda(n) => Backend::Nccl { device: n },
            _ => Backend::Gloo,
        }
    }
}

/// Whether this build has the NCCL backend (build.rs compiles it in when the CUDA and NCCL
/// headers of the nvidia-* wheels were found).
pub fn has_nccl() -> bool {
    // SAFETY: a pure function without arguments.
    unsafe { figs_dist_has_nccl() != 0 }
}

/// The `CUDA_VISIBLE_DEVICES` one rank of a multi-process job should run under, so that
/// each rank sees exactly one GPU as `cuda:0` — its own, the `LOCAL_RANK`-th of the GPUs
/// visible to the job (`visible`, the variable as torchrun passed it; all when unset). As
/// every rank then asks for the same device, the run's settings (and a resumed run's check
/// of them) are the same on every rank. `None` for a single process: nothing to pin.
/// Must be applied before anything initialises CUDA.
pub fn local_gpu(env: &Env, visible: Option<&str>) -> Result<Option<String>> {
    if env.world <= 1 {
        return Ok(None);
    }
    match visible.map(str::trim) {
        None | Some("") => Ok(Some(env.local_rank.to_string())),
        Some(list) => {
            let ids: Vec<&str> = list.split(',').map(str::trim).collect();
            ids.get(env.local_rank).map(|id| Some(id.to_string())).ok_or_else(|| {
                DistError::Env(format!(
                    "LOCAL_RANK={} but CUDA_VISIBLE_DEVICES={list} names {} GPU(s): start at most {} processes per node (--nproc-per-node)",
                    env.local_rank,
                    ids.len(),
                    ids.len()
                ))
            })
        }
    }
}

/// Applies [`local_gpu`] to this process when torchrun started it: call it first, before
/// anything initialises CUDA.
pub fn pin_local_gpu() -> Result<()> {
    if let Some(env) = Env::from_env()? {
        if let Some(gpu) = local_gpu(&env, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref())? {
            std::env::set_var("CUDA_VISIBLE_DEVICES", gpu);
        }
    }
    Ok(())
}

/// The rendezvous settings of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub addr: String,
    pub port: u16,
    /// torchrun's agent already serves the store (`TORCHELASTIC_USE_AGENT_STORE=True`):
    /// every rank connects as a client; otherwise rank 0 serves it.
    pub agent_store: bool,
}

impl Env {
    /// Reads torchrun's variables; `Ok(None)` when `WORLD_SIZE` is unset (not under torchrun).
    pub fn from_env() -> Result<Option<Env>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Env::from_env`] over any lookup (testable without touching the process env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Env>> {
        let Some(world) = get("WORLD_SIZE") else {
            // Half a torchrun environment is a mistake, not a one-process run.
            if let Some(r) = get("RANK").filter(|r| r.trim() != "0") {
                return Err(DistError::Env(format!(
                    "RANK={r} is set but WORLD_SIZE is not: launch every rank with torchrun, or unset RANK to run one process"
                )));
            }
            return Ok(None);
        };
        let num = |k: &str, v: Option<String>| -> Result<usize> {
            let v =
                v.ok_or_else(|| DistError::Env(format!("WORLD_SIZE is set but {k} is not; launch with torchrun")))?;
            v.trim().parse().map_err(|_| DistError::Env(format!("{k}={v} is not a number")))
        };
        let world = num("WORLD_SIZE", Some(world))?;
        let rank = num("RANK", get("RANK"))?;
        let local_rank = get("LOCAL_RANK").map(|v| num("LOCAL_RANK", Some(v))).transpose()?.unwrap_or(rank);
        if world == 0 || rank >= world {
            return Err(DistError::Env(format!("RANK={rank} is not below WORLD_SIZE={world}")));
        }
        let addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = num("MASTER_PORT", get("MASTER_PORT"))?;
        let port = u16::try_from(port).map_err(|_| DistError::Env(format!("MASTER_PORT={port} is not a port")))?;
        let agent_store = get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(Some(Env { rank, world, local_rank, addr, port, agent_store }))
    }
}

/// One process's membership in a Gloo process group.
pub struct ProcessGroup {
    ptr: *mut c_void,
    rank: usize,
    world: usize,
    /// Where the tensors of every collective must be.
    device: tch::Device,
}

// The group is used from one thread at a time (the search's); c10d objects are thread-safe
// for that.
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

const ERRLEN: usize = 2048;

fn message(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

impl ProcessGroup {
    /// Joins the group of `env` (the store under `prefix`, so two groups of one job do not
    /// mix keys) with `backend`, waiting up to `timeout` for the others.
    pub fn join(env: &Env, prefix: &str, timeout: std::time::Duration, backend: Backend) -> Result<ProcessGroup> {
        let (code, device) = match backend {
            Backend::Gloo => (0, 0),
            Backend::Nccl { .. } if !has_nccl() => {
                return Err(DistError::Env(
                    "this figs was built without NCCL (the CUDA and NCCL headers of the nvidia-* wheels were missing at build time): re-run scripts/setup.sh and rebuild, or search on the CPU (Gloo)".into(),
                ))
            }
            Backend::Nccl { device } => (1, device),
        };
        let addr = CString::new(env.addr.clone()).map_err(|_| DistError::Env("MASTER_ADDR holds a NUL byte".into()))?;
        let prefix = CString::new(prefix).map_err(|_| DistError::Env("the store prefix holds a NUL byte".into()))?;
        let mut err = vec![0u8; ERRLEN];
        let serve = !env.agent_store && env.rank == 0;
        // SAFETY: the strings live across the call; err has ERRLEN bytes.
        let ptr = unsafe {
            figs_dist_init(
                env.rank as c_int,
                env.world as c_int,
                addr.as_ptr(),
                env.port as c_int,
                serve as c_int,
                timeout.as_millis().min(c_long::MAX as u128) as c_long,
                prefix.as_ptr(),
                code,
                device as c_int,
                err.as_mut_ptr().cast(),
                ERRLEN,
            )
        };
        if ptr.is_null() {
            return Err(DistError::C10d { what: "joining the process group", message: message(&err) });
        }
        let device = match backend {
            Backend::Gloo => tch::Device::Cpu,
            Backend::Nccl { device } => tch::Device::Cuda(device),
        };
        Ok(ProcessGroup { ptr, rank: env.rank, world: env.world, device })
    }

    /// Joins the group torchrun describes with `backend`; `Ok(None)` outside torchrun or for
    /// one process.
    pub fn from_env(timeout: std::time::Duration, backend: Backend) -> Result<Option<ProcessGroup>> {
        match Env::from_env()? {
            Some(env) if env.world > 1 => {
                // After an elastic restart the store still holds the last attempt's keys.
                let attempt = std::env::var("TORCHELASTIC_RESTART_COUNT").unwrap_or_else(|_| "0".into());
                Ok(Some(Self::join(&env, &format!("figs/attempt_{attempt}/"), timeout, backend)?))
            }
            _ => Ok(None),
        }
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn world(&self) -> usize {
        self.world
    }
    /// The device of the tensors this group's collectives take.
    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// Declares the group for tensors on `device` (a test hook: a CPU-only machine can
    /// check that a tensor on another device than the group's is refused).
    #[doc(hidden)]
    pub fn declare_device(&mut self, device: tch::Device) {
        self.device = device;
    }

    fn check_devices(&self, what: &'static str, tensors: &[&Tensor]) -> Result<()> {
        match tensors.iter().position(|t| t.device() != self.device) {
            None => Ok(()),
            Some(index) => Err(DistError::WrongDevice {
                what,
                index,
                found: format!("{:?}", tensors[index].device()).to_lowercase(),
                expected: format!("{:?}", self.device).to_lowercase(),
            }),
        }
    }

    fn call(&self, what: &'static str, f: impl FnOnce(*mut c_char) -> c_int) -> Result<()> {
        let mut err = vec![0u8; ERRLEN];
        // The shim copies results into the tensors in place: no autograd may record it.
        let rc = tch::no_grad(|| f(err.as_mut_ptr().cast()));
        if rc == 0 {
            Ok(())
        } else {
            Err(DistError::C10d { what, message: message(&err) })
        }
    }

    /// Replaces each tensor by its mean over the group: one flat buffer, one all-reduce.
    pub fn all_reduce_mean(&self, tensors: &[&Tensor]) -> Result<()> {
        self.check_devices("all-reduce", tensors)?;
        let mut ptrs: Vec<*mut c_void> = tensors.iter().map(|t| t.as_ptr() as *mut c_void).collect();
        // SAFETY: each pointer is a live at::Tensor owned by a tch Tensor borrowed here; the
        // shim writes into its storage (copy_), never into the handle.
        self.call("all-reduce", |e| unsafe {
            figs_dist_all_reduce_mean(self.ptr, ptrs.as_mut_ptr(), ptrs.len() as c_int, e, ERRLEN)
        })
    }

    /// Gives every rank `root`'s values of `tensors`.
    pub fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<()> {
        self.check_devices("broadcast", tensors)?;
        let mut ptrs: Vec<*mut c_void> = tensors.iter().map(|t| t.as_ptr() as *mut c_void).collect();
        // SAFETY: as in all_reduce_mean.
        self.call("broadcast", |e| unsafe {
            figs_dist_broadcast(self.ptr, ptrs.as_mut_ptr(), ptrs.len() as c_int, root as c_int, e, ERRLEN)
        })
    }

    /// Waits until every rank arrives.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: the group pointer is live until drop.
        self.call("barrier", |e| unsafe { figs_dist_barrier(self.ptr, e, ERRLEN) })
    }
}

impl figs::collective::Collective for ProcessGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn device(&self) -> tch::Device {
        self.device
    }
    fn all_reduce_mean(&self, tensors: &[&Tensor]) -> figs::Result<()> {
        ProcessGroup::all_reduce_mean(self, tensors).map_err(|e| figs::Error::Distributed(e.to_string()))
    }
    fn broadcast(&self, tensors: &[&Tensor], root: usize) -> figs::Result<()> {
        ProcessGroup::broadcast(self, tensors, root).map_err(|e| figs::Error::Distributed(e.to_string()))
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by figs_dist_init, freed once.
        unsafe { figs_dist_free(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<Env>> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn torchrun_environment_is_read_and_checked() {
        assert_eq!(env(&[]).unwrap(), None);
        // FAULTS.md 19: RANK=1 without WORLD_SIZE ran alone without a word.
        let bad = env(&[("RANK", "1")]).unwrap_err().to_string();
        assert!(bad.contains("RANK=1") && bad.contains("WORLD_SIZE is not"), "{bad}");
        let e = env(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((e.rank, e.world, e.local_rank, e.port, e.agent_store), (1, 2, 1, 29500, true));
        assert_eq!(e.addr, "127.0.0.1");
        let bad = env(&[("WORLD_SIZE", "2"), ("MASTER_PORT", "1")]).unwrap_err().to_string();
        assert!(bad.contains("RANK is not") && bad.contains("torchrun"), "{bad}");
        let bad = env(&[("WORLD_SIZE", "2"), ("RANK", "2"), ("MASTER_PORT", "1")]).unwrap_err().to_string();
        assert!(bad.contains("not below WORLD_SIZE"), "{bad}");
        let bad = env(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "99999")]).unwrap_err().to_string();
        assert!(bad.contains("not a port"), "{bad}");
    }

    /// FAULTS.md 3: the stop flag reached NCCL as a CPU tensor. Every collective refuses a
    /// tensor that is not on the group's device, before c10d sees it.
    #[test]
    fn a_tensor_on_another_device_than_the_groups_is_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Env { rank: 0, world: 1, local_rank: 0, addr: "127.0.0.1".into(), port, agent_store: false };
        let mut g = ProcessGroup::join(&e, "device-check/", std::time::Duration::from_secs(30), Backend::Gloo).unwrap();
        assert_eq!(g.device(), tch::Device::Cpu);
        let t = Tensor::ones([2], (tch::Kind::Float, tch::Device::Cpu));
        g.all_reduce_mean(&[&t]).unwrap();
        g.declare_device(tch::Device::Cuda(0));
        let err = g.all_reduce_mean(&[&t]).unwrap_err().to_string();
        assert!(err.contains("tensor 0 is on cpu") && err.contains("on cuda(0)"), "{err}");
        let err = g.broadcast(&[&t], 0).unwrap_err().to_string();
        assert!(err.contains("broadcast"), "{err}");
    }

    #[test]
    fn each_rank_sees_only_the_gpu_of_its_local_rank() {
        let e = |world: &str, local: &str| {
            env(&[("WORLD_SIZE", world), ("RANK", local), ("LOCAL_RANK", local), ("MASTER_PORT", "1")])
                .unwrap()
                .unwrap()
        };
        assert_eq!(local_gpu(&e("4", "3"), None).unwrap().as_deref(), Some("3"));
        assert_eq!(local_gpu(&e("2", "1"), Some("4, 6")).unwrap().as_deref(), Some("6"));
        assert_eq!(local_gpu(&e("2", "1"), Some("GPU-a,GPU-b")).unwrap().as_deref(), Some("GPU-b"));
        // One process keeps whatever it was given.
        assert_eq!(local_gpu(&e("1", "0"), Some("5")).unwrap(), None);
        let bad = local_gpu(&e("4", "2"), Some("0,1")).unwrap_err().to_string();
        assert!(
            bad.contains("LOCAL_RANK=2") && bad.contains("names 2 GPU(s)") && bad.contains("--nproc-per-node"),
            "{bad}"
        );
        assert_eq!(Backend::for_device(tch::Device::Cuda(0)), Backend::Nccl { device: 0 });
        assert_eq!(Backend::for_device(tch::Device::Cpu), Backend::Gloo);
    }
}
