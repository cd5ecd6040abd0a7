//! What plugin authors use: the [`crate::export_plugin!`] macro and the safe trampolines it
//! expands to. A plugin author implements [`crate::space::SearchSpace`] or
//! [`crate::regularizer::Regularizer`] and writes one macro call; no unsafe code of their own.

use super::abi::{FfiBuf, RegInstance, TensorHandle, ERR, OK, UNSUPPORTED};
use crate::graph::Graph;
use crate::regularizer::{BoundRegularizer, Regularizer};
use crate::space::SearchSpace;
use std::collections::BTreeMap;
use tch::Tensor;

/// Runs `f`, turning an error or a panic into an error string: nothing unwinds across the
/// C boundary.
pub fn guarded(f: impl FnOnce() -> Result<String, String>) -> (i32, String) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(s)) => (OK, s),
        Ok(Err(e)) => (ERR, e),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            (ERR, format!("the plugin panicked: {msg}"))
        }
    }
}

/// The body of a plugin's `build` function; `make` constructs the space inside the panic
/// guard.
///
/// # Safety
/// `params` must point to `len` readable bytes and `out` to a writable `FfiBuf`.
pub unsafe fn build_trampoline<S: SearchSpace>(
    make: impl FnOnce() -> S,
    params: *const u8,
    len: usize,
    out: *mut FfiBuf,
) -> i32 {
    let bytes: &[u8] = if params.is_null() { &[] } else { std::slice::from_raw_parts(params, len) };
    let (code, text) = guarded(|| {
        let space = make();
        let map: BTreeMap<String, String> = if bytes.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_slice(bytes).map_err(|e| format!("parameters are not a JSON object of strings: {e}"))?
        };
        let graph = space.build(&map).map_err(|e| e.to_string())?;
        serde_json::to_string(&graph).map_err(|e| e.to_string())
    });
    if !out.is_null() {
        *out = FfiBuf::from_string(text);
    }
    code
}

/// The parameter schema as JSON (computed once per plugin by the macro).
pub fn params_json<S: SearchSpace>(space: &S) -> String {
    serde_json::to_string(&space.params()).unwrap_or_else(|_| "[]".into())
}

/// The parameter schema of a regularizer as JSON.
pub fn reg_params_json<R: Regularizer>(reg: &R) -> String {
    serde_json::to_string(&reg.params()).unwrap_or_else(|_| "[]".into())
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

unsafe fn write_err(err: *mut FfiBuf, text: String) -> i32 {
    if !err.is_null() {
        *err = FfiBuf::from_string(text);
    }
    ERR
}

/// The body of a regularizer plugin's `reg_bind`; `make` constructs the regularizer inside
/// the panic guard.
///
/// # Safety
/// The pointers must be valid as documented on [`super::abi::PluginTable::reg_bind`].
pub unsafe fn reg_bind_trampoline<R: Regularizer>(
    make: impl FnOnce() -> R,
    graph: *const u8,
    graph_len: usize,
    params: *const u8,
    params_len: usize,
    inst: *mut RegInstance,
    err: *mut FfiBuf,
) -> i32 {
    let (graph, params) = (bytes(graph, graph_len), bytes(params, params_len));
    let mut bound: Option<Box<dyn BoundRegularizer>> = None;
    let (code, text) = guarded(|| {
        let reg = make();
        let g: Graph = serde_json::from_slice(graph).map_err(|e| format!("the graph is not valid JSON: {e}"))?;
        let p: BTreeMap<String, String> = if params.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_slice(params).map_err(|e| format!("parameters are not a JSON object of strings: {e}"))?
        };
        // The host names the regularizer itself: pass only the message of the plugin's own
        // `Error::Regularizer`, or the error says "regularizer `x`:" twice.
        bound = Some(reg.bind(&g, &p).map_err(|e| match e {
            crate::Error::Regularizer { message, .. } => message,
            e => e.to_string(),
        })?);
        Ok(String::new())
    });
    match (code, bound) {
        (OK, Some(b)) if !inst.is_null() => {
            // A thin pointer to the fat one: only this plugin ever looks inside.
            *inst = Box::into_raw(Box::new(b)) as RegInstance;
            OK
        }
        (OK, _) => write_err(err, "no instance was made".into()),
        (_, _) => write_err(err, text),
    }
}

