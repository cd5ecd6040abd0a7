//! Plugins: search spaces and regularizers loaded at run time from shared libraries through
//! a C ABI ([`abi`]), written with the safe SDK ([`sdk`], [`crate::export_plugin!`]). This
//! file is the registry (loading, the search path, lookup by name); `adapters` makes a
//! loaded plugin a [`SearchSpace`] or a [`Regularizer`] across the ABI.
//!
//! Loaded libraries stay loaded for the life of the process: code or data a plugin made
//! may still be in use, and unloading it first would crash.

pub mod abi;
mod adapters;
pub mod sdk;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::regularizer::{BoundRegularizer, Regularizer, Source};
use crate::space::{ParamSpec, SearchSpace};
use abi::{
    EntryFn, FfiBuf, PluginTable, RegInstance, StaticTable, TensorHandle, ABI_VERSION, ENTRY_SYMBOL, KIND_REGULARIZER,
    KIND_SEARCH_SPACE, LIBTORCH_VERSION, OK, SOURCE_BN_GAMMA, SOURCE_GATES, UNSUPPORTED,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tch::Tensor;

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub path: PathBuf,
    /// Regularizers only: where `r` comes from (`gates` or `bn_gamma`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Regularizers only: the unit of the reported cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The two kinds as [`PluginInfo::kind`] spells them.
pub const SEARCH_SPACE: &str = "search_space";
/// See [`SEARCH_SPACE`].
pub const REGULARIZER: &str = "regularizer";

/// A loaded search-space plugin. Cheap to clone; usable as a [`SearchSpace`].
#[derive(Clone)]
pub struct Plugin {
    info: Arc<PluginInfo>,
    table: &'static StaticTable,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plugin({} {} from {})", self.info.name, self.info.version, self.info.path.display())
    }
}

fn plugin_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin { path: path.to_path_buf(), message: message.into() }
}

static LOADED: Mutex<Vec<Plugin>> = Mutex::new(Vec::new());
/// Files refused because a plugin of the same name was loaded first: (name, file).
static SHADOWED: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());

/// Loads a plugin from a shared library, checking the handshake before calling anything.
///
/// Errors (each naming the file): not a loadable library, no `figs_plugin_entry` symbol,
/// another ABI or libtorch version (both versions named), an unknown kind, and a plugin whose
/// name is already loaded (from this or another file), and a library whose entry declines
/// (returns no table).
pub fn load(path: &Path) -> Result<Plugin> {
    try_load(path)?.ok_or_else(|| {
        plugin_err(path, "the plugin's entry function returned no table: the library declines to load here")
    })
}

