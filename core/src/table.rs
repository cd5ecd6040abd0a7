//! Plain-text tables for reports (`run.log`, the prompt): left-aligned text, right-aligned
//! numbers.

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
    use super::table;

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
