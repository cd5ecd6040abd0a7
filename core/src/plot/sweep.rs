//! The Pareto experiment's chart: mean test accuracy against mean MACs per method and
//! budget, with ±1 sd error bars over seeds, one series per method.

use super::{legend, render, Area};
use crate::error::{Error, Result};
use crate::pareto::{Method, SummaryRow};
use crate::units::human;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Draws `rows` (from [`crate::pareto::summarize`]) to `<stem>.svg` / `.png`.
pub fn sweep_chart(title: &str, metric: &str, rows: &[SummaryRow], stem: &Path) -> Result<Vec<PathBuf>> {
    render!(stem, (900, 600), draw(title, metric, rows))
}

fn colour(m: Method) -> RGBColor {
    match m {
        Method::Figs => RGBColor(200, 50, 30),
        Method::Width => RGBColor(110, 110, 110),
        Method::Gamma => RGBColor(40, 90, 180),
        Method::Seed => RGBColor(0, 0, 0),
    }
}

fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    metric: &str,
    rows: &[SummaryRow],
) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let max_x = rows.iter().map(|r| r.macs_mean).fold(0.0, f64::max).max(1.0) * 1.1;
    let lo = rows.iter().map(|r| r.accuracy_mean - r.accuracy_sd).fold(1.0, f64::min);
    let hi = rows.iter().map(|r| r.accuracy_mean + r.accuracy_sd).fold(0.0, f64::max);
    let (lo, hi) = if lo <= hi { ((lo - 0.01).max(0.0), (hi + 0.01).min(1.0)) } else { (0.0, 1.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_x, lo..hi)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc("MACs")
        .x_label_formatter(&|x| human(*x))
        .y_desc(format!("test {metric} (mean ± sd over seeds)"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(s)?;
    for m in [Method::Width, Method::Gamma, Method::Figs, Method::Seed] {
        let pts: Vec<&SummaryRow> = rows.iter().filter(|r| r.method == m).collect();
        if pts.is_empty() {
            continue;
        }
        let c = colour(m);
        let line: Vec<(f64, f64)> = pts.iter().map(|r| (r.macs_mean, r.accuracy_mean)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
            .map_err(s)?
            .label(m.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2)));
        chart.draw_series(line.iter().map(|p| Circle::new(*p, 4, c.filled()))).map_err(s)?;
        chart
            .draw_series(pts.iter().map(|r| {
                ErrorBar::new_vertical(
                    r.macs_mean,
                    r.accuracy_mean - r.accuracy_sd,
                    r.accuracy_mean,
                    r.accuracy_mean + r.accuracy_sd,
                    c.stroke_width(1),
                    8,
                )
            }))
            .map_err(s)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
