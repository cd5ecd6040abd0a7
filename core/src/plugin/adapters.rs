//! A loaded plugin seen through figs' traits: calls across the C ABI as [`SearchSpace`] and
//! [`Regularizer`] methods, JSON and tensor handles in and out, errors (and caught panics)
//! back as [`Error`]s.

use super::*;

impl Plugin {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }
}

/// Reads and frees a buffer the plugin wrote.
///
/// # Safety
/// `buf` must be empty or written by `table`'s plugin.
unsafe fn take_buf(table: &PluginTable, buf: FfiBuf) -> String {
    let t = if buf.ptr.is_null() {
        String::new()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(buf.ptr, buf.len)).into_owned()
    };
    (table.free_buf)(buf);
    t
}

impl SearchSpace for Plugin {
    fn name(&self) -> &str {
        &self.info.name
    }

    fn params(&self) -> Vec<ParamSpec> {
        self.info.params.clone()
    }

    fn build(&self, params: &BTreeMap<String, String>) -> Result<Graph> {
        let json = serde_json::to_string(params).unwrap_or_else(|_| "{}".into());
        let mut out = FfiBuf::empty();
        // SAFETY: the handshake passed; `build` reads `json` and writes `out`.
        let code = unsafe { (self.table.0.build)(json.as_ptr(), json.len(), &mut out) };
        // SAFETY: `out` was written by the plugin and is read once, then freed by it.
        let text = unsafe { take_buf(&self.table.0, out) };
        let path = &self.info.path;
        if code != OK {
            return Err(plugin_err(path, format!("`{}` failed to build: {text}", self.info.name)));
        }
        let graph: Graph = serde_json::from_str(&text).map_err(|e| {
            plugin_err(path, format!("`{}` returned a graph that is not valid JSON: {e}", self.info.name))
        })?;
        graph
            .analyze()
            .map_err(|e| plugin_err(path, format!("`{}` returned an invalid graph: {e}", self.info.name)))?;
        Ok(graph)
    }
}

impl Regularizer for RegularizerPlugin {
    fn name(&self) -> &str {
        &self.0.info.name
    }

    fn source(&self) -> Source {
        self.0.info.source.unwrap_or(Source::Gates)
    }

    fn unit(&self) -> &str {
        self.0.info.unit.as_deref().unwrap_or("")
    }

    fn params(&self) -> Vec<ParamSpec> {
        self.0.info.params.clone()
    }

    fn bind(&self, graph: &Graph, params: &BTreeMap<String, String>) -> Result<Box<dyn BoundRegularizer>> {
        let g = serde_json::to_string(graph).map_err(|e| Error::GraphGlobal(format!("cannot serialise: {e}")))?;
        let p = serde_json::to_string(params).unwrap_or_else(|_| "{}".into());
        let mut inst: RegInstance = std::ptr::null_mut();
        let mut err = FfiBuf::empty();
        let t = &self.0.table.0;
        // SAFETY: the handshake passed; `reg_bind` reads the two buffers and writes one output.
        let code = unsafe { (t.reg_bind)(g.as_ptr(), g.len(), p.as_ptr(), p.len(), &mut inst, &mut err) };
        // SAFETY: `err` is empty or written by this plugin.
        let text = unsafe { take_buf(t, err) };
        if code != OK || inst.is_null() {
            return Err(self.0.reg_err(format!("cannot bind to `{}`: {text}", graph.name)));
        }
        Ok(Box::new(PluginBound { plugin: self.0.clone(), inst }))
    }
}

impl Plugin {
    fn reg_err(&self, message: String) -> Error {
        Error::Regularizer { name: self.info.name.clone(), message }
    }
}

/// A regularizer instance living in a plugin; released when dropped.
struct PluginBound {
    plugin: Plugin,
    inst: RegInstance,
}

// SAFETY: the instance is owned by this value alone, and the SDK's `BoundRegularizer: Send`
// bound holds for what it points at.
unsafe impl Send for PluginBound {}

