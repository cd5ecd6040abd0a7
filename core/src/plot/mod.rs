//! Charts written as SVG and PNG with plotters. Text uses the embedded DejaVu Sans font, so
//! plotting needs no system fonts. One module per chart.

mod branches;
mod curves;
mod heatmap;
mod pareto;
mod sweep;
mod widths;

pub use branches::{branch_chart, superblock_branches, BlockBranches};
pub use curves::search_curves;
pub use heatmap::gate_heatmap;
pub use pareto::{pareto_chart, ParetoPoint};
pub use sweep::sweep_chart;
pub use widths::{alive_width_chart, WidthRow};

use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

static FONT: Once = Once::new();

/// A drawing area of any plotters backend.
pub(crate) type Area<DB> = DrawingArea<DB, Shift>;

pub(crate) fn register_font() {
    FONT.call_once(|| {
        // Registering a well-formed embedded font cannot fail; if it did, text would be
        // missing from the charts and the draw calls would report it.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws `$draw(&area, args…)` into `<stem>.svg` and `<stem>.png` (directories created) and
/// returns the two paths.
macro_rules! render {
    ($stem:expr, $size:expr, $draw:ident ( $($arg:expr),* $(,)? )) => {{
        crate::plot::register_font();
        let stem: &std::path::Path = $stem;
        let svg = crate::plot::file_of(stem, "svg");
        let png = crate::plot::file_of(stem, "png");
        let err = |p: &std::path::Path| {
            let p = p.to_path_buf();
            move |e: String| Error::Plot { path: p.clone(), message: e }
        };
        if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
        }
        // Drawn under temporary names (same extension: the bitmap backend picks its
        // encoder by it) and renamed, so a crash or a full disk never leaves half a plot.
        let tmp = |p: &std::path::Path| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            p.with_file_name(format!(".tmp{}.{name}", std::process::id()))
        };
        let (svg_tmp, png_tmp) = (tmp(&svg), tmp(&png));
        let drawn = (|| -> Result<()> {
            {
                let root = SVGBackend::new(&svg_tmp, $size).into_drawing_area();
                $draw(&root, $($arg),*).map_err(err(&svg))?;
                root.present().map_err(|e| err(&svg)(e.to_string()))?;
            }
            {
                let root = BitMapBackend::new(&png_tmp, $size).into_drawing_area();
                $draw(&root, $($arg),*).map_err(err(&png))?;
                root.present().map_err(|e| err(&png)(e.to_string()))?;
            }
            for (t, p) in [(&svg_tmp, &svg), (&png_tmp, &png)] {
                std::fs::rename(t, p).map_err(|e| Error::io("cannot write", p, e))?;
            }
            Ok(())
        })();
        if drawn.is_err() {
            let _ = std::fs::remove_file(&svg_tmp);
            let _ = std::fs::remove_file(&png_tmp);
        }
        drawn.map(|_| vec![svg, png])
    }};
}
pub(crate) use render;

/// `stem` with the extension `ext` added: `runs/x/branches-lambda-0.5` → `…-0.5.svg` (not
/// `-0.svg`, which `with_extension` gives). A stem that already ends in `.svg` or `.png`
/// has that extension replaced.
pub(crate) fn file_of(stem: &std::path::Path, ext: &str) -> std::path::PathBuf {
    if stem.extension().is_some_and(|e| e == "svg" || e == "png") {
        return stem.with_extension(ext);
    }
    let mut name = stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    name.into()
}

/// Draws the series legend of `chart` at `pos` (one look for every chart).
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| e.to_string())
}

/// Colour for a value in [0, 1]: white → dark blue.
pub(crate) fn shade(v: f64) -> RGBColor {
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(mix(245.0, 20.0), mix(245.0, 70.0), mix(250.0, 150.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{EvalMetrics, StepMetrics};

    #[test]
    fn a_dot_in_the_stem_is_kept() {
        let p = |s: &str, e: &str| file_of(std::path::Path::new(s), e);
        assert_eq!(p("out/branches-lambda-0.5", "svg"), std::path::PathBuf::from("out/branches-lambda-0.5.svg"));
        assert_eq!(p("out/chart.svg", "png"), std::path::PathBuf::from("out/chart.png"));
        assert_eq!(p("out/widths", "png"), std::path::PathBuf::from("out/widths.png"));
    }

    #[test]
    fn every_chart_writes_svg_and_png() {
        let d = tempfile::tempdir().unwrap();
        let png = |p: &std::path::PathBuf| assert_eq!(&std::fs::read(p).unwrap()[..4], b"\x89PNG");
        let rows = vec![("stem".to_string(), vec![0.9, 0.1, 0.5]), ("block1".to_string(), vec![0.2; 6])];
        let p = gate_heatmap("h", &rows, &d.path().join("h")).unwrap();
        assert!(std::fs::read_to_string(&p[0]).unwrap().contains("block1"));
        png(&p[1]);
        let step = |i: u64| StepMetrics {
            step: i,
            epoch: 0,
            task_loss: 2.0 / i as f64,
            reg: 1.0,
            cost: 100.0 - i as f64,
            alive_fraction: 1.0,
            tau: 1.0,
            batch_accuracy: 0.1 * i as f64,
            lambda: 1.0,
        };
        let steps: Vec<StepMetrics> = (1..=5).map(step).collect();
        let evals = vec![EvalMetrics {
            step: 5,
            loss: 0.5,
            accuracy: 0.4,
            more: Default::default(),
            cost: 95.0,
            alive: vec![],
            compacted: 0,
            metric: "accuracy".into(),
        }];
        let p = search_curves("c", &steps, &evals, "accuracy", 100.0, &d.path().join("c")).unwrap();
        assert!(std::fs::read_to_string(&p[0]).unwrap().contains("validation"));
        png(&p[1]);
        let pts = vec![
            ParetoPoint { label: "found".into(), cost: 1.0e6, accuracy: 0.8, baseline: false },
            ParetoPoint { label: "w=0.5".into(), cost: 0.9e6, accuracy: 0.78, baseline: true },
            ParetoPoint { label: "w=1".into(), cost: 3.0e6, accuracy: 0.83, baseline: true },
        ];
        let p = pareto_chart("p", &pts, "accuracy", "FLOPs", &d.path().join("p")).unwrap();
        assert!(std::fs::read_to_string(&p[0]).unwrap().contains("w=0.5"));
        png(&p[1]);
        let groups = vec![
            ("block1.k3e3.expand.conv".to_string(), 10, 48),
            ("block1.k5e6.expand.conv".to_string(), 0, 96),
            ("stem.conv".to_string(), 16, 16),
        ];
        let blocks = superblock_branches(&groups);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].branches.len(), 2);
        let p = branch_chart("b", &blocks, &d.path().join("b")).unwrap();
        assert!(std::fs::read_to_string(&p[0]).unwrap().contains("k5e6 removed"));
        png(&p[1]);
    }
}
