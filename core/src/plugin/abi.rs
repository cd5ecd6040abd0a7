//! The C ABI between figs and a plugin. Nothing here is Rust-specific: a plugin is a shared
//! library exporting [`ENTRY_SYMBOL`], a function returning a pointer to a static
//! [`PluginTable`]. Structured data crosses as UTF-8 JSON in buffers that the side which
//! allocated them frees. See docs/PLUGINS.md for the versioning policy.

/// Version of this ABI. The host refuses a plugin whose table carries another one.
/// History: 1 = search spaces only; 2 = regularizer entries added to the table; 3 = the
/// regularizer's device entries (`reg_penalty_dev`, `reg_reported_dev`) appended.
pub const ABI_VERSION: u32 = 3;

/// The libtorch version figs is built against (tch 0.24 ⇔ libtorch 2.11.0). A plugin built
/// against another libtorch could pass tensors the host cannot read, so the host refuses it.
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// Name of the symbol every plugin exports (`extern "C" fn() -> *const PluginTable`).
pub const ENTRY_SYMBOL: &str = "figs_plugin_entry";

/// What a plugin provides.
pub const KIND_SEARCH_SPACE: u32 = 1;
/// A regularizer plugin.
pub const KIND_REGULARIZER: u32 = 2;

/// A regularizer's source of `r`: Logistic-Sigmoid gates.
pub const SOURCE_GATES: u32 = 1;
/// A regularizer's source of `r`: batch-norm |γ|.
pub const SOURCE_BN_GAMMA: u32 = 2;

/// A libtorch tensor handle (tch's `C_tensor`, a heap-allocated `at::Tensor`). Both sides
/// run the same libtorch (the handshake checks the version), so a handle made by one side
/// is valid on the other.
pub type TensorHandle = *mut std::ffi::c_void;

/// A regularizer bound to one graph, owned by the plugin; released with `reg_drop`.
pub type RegInstance = *mut std::ffi::c_void;

/// A borrowed UTF-8 string with static lifetime inside the plugin.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FfiStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl FfiStr {
    pub const fn new(s: &'static str) -> FfiStr {
        FfiStr { ptr: s.as_ptr(), len: s.len() }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes for the lifetime of the loaded plugin.
    pub unsafe fn to_string_lossy(&self) -> String {
        if self.ptr.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(self.ptr, self.len)).into_owned()
    }
}

/// A buffer allocated by the plugin and released with the table's `free_buf`.
#[repr(C)]
pub struct FfiBuf {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl FfiBuf {
    /// An empty buffer (nothing to free).
    pub const fn empty() -> FfiBuf {
        FfiBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
    }

    /// Hands a Rust string's allocation over the boundary.
    pub fn from_string(s: String) -> FfiBuf {
        let mut s = std::mem::ManuallyDrop::new(s.into_bytes());
        FfiBuf { ptr: s.as_mut_ptr(), len: s.len(), cap: s.capacity() }
    }

    /// Frees a buffer made by [`FfiBuf::from_string`] in the same library.
    ///
    /// # Safety
    /// `self` must come from `from_string` of the library whose allocator runs this.
    pub unsafe fn free_in_place(self) {
        if !self.ptr.is_null() {
            drop(Vec::from_raw_parts(self.ptr, self.len, self.cap));
        }
    }
}

/// Status codes of the table's functions.
pub const OK: i32 = 0;
/// The call failed; the output buffer holds a UTF-8 error message.
pub const ERR: i32 = 1;
/// A device entry the regularizer does not have: the host uses the host form instead.
pub const UNSUPPORTED: i32 = 2;

/// The table a plugin's entry function returns. Only `#[repr(C)]` data and `extern "C"`
/// functions: no Rust types cross the boundary.
#[repr(C)]
pub struct PluginTable {
    pub abi_version: u32,
    pub libtorch_version: FfiStr,
    pub name: FfiStr,
    pub kind: u32,
    pub version: FfiStr,
    pub description: FfiStr,
    /// JSON array of `{name, default, help}`.
    pub params_json: FfiStr,
    /// Builds a search space's graph from a JSON object of string parameters. Returns
    /// [`OK`] with the graph JSON in `out`, or [`ERR`] with an error message in `out`.
    pub build: unsafe extern "C" fn(params: *const u8, len: usize, out: *mut FfiBuf) -> i32,
    /// Frees a buffer this plugin wrote into an `out` argument.
    pub free_buf: unsafe extern "C" fn(buf: FfiBuf),
    // Regularizer entries (kind 2). A search space fills them with functions returning ERR;
    // a regularizer's `build` returns ERR.
    /// [`SOURCE_GATES`] or [`SOURCE_BN_GAMMA`] (0 for a search space).
    pub reg_source: u32,
    /// Unit of the reported cost, e.g. `FLOPs`.
    pub reg_unit: FfiStr,
    /// Binds the regularizer to a graph (JSON) with parameters (JSON object of strings).
    /// On [`OK`], `*inst` is a new instance; on [`ERR`], `err` holds the message.
    pub reg_bind: unsafe extern "C" fn(
        graph: *const u8,
        graph_len: usize,
        params: *const u8,
        params_len: usize,
        inst: *mut RegInstance,
        err: *mut FfiBuf,
    ) -> i32,
    /// The penalty for `n` groups: `r[g]` is a borrowed tensor handle or null, `alive[g]` a
    /// count. On [`OK`], `*out` is a new tensor handle that the host owns and frees.
    pub reg_penalty: unsafe extern "C" fn(
        inst: RegInstance,
        r: *const TensorHandle,
        alive: *const f64,
        n: usize,
        out: *mut TensorHandle,
        err: *mut FfiBuf,
    ) -> i32,
    /// The reported cost for `n` alive counts, written to `*cost`.
    pub reg_reported:
        unsafe extern "C" fn(inst: RegInstance, alive: *const f64, n: usize, cost: *mut f64, err: *mut FfiBuf) -> i32,
    /// Releases an instance made by `reg_bind`.
    pub reg_drop: unsafe extern "C" fn(inst: RegInstance),
    /// The penalty with the alive counts in a borrowed float tensor `[n]` on the search's
    /// device, so the host never reads them back. [`OK`] with a new tensor handle in
    /// `*out`; [`UNSUPPORTED`] if the regularizer has only the host form; [`ERR`] with a
    /// message in `err`.
    pub reg_penalty_dev: unsafe extern "C" fn(
        inst: RegInstance,
        r: *const TensorHandle,
        n: usize,
        alive: TensorHandle,
        out: *mut TensorHandle,
        err: *mut FfiBuf,
    ) -> i32,
    /// The reported cost of alive counts in a borrowed tensor `[n]`, as a new scalar tensor
    /// handle on its device; codes as in `reg_penalty_dev`.
    pub reg_reported_dev:
        unsafe extern "C" fn(inst: RegInstance, alive: TensorHandle, out: *mut TensorHandle, err: *mut FfiBuf) -> i32,
}

/// A table in a `static`: raw pointers are not `Sync`, but the table is immutable data.
#[repr(transparent)]
pub struct StaticTable(pub PluginTable);

// SAFETY: the table is never mutated and only points at 'static data and functions.
unsafe impl Sync for StaticTable {}
// SAFETY: as above; moving it between threads (OnceLock initialisation) is harmless.
unsafe impl Send for StaticTable {}

/// The entry function's type.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;
