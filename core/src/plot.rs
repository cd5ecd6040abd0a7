//! Charts written as SVG and PNG with plotters. Text uses the embedded DejaVu Sans font, so
//! plotting needs no system fonts.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // Registering a well-formed embedded font cannot fail; if it did, text would be
        // missing from the charts and the draw calls below would report it.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// One row of the alive-width chart.
#[derive(Debug, Clone, PartialEq)]
pub struct WidthRow {
    pub group: String,
    pub supernet: usize,
    pub found: usize,
}

/// Draws "alive width per group, supernet vs found" as `<stem>.svg` and `<stem>.png`.
/// Returns the two paths.
pub fn alive_width_chart(title: &str, rows: &[WidthRow], stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let height = 120 + 26 * rows.len().max(1) as u32;
    let size = (900, height);
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |e: String| Error::Plot { path: p.clone(), message: e }
    };
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_widths(&root, title, rows).map_err(err(&svg))?;
        root.present().map_err(|e| err(&svg)(e.to_string()))?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_widths(&root, title, rows).map_err(err(&png))?;
        root.present().map_err(|e| err(&png)(e.to_string()))?;
    }
    Ok(vec![svg, png])
}

fn draw_widths<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, rows: &[WidthRow]) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let n = rows.len().max(1);
    let max_w = rows.iter().map(|r| r.supernet.max(r.found)).max().unwrap_or(1).max(1) as f64 * 1.08;
    let names: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(220)
        .build_cartesian_2d(0.0..max_w, 0.0..n as f64)
        .map_err(s)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| {
            let i = (n as f64 - y - 0.5).round();
            if (y - y.floor() - 0.5).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("channels")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(s)?;
    let light = RGBColor(190, 205, 225);
    let dark = RGBColor(31, 90, 160);
    for (i, r) in rows.iter().enumerate() {
        let top = (n - i) as f64 - 0.12;
        let bottom = (n - i - 1) as f64 + 0.12;
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, bottom), (r.supernet as f64, top)], light.filled())))
            .map_err(s)?;
        let mid = (top + bottom) / 2.0;
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, bottom + 0.1), (r.found as f64, mid + 0.1)], dark.filled())))
            .map_err(s)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{}/{}", r.found, r.supernet),
                (r.supernet as f64 + max_w * 0.005, mid + 0.25),
                ("sans-serif", 12),
            )))
            .map_err(s)?;
    }
    chart
        .draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (0.0, 0.0)], light.filled())))
        .map_err(s)?
        .label("supernet")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], light.filled()));
    chart
        .draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (0.0, 0.0)], dark.filled())))
        .map_err(s)?
        .label("found (alive)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], dark.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(s)?;
    Ok(())
}