/// Shallow clones of `n` borrowed tensor handles (null: None): new handles to the host's
/// tensors, released when dropped here.
///
/// # Safety
/// `r` must hold `n` entries, each null or a valid tensor handle.
unsafe fn borrowed(r: *const TensorHandle, n: usize) -> Vec<Option<Tensor>> {
    (0..n)
        .map(|i| {
            let p = *r.add(i);
            (!p.is_null()).then(|| Tensor::clone_from_ptr(p as *mut _))
        })
        .collect()
}

/// `reg_penalty` of every regularizer plugin.
///
/// # Safety
/// `inst` must come from this plugin's `reg_bind`; `r` and `alive` must hold `n` entries.
pub unsafe extern "C" fn reg_penalty(
    inst: RegInstance,
    r: *const TensorHandle,
    alive: *const f64,
    n: usize,
    out: *mut TensorHandle,
    err: *mut FfiBuf,
) -> i32 {
    if inst.is_null() || out.is_null() || (n > 0 && (r.is_null() || alive.is_null())) {
        return write_err(err, "reg_penalty called with a null pointer".into());
    }
    let bound = &*(inst as *const Box<dyn BoundRegularizer>);
    let mut result = None;
    let (code, text) = guarded(|| {
        let rs = borrowed(r, n);
        let alive = std::slice::from_raw_parts(alive, n);
        result = Some(bound.penalty(&rs, alive).map_err(|e| e.to_string())?);
        Ok(String::new())
    });
    match (code, result) {
        // Ownership of the handle passes to the host.
        (OK, Some(t)) => hand_over(t, out),
        (_, _) => write_err(err, text),
    }
}

/// `reg_reported` of every regularizer plugin.
///
/// # Safety
/// `inst` must come from this plugin's `reg_bind`; `alive` must hold `n` entries.
pub unsafe extern "C" fn reg_reported(
    inst: RegInstance,
    alive: *const f64,
    n: usize,
    cost: *mut f64,
    err: *mut FfiBuf,
) -> i32 {
    if inst.is_null() || cost.is_null() || (n > 0 && alive.is_null()) {
        return write_err(err, "reg_reported called with a null pointer".into());
    }
    let bound = &*(inst as *const Box<dyn BoundRegularizer>);
    let alive = if n == 0 { &[][..] } else { std::slice::from_raw_parts(alive, n) };
    let mut value = 0.0;
    let (code, text) = guarded(|| {
        value = bound.reported(alive).map_err(|e| e.to_string())?;
        Ok(String::new())
    });
    if code == OK {
        *cost = value;
        OK
    } else {
        write_err(err, text)
    }
}

/// Hands a tensor made here to the host through `out` (the host frees it).
unsafe fn hand_over(t: Tensor, out: *mut TensorHandle) -> i32 {
    let mut t = std::mem::ManuallyDrop::new(t);
    *out = t.as_mut_ptr() as TensorHandle;
    OK
}

/// `reg_penalty_dev` of every regularizer plugin.
///
/// # Safety
/// `inst` must come from this plugin's `reg_bind`; `r` must hold `n` entries and `alive`
/// be a valid tensor handle.
pub unsafe extern "C" fn reg_penalty_dev(
    inst: RegInstance,
    r: *const TensorHandle,
    n: usize,
    alive: TensorHandle,
    out: *mut TensorHandle,
    err: *mut FfiBuf,
) -> i32 {
    if inst.is_null() || out.is_null() || alive.is_null() || (n > 0 && r.is_null()) {
        return write_err(err, "reg_penalty_dev called with a null pointer".into());
    }
    let bound = &*(inst as *const Box<dyn BoundRegularizer>);
    let mut result = None;
    let (code, text) = guarded(|| {
        let rs = borrowed(r, n);
        let alive = Tensor::clone_from_ptr(alive as *mut _);
        result = bound.penalty_on_device(&rs, &alive).map(|r| r.map_err(|e| e.to_string())).transpose()?;
        Ok(String::new())
    });
    match (code, result) {
        (OK, Some(t)) => hand_over(t, out),
        (OK, None) => UNSUPPORTED,
        (_, _) => write_err(err, text),
    }
}

