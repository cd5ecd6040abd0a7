//! Hardware tables: peak FLOP rate and memory bandwidth per device, read from JSON.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The bundled table (H200 and a generic CPU).
pub const BUNDLED: &str = include_str!("../hardware.json");

/// One device of a hardware table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    #[serde(default)]
    pub description: String,
    /// FLOPs per second.
    pub peak_flops: f64,
    /// Bytes per second between memory and the compute units.
    pub bandwidth: f64,
    /// Size of one weight or activation value.
    pub bytes_per_element: f64,
    /// Where the numbers come from.
    #[serde(default)]
    pub source: String,
}

/// Parses a table (`{ "name": { peak_flops, bandwidth, bytes_per_element, … } }`) and picks
/// `name`; errors name the table, the entry and what is wrong.
pub fn pick(table_json: &str, origin: &str, name: &str) -> Result<Hardware, String> {
    let table: BTreeMap<String, Hardware> = serde_json::from_str(table_json)
        .map_err(|e| format!("hardware table {origin} is not valid: {e} (expected {{\"name\": {{\"peak_flops\": …, \"bandwidth\": …, \"bytes_per_element\": …}}}})"))?;
    let hw = table.get(name).cloned().ok_or_else(|| {
        format!(
            "hardware table {origin} has no entry `{name}`; it has {}",
            table.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    for (field, v) in
        [("peak_flops", hw.peak_flops), ("bandwidth", hw.bandwidth), ("bytes_per_element", hw.bytes_per_element)]
    {
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("hardware `{name}` in {origin}: `{field}` must be a positive number, got {v}"));
        }
    }
    Ok(hw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_has_h200_and_cpu() {
        for n in ["h200", "h200_bf16", "cpu"] {
            let hw = pick(BUNDLED, "bundled", n).unwrap();
            assert!(!hw.source.is_empty(), "{n} says where its numbers come from");
        }
        assert_eq!(pick(BUNDLED, "bundled", "h200").unwrap().bandwidth, 4.8e12);
    }

    #[test]
    fn bad_tables_are_named() {
        let e = pick(BUNDLED, "bundled", "tpu").unwrap_err();
        assert!(e.contains("tpu") && e.contains("h200"), "{e}");
        let e = pick("{\"x\": {\"peak_flops\": 0, \"bandwidth\": 1, \"bytes_per_element\": 4}}", "t.json", "x")
            .unwrap_err();
        assert!(e.contains("peak_flops") && e.contains("t.json"), "{e}");
        let e = pick("{\"x\": {\"peak\": 1}}", "t.json", "x").unwrap_err();
        assert!(e.contains("t.json") && e.contains("not valid"), "{e}");
    }
}
