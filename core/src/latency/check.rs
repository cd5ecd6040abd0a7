//! How well a table predicts: random sub-networks of its supernet, each pruned, built and
//! timed whole, against the table's prediction — rank correlation and relative error
//! (issue 28's acceptance check; `bench/latency_table.sh` runs it).

use super::measure::NetworkTimer;
use super::LatencyTable;
use crate::error::Result;
use crate::graph::{prune, Graph};
use rand::{Rng, SeedableRng};
use tch::Device;

/// How a random sub-network's widths are drawn (each a whole number of the table's blocks,
/// at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every gated group uniformly over its reachable widths, independently: sub-networks
    /// near half the supernet, differing little in latency.
    PerGroup,
    /// A size first, uniform in [0.1, 1] of the supernet's widths, then every gated group
    /// uniformly within ±50 % of it: sub-networks of every size a search passes through.
    Sized,
}

/// One sampled sub-network: its widths per group, predicted and measured milliseconds.
#[derive(Debug, Clone)]
pub struct Sample {
    pub widths: Vec<usize>,
    pub predicted_ms: f64,
    /// The fastest of its passes.
    pub measured_ms: f64,
    /// Each pass's time scaled by the table's supernet time over the supernet's, timed right
    /// after it, the median over the passes (a ratio's fastest would pick the passes where
    /// the supernet's timing was slow): its latency on the host as fast as it was when the
    /// table was measured (this project's host changes speed by up to 2× for minutes).
    pub paired_ms: f64,
}

/// `n` random sub-networks of `supernet` (seeded), predicted by `table` and timed on
/// `device` in `passes` round-robin passes, each keeping its fastest (as `figs profile`
/// does), each timing followed by one of the supernet (see [`Sample::paired_ms`]);
/// `progress(done, total)` after each pair.
pub fn sample(
    supernet: &Graph,
    table: &LatencyTable,
    n: usize,
    seed: u64,
    device: Device,
    passes: usize,
    sampling: Sampling,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Sample>> {
    let a = supernet.analyze()?;
    let bound = table.bind(supernet, &a)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let b = table.block.max(1);
    let mut nets = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let size: f64 = rng.gen_range(0.1..=1.0);
        let widths: Vec<usize> = a
            .groups
            .iter()
            .map(|g| {
                let block = crate::search::gate_block_of(g.width, b);
                let most = g.width / block;
                if !g.gated {
                    return g.width;
                }
                match sampling {
                    Sampling::PerGroup => rng.gen_range(1..=most) * block,
                    Sampling::Sized => super::width_at(g.width, b, rng.gen_range(0.5 * size..=1.5 * size)),
                }
            })
            .collect();
        let (pruned, _) = prune(supernet, &a, &widths)?;
        nets.push(NetworkTimer::new(&pruned, device, table.key.batch, table.key.channels_last)?);
        let alive: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
        let inf = f64::INFINITY;
        out.push(Sample { predicted_ms: bound.predict(&alive), widths, measured_ms: inf, paired_ms: inf });
    }
    let mut ratios = vec![Vec::with_capacity(passes.max(1)); n];
    let whole = NetworkTimer::new(supernet, device, table.key.batch, table.key.channels_last)?;
    let total = passes.max(1) * n;
    for pass in 0..passes.max(1) {
        for (k, (net, s)) in nets.iter().zip(out.iter_mut()).enumerate() {
            let ms = net.ms()?;
            let reference = whole.ms()?;
            s.measured_ms = s.measured_ms.min(ms);
            ratios[k].push(ms / reference);
            progress(pass * n + k + 1, total);
        }
    }
    for (s, r) in out.iter_mut().zip(&mut ratios) {
        r.sort_by(f64::total_cmp);
        s.paired_ms = table.supernet_ms * r[r.len() / 2];
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

/// The median of |predicted − measured| / measured over `(predicted, measured)` pairs.
pub fn median_relative_error(s: &[(f64, f64)]) -> f64 {
    let mut e: Vec<f64> = s.iter().map(|&(p, m)| (p - m).abs() / m).collect();
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
