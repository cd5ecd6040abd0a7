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
}
