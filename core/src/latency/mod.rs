//! Measured latency tables: the time of every conv and linear layer of a supernet (with the
//! batch norm and activation that follow it) on one device, on a grid of the channel counts
//! the search can reach, so the latency of any sub-network is predicted by interpolation
//! (issue 28). `figs profile` measures a table ([`measure::profile`]) and caches it on disk
//! keyed by device, library, threads, batch and graph; [`Bound::predict`] sums the layers at
//! given alive counts plus what timing them alone misses (adds, pooling, per-call costs, and
//! layers running slower inside a network whose activations leave the caches), measured on
//! uniformly narrowed sub-networks and interpolated by the layers' sum.

pub mod check;
pub mod measure;

use crate::error::{Error, Result};
use crate::graph::{Analysis, Graph, Seg};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a table was measured on; a table answers only for the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableKey {
    /// `cpu: <model name>` or `cuda:N`.
    pub device: String,
    /// The tch crate and the libtorch it binds.
    pub library: String,
    pub threads: i32,
    pub batch: i64,
    /// Channels-last activations (figs' layout on the CPU).
    pub channels_last: bool,
    /// The supernet's name and a hash of its graph.
    pub graph: String,
}

/// One timed layer: milliseconds on the grid `ins × outs` of channel counts (a depthwise
/// conv has one axis: `ins` is empty and `ms` one row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTable {
    /// The conv or linear node.
    pub node: String,
    pub ins: Vec<f64>,
    pub outs: Vec<f64>,
    /// `ms[i][o]`: time at `ins[i]` input and `outs[o]` output channels.
    pub ms: Vec<Vec<f64>>,
}

/// A measured table for one supernet on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyTable {
    pub key: TableKey,
    /// Channels per step of the grid's reachable widths (`width-multiple`).
    pub block: usize,
    pub layers: Vec<LayerTable>,
    /// The whole supernet's measured time minus its layers' at full width.
    pub rest_ms: f64,
    /// The whole supernet's measured time, for the record.
    pub supernet_ms: f64,
    /// `[layers' sum, measured − layers' sum]` in milliseconds for sub-networks with every
    /// gated group narrowed alike (1/points, 2/points, … of its width), by rising sum: what a
    /// prediction adds to its layers' sum, interpolated. A table without it (written before
    /// 2026-12-06) adds `rest_ms` throughout.
    #[serde(default)]
    pub rest_curve: Vec<[f64; 2]>,
}

/// Which channel groups a table layer's axes count, found in the graph it is bound to.
#[derive(Debug, Clone)]
pub struct Bound {
    table: LatencyTable,
    /// Per layer: its input and output segments.
    segs: Vec<(Vec<Seg>, Vec<Seg>)>,
}

impl LatencyTable {
    /// Reads a table written by [`LatencyTable::save`].
    pub fn load(path: &Path) -> Result<LatencyTable> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Io { action: "reading", path: path.into(), source: e })?;
        serde_json::from_str(&text).map_err(|e| Error::Json { path: path.into(), source: e })
    }

    /// Writes the table as JSON (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io { action: "creating", path: dir.into(), source: e })?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Json { path: path.into(), source: e })?;
        crate::io::write_atomic(path, text.as_bytes())
    }

    /// Binds the table to `g` (the graph it was measured on, or one pruned from it: layers
    /// are found by node name). Errors name a layer the table does not have.
    pub fn bind(&self, g: &Graph, a: &Analysis) -> Result<Bound> {
        let mut segs = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let i = g.index_of(&l.node).ok_or_else(|| {
                Error::config(
                    "latency table",
                    format!("the table has layer `{}`, which the graph lacks: profile this space again", l.node),
                )
            })?;
            segs.push((a.source_channels(a.inputs[i][0]).to_vec(), a.channels[i].clone()));
        }
        Ok(Bound { table: self.clone(), segs })
    }
}

impl Bound {
    /// Predicted milliseconds with `alive[g]` channels per group.
    pub fn predict(&self, alive: &[f64]) -> f64 {
        let layers = self.layers_ms(alive);
        layers + self.rest_ms(layers)
    }

    /// The timed layers' sum alone.
    pub fn layers_ms(&self, alive: &[f64]) -> f64 {
        let count =
            |s: &[Seg]| -> f64 { s.iter().map(|s| alive.get(s.group).copied().unwrap_or(s.width as f64)).sum() };
        self.table.layers.iter().zip(&self.segs).map(|(l, (ins, outs))| interpolate(l, count(ins), count(outs))).sum()
    }