impl BoundRegularizer for PluginBound {
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> Result<Tensor> {
        if r.len() != alive.len() {
            return Err(self.plugin.reg_err(format!("{} r vectors but {} alive counts", r.len(), alive.len())));
        }
        // Borrowed handles: the plugin clones what it keeps.
        let handles: Vec<TensorHandle> =
            r.iter().map(|t| t.as_ref().map_or(std::ptr::null_mut(), |t| t.as_ptr() as TensorHandle)).collect();
        let mut out: TensorHandle = std::ptr::null_mut();
        let mut err = FfiBuf::empty();
        let t = &self.plugin.table.0;
        // SAFETY: `inst` came from this plugin's `reg_bind`; both arrays hold `n` entries.
        let code =
            unsafe { (t.reg_penalty)(self.inst, handles.as_ptr(), alive.as_ptr(), alive.len(), &mut out, &mut err) };
        // SAFETY: `err` is empty or written by this plugin.
        let text = unsafe { take_buf(t, err) };
        if code != OK || out.is_null() {
            return Err(self.plugin.reg_err(format!("the penalty failed: {text}")));
        }
        // SAFETY: on OK the plugin handed over a new tensor handle; we own it now.
        Ok(unsafe { Tensor::from_ptr(out as *mut _) })
    }

    fn reported(&self, alive: &[f64]) -> Result<f64> {
        let mut cost = f64::NAN;
        let mut err = FfiBuf::empty();
        let t = &self.plugin.table.0;
        // SAFETY: as in `penalty`.
        let code = unsafe { (t.reg_reported)(self.inst, alive.as_ptr(), alive.len(), &mut cost, &mut err) };
        // SAFETY: `err` is empty or written by this plugin.
        let text = unsafe { take_buf(t, err) };
        if code != OK {
            return Err(self.plugin.reg_err(format!("the reported cost failed: {text}")));
        }
        Ok(cost)
    }

    fn penalty_on_device(&self, r: &[Option<Tensor>], alive: &Tensor) -> Option<Result<Tensor>> {
        let handles: Vec<TensorHandle> =
            r.iter().map(|t| t.as_ref().map_or(std::ptr::null_mut(), |t| t.as_ptr() as TensorHandle)).collect();
        let t = &self.plugin.table.0;
        // SAFETY: `inst` came from this plugin's `reg_bind`; `handles` holds `n` entries and
        // `alive` is a live tensor for the duration of the call.
        self.device_call("penalty", |out, err| unsafe {
            (t.reg_penalty_dev)(self.inst, handles.as_ptr(), handles.len(), alive.as_ptr() as TensorHandle, out, err)
        })
    }

    fn reported_on_device(&self, alive: &Tensor) -> Option<Result<Tensor>> {
        let t = &self.plugin.table.0;
        // SAFETY: as in `penalty_on_device`.
        self.device_call("reported cost", |out, err| unsafe {
            (t.reg_reported_dev)(self.inst, alive.as_ptr() as TensorHandle, out, err)
        })
    }
}

impl PluginBound {
    /// Calls a device entry: a new tensor, `None` where the plugin has no device form, or
    /// the plugin's error.
    fn device_call(
        &self,
        what: &str,
        call: impl FnOnce(*mut TensorHandle, *mut FfiBuf) -> i32,
    ) -> Option<Result<Tensor>> {
        let mut out: TensorHandle = std::ptr::null_mut();
        let mut err = FfiBuf::empty();
        let code = call(&mut out, &mut err);
        // SAFETY: `err` is empty or written by this plugin.
        let text = unsafe { take_buf(&self.plugin.table.0, err) };
        match code {
            UNSUPPORTED => None,
            // SAFETY: on OK the plugin handed over a new tensor handle; we own it now.
            OK if !out.is_null() => Some(Ok(unsafe { Tensor::from_ptr(out as *mut _) })),
            _ => Some(Err(self.plugin.reg_err(format!("the {what} (device form) failed: {text}")))),
        }
    }
}

impl Drop for PluginBound {
    fn drop(&mut self) {
        // SAFETY: `inst` came from this plugin's `reg_bind` and is not used again.
        unsafe { (self.plugin.table.0.reg_drop)(self.inst) }
    }
}
