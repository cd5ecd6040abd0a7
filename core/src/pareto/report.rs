//! `summary.md` and the sweep's chart, from every result in the directory.

use super::*;
use crate::plot::sweep_chart;

/// What [`Sweep::write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// The Markdown table (and the paired differences) of summary.md.
    pub table: String,
    /// summary.md and the chart's files.
    pub files: Vec<PathBuf>,
}

impl Sweep {
    /// Writes `summary.md` and `pareto.svg`/`.png` from the results so far; None when there
    /// are none yet.
    pub fn write_report(&self) -> Result<Option<SweepReport>> {
        let (results, _) = self.results()?;
        if results.is_empty() {
            return Ok(None);
        }
        let rows = summarize(&results);
        let pairs = paired(&results);
        let metric = results.first().map_or_else(crate::task::accuracy_name, |r| r.metric.clone());
        let mut table = markdown(&rows, &metric);
        if !pairs.is_empty() {
            table.push_str(&format!(
                "\nFiGS minus the other method, paired by seed (the same seed gives both networks the same \
                 retraining order and initialisation stream), test {metric} points:\n\n{}",
                paired_markdown(&pairs)
            ));
        }
        let text = format!(
            "# Pareto sweep\n\nRecipe: `{}/config.json`. Test {metric}: mean ± sample sd over seeds.\n\n{table}",
            self.dir.display()
        );
        let summary = self.dir.join("summary.md");
        crate::io::write_atomic(&summary, text.as_bytes())?;
        let plots = sweep_chart(
            &format!("{}: test {metric} vs MACs", self.recipe.space),
            &metric,
            &rows,
            &self.dir.join("pareto"),
        )?;
        Ok(Some(SweepReport { table, files: [vec![summary], plots].concat() }))
    }
}
