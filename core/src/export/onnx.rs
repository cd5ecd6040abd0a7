//! `model.onnx` from an exported `model.py`. figs writes no ONNX of its own: PyTorch's
//! exporter runs in the Python that `scripts/setup.sh` set up (torch, onnx, onnxruntime),
//! through a script carried in the binary (`export_onnx.py`, so a copied figs needs no file
//! layout), which checks the file with onnxruntime and the module with `torch.jit.script`
//! against eager PyTorch before it counts.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The file [`write_onnx`] writes beside `model.py`.
pub const ONNX_FILE: &str = "model.onnx";

const SCRIPT: &str = include_str!("export_onnx.py");

/// The Python that runs the exporter: `$FIGS_PYTHON`, else the torch venv this figs was
/// built against (`scripts/setup.sh` records it), else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FIGS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(venv) = option_env!("FIGS_TORCH_VENV") {
        let p = Path::new(venv).join("bin/python");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("python3")
}

/// Writes `dir/model.onnx` from `dir/model.py` and `dir/arch.safetensors` (an export's
/// PyTorch directory) and checks it; returns the file and the check's report (the largest
/// relative differences of onnxruntime and TorchScript against eager PyTorch, the opset).
/// An existing `model.onnx` is replaced only if figs wrote it (it holds figs' producer
/// mark); anything else there is an error, and stays.
pub fn write_onnx(dir: &Path) -> Result<(PathBuf, serde_json::Value)> {
    let out = dir.join(ONNX_FILE);
    let fail = |message: String| Error::Onnx { path: out.clone(), message };
    if out.exists() && !written_by_figs(&out) {
        return Err(fail(format!(
            "{} exists and figs did not write it; move it away or export into another directory",
            out.display()
        )));
    }
    let py = python();
    let mut child = Command::new(&py)
        .arg("-")
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {} ({e}): run ./scripts/setup.sh, or point FIGS_PYTHON at a Python with torch, onnx and onnxruntime",
                py.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(SCRIPT.as_bytes())
            .map_err(|e| fail(format!("cannot hand the exporter script to {}: {e}", py.display())))?;
    }
    let done = child.wait_with_output().map_err(|e| fail(format!("{} did not finish: {e}", py.display())))?;
    if !done.status.success() {
        let err = String::from_utf8_lossy(&done.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_string();
        return Err(fail(last));
    }
    let report = serde_json::from_slice(&done.stdout).map_err(|e| {
        fail(format!("the exporter printed no report ({e}): {}", String::from_utf8_lossy(&done.stdout)))
    })?;
    Ok((out, report))
}

/// Whether `path` is an ONNX file that figs' exporter wrote (its producer mark, in the
/// first bytes of the protobuf).
fn written_by_figs(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    head[..n].windows(PRODUCER.len()).any(|w| w == PRODUCER.as_bytes())
}

/// What `export_onnx.py` writes as the model's `producer_name`.
const PRODUCER: &str = "figs";
