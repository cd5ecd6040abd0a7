//! Gate keep probability per channel: one row per group, one cell per channel.

use super::{render, shade, Area};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Draws the heat map of `rows` (group name, per-channel values in [0, 1]) to
/// `<stem>.svg` / `.png`.
pub fn gate_heatmap(title: &str, rows: &[(String, Vec<f64>)], stem: &Path) -> Result<Vec<PathBuf>> {
    let height = 110 + 18 * rows.len().max(1) as u32;
    render!(stem, (1000, height), draw(title, rows))
}

fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    rows: &[(String, Vec<f64>)],
) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let n = rows.len().max(1);
    let widest = rows.iter().map(|r| r.1.len()).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{title} (white: p = 0, blue: p = 1)"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(190)
        // A segmented range a..b has b - a + 1 segments: one per row.
        .build_cartesian_2d(0.0..widest as f64, (0..n as i32 - 1).into_segmented())
        .map_err(s)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows.get(n - 1 - *i as usize).map(|r| r.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("channel")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(s)?;
    // Row 0 at the top.
    let cells = rows.iter().enumerate().flat_map(|(i, (_, v))| {
        let y = (n - 1 - i) as i32;
        v.iter().enumerate().map(move |(c, p)| {
            let mut r = Rectangle::new(
                [(c as f64, SegmentValue::Exact(y)), (c as f64 + 1.0, SegmentValue::Exact(y + 1))],
                shade(*p).filled(),
            );
            r.set_margin(1, 1, 0, 0);
            r
        })
    });
    chart.draw_series(cells).map_err(s)?;
    Ok(())
}
