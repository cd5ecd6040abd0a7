//! Inline display in a Rust notebook. evcxr shows a cell's last value through its
//! `evcxr_display(&self)` method, which prints `EVCXR_BEGIN_CONTENT <mime>` … the content …
//! `EVCXR_END_CONTENT` on stdout: charts as `image/svg+xml`, tables as `text/html`. No evcxr
//! dependency is needed; outside a notebook these methods only print.
//!
//! `to_html` / `to_svg` return the content itself (tested, and usable in other front ends).

use super::values::*;
use crate::units::{human, human_unit};

/// Prints `content` as one evcxr display item of type `mime`.
fn emit(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

/// `&`, `<`, `>`, `"` escaped for HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML table with a caption; cells that start with a digit are right-aligned.
pub fn html_table(caption: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table class=\"figs\">");
    if !caption.is_empty() {
        h += &format!("<caption style=\"text-align:left\">{}</caption>", escape(caption));
    }
    h += "<thead><tr>";
    for c in header {
        h += &format!("<th>{}</th>", escape(c));
    }
    h += "</tr></thead><tbody>";
    for r in rows {
        h += "<tr>";
        for c in r {
            let right = c.starts_with(|ch: char| ch.is_ascii_digit());
            h += &format!("<td style=\"text-align:{}\">{}</td>", if right { "right" } else { "left" }, escape(c));
        }
        h += "</tr>";
    }
    h + "</tbody></table>"
}

fn kv_table(caption: &str, rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|(k, v)| vec![k.to_string(), v.clone()]).collect();
    html_table(caption, &["", ""], &rows)
}

