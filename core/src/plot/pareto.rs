//! Cost against accuracy of several networks (runs, and a width-multiplier baseline).

use super::{legend, render, Area};
use crate::error::{Error, Result};
use crate::units::human;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One network on the cost-accuracy plane.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParetoPoint {
    pub label: String,
    pub cost: f64,
    pub accuracy: f64,
    /// Part of the baseline curve (e.g. the seed at several width multipliers), drawn as a
    /// line; other points are drawn as labelled dots.
    pub baseline: bool,
}

/// Draws `points` with cost (in `unit`) on x and accuracy on y.
/// `metric` names the y axis: the task's headline metric (`accuracy`).
pub fn pareto_chart(
    title: &str,
    points: &[ParetoPoint],
    metric: &str,
    unit: &str,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    render!(stem, (900, 600), draw(title, points, metric, unit))
}

fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    points: &[ParetoPoint],
    metric: &str,
    unit: &str,
) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let max_c = points.iter().map(|p| p.cost).fold(0.0, f64::max).max(1e-12) * 1.15;
    let (lo_a, hi_a) = points.iter().fold((1.0f64, 0.0f64), |(l, h), p| (l.min(p.accuracy), h.max(p.accuracy)));
    let (lo_a, hi_a) = if lo_a <= hi_a { ((lo_a - 0.05).max(0.0), (hi_a + 0.05).min(1.0)) } else { (0.0, 1.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_c, lo_a..hi_a)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc(format!("cost ({unit})"))
        .x_label_formatter(&|x| human(*x))
        .y_desc(format!("test {metric}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(s)?;
    let mut base: Vec<(f64, f64)> = points.iter().filter(|p| p.baseline).map(|p| (p.cost, p.accuracy)).collect();
    base.sort_by(|a, b| a.0.total_cmp(&b.0));
    let grey = RGBColor(120, 120, 120);
    if !base.is_empty() {
        chart
            .draw_series(LineSeries::new(base.clone(), grey.stroke_width(2)))
            .map_err(s)?
            .label("baseline")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], grey));
        chart.draw_series(base.iter().map(|p| Circle::new(*p, 4, grey.filled()))).map_err(s)?;
    }
    let red = RGBColor(200, 50, 30);
    chart
        .draw_series(points.iter().filter(|p| !p.baseline).map(|p| Circle::new((p.cost, p.accuracy), 6, red.filled())))
        .map_err(s)?
        .label("runs")
        .legend(move |(x, y)| Circle::new((x + 7, y), 5, red.filled()));
    chart
        .draw_series(points.iter().map(|p| {
            Text::new(p.label.clone(), (p.cost + max_c * 0.01, p.accuracy + (hi_a - lo_a) * 0.01), ("sans-serif", 12))
        }))
        .map_err(s)?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
