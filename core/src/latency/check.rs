//! How well a table predicts: random sub-networks of its supernet (every gated group at a
//! random multiple of the table's block), each pruned, built and timed whole, against the
//! table's prediction — rank correlation and relative error (issue 28's acceptance check;
//! `bench/latency_table.sh` runs it).

use super::measure::time_network;
use super::LatencyTable;
use crate::error::Result;
use crate::graph::{prune, Graph};
use rand::{Rng, SeedableRng};
use tch::Device;

/// One sampled sub-network: its widths per group, predicted and measured milliseconds.
#[derive(Debug, Clone)]
pub struct Sample {
    pub widths: Vec<usize>,
    pub predicted_ms: f64,
    pub measured_ms: f64,
}

/// `n` random sub-networks of `supernet` (seeded), predicted by `table` and timed on
/// `device`; `progress(done, n)` after each.
pub fn sample(
    supernet: &Graph,
    table: &LatencyTable,
    n: usize,
    seed: u64,
    device: Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Sample>> {
    let a = supernet.analyze()?;
    let bound = table.bind(supernet, &a)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let b = table.block.max(1);
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let widths: Vec<usize> = a
            .groups
            .iter()
            .map(|g| {
                let block = crate::search::gate_block_of(g.width, b);
                if g.gated {
                    rng.gen_range(1..=g.width / block) * block
                } else {
                    g.width
                }
            })
            .collect();
        let (pruned, _) = prune(supernet, &a, &widths)?;
        let measured_ms = time_network(&pruned, device, table.key.batch, table.key.channels_last)?;
        let alive: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
        out.push(Sample { widths, predicted_ms: bound.predict(&alive), measured_ms });
        progress(k + 1, n);
    }
    Ok(out)
}

/// Spearman's rank correlation of `x` and `y` (average ranks for ties).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let mean = (n + 1.0) / 2.0;
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mean) * (b - mean)).sum();
    let var = |r: &[f64]| r.iter().map(|a| (a - mean).powi(2)).sum::<f64>();
    cov / (var(&rx) * var(&ry)).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// The median of |predicted − measured| / measured.
pub fn median_relative_error(s: &[Sample]) -> f64 {
    let mut e: Vec<f64> = s.iter().map(|s| (s.predicted_ms - s.measured_ms).abs() / s.measured_ms).collect();
    e.sort_by(f64::total_cmp);
    match e.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => e[n / 2],
        n => (e[n / 2 - 1] + e[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_ranks_with_ties() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
    }
}
