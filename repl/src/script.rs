//! Script files (`figs run FILE.figs`, `run FILE` at the prompt) and `figs -c "cmd; cmd"`:
//! the same commands as the prompt, one per line. A failing command stops the script with
//! its line number.

use crate::commands::{execute_line, parse_line, Command, Flow};
use crate::shell::Shell;
use anyhow::{Context, Result};
use std::path::Path;

/// The commands of a script with the line each starts on: `#` comments and blank lines
/// dropped, a trailing `\` joining the next line.
pub fn commands(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if acc.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                out.push((start, acc.trim().to_string()));
            }
        }
    }
    if let Some((start, acc)) = pending {
        out.push((start, acc.trim().to_string()));
    }
    out
}

/// Runs `text` command by command; `origin` names it in errors. Ctrl-C stops the script
/// after the command it interrupted.
pub fn run_text(sh: &mut Shell, text: &str, origin: &str) -> Result<Flow> {
    // A Ctrl-C from before the script must not stop it.
    crate::interrupt::fresh();
    for (line, cmd) in commands(text) {
        println!("figs> {cmd}");
        let flow = execute_line(sh, &cmd).with_context(|| format!("{origin}, line {line}: `{cmd}`"))?;
        if flow == Flow::Quit {
            return Ok(Flow::Quit);
        }
        if crate::interrupt::interrupted() {
            anyhow::bail!("{origin}: stopped by Ctrl-C after line {line}; the commands after it did not run");
        }
    }
    Ok(Flow::Continue)
}

/// Runs a script file, or with `check` only checks every line: that it parses, that `set`
/// values are valid, and the scripts it runs, recursively.
pub fn run_file(sh: &mut Shell, path: &Path, check: bool) -> Result<Flow> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read script {}", path.display()))?;
    let origin = path.display().to_string();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if sh.scripts.contains(&key) {
        let chain: Vec<String> = sh.scripts.iter().chain([&key]).map(|p| p.display().to_string()).collect();
        anyhow::bail!("script {origin} runs itself ({}); a script cannot run itself", chain.join(" → "));
    }
    sh.scripts.push(key);
    let result = if check { check_text(sh, &text, &origin) } else { run_text(sh, &text, &origin) };
    sh.scripts.pop();
    result
}

fn check_text(sh: &mut Shell, text: &str, origin: &str) -> Result<Flow> {
    let cmds = commands(text);
    let mut opts = sh.core.config().clone();
    for (line, cmd) in &cmds {
        let at = || format!("{origin}, line {line}: `{cmd}`");
        match parse_line(cmd).with_context(at)? {
            Some(Command::Set { name, value }) => opts.set(&name, &value).with_context(at)?,
            Some(Command::Run { file, .. }) => {
                run_file(sh, &file, true).with_context(at)?;
            }
            _ => {}
        }
    }
    println!("{origin}: {} commands, all valid", cmds.len());
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
    fn continuations_keep_the_line_numbers() {
        let text = "# c\nset lr 0.1\r\nstep \\\n  10\n\nget lr\n";
        assert_eq!(
            commands(text),
            vec![(2, "set lr 0.1".to_string()), (3, "step    10".to_string()), (6, "get lr".to_string())]
        );
    }

    #[test]
    fn semicolons_split_outside_quotes() {
        assert_eq!(split_commands("get lr; set out 'a;b'"), "get lr\n set out 'a;b'");
    }
}