/// [`load`], except that a library whose entry returns no table is `None`: the ABI lets a
/// library decline (a test fixture does, outside its tests), and discovery skips it quietly.
fn try_load(path: &Path) -> Result<Option<Plugin>> {
    let canon = path.canonicalize().map_err(|e| plugin_err(path, format!("cannot open: {e}")))?;
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = loaded.iter().find(|p| p.info.path == canon) {
        return Err(plugin_err(path, format!("plugin `{}` is already loaded from this file", p.info.name)));
    }
    // SAFETY: loading a library runs its initialisers; that is what loading a plugin means.
    let lib = unsafe { libloading::Library::new(&canon) }.map_err(|e| {
        plugin_err(path, format!("not a loadable shared library ({e}); is this a figs plugin built as cdylib?"))
    })?;
    // SAFETY: the symbol's type is fixed by the ABI; a library that exports the name with
    // another type is not a figs plugin and breaks the contract documented in PLUGINS.md.
    let entry: EntryFn = unsafe {
        *lib.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()).map_err(|_| {
            plugin_err(
                path,
                format!(
                    "not a figs plugin: it has no `{ENTRY_SYMBOL}` symbol (add `figs::export_plugin!` to the crate)"
                ),
            )
        })?
    };
    // SAFETY: as above; the returned pointer must be to a static table.
    let table_ptr = unsafe { entry() };
    if table_ptr.is_null() {
        return Ok(None);
    }
    // Keep the library for the life of the process (see the module docs).
    std::mem::forget(lib);
    // SAFETY: non-null and static per the ABI; StaticTable is a transparent wrapper.
    let table: &'static PluginTable = unsafe { &*table_ptr };
    let static_table: &'static StaticTable = unsafe { &*(table_ptr as *const StaticTable) };
    if table.abi_version != ABI_VERSION {
        return Err(plugin_err(
            path,
            format!("plugin ABI version {} but this figs speaks version {ABI_VERSION}; rebuild the plugin against this figs", table.abi_version),
        ));
    }
    // SAFETY: the ABI version matches, so the strings are FfiStr into static data.
    let (torch, name, version, description, params) = unsafe {
        (
            table.libtorch_version.to_string_lossy(),
            table.name.to_string_lossy(),
            table.version.to_string_lossy(),
            table.description.to_string_lossy(),
            table.params_json.to_string_lossy(),
        )
    };
    if torch != LIBTORCH_VERSION {
        return Err(plugin_err(
            path,
            format!("plugin `{name}` was built against libtorch {torch} but figs uses libtorch {LIBTORCH_VERSION}; rebuild it with tch 0.24"),
        ));
    }
    let (kind, source, unit) = match table.kind {
        KIND_SEARCH_SPACE => (SEARCH_SPACE, None, None),
        KIND_REGULARIZER => {
            let source = match table.reg_source {
                SOURCE_GATES => Source::Gates,
                SOURCE_BN_GAMMA => Source::BnGamma,
                s => return Err(plugin_err(path, format!("regularizer `{name}` declares unknown source {s}"))),
            };
            // SAFETY: as above.
            (REGULARIZER, Some(source), Some(unsafe { table.reg_unit.to_string_lossy() }))
        }
        k => return Err(plugin_err(path, format!("plugin `{name}` has unknown kind {k}"))),
    };
    if let Some(p) = loaded.iter().find(|p| p.info.name == name) {
        let mut sh = SHADOWED.lock().unwrap_or_else(|e| e.into_inner());
        if !sh.iter().any(|(n, f)| *n == name && *f == canon) {
            sh.push((name.clone(), canon.clone()));
        }
        return Err(plugin_err(
            path,
            format!("a plugin named `{name}` is already loaded from {}; names must be unique", p.info.path.display()),
        ));
    }
    let params: Vec<ParamSpec> = serde_json::from_str(&params)
        .map_err(|e| plugin_err(path, format!("plugin `{name}` has a malformed parameter schema: {e}")))?;
    let info = PluginInfo { name, kind: kind.into(), version, description, params, path: canon, source, unit };
    let p = Plugin { info: Arc::new(info), table: static_table };
    loaded.push(p.clone());
    Ok(Some(p))
}

/// Plugins loaded so far in this process.
pub fn loaded() -> Vec<Plugin> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Other files on the search path that declare a plugin called `name` and lose to the one
/// loaded (the first on the path): a plugin directory that shadows a bundled plugin, say.
/// Loads the rest of the search path to find them.
pub fn shadowed(name: &str) -> Vec<PathBuf> {
    let _ = load_search_path();
    SHADOWED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, f)| f.clone())
        .collect()
}

/// The warning for a plugin that other files on the search path also declare (a plugin
/// directory shadowing a bundled plugin), once per name and process.
pub fn shadow_warning(info: &PluginInfo) -> Option<String> {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&info.name) {
        return None;
    }
    warned.push(info.name.clone());
    let files: Vec<String> = shadowed(&info.name).iter().map(|f| f.display().to_string()).collect();
    if files.is_empty() {
        return None;
    }
    Some(format!(
        "plugin `{}` comes from {}; {} declare{} the same name and {} ignored (the first on the plugin path wins: check FIGS_PLUGIN_PATH)",
        info.name,
        info.path.display(),
        files.join(", "),
        if files.len() == 1 { "s" } else { "" },
        if files.len() == 1 { "is" } else { "are" }
    ))
}

/// The entries of `FIGS_PLUGIN_PATH` that name nothing (a typo there would otherwise only
/// show as a plugin that is not found).
pub fn missing_path_entries() -> Vec<PathBuf> {
    std::env::var_os("FIGS_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty() && !p.exists()).collect())
        .unwrap_or_default()
}

/// The plugin search path: the entries of `FIGS_PLUGIN_PATH` (colon-separated; a directory,
/// or one plugin file), then the directory of the running executable, where cargo puts the
/// bundled plugins.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("FIGS_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        // Test binaries live in target/<profile>/deps; plugins one level up.
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(up) = dir.parent() {
                dirs.push(up.to_path_buf());
            }
        }
        dirs.push(dir);
    }
    dirs
}

/// Shared libraries (`.so`) in the directories of the search path (and the files named on
/// it), in path order.
pub fn discover() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in search_path() {
        if dir.is_file() {
            found.push(dir);
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
            .collect();
        files.sort();
        found.extend(files);
    }
    found
}

