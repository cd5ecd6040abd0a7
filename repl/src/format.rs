//! Human-readable numbers and plain aligned tables.

/// A progress bar (hidden when stderr is not a terminal): position, rate, ETA, a message.
pub fn bar(len: u64, prefix: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_string());
    pb
}

/// One step's numbers for a progress bar or a summary line.
pub fn step_message(m: &figs::search::StepMetrics, cost0: f64) -> String {
    format!(
        "loss {:.3} acc {:.2} cost {:.0}% alive {:.0}% τ {:.2} λ {:.3}",
        m.task_loss,
        m.batch_accuracy,
        100.0 * m.cost / cost0,
        100.0 * m.alive_fraction,
        m.tau,
        m.lambda
    )
}

pub use figs::units::{human, human_unit, parse_count};

/// `name  value` lines, names padded to the longest.
pub fn kv(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<w$}  {v}")).collect::<Vec<_>>().join("\n")
}

pub use figs::table::table;

/// A search space by name (figs::plugin::find_warned), printing its shadowing warning.
pub fn find_space(name: &str) -> anyhow::Result<figs::plugin::Plugin> {
    let (p, w) = figs::plugin::find_warned(name)?;
    w.into_iter().for_each(|w| eprintln!("warning: {w}"));
    Ok(p)
}

/// A regularizer by name (figs::plugin::find_regularizer_warned), printing its warning.
pub fn find_regularizer(name: &str) -> anyhow::Result<figs::plugin::RegularizerPlugin> {
    let (r, w) = figs::plugin::find_regularizer_warned(name)?;
    w.into_iter().for_each(|w| eprintln!("warning: {w}"));
    Ok(r)
}

/// An error and its causes as one line for the user: a cause whose text the message
/// already holds is not repeated (thiserror messages often embed their source), and a
/// very long message (a pasted 100 kB line echoed by clap) is cut.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !text.contains(&c) {
            if !text.is_empty() {
                text += ": ";
            }
            text += &c;
        }
    }
    const MAX: usize = 1000;
    if text.len() > MAX {
        let cut = (0..=MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let rest = text.len() - cut;
        text.truncate(cut);
        text += &format!("… ({rest} more bytes)");
    }
    text
}

#[cfg(test)]
mod error_text_tests {
    use super::error_text;

    #[test]
    fn causes_are_not_repeated_and_long_messages_are_cut() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(inner).context("cannot read x.json: No such file");
        assert_eq!(error_text(&e), "cannot read x.json: No such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
        let e = anyhow::anyhow!("x".repeat(100_000));
        let t = error_text(&e);
        assert!(t.len() < 1100 && t.ends_with("(99000 more bytes)"), "{}", &t[t.len() - 40..]);
    }
}
