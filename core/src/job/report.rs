//! What a job found: the seed and the found network side by side (`summary.json`, the
//! report's last table, a notebook's inline table).

use crate::count::Counts;
use crate::session::Retrained;
use crate::table::table;
use crate::train::Init;
use crate::units::human;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

/// One network of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkRow {
    /// `seed` or `found`.
    pub network: String,
    pub params: u64,
    pub macs: u64,
    /// None when it was not retrained (`no-retrain`, a stop, a failed search).
    pub test_accuracy: Option<f64>,
    pub init: Option<Init>,
    /// Wall time of its retraining.
    pub retrain_seconds: Option<f64>,
}

/// The outcome of [`Job::run`](super::Job::run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReport {
    /// The run directory.
    pub out: PathBuf,
    /// Seed, then found (empty on a rank other than 0, which writes nothing).
    pub networks: Vec<NetworkRow>,
    pub steps_done: u64,
    pub steps: u64,
    /// The stop flag ended the search early.
    pub stopped: bool,
    /// Wall time of the search, its evaluations and the export.
    pub search_seconds: f64,
    /// The headline metric's name (`accuracy`, `mAP`).
    pub metric: String,
}

impl JobReport {
    pub(super) fn new(
        out: &Path,
        counts: &[(&str, Counts)],
        results: &[Retrained],
        steps_done: u64,
        steps: u64,
        stopped: bool,
        metric: String,
    ) -> JobReport {
        let networks = counts
            .iter()
            .map(|(name, c)| {
                let r = results.iter().find(|r| r.label == *name).map(|r| &r.result);
                NetworkRow {
                    network: name.to_string(),
                    params: c.params,
                    macs: c.macs,
                    test_accuracy: r.map(|r| r.test_accuracy),
                    init: r.map(|r| r.init),
                    retrain_seconds: r.map(|r| r.seconds),
                }
            })
            .collect();
        JobReport { out: out.to_path_buf(), networks, steps_done, steps, stopped, search_seconds: 0.0, metric }
    }

    pub(super) fn follower(out: &Path) -> JobReport {
        JobReport {
            out: out.to_path_buf(),
            networks: Vec::new(),
            steps_done: 0,
            steps: 0,
            stopped: false,
            search_seconds: 0.0,
            metric: crate::task::accuracy_name(),
        }
    }

    /// `summary.json`: each network with its retraining result.
    pub(super) fn summary_json(&self, results: &[Retrained]) -> serde_json::Value {
        json!(self
            .networks
            .iter()
            .map(|n| {
                let res = results.iter().find(|r| r.label == n.network).map(|r| &r.result);
                json!({"network": n.network, "params": n.params, "macs": n.macs,
                    "test_accuracy": n.test_accuracy, "init": n.init, "retrain": res})
            })
            .collect::<Vec<_>>())
    }

    /// The network called `name` (`seed`, `found`).
    pub fn network(&self, name: &str) -> Option<&NetworkRow> {
        self.networks.iter().find(|n| n.network == name)
    }

    /// MACs of the found network / MACs of the seed network.
    pub fn macs_ratio(&self) -> f64 {
        match (self.network("found"), self.network("seed")) {
            (Some(f), Some(s)) if s.macs > 0 => f.macs as f64 / s.macs as f64,
            _ => f64::NAN,
        }
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.networks
            .iter()
            .map(|n| {
                vec![
                    n.network.clone(),
                    human(n.params as f64),
                    human(n.macs as f64),
                    n.test_accuracy.map(|a| format!("{a:.4}")).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect()
    }

    /// The comparison as a text table.
    pub fn table(&self) -> String {
        table(&["network", "params", "MACs", &crate::task::column(&self.metric)], &self.rows())
    }

    /// The table and the MACs ratio, as the report ends.
    pub fn text(&self) -> String {
        format!("{}\nMACs: found / seed = {:.3}", self.table(), self.macs_ratio())
    }

    /// Shows the comparison as an HTML table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        let mut html = format!(
            "<table><tr><th>network</th><th>params</th><th>MACs</th><th>{}</th></tr>",
            crate::task::column(&self.metric)
        );
        for r in self.rows() {
            html += &format!("<tr>{}</tr>", r.iter().map(|c| format!("<td>{c}</td>")).collect::<String>());
        }
        html += &format!(
            "</table><p>MACs: found / seed = {:.3}; {} of {} search steps; run directory {}</p>",
            self.macs_ratio(),
            self.steps_done,
            self.steps,
            self.out.display()
        );
        println!("EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT");
    }
}
