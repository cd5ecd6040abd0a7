//! Mean ± standard deviation per method and budget, as a table.

use super::{Method, PointResult};
use serde::{Deserialize, Serialize};

/// The points of one method at one budget, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub method: Method,
    pub budget: f64,
    /// Number of seeds.
    pub n: usize,
    pub macs_mean: f64,
    pub params_mean: f64,
    pub accuracy_mean: f64,
    /// Sample standard deviation (n − 1); 0 for one seed.
    pub accuracy_sd: f64,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, sd)
}

/// One row per (method, budget), ordered by method then budget.
pub fn summarize(results: &[PointResult]) -> Vec<SummaryRow> {
    let mut keys: Vec<(Method, f64)> = Vec::new();
    for r in results {
        if !keys.iter().any(|(m, b)| *m == r.method && (b - r.budget).abs() < 1e-9) {
            keys.push((r.method, r.budget));
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    keys.into_iter()
        .map(|(method, budget)| {
            let rs: Vec<&PointResult> =
                results.iter().filter(|r| r.method == method && (r.budget - budget).abs() < 1e-9).collect();
            let (accuracy_mean, accuracy_sd) = mean_sd(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            SummaryRow {
                method,
                budget,
                n: rs.len(),
                macs_mean: mean_sd(&rs.iter().map(|r| r.macs as f64).collect::<Vec<_>>()).0,
                params_mean: mean_sd(&rs.iter().map(|r| r.params as f64).collect::<Vec<_>>()).0,
                accuracy_mean,
                accuracy_sd,
            }
        })
        .collect()
}

/// The rows as a Markdown table (accuracy in percent).
pub fn markdown(rows: &[SummaryRow]) -> String {
    let mut s = String::from(
        "| method | budget | seeds | MACs (mean) | params (mean) | test accuracy % (mean ± sd) |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} ± {:.2} |\n",
            r.method.as_str(),
            r.budget,
            r.n,
            crate::units::human(r.macs_mean),
            crate::units::human(r.params_mean),
            100.0 * r.accuracy_mean,
            100.0 * r.accuracy_sd
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: Method, budget: f64, seed: u64, acc: f64) -> PointResult {
        PointResult {
            method,
            budget,
            seed,
            params: 100,
            macs: 1000,
            macs_fraction: budget,
            test_accuracy: acc,
            width: None,
            search_seconds: 0.0,
            retrain_seconds: 0.0,
        }
    }

    #[test]
    fn mean_and_sample_sd_per_method_and_budget() {
        let rows = summarize(&[
            r(Method::Width, 0.5, 1, 0.80),
            r(Method::Figs, 0.5, 1, 0.82),
            r(Method::Figs, 0.5, 2, 0.84),
            r(Method::Figs, 0.25, 1, 0.70),
        ]);
        let figs: Vec<(f64, usize)> =
            rows.iter().filter(|x| x.method == Method::Figs).map(|x| (x.budget, x.n)).collect();
        assert_eq!(figs, [(0.25, 1), (0.5, 2)]);
        let two = rows.iter().find(|x| x.method == Method::Figs && x.n == 2).unwrap();
        assert!((two.accuracy_mean - 0.83).abs() < 1e-12);
        // sample sd of {0.82, 0.84}: sqrt(2 · 0.01² / 1) = 0.01414…
        assert!((two.accuracy_sd - 0.014142135623730963).abs() < 1e-12);
        assert!(markdown(&rows).contains("| figs | 0.5 | 2 | 1.0 k | 100 | 83.00 ± 1.41 |"), "{}", markdown(&rows));
    }
}