/// `reg_reported_dev` of every regularizer plugin.
///
/// # Safety
/// `inst` must come from this plugin's `reg_bind` and `alive` be a valid tensor handle.
pub unsafe extern "C" fn reg_reported_dev(
    inst: RegInstance,
    alive: TensorHandle,
    out: *mut TensorHandle,
    err: *mut FfiBuf,
) -> i32 {
    if inst.is_null() || out.is_null() || alive.is_null() {
        return write_err(err, "reg_reported_dev called with a null pointer".into());
    }
    let bound = &*(inst as *const Box<dyn BoundRegularizer>);
    let mut result = None;
    let (code, text) = guarded(|| {
        let alive = Tensor::clone_from_ptr(alive as *mut _);
        result = bound.reported_on_device(&alive).map(|r| r.map_err(|e| e.to_string())).transpose()?;
        Ok(String::new())
    });
    match (code, result) {
        (OK, Some(t)) => hand_over(t, out),
        (OK, None) => UNSUPPORTED,
        (_, _) => write_err(err, text),
    }
}

/// `reg_drop` of every regularizer plugin.
///
/// # Safety
/// `inst` must come from this plugin's `reg_bind` and not be used afterwards.
pub unsafe extern "C" fn reg_drop(inst: RegInstance) {
    if !inst.is_null() {
        let b = Box::from_raw(inst as *mut Box<dyn BoundRegularizer>);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
    }
}

/// `build` of a regularizer plugin.
///
/// # Safety
/// `out` must be null or point to a writable `FfiBuf`.
pub unsafe extern "C" fn not_a_space(_p: *const u8, _l: usize, out: *mut FfiBuf) -> i32 {
    write_err(out, "this plugin is a regularizer, not a search space".into())
}

/// `reg_bind` of a search-space plugin.
///
/// # Safety
/// `err` must be null or point to a writable `FfiBuf`.
pub unsafe extern "C" fn no_reg_bind(
    _g: *const u8,
    _gl: usize,
    _p: *const u8,
    _pl: usize,
    _inst: *mut RegInstance,
    err: *mut FfiBuf,
) -> i32 {
    write_err(err, "this plugin is a search space, not a regularizer".into())
}

/// `free_buf` of every plugin: buffers are made by [`FfiBuf::from_string`] in the plugin.
///
/// # Safety
/// `buf` must come from this plugin.
pub unsafe extern "C" fn free_buf(buf: FfiBuf) {
    buf.free_in_place()
}

