//! What differs between two sets of settings, for errors that refuse to mix them (a sweep
//! directory of another recipe, a resume with other flags).

use serde::Serialize;

/// `name: old → new` for every top-level field that differs, joined by `; `.
pub fn settings_diff(old: &impl Serialize, new: &impl Serialize) -> String {
    let (a, b) = (serde_json::to_value(old).unwrap_or_default(), serde_json::to_value(new).unwrap_or_default());
    let mut diffs = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                diffs.push(format!("{k}: {v} → {}", b.get(k).cloned().unwrap_or_default()));
            }
        }
    }
    diffs.join("; ")
}