/// Finds a search space by name: an already loaded plugin, else the first file on the
/// search path that loads and has that name.
pub fn find(name: &str) -> Result<Plugin> {
    find_kind(name, SEARCH_SPACE)
}

/// Finds a regularizer by name, like [`find`].
pub fn find_regularizer(name: &str) -> Result<RegularizerPlugin> {
    find_kind(name, REGULARIZER).map(RegularizerPlugin)
}

/// [`find`] and, when other files on the plugin path declare the same name (a plugin
/// directory that shadows a bundled plugin), the warning that says which one is used: the
/// one lookup of every front end.
pub fn find_warned(name: &str) -> Result<(Plugin, Option<String>)> {
    let p = find(name)?;
    let w = shadow_warning(p.info());
    Ok((p, w))
}

/// [`find_regularizer`] with the same warning as [`find_warned`].
pub fn find_regularizer_warned(name: &str) -> Result<(RegularizerPlugin, Option<String>)> {
    let r = find_regularizer(name)?;
    let w = shadow_warning(r.info());
    Ok((r, w))
}

/// A loaded plugin of kind regularizer, usable as a [`Regularizer`].
#[derive(Clone, Debug)]
pub struct RegularizerPlugin(Plugin);

impl RegularizerPlugin {
    /// The plugin as a regularizer; an error naming the file if it is a search space.
    pub fn new(p: Plugin) -> Result<RegularizerPlugin> {
        if p.info.kind == REGULARIZER {
            Ok(RegularizerPlugin(p))
        } else {
            Err(plugin_err(&p.info.path, format!("`{}` is a {}, not a regularizer", p.info.name, p.info.kind)))
        }
    }

    pub fn info(&self) -> &PluginInfo {
        &self.0.info
    }
}

/// Loads every plugin on the search path that is not loaded yet and returns all loaded
/// plugins (files that fail to load are skipped: [`load_search_path`] reports them).
pub fn load_all() -> Vec<Plugin> {
    let _ = load_search_path();
    loaded()
}

/// Loads every plugin on the search path that is not loaded yet; returns the errors of the
/// files that failed. Libraries that decline (entry returns no table) are not errors.
pub fn load_search_path() -> Vec<Error> {
    let mut errors = Vec::new();
    for path in discover() {
        if !is_loaded(&path) {
            if let Err(e) = try_load(&path) {
                errors.push(e);
            }
        }
    }
    errors
}

/// Loads every plugin file in `dir` (or the file `dir` names) that is not loaded yet; the
/// errors of files that fail to load, which stay unloaded.
pub fn load_dir(dir: &Path) -> Vec<Error> {
    let files: Vec<PathBuf> = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else {
        let mut f: Vec<PathBuf> =
            std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        f.retain(|p| p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION));
        f.sort();
        f
    };
    files.iter().filter(|p| !is_loaded(p)).filter_map(|p| try_load(p).err()).collect()
}

/// The plugin already loaded from this file, if any.
pub fn loaded_from(path: &Path) -> Option<Plugin> {
    let c = path.canonicalize().ok()?;
    loaded().into_iter().find(|p| p.info.path == c)
}

fn is_loaded(path: &Path) -> bool {
    loaded_from(path).is_some()
}

fn find_kind(name: &str, kind: &str) -> Result<Plugin> {
    let hit = |p: &Plugin| p.info.name == name && p.info.kind == kind;
    if let Some(p) = loaded().into_iter().find(hit) {
        return Ok(p);
    }
    for path in discover() {
        if is_loaded(&path) {
            continue;
        }
        if let Ok(Some(p)) = try_load(&path) {
            if hit(&p) {
                return Ok(p);
            }
        }
    }
    // Another thread may have loaded it meanwhile.
    if let Some(p) = loaded().into_iter().find(hit) {
        return Ok(p);
    }
    let mut seen: Vec<String> =
        loaded().into_iter().filter(|p| p.info.kind == kind).map(|p| p.info.name.clone()).collect();
    seen.sort();
    seen.dedup();
    let what = if kind == SEARCH_SPACE { "search space" } else { "regularizer" };
    let setting = if kind == SEARCH_SPACE { "space" } else { "regularizer" };
    Err(Error::config(
        setting,
        format!(
            "no {what} `{name}` on the plugin path ({}); available: {}",
            search_path().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        ),
    ))
}