/// A ten-bin histogram of values in [0, 1] as block characters.
pub fn sparkline(ps: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut bins = [0usize; 10];
    for p in ps {
        bins[((p.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1;
    }
    let max = *bins.iter().max().unwrap_or(&1).max(&1);
    bins.iter().map(|&b| if b == 0 { ' ' } else { BARS[(b * 7).div_ceil(max).min(7)] }).collect()
}

fn pct(x: f64, of: f64) -> String {
    format!("{:.1}%", 100.0 * x / of)
}

/// Implements `evcxr_display` over `to_html`.
macro_rules! html_display {
    ($($t:ty),*) => {$(
        impl $t {
            /// Shows the value as an HTML table when it is a notebook cell's last expression.
            pub fn evcxr_display(&self) {
                emit("text/html", &self.to_html());
            }
        }
    )*};
}
html_display!(
    DataInfo,
    SupernetInfo,
    RegularizerInfo,
    InitReport,
    StepReport,
    EvalReport,
    Status,
    Gates,
    GateGroup,
    ExportReport,
    Retrained,
    Comparison
);

impl DataInfo {
    /// What a data summary adds to the image size of data that is resized when read.
    pub fn resize_note(&self) -> &'static str {
        if self.resized_on_read {
            " (resized when read: a supernet at another resolution reads them at its own)"
        } else {
            ""
        }
    }

    pub fn to_html(&self) -> String {
        let [c, h, w] = self.image;
        kv_table(
            &self.data,
            &[
                ("train images", self.train.to_string()),
                ("test images", self.test.to_string()),
                ("image", format!("{c}×{h}×{w}{}", self.resize_note())),
                ("classes", self.classes.to_string()),
            ],
        )
    }
}

impl SupernetInfo {
    pub fn to_html(&self) -> String {
        let [c, h, w] = self.input;
        let caption = format!(
            "{}: input {c}×{h}×{w}, {} classes, {} nodes, {} params, {} MACs, device {}",
            self.name,
            self.classes,
            self.nodes,
            human(self.params as f64),
            human(self.macs as f64),
            self.device
        );
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| vec![g.group.clone(), g.width.to_string(), if g.searchable { "yes" } else { "no" }.into()])
            .collect();
        html_table(&caption, &["group", "width", "searchable"], &rows)
    }
}

impl RegularizerInfo {
    pub fn to_html(&self) -> String {
        let params: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        kv_table(
            "regularizer",
            &[
                ("name", self.regularizer.clone()),
                ("source", self.source.clone()),
                ("unit", self.unit.clone()),
                ("parameters", if params.is_empty() { "-".into() } else { params.join(" ") }),
                ("λ", format!("{}", self.lambda)),
                ("target", self.target.map(|t| human_unit(t, &self.unit)).unwrap_or_else(|| "off".into())),
            ],
        )
    }
}

impl InitReport {
    pub fn to_html(&self) -> String {
        kv_table(
            "search initialised",
            &[
                ("supernet", self.supernet.clone()),
                ("device", self.device.clone()),
                ("regularizer", self.regularizer.clone()),
                ("supernet cost", human_unit(self.initial_cost, &self.unit)),
                ("train / validation", format!("{} / {}", self.train, self.validation)),
                ("steps per epoch", self.steps_per_epoch.to_string()),
            ],
        )
    }
}

impl StepReport {
    pub fn to_html(&self) -> String {
        let mut rows = vec![("step", format!("{} ({} run of {} asked)", self.step, self.steps_run, self.steps_asked))];
        if let Some(m) = &self.last_step {
            rows.push(("task loss", format!("{:.4}", m.task_loss)));
            rows.push(("batch accuracy", format!("{:.3}", m.batch_accuracy)));
            rows.push(("sampled cost", pct(m.cost, self.initial_cost)));
            rows.push(("alive (sample)", format!("{:.1}%", 100.0 * m.alive_fraction)));
            rows.push(("τ, λ", format!("{:.3}, {:.4}", m.tau, m.lambda)));
        }
        for e in &self.evals {
            rows.push(("validation", format!("step {}: {}, loss {:.4}", e.step, e.headline(), e.loss)));
        }
        if self.stopped_by_ctrl_c {
            rows.push(("stopped", "by the cancel flag; every step run is kept".into()));
        }
        kv_table("search steps", &rows)
    }
}

impl EvalReport {
    pub fn to_html(&self) -> String {
        let e = &self.eval;
        let mut rows = vec![
            ("step", e.step.to_string()),
            ("validation accuracy", format!("{:.4}{}", e.accuracy, e.more_text())),
            ("validation loss", format!("{:.4}", e.loss)),
            ("cost of the export", format!("{} ({})", human_unit(e.cost, &self.unit), pct(e.cost, self.initial_cost))),
        ];
        if let Some(t) = self.target {
            rows.push(("target", format!("{} (export at {})", human_unit(t, &self.unit), pct(e.cost, t))));
        }
        kv_table("evaluation (deterministic gates)", &rows)
    }
}

impl Status {
    pub fn to_html(&self) -> String {
        let mut rows = vec![
            ("step", format!("{} (epoch {})", self.step, self.epoch)),
            ("regularizer", format!("{}, λ {:.4}", self.regularizer, self.lambda)),
            (
                "cost of the export",
                format!("{} ({} of supernet)", human_unit(self.cost, &self.unit), pct(self.cost, self.initial_cost)),
            ),
            ("alive channels", format!("{} / {}", self.alive_channels, self.searchable_channels)),
            ("not exported", format!("{} steps", self.unexported_steps)),
        ];
        if let Some(t) = self.target {
            rows.insert(3, ("target", format!("{} (export at {})", human_unit(t, &self.unit), pct(self.cost, t))));
        }
        if let Some(m) = &self.last_step {
            rows.push((
                "last step",
                format!("loss {:.4}, batch acc {:.3}, τ {:.3}", m.task_loss, m.batch_accuracy, m.tau),
            ));
        }
        if let Some(e) = &self.last_eval {
            rows.push(("last eval", format!("step {}: val {}", e.step, e.headline())));
        }
        kv_table("search status", &rows)
    }
}

impl Gates {
    /// The table's columns: one row per searched group.
    pub const HEADER: [&'static str; 4] = ["group", "alive", "mean p", "p histogram"];

    /// One row per searched group: name, alive/width, mean p, histogram of p.
    pub fn rows(&self) -> Vec<Vec<String>> {
        self.groups
            .iter()
            .filter(|g| g.searched)
            .map(|g| {
                vec![
                    g.group.clone(),
                    format!("{}/{}", g.alive, g.width),
                    format!("{:.2}", g.mean_p),
                    g.p.as_ref().map(|p| format!("|{}|", sparkline(p))).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect()
    }

    pub fn to_html(&self) -> String {
        html_table(&format!("gates at step {} (histogram of p from 0 to 1)", self.step), &Self::HEADER, &self.rows())
    }
}

impl GateGroup {
    pub fn to_html(&self) -> String {
        let kept = self.kept();
        let rows: Vec<Vec<String>> = match &self.p {
            Some(p) => p
                .iter()
                .enumerate()
                .map(|(c, p)| {
                    let logit = (p / (1.0 - p)).ln();
                    vec![
                        c.to_string(),
                        format!("{logit:.3}"),
                        format!("{p:.3}"),
                        if kept[c] { "yes" } else { "no" }.into(),
                    ]
                })
                .collect(),
            None => Vec::new(),
        };
        html_table(
            &format!("{}: {} of {} channels kept by the export", self.group, self.alive, self.width),
            &["channel", "logit a", "p = σ(a)", "alive"],
            &rows,
        )
    }
}

impl ExportReport {
    pub fn to_html(&self) -> String {
        let files: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        let mut rows =
            vec![("params", human(self.params as f64)), ("MACs", human(self.macs as f64)), ("files", files.join(", "))];
        if !self.removed_nodes.is_empty() {
            rows.push(("removed nodes", self.removed_nodes.join(", ")));
        }
        if !self.kept_at_one.is_empty() {
            rows.push(("kept at one channel or block", self.kept_at_one.join(", ")));
        }
        if let Some(h) = &self.hint {
            rows.push(("note", h.clone()));
        }
        kv_table("exported", &rows)
    }
}

impl Retrained {
    pub fn to_html(&self) -> String {
        Comparison(vec![CompareRow::from(self)]).to_html()
    }
}

impl Comparison {
    /// The table's columns (the last names the headline metric of the first row's task).
    pub fn header(&self) -> Vec<String> {
        let metric = self.0.first().map_or_else(crate::task::accuracy_name, |r| r.metric.clone());
        ["network", "params", "MACs", "steps", "init"]
            .map(String::from)
            .into_iter()
            .chain([crate::task::column(&metric)])
            .collect()
    }

    /// One row per retrained network.
    pub fn rows(&self) -> Vec<Vec<String>> {
        self.0
            .iter()
            .map(|r| {
                vec![
                    r.network.clone(),
                    human(r.params as f64),
                    human(r.macs as f64),
                    r.steps.to_string(),
                    r.init.as_str().to_string(),
                    format!("{:.4}", r.test_accuracy),
                ]
            })
            .collect()
    }

    pub fn to_html(&self) -> String {
        let header = self.header();
        html_table("retrained networks", &header.iter().map(String::as_str).collect::<Vec<_>>(), &self.rows())
    }
}

impl Chart {
    /// The SVG document (read from `svg`).
    pub fn to_svg(&self) -> crate::Result<String> {
        std::fs::read_to_string(&self.svg).map_err(|e| crate::Error::io("cannot read", &self.svg, e))
    }

    /// Shows the chart inline (SVG) when it is a notebook cell's last expression.
    pub fn evcxr_display(&self) {
        match self.to_svg() {
            Ok(svg) => emit("image/svg+xml", &svg),
            Err(e) => emit("text/plain", &e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_and_align() {
        let h = html_table("a <b>", &["x", "y"], &[vec!["<i>".into(), "1.5 M".into()]]);
        assert!(h.contains("<caption style=\"text-align:left\">a &lt;b&gt;</caption>"), "{h}");
        assert!(h.contains("<td style=\"text-align:left\">&lt;i&gt;</td><td style=\"text-align:right\">1.5 M</td>"));
    }

    #[test]
    fn gates_show_searched_groups_with_a_histogram() {
        let g = |name: &str, searched: bool| GateGroup {
            group: name.into(),
            alive: 1,
            width: 2,
            searched,
            mean_p: 0.5,
            p: searched.then(|| vec![0.9, 0.1]),
        };
        let gates = Gates { step: 7, groups: vec![g("stem", true), g("classifier", false)] };
        let h = gates.to_html();
        assert!(h.contains("gates at step 7") && h.contains("stem") && !h.contains("classifier"), "{h}");
        assert!(h.contains("| █       █|"), "{h}");
        assert_eq!(g("stem", true).kept(), vec![true, false]);
    }

    #[test]
    fn sparkline_bins_values() {
        assert_eq!(sparkline(&[0.0, 0.0, 1.0]), "█        ▅");
    }
}
