//! Which branches of each superblock survive: one row per block, one cell per branch,
//! shaded by the fraction of its expansion channels alive.

use super::{render, shade, Area};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The branches of one block: `(branch name, alive, width)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BlockBranches {
    pub block: String,
    pub branches: Vec<(String, usize, usize)>,
}

/// Groups named `<block>.<branch>.expand…` (the superblock convention of the `fbnet` space
/// and documented in docs/PLUGINS.md), from `(group name, alive, width)`; empty when the
/// space has no superblocks.
pub fn superblock_branches(groups: &[(String, usize, usize)]) -> Vec<BlockBranches> {
    let mut out: Vec<BlockBranches> = Vec::new();
    for (name, alive, width) in groups {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() < 3 || parts[2] != "expand" {
            continue;
        }
        let (block, branch) = (parts[0].to_string(), parts[1].to_string());
        match out.iter_mut().find(|b| b.block == block) {
            Some(b) => b.branches.push((branch, *alive, *width)),
            None => out.push(BlockBranches { block, branches: vec![(branch, *alive, *width)] }),
        }
    }
    out
}

/// Draws the surviving branches per block.
pub fn branch_chart(title: &str, blocks: &[BlockBranches], stem: &Path) -> Result<Vec<PathBuf>> {
    let cols = blocks.iter().map(|b| b.branches.len()).max().unwrap_or(1).max(1);
    let size = ((160 + 110 * cols) as u32, (90 + 34 * blocks.len().max(1)) as u32);
    render!(stem, size, draw(title, blocks, cols))
}

fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    blocks: &[BlockBranches],
    cols: usize,
) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let n = blocks.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..cols as f64, (0..n as i32 - 1).into_segmented())
        .map_err(s)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => blocks.get(n - 1 - *i as usize).map(|b| b.block.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(s)?;
    for (i, b) in blocks.iter().enumerate() {
        let y = (n - 1 - i) as i32;
        for (c, (name, alive, width)) in b.branches.iter().enumerate() {
            let frac = if *width > 0 { *alive as f64 / *width as f64 } else { 0.0 };
            let x = c as f64;
            let mut cell = Rectangle::new(
                [(x + 0.04, SegmentValue::Exact(y)), (x + 0.96, SegmentValue::Exact(y + 1))],
                shade(frac).filled(),
            );
            cell.set_margin(4, 4, 0, 0);
            chart.draw_series([cell]).map_err(s)?;
            let color = if frac > 0.5 { WHITE } else { BLACK };
            let label = if *alive == 0 { format!("{name} removed") } else { format!("{name} {alive}/{width}") };
            chart
                .draw_series([Text::new(
                    label,
                    (x + 0.1, SegmentValue::CenterOf(y)),
                    ("sans-serif", 12).into_font().color(&color),
                )])
                .map_err(s)?;
        }
    }
    Ok(())
}
