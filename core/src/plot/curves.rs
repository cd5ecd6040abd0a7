//! Search curves: loss, the task's metric (accuracy) and cost against the step.

use super::{legend, render, Area};
use crate::error::{Error, Result};
use crate::search::{EvalMetrics, StepMetrics};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Three panels (loss, the task's headline `metric`, cost as % of the supernet) of a
/// search's history.
pub fn search_curves(
    title: &str,
    steps: &[StepMetrics],
    evals: &[EvalMetrics],
    metric: &str,
    cost0: f64,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    render!(stem, (900, 900), draw(title, steps, evals, metric, cost0))
}

type Series = Vec<(f64, f64)>;

fn draw<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    steps: &[StepMetrics],
    evals: &[EvalMetrics],
    metric: &str,
    cost0: f64,
) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let area = area.titled(title, ("sans-serif", 20)).map_err(s)?;
    let panels = area.split_evenly((3, 1));
    let st = |f: &dyn Fn(&StepMetrics) -> f64| -> Series { steps.iter().map(|m| (m.step as f64, f(m))).collect() };
    let ev = |f: &dyn Fn(&EvalMetrics) -> f64| -> Series { evals.iter().map(|m| (m.step as f64, f(m))).collect() };
    let pct = 100.0 / cost0.max(f64::MIN_POSITIVE);
    // Legends go where the curves usually are not: loss and cost fall, accuracy rises.
    let specs: [(&str, Series, Series, SeriesLabelPosition); 3] = [
        ("loss", st(&|m| m.task_loss), ev(&|m| m.loss), SeriesLabelPosition::UpperRight),
        (metric, st(&|m| m.batch_accuracy), ev(&|m| m.accuracy), SeriesLabelPosition::LowerRight),
        ("cost (% of supernet)", st(&|m| m.cost * pct), ev(&|m| m.cost * pct), SeriesLabelPosition::UpperRight),
    ];
    let last = steps.last().map(|m| m.step).unwrap_or(1).max(1) as f64;
    for (panel, (name, train, val, pos)) in panels.iter().zip(specs) {
        let all = train.iter().chain(&val).map(|p| p.1).filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-9) * 1.05) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..last, lo..hi)
            .map_err(s)?;
        chart
            .configure_mesh()
            .y_desc(name)
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(s)?;
        let light = RGBColor(150, 170, 200);
        chart
            .draw_series(LineSeries::new(train, light.stroke_width(1)))
            .map_err(s)?
            .label("training steps")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], light));
        let dark = RGBColor(200, 60, 30);
        chart
            .draw_series(LineSeries::new(val.clone(), dark.stroke_width(2)))
            .map_err(s)?
            .label("validation")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], dark));
        chart.draw_series(val.iter().map(|p| Circle::new(*p, 3, dark.filled()))).map_err(s)?;
        legend(&mut chart, pos)?;
    }
    Ok(())
}
