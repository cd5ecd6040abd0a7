//! `metrics.jsonl`: one JSON line per search step and per evaluation, appended as the search
//! runs. A resumed run rewrites it to hold exactly its checkpoint's history first.

use crate::error::{Error, Result};
use crate::search::{EvalMetrics, Search, StepMetrics};
use serde_json::json;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The metrics file of a running job.
pub(crate) struct Metrics {
    path: PathBuf,
    file: File,
    /// The first failed write: the job stops after the step that met it.
    pub failed: Option<std::io::Error>,
}

fn step_line(m: &StepMetrics) -> String {
    format!("{}\n", json!({"kind": "step", "metrics": m}))
}

fn eval_line(m: &EvalMetrics) -> String {
    format!("{}\n", json!({"kind": "eval", "metrics": m}))
}

impl Metrics {
    /// `path` for appending, holding exactly the steps and evaluations of `search` (a
    /// resumed run drops the lines written after its checkpoint).
    pub fn open(path: &Path, search: &Search) -> Result<Metrics> {
        let mut text = String::new();
        let mut evals = search.evals().iter().peekable();
        for m in search.history() {
            text += &step_line(m);
            while let Some(ev) = evals.next_if(|e| e.step <= m.step) {
                text += &eval_line(ev);
            }
        }
        for ev in evals {
            text += &eval_line(ev);
        }
        crate::io::write_atomic(path, text.as_bytes())?;
        let file =
            std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io("cannot open", path, e))?;
        Ok(Metrics { path: path.to_path_buf(), file, failed: None })
    }

    pub fn step(&mut self, m: &StepMetrics) {
        self.append(&step_line(m));
    }

    pub fn eval(&mut self, m: &EvalMetrics) {
        self.append(&eval_line(m));
    }

    /// Appends one line; after a failed write nothing more is written.
    fn append(&mut self, line: &str) {
        if self.failed.is_some() {
            return;
        }
        let whole = self.file.metadata().map(|m| m.len()).ok();
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            // No half line (a full disk, a file-size limit): cut back to the last whole one.
            if let Some(n) = whole {
                let _ = self.file.set_len(n);
            }
            self.failed = Some(e);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
