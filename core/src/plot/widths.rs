//! Alive width per channel group, supernet vs found.

use super::{legend, render, Area};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

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
    let height = 120 + 26 * rows.len().max(1) as u32;
    render!(stem, (900, height), draw_widths(title, rows))
}

fn draw_widths<DB: DrawingBackend>(area: &Area<DB>, title: &str, rows: &[WidthRow]) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(s)?;
    let n = rows.len().max(1) as i32;
    let widest = rows.iter().map(|r| r.supernet.max(r.found)).max().unwrap_or(1).max(1) as f64;
    // Room on the right for the "found/supernet" labels and the legend.
    let max_w = widest * 1.35;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(170)
        // A segmented range a..b has b - a + 1 segments.
        .build_cartesian_2d(0.0..max_w, (0..n - 1).into_segmented())
        .map_err(s)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows.get((n - 1 - *i) as usize).map(|r| r.group.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("channels")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(s)?;
    let light = RGBColor(190, 205, 225);
    let dark = RGBColor(31, 90, 160);
    // Row i is drawn top to bottom: segment n-1-i.
    let seg = |i: usize| n - 1 - i as i32;
    let bar = |w: f64, i: usize, color: RGBColor, margin: u32| {
        let mut r =
            Rectangle::new([(0.0, SegmentValue::Exact(seg(i))), (w, SegmentValue::Exact(seg(i) + 1))], color.filled());
        r.set_margin(margin, margin, 0, 0);
        r
    };
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| bar(r.supernet as f64, i, light, 3)))
        .map_err(s)?
        .label("supernet")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], light.filled()));
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| bar(r.found as f64, i, dark, 8)))
        .map_err(s)?
        .label("found (alive)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], dark.filled()));
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            Text::new(
                format!("{}/{}", r.found, r.supernet),
                (r.supernet as f64 + widest * 0.01, SegmentValue::CenterOf(seg(i))),
                ("sans-serif", 12),
            )
        }))
        .map_err(s)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png() {
        let d = tempfile::tempdir().unwrap();
        let rows = vec![
            WidthRow { group: "stem.conv".into(), supernet: 32, found: 20 },
            WidthRow { group: "block1.expand.conv".into(), supernet: 96, found: 0 },
        ];
        let paths = alive_width_chart("test", &rows, &d.path().join("w")).unwrap();
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.contains("block1.expand.conv") && svg.contains("20/32"), "labels are drawn");
        assert_eq!(&std::fs::read(&paths[1]).unwrap()[..4], b"\x89PNG");
    }
}
