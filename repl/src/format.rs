//! Human-readable numbers and plain aligned tables.

/// `1234567` → `1.23 M`, with k / M / G suffixes.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
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
    fn human_units() {
        assert_eq!(human(3_504_872.0), "3.50 M");
        assert_eq!(human(300_774_272.0), "300.77 M");
        assert_eq!(human(1_500.0), "1.5 k");
        assert_eq!(human(12.0), "12");
    }

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
}
