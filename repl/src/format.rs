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

pub use figs::units::human;

/// A cost in its unit: seconds as `12.3 µs`, anything else as `1.23 M FLOPs`.
pub fn human_unit(x: f64, unit: &str) -> String {
    if unit != "s" {
        return format!("{} {unit}", human(x));
    }
    let a = x.abs();
    if a >= 1.0 {
        format!("{x:.3} s")
    } else if a >= 1e-3 {
        format!("{:.3} ms", x * 1e3)
    } else if a >= 1e-6 {
        format!("{:.3} µs", x * 1e6)
    } else {
        format!("{:.1} ns", x * 1e9)
    }
}

/// `1500`, `1.5k`, `2M`, `0.3G` → a number.
pub fn parse_count(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v * mult),
        _ => Err(format!("`{s}` is not a positive count such as 5M, 800k or 1200000")),
    }
}

/// A target in a regularizer's unit: a time (`40us`) for a regularizer measuring seconds,
/// a count (`2M`) for any other; a mix-up is an error naming both.
pub fn parse_target(text: &str, unit: &str, regularizer: &str) -> Result<f64, String> {
    let t = text.trim();
    let is_time = ["ms", "us", "µs", "ns", "s"].iter().any(|suf| t.ends_with(suf));
    match (is_time, unit == "s") {
        (true, false) => Err(format!("`{t}` is a time, but `{regularizer}` measures {unit}: give a count such as 2M")),
        (false, true) => {
            Err(format!("`{regularizer}` measures time: give the target with a unit, such as 40us or 2ms"))
        }
        _ => parse_quantity(t),
    }
}

/// A count (`3M`) or a time with a unit (`40us`, `40µs`, `2.5ms`, `1s`, `80ns`) → a number
/// (times in seconds).
pub fn parse_quantity(s: &str) -> Result<f64, String> {
    let t = s.trim();
    for (suffix, mult) in [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0)] {
        if let Some(num) = t.strip_suffix(suffix) {
            return match num.trim().parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => Ok(v * mult),
                _ => Err(format!("`{s}` is not a positive time such as 40us or 2.5ms")),
            };
        }
    }
    parse_count(t)
}

/// `name  value` lines, names padded to the longest.
/// When a search pruned nothing, what to change, in the terms of its source. A common first
/// experience (λ too small for the steps given; γ under Adam moving ≈ lr per step) that
/// would otherwise look like a broken search.
pub fn nothing_pruned_hint(search: &figs::search::Search) -> Option<String> {
    let alive = search.alive();
    if alive.iter().any(|g| g.gated && g.alive < g.width) {
        return None;
    }
    let c = search.config();
    Some(match search.source() {
        figs::regularizer::Source::Gates => format!(
            "nothing was pruned: every searched channel is still open after {} steps (λ {}). Raise λ \
             (--lambda, `set lambda`), search longer, or give a target (--target-macs, `set target`)",
            search.steps_done(),
            search.lambda()
        ),
        figs::regularizer::Source::BnGamma => format!(
            "nothing was pruned: no BN |γ| fell under the threshold {}. Under Adam a γ moves about \
             lr = {} per step, so {} steps cannot bring γ from 1 that low; raise --lr or the steps, \
             or --gamma-threshold (docs/MATH.md explains why)",
            c.gamma_threshold,
            c.lr,
            search.steps_done()
        ),
    })
}

pub fn kv(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<w$}  {v}")).collect::<Vec<_>>().join("\n")
}

/// Renders rows as a table with a header, columns padded to their widest cell. Columns
/// whose cells all start with a digit (numbers, `1.2 M`) are right-aligned, others left.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..cols)
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| r.get(i).is_some_and(|c| c.starts_with(|ch: char| ch.is_ascii_digit())))
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if numeric[i] {
                        format!("{c:>width$}", width = w[i])
                    } else {
                        format!("{c:<width$}", width = w[i])
                    }
                })
                .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(&w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>().join("  "));
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(|s| s.as_str()).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_text_left_and_numbers_right() {
        let t =
            table(&["net", "params"], &[vec!["seed".into(), "1.00 M".into()], vec!["found".into(), "0.5 M".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "net    params");
        assert_eq!(lines[2], "seed   1.00 M");
        assert_eq!(lines[3], "found   0.5 M");
        let t = table(&["name", "help"], &[vec!["a".into(), "short".into()], vec!["b".into(), "longer text".into()]]);
        assert_eq!(t.lines().nth(2), Some("a     short"));
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("3M"), Ok(3e6));
        assert_eq!(parse_quantity("1.5k"), Ok(1500.0));
        assert!((parse_quantity("40us").unwrap() - 40e-6).abs() < 1e-15);
        assert!((parse_quantity("2.5ms").unwrap() - 2.5e-3).abs() < 1e-15);
        assert!(parse_quantity("-1").is_err());
        assert!(parse_quantity("fast").is_err());
    }

    #[test]
    fn targets_match_the_unit() {
        assert_eq!(parse_target("2M", "FLOPs", "flops"), Ok(2e6));
        assert!(parse_target("40us", "FLOPs", "flops").unwrap_err().contains("is a time"));
        assert!(parse_target("2M", "s", "latency").unwrap_err().contains("measures time"));
        assert!((parse_target("40us", "s", "latency").unwrap() - 40e-6).abs() < 1e-15);
    }

    #[test]
    fn seconds_print_in_small_units() {
        assert_eq!(human_unit(4.2e-5, "s"), "42.000 µs");
        assert_eq!(human_unit(3.0e6, "FLOPs"), "3.00 M FLOPs");
    }
}

/// Checks the run-size flags that `figs search` and `figs pareto` share, before anything is
/// loaded or created: `--batch-size` and `--steps` at least 1, `--epochs` positive and
/// finite, `--threads` 0 (libtorch's default) or more.
pub fn check_job_flags(batch_size: usize, steps: u64, epochs: f64, threads: i32) -> anyhow::Result<()> {
    if batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    if !(epochs > 0.0 && epochs.is_finite()) {
        anyhow::bail!("--epochs must be positive, got {epochs}");
    }
    if threads < 0 {
        anyhow::bail!("--threads must be 0 (libtorch's default) or more, got {threads}");
    }
    Ok(())
}

/// `figs::plugin::find`, with a warning when other files on the plugin path declare the
/// same name (a plugin directory that shadows a bundled plugin).
pub fn find_space(name: &str) -> anyhow::Result<figs::plugin::Plugin> {
    let p = figs::plugin::find(name)?;
    warn_shadowed(p.info());
    Ok(p)
}

/// `figs::plugin::find_regularizer`, with the same warning as [`find_space`].
pub fn find_regularizer(name: &str) -> anyhow::Result<figs::plugin::RegularizerPlugin> {
    let r = figs::plugin::find_regularizer(name)?;
    warn_shadowed(r.info());
    Ok(r)
}

fn warn_shadowed(info: &figs::plugin::PluginInfo) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&info.name) {
        return;
    }
    warned.push(info.name.clone());
    for f in figs::plugin::shadowed(&info.name) {
        eprintln!(
            "warning: plugin `{}` comes from {}; {} declares the same name and is ignored (the first on the plugin path wins: check FIGS_PLUGIN_PATH)",
            info.name,
            info.path.display(),
            f.display()
        );
    }
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