    /// What a network whose layers sum to `layers` ms spends beyond them: the rest curve
    /// interpolated, held at its ends.
    fn rest_ms(&self, layers: f64) -> f64 {
        let c = &self.table.rest_curve;
        if c.is_empty() {
            return self.table.rest_ms;
        }
        let xs: Vec<f64> = c.iter().map(|p| p[0]).collect();
        let (i, j, t) = bracket(&xs, layers);
        lerp(c[i][1], c[j][1], t)
    }

    pub fn table(&self) -> &LatencyTable {
        &self.table
    }
}

/// Bilinear interpolation of a layer's grid (linear along one axis for depthwise), clamped
/// to the grid's ends; extrapolated linearly below the first point towards 0 channels.
fn interpolate(l: &LayerTable, ci: f64, co: f64) -> f64 {
    let (o0, o1, to) = bracket(&l.outs, co);
    if l.ins.is_empty() {
        return lerp(l.ms[0][o0], l.ms[0][o1], to);
    }
    let (i0, i1, ti) = bracket(&l.ins, ci);
    let row = |i: usize| lerp(l.ms[i][o0], l.ms[i][o1], to);
    lerp(row(i0), row(i1), ti)
}

/// The grid points around `x` and where `x` lies between them (0..1; beyond the last point
/// it is clamped to it).
fn bracket(grid: &[f64], x: f64) -> (usize, usize, f64) {
    let n = grid.len();
    if n == 1 || x <= grid[0] {
        return (0, 0, 0.0);
    }
    match grid.iter().position(|&g| g >= x) {
        None => (n - 1, n - 1, 0.0),
        Some(k) => (k - 1, k, (x - grid[k - 1]) / (grid[k] - grid[k - 1])),
    }
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// The grid of channel counts for a width `w` searched in blocks of `block`: about `points`
/// multiples of the block from one block to `w`, both ends included.
pub fn grid(w: usize, block: usize, points: usize) -> Vec<f64> {
    let b = block.clamp(1, w.max(1));
    let steps = w / b;
    let n = points.clamp(2, steps.max(1) + 1).min(steps.max(1));
    let mut g: Vec<f64> = (0..n)
        .map(|k| {
            let s = if n == 1 { steps } else { 1 + (k * (steps - 1)) / (n - 1) };
            (s * b) as f64
        })
        .collect();
    g.dedup();
    if g.last() != Some(&(w as f64)) {
        g.push(w as f64);
    }
    g
}

/// A gated group of `width` channels searched in blocks of `block` at `fraction` of its
/// width: whole blocks, rounded, at least one.
pub(crate) fn width_at(width: usize, block: usize, fraction: f64) -> usize {
    let b = crate::search::gate_block_of(width, block);
    let most = width / b;
    ((fraction * most as f64).round() as usize).clamp(1, most) * b
}

/// Where `figs profile` caches a table: `$XDG_CACHE_HOME` (or `~/.cache`)
/// `/figs/latency/<graph name>-<hash of the key>.json`.
pub fn cache_path(key: &TableKey) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let text = serde_json::to_string(key).unwrap_or_default();
    let name = key.graph.split(':').next().unwrap_or("graph");
    base.join("figs").join("latency").join(format!("{name}-{:016x}.json", fnv(text.as_bytes())))
}

/// FNV-1a, 64 bits.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_holds_block_multiples_and_both_ends() {
        assert_eq!(grid(96, 8, 5), [8.0, 24.0, 48.0, 72.0, 96.0]);
        assert_eq!(grid(16, 8, 5), [8.0, 16.0]);
        assert_eq!(grid(10, 1, 3), [1.0, 5.0, 10.0]);
        assert_eq!(grid(3, 8, 5), [3.0]);
    }

    #[test]
    fn interpolation_is_exact_on_the_grid_and_linear_between() {
        let l = LayerTable {
            node: "c".into(),
            ins: vec![8.0, 16.0],
            outs: vec![8.0, 24.0],
            ms: vec![vec![1.0, 3.0], vec![2.0, 6.0]],
        };
        assert_eq!(interpolate(&l, 16.0, 24.0), 6.0);
        assert_eq!(interpolate(&l, 8.0, 16.0), 2.0);
        assert_eq!(interpolate(&l, 12.0, 8.0), 1.5);
        assert_eq!(interpolate(&l, 12.0, 16.0), (2.0 + 4.0) / 2.0);
        assert_eq!(interpolate(&l, 64.0, 64.0), 6.0, "clamped beyond the grid");
        let dw = LayerTable { node: "d".into(), ins: vec![], outs: vec![8.0, 16.0], ms: vec![vec![1.0, 2.0]] };
        assert_eq!(interpolate(&dw, 0.0, 12.0), 1.5);
    }
}
