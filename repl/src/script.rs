//! Script files (`figs run FILE.figs`, `run FILE` at the prompt) and `figs -c "cmd; cmd"`:
//! the same commands as the prompt, one per line. A failing command stops the script with
//! its line number.

use crate::commands::{execute_line, parse_line, Flow};
use crate::session::Session;
use anyhow::{Context, Result};
use std::path::Path;

/// Runs `text` line by line; `origin` names it in errors.
pub fn run_text(s: &mut Session, text: &str, origin: &str) -> Result<Flow> {
    // A trailing backslash continues a command on the next line.
    let joined = text.replace("\\\n", " ");
    for (i, line) in joined.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        println!("figs> {t}");
        match execute_line(s, t).with_context(|| format!("{origin}, line {}: `{t}`", i + 1))? {
            Flow::Quit => return Ok(Flow::Quit),
            Flow::Continue => {}
        }
    }
    Ok(Flow::Continue)
}

/// Runs a script file, or with `check` only parses every line.
pub fn run_file(s: &mut Session, path: &Path, check: bool) -> Result<Flow> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read script {}", path.display()))?;
    let origin = path.display().to_string();
    if !check {
        return run_text(s, &text, &origin);
    }
    let joined = text.replace("\\\n", " ");
    let mut n = 0;
    for (i, line) in joined.lines().enumerate() {
        if parse_line(line).with_context(|| format!("{origin}, line {}: `{}`", i + 1, line.trim()))?.is_some() {
            n += 1;
        }
    }
    println!("{origin}: {n} commands, all valid");
    Ok(Flow::Continue)
}

/// `figs -c "a; b"`: `;` separates commands (outside quotes).
pub fn split_commands(text: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for ch in text.chars() {
        match (ch, quote) {
            ('\'' | '"', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            (';', None) => {
                out.push('\n');
                continue;
            }
            _ => {}
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_split_outside_quotes() {
        assert_eq!(split_commands("get lr; set out 'a;b'"), "get lr\n set out 'a;b'");
    }
}
