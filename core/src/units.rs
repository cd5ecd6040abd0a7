//! Human-readable numbers, shared by the charts and the command line.

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