/// Leaks a string so a `FfiStr` can point at it for the life of the process.
pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Exports a [`SearchSpace`] or a [`Regularizer`] as a figs plugin.
///
/// ```ignore
/// figs::export_plugin!(search_space: MySpace, version: env!("CARGO_PKG_VERSION"),
///                      description: "my networks");
/// figs::export_plugin!(regularizer: MyCost, version: env!("CARGO_PKG_VERSION"),
///                      description: "my cost");
/// figs::export_plugin!(regularizer: CostRegularizer = CostRegularizer::flops(),
///                      version: "1.0.0", description: "FLOPs");
/// ```
/// The type must implement `SearchSpace + Default` resp. `Regularizer` (and `Default`
/// unless an expression that makes one follows `=`). The crate must build as `cdylib`.
#[macro_export]
macro_rules! export_plugin {
    (search_space: $ty:ty, version: $version:expr, description: $desc:expr $(,)?) => {
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn figs_plugin_entry() -> *const $crate::plugin::abi::PluginTable {
            use $crate::plugin::abi::{FfiBuf, FfiStr, PluginTable, StaticTable};
            use $crate::plugin::sdk;
            use $crate::space::SearchSpace as _;
            unsafe extern "C" fn build(params: *const u8, len: usize, out: *mut FfiBuf) -> i32 {
                sdk::build_trampoline(<$ty as ::std::default::Default>::default, params, len, out)
            }
            static TABLE: ::std::sync::OnceLock<StaticTable> = ::std::sync::OnceLock::new();
            let t = TABLE.get_or_init(|| {
                // Name and schema come from the trait; computing them must not unwind.
                let (name, params) = ::std::panic::catch_unwind(|| {
                    let s = <$ty as ::std::default::Default>::default();
                    (s.name().to_string(), sdk::params_json(&s))
                })
                .unwrap_or_else(|_| (String::from("<panicked>"), String::from("[]")));
                StaticTable(PluginTable {
                    abi_version: $crate::plugin::abi::ABI_VERSION,
                    libtorch_version: FfiStr::new($crate::plugin::abi::LIBTORCH_VERSION),
                    name: FfiStr::new(sdk::leak(name)),
                    kind: $crate::plugin::abi::KIND_SEARCH_SPACE,
                    version: FfiStr::new($version),
                    description: FfiStr::new($desc),
                    params_json: FfiStr::new(sdk::leak(params)),
                    build,
                    free_buf: sdk::free_buf,
                    reg_source: 0,
                    reg_unit: FfiStr::new(""),
                    reg_bind: sdk::no_reg_bind,
                    reg_penalty: sdk::reg_penalty,
                    reg_reported: sdk::reg_reported,
                    reg_drop: sdk::reg_drop,
                    reg_penalty_dev: sdk::reg_penalty_dev,
                    reg_reported_dev: sdk::reg_reported_dev,
                })
            });
            &t.0
        }
    };
    (regularizer: $ty:ty, version: $version:expr, description: $desc:expr $(,)?) => {
        $crate::export_plugin!(regularizer: $ty = <$ty as ::std::default::Default>::default(),
                               version: $version, description: $desc);
    };
    (regularizer: $ty:ty = $make:expr, version: $version:expr, description: $desc:expr $(,)?) => {
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn figs_plugin_entry() -> *const $crate::plugin::abi::PluginTable {
            use $crate::plugin::abi::{FfiBuf, FfiStr, PluginTable, RegInstance, StaticTable};
            use $crate::plugin::sdk;
            use $crate::regularizer::Regularizer as _;
            unsafe extern "C" fn reg_bind(
                graph: *const u8,
                graph_len: usize,
                params: *const u8,
                params_len: usize,
                inst: *mut RegInstance,
                err: *mut FfiBuf,
            ) -> i32 {
                sdk::reg_bind_trampoline(|| -> $ty { $make }, graph, graph_len, params, params_len, inst, err)
            }
            static TABLE: ::std::sync::OnceLock<StaticTable> = ::std::sync::OnceLock::new();
            let t = TABLE.get_or_init(|| {
                let (name, params, source, unit) = ::std::panic::catch_unwind(|| {
                    let r: $ty = $make;
                    let source = match r.source() {
                        $crate::regularizer::Source::Gates => $crate::plugin::abi::SOURCE_GATES,
                        $crate::regularizer::Source::BnGamma => $crate::plugin::abi::SOURCE_BN_GAMMA,
                    };
                    (r.name().to_string(), sdk::reg_params_json(&r), source, r.unit().to_string())
                })
                .unwrap_or_else(|_| (String::from("<panicked>"), String::from("[]"), 0, String::new()));
                StaticTable(PluginTable {
                    abi_version: $crate::plugin::abi::ABI_VERSION,
                    libtorch_version: FfiStr::new($crate::plugin::abi::LIBTORCH_VERSION),
                    name: FfiStr::new(sdk::leak(name)),
                    kind: $crate::plugin::abi::KIND_REGULARIZER,
                    version: FfiStr::new($version),
                    description: FfiStr::new($desc),
                    params_json: FfiStr::new(sdk::leak(params)),
                    build: sdk::not_a_space,
                    free_buf: sdk::free_buf,
                    reg_source: source,
                    reg_unit: FfiStr::new(sdk::leak(unit)),
                    reg_bind,
                    reg_penalty: sdk::reg_penalty,
                    reg_reported: sdk::reg_reported,
                    reg_drop: sdk::reg_drop,
                    reg_penalty_dev: sdk::reg_penalty_dev,
                    reg_reported_dev: sdk::reg_reported_dev,
                })
            });
            &t.0
        }
    };
}
