//! The docs are prose a person wrote: a scripted edit that goes wrong shows as a file that
//! grew by orders of magnitude or a paragraph pasted over and over. Commit 59f447a's
//! substitution matched the empty string and put one paragraph of docs/MATH.md between
//! every two characters of it (24 KB became 37 MB, in the repository for a day).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Far above the largest doc (PERFORMANCE.md, about 50 KB): only a runaway edit gets here.
const MAX_DOC_BYTES: u64 = 256 * 1024;
/// Shorter paragraphs (a table row, "See below.") may repeat honestly.
const MIN_CHECKED_PARAGRAPH: usize = 200;

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "plugins", "notebooks"] {
        collect_md(&root.join(dir), &mut files);
    }
    files
}

fn collect_md(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && !p.ends_with("target") {
            collect_md(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

#[test]
fn docs_are_of_a_written_size() {
    let files = docs();
    assert!(files.len() > 5, "found only {files:?}");
    for f in files {
        let len = std::fs::metadata(&f).unwrap().len();
        assert!(len <= MAX_DOC_BYTES, "{} is {len} bytes: a scripted edit gone wrong?", f.display());
    }
}

#[test]
fn no_doc_repeats_a_paragraph() {
    for f in docs() {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for p in text.split("\n\n").map(str::trim).filter(|p| p.len() >= MIN_CHECKED_PARAGRAPH) {
            *seen.entry(p).or_default() += 1;
        }
        let repeated: Vec<_> =
            seen.iter().filter(|(_, &n)| n > 1).map(|(p, n)| (n, p.chars().take(80).collect::<String>())).collect();
        assert!(repeated.is_empty(), "{} repeats paragraphs: {repeated:?}", f.display());
    }
}
