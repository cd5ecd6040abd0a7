//! Mean ± standard deviation per method and budget, and FiGS's paired differences to the
//! other methods, as tables.

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

/// The rows as a Markdown table (the headline `metric` in percent).
pub fn markdown(rows: &[SummaryRow], metric: &str) -> String {
    let mut s = format!(
        "| method | budget | seeds | MACs (mean) | params (mean) | test {metric} % (mean ± sd) |\n|---|---|---|---|---|---|\n"
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

/// FiGS minus one other method at one budget, paired by seed: the same seed gives both
/// networks the same retraining order and initialisation stream, so the per-seed
/// difference is less noisy than the difference of the two means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedRow {
    pub budget: f64,
    pub other: Method,
    /// (seed, FiGS's test accuracy minus the other's) for every seed that has both points.
    pub differences: Vec<(u64, f64)>,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one pair.
    pub sd: f64,
}

/// One row per (budget, other method) with at least one pair, ordered by budget then
/// method; seeds in increasing order.
pub fn paired(results: &[PointResult]) -> Vec<PairedRow> {
    let mut figs: Vec<&PointResult> = results.iter().filter(|r| r.method == Method::Figs).collect();
    figs.sort_by(|a, b| a.budget.total_cmp(&b.budget).then(a.seed.cmp(&b.seed)));
    let mut groups: Vec<(f64, Method, Vec<(u64, f64)>)> = Vec::new();
    for other in [Method::Width, Method::Gamma] {
        for f in &figs {
            let Some(o) =
                results.iter().find(|r| r.method == other && r.seed == f.seed && (r.budget - f.budget).abs() < 1e-9)
            else {
                continue;
            };
            let d = (f.seed, f.test_accuracy - o.test_accuracy);
            match groups.iter_mut().find(|g| g.1 == other && (g.0 - f.budget).abs() < 1e-9) {
                Some(g) => g.2.push(d),
                None => groups.push((f.budget, other, vec![d])),
            }
        }
    }
    groups.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    groups
        .into_iter()
        .map(|(budget, other, differences)| {
            let (mean, sd) = mean_sd(&differences.iter().map(|d| d.1).collect::<Vec<_>>());
            PairedRow { budget, other, differences, mean, sd }
        })
        .collect()
}

/// The paired differences as a Markdown table (percentage points).
pub fn paired_markdown(rows: &[PairedRow]) -> String {
    let mut s = String::from(
        "| budget | FiGS minus | per seed (seed: points) | mean ± sd (points) | pairs |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let per_seed: Vec<String> =
            r.differences.iter().map(|(seed, d)| format!("{seed}: {:+.2}", 100.0 * d)).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {:+.2} ± {:.2} | {} |\n",
            r.budget,
            r.other.as_str(),
            per_seed.join(", "),
            100.0 * r.mean,
            100.0 * r.sd,
            r.differences.len()
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
            metric: "accuracy".into(),
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
        assert!(
            markdown(&rows, "accuracy").contains("| figs | 0.5 | 2 | 1.0 k | 100 | 83.00 ± 1.41 |"),
            "{}",
            markdown(&rows, "accuracy")
        );
    }

    #[test]
    fn figs_minus_each_other_method_paired_by_seed() {
        let rows = paired(&[
            r(Method::Figs, 0.5, 2, 0.85),
            r(Method::Figs, 0.5, 1, 0.82),
            r(Method::Width, 0.5, 1, 0.80),
            r(Method::Width, 0.5, 2, 0.86),
            // no FiGS point at seed 3: not a pair
            r(Method::Width, 0.5, 3, 0.10),
            r(Method::Gamma, 0.5, 2, 0.84),
            // another budget: not paired with 0.5
            r(Method::Gamma, 0.4, 1, 0.10),
            r(Method::Seed, 1.0, 1, 0.90),
        ]);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let w = &rows[0];
        assert_eq!((w.budget, w.other), (0.5, Method::Width));
        let seeds: Vec<u64> = w.differences.iter().map(|d| d.0).collect();
        assert_eq!(seeds, [1, 2]);
        // +0.02 and −0.01: mean 0.005, sample sd sqrt((0.015² + 0.015²) / 1) = 0.02121…
        assert!((w.mean - 0.005).abs() < 1e-12 && (w.sd - 0.021213203435596).abs() < 1e-12, "{w:?}");
        let g = &rows[1];
        assert_eq!((g.other, g.differences.len(), g.sd), (Method::Gamma, 1, 0.0));
        assert!((g.mean - 0.01).abs() < 1e-12);
        let md = paired_markdown(&rows);
        assert!(md.contains("| 0.5 | width | 1: +2.00, 2: -1.00 | +0.50 ± 2.12 | 2 |"), "{md}");
        assert!(md.contains("| 0.5 | gamma | 2: +1.00 | +1.00 ± 0.00 | 1 |"), "{md}");
    }
}
