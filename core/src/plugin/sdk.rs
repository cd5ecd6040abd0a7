//! What plugin authors use: the [`crate::export_plugin!`] macro and the safe trampolines it
//! expands to. A plugin author implements [`crate::space::SearchSpace`] and writes one
//! macro call; no unsafe code of their own.

use super::abi::{FfiBuf, ERR, OK};
use crate::space::SearchSpace;
use std::collections::BTreeMap;

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

/// The body of a plugin's `build` function.
///
/// # Safety
/// `params` must point to `len` readable bytes and `out` to a writable `FfiBuf`.
pub unsafe fn build_trampoline<S: SearchSpace>(space: &S, params: *const u8, len: usize, out: *mut FfiBuf) -> i32 {
    let bytes: &[u8] = if params.is_null() { &[] } else { std::slice::from_raw_parts(params, len) };
    let (code, text) = guarded(|| {
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

/// Leaks a string so a `FfiStr` can point at it for the life of the process.
pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Exports a [`SearchSpace`] as a figs plugin.
///
/// ```ignore
/// figs::export_plugin!(search_space: MySpace, version: env!("CARGO_PKG_VERSION"),
///                      description: "my networks");
/// ```
/// `MySpace` must implement `SearchSpace + Default`. The crate must build as `cdylib`.
#[macro_export]
macro_rules! export_plugin {
    (search_space: $ty:ty, version: $version:expr, description: $desc:expr $(,)?) => {
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn figs_plugin_entry() -> *const $crate::plugin::abi::PluginTable {
            use $crate::plugin::abi::{FfiBuf, FfiStr, PluginTable, StaticTable};
            use $crate::space::SearchSpace as _;
            unsafe extern "C" fn build(params: *const u8, len: usize, out: *mut FfiBuf) -> i32 {
                let space = <$ty as ::std::default::Default>::default();
                $crate::plugin::sdk::build_trampoline(&space, params, len, out)
            }
            unsafe extern "C" fn free_buf(buf: FfiBuf) {
                buf.free_in_place()
            }
            static TABLE: ::std::sync::OnceLock<StaticTable> = ::std::sync::OnceLock::new();
            let t = TABLE.get_or_init(|| {
                // Name and schema come from the trait; computing them must not unwind.
                let (name, params) = ::std::panic::catch_unwind(|| {
                    let s = <$ty as ::std::default::Default>::default();
                    (s.name().to_string(), $crate::plugin::sdk::params_json(&s))
                })
                .unwrap_or_else(|_| (String::from("<panicked>"), String::from("[]")));
                StaticTable(PluginTable {
                    abi_version: $crate::plugin::abi::ABI_VERSION,
                    libtorch_version: FfiStr::new($crate::plugin::abi::LIBTORCH_VERSION),
                    name: FfiStr::new($crate::plugin::sdk::leak(name)),
                    kind: $crate::plugin::abi::KIND_SEARCH_SPACE,
                    version: FfiStr::new($version),
                    description: FfiStr::new($desc),
                    params_json: FfiStr::new($crate::plugin::sdk::leak(params)),
                    build,
                    free_buf,
                })
            });
            &t.0
        }
    };
}
