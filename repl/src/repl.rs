//! The interactive prompt: rustyline with history, completion, hints and `\` continuation.

use crate::commands::{execute_line, split_words, Flow, Line};
use crate::shell::Shell;
use clap::CommandFactory;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Editor, Event, EventContext, EventHandler, KeyCode, KeyEvent, Modifiers,
    RepeatCount,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The longest line the prompt takes. Past it, typed and pasted characters are dropped
/// and the line is refused: a terminal without bracketed paste sends a 1 MB paste key by
/// key, and the editor redrew the whole line for each (FAULTS.md 16). Longer input belongs
/// in a script file (`figs run FILE`).
const MAX_LINE: usize = 10_000;

/// Drops characters typed past [`MAX_LINE`].
struct CapLine;

impl ConditionalEventHandler for CapLine {
    fn handle(&self, evt: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        let typed = matches!(evt.get(0), Some(KeyEvent(KeyCode::Char(_), m)) if *m == Modifiers::NONE || *m == Modifiers::SHIFT);
        (typed && ctx.line().len() >= MAX_LINE).then_some(Cmd::Noop)
    }
}

/// Names that change while the session runs.
#[derive(Default)]
struct Dynamic {
    spaces: Vec<String>,
    regularizers: Vec<String>,
    /// Parameter names per plugin name.
    params: BTreeMap<String, Vec<String>>,
    /// The session's regularizer, whose parameters `-R` completes when the line names none.
    regularizer: Option<String>,
    groups: Vec<String>,
}

impl Dynamic {
    /// The parameters of `plugin` (`k=` words), or of every plugin of `names` when the line
    /// does not say which one it means.
    fn params_of(&self, plugin: Option<&str>, names: &[String]) -> Vec<String> {
        let lists: Vec<&Vec<String>> = match plugin {
            // A name that is no loaded plugin (a typo) gets nothing, which shows the typo.
            Some(p) => self.params.get(p).into_iter().collect(),
            None => names.iter().filter_map(|n| self.params.get(n)).collect(),
        };
        let mut v: Vec<String> = lists.into_iter().flatten().map(|p| format!("{p}=")).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The word after `flag` in `words`, if any.
fn value_of<'a>(words: &'a [String], flags: &[&str]) -> Option<&'a str> {
    words.windows(2).find(|w| flags.contains(&w[0].as_str())).map(|w| w[1].as_str())
}

struct Helper {
    table: clap::Command,
    dynamic: Arc<Mutex<Dynamic>>,
    files: FilenameCompleter,
    hinter: HistoryHinter,
}

fn pairs(cands: impl IntoIterator<Item = String>, prefix: &str) -> Vec<Pair> {
    let mut v: Vec<Pair> = cands
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        // A finished word gets its space; `name=` waits for the value.
        .map(|c| Pair { display: c.clone(), replacement: if c.ends_with('=') { c } else { format!("{c} ") } })
        .collect();
    v.sort_by(|a, b| a.display.cmp(&b.display));
    v.dedup_by(|a, b| a.display == b.display);
    v
}

impl Helper {
    /// Completions for the word `cur` after the complete words `before`.
    fn candidates(&self, before: &[String], cur: &str) -> Option<Vec<String>> {
        let d = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
        let names = |c: &clap::Command| c.get_subcommands().map(|s| s.get_name().to_string()).collect::<Vec<_>>();
        let Some(first) = before.first() else {
            let mut v = names(&self.table);
            v.push("exit".into());
            return Some(v);
        };
        let mut cmd = self.table.find_subcommand(first)?.clone();
        let mut rest = &before[1..];
        // Descend into nested subcommands (supernet build, …).
        if let Some(sub) = rest.first().and_then(|w| cmd.find_subcommand(w).cloned()) {
            cmd = sub;
            rest = &rest[1..];
        }
        let prev = before.last().map(String::as_str).unwrap_or("");
        if cur.starts_with('-') {
            return Some(
                cmd.get_arguments()
                    .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                    .chain(std::iter::once("--help".to_string()))
                    .collect(),
            );
        }
        match prev {
            "-p" | "--param" => {
                // `supernet build NAME -p`, `… --space NAME -p`; else every space's.
                let built = (cmd.get_name() == "build")
                    .then(|| rest.first().map(String::as_str).filter(|w| !w.starts_with('-')))
                    .flatten();
                // `search` without --space searches its default space.
                let default = (first == "search").then_some("mobilenet_v2");
                let space = value_of(before, &["--space"]).or(built).or(default);
                return Some(d.params_of(space, &d.spaces));
            }
            "-R" | "--reg-param" => {
                // `regularizer NAME -R`, `… --regularizer NAME -R`; else the session's.
                let named = (first == "regularizer")
                    .then(|| rest.first().map(String::as_str).filter(|w| !w.starts_with('-')))
                    .flatten();
                let reg = value_of(before, &["--regularizer", "-r"]).or(named).or(d.regularizer.as_deref());
                return Some(d.params_of(reg, &d.regularizers));
            }
            "--space" => return Some(d.spaces.clone()),
            "--regularizer" | "-r" => return Some(d.regularizers.clone()),
            _ => {}
        }
        // Words that are values of options (`--epochs 2`, `-R x=y`) are not positionals.
        let mut positional = 0;
        let mut skip = false;
        for w in rest {
            if std::mem::take(&mut skip) {
                continue;
            }
            if let Some(flag) = w.strip_prefix('-') {
                let arg = cmd.get_arguments().find(|a| match flag.strip_prefix('-') {
                    Some(long) => a.get_long() == Some(long),
                    None => flag.len() == 1 && flag.chars().next().is_some_and(|c| a.get_short() == Some(c)),
                });
                skip = arg.is_some_and(|a| a.get_action().takes_values());
            } else {
                positional += 1;
            }
        }
        if cmd.has_subcommands() && positional == 0 {
            return Some(names(&cmd));
        }
        match (first.as_str(), cmd.get_name(), positional) {
            ("help", _, 0) => Some(names(&self.table)),
            (_, "build", 0) => Some(d.spaces.clone()),
            ("regularizer", _, 0) => Some(d.regularizers.clone()),
            ("plugins", _, 0) => Some(d.spaces.iter().chain(&d.regularizers).cloned().collect()),
            ("gates", _, 0) => Some(d.groups.clone()),
            ("set" | "get", _, 0) => {
                Some(figs::config::Config::settings().iter().map(|s| s.name.to_string()).collect())
            }
            ("data", _, 0) => Some(
                ["fashion-mnist", "mnist", "idx", "cifar10", "imagefolder", "coco", "synthetic"]
                    .map(String::from)
                    .to_vec(),
            ),
            ("retrain", _, 0) => Some(vec!["found".into(), "seed".into()]),
            ("plot", _, 0) => Some(
                cmd.get_arguments()
                    .filter(|a| a.get_id() == "kind")
                    .flat_map(|a| a.get_possible_values())
                    .map(|v| v.get_name().to_string())
                    .collect(),
            ),
            ("set", _, 1) if before.get(1).is_some_and(|w| w == "device") => {
                Some(["cpu", "cuda", "auto"].map(String::from).to_vec())
            }
            _ => None,
        }
    }
}

impl Completer for Helper {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start =
            head.char_indices().rev().find(|(_, c)| c.is_whitespace()).map(|(i, c)| i + c.len_utf8()).unwrap_or(0);
        let cur = &head[start..];
        let before = split_words(&head[..start]).unwrap_or_default();
        match self.candidates(&before, cur) {
            Some(c) => Ok((start, pairs(c, cur))),
            None => self.files.complete(line, pos, ctx),
        }
    }
}

impl Hinter for Helper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        // No history line is that long; without a hint, typing at the end of a long line
        // writes one character instead of redrawing the line.
        if line.len() > 1000 {
            return None;
        }
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for Helper {
    /// Hints are dim, so they read as a suggestion, not as typed text (rustyline calls this
    /// only when it writes to a terminal).
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for Helper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        // A trailing backslash continues the command on the next line.
        if ctx.input().ends_with('\\') {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl rustyline::Helper for Helper {}

fn refresh(d: &Arc<Mutex<Dynamic>>, sh: &Shell) {
    let mut d = d.lock().unwrap_or_else(|e| e.into_inner());
    let plugins = figs::plugin::loaded();
    let of = |kind: &str| plugins.iter().filter(|p| p.info().kind == kind).map(|p| p.info().name.clone()).collect();
    d.spaces = of(figs::plugin::SEARCH_SPACE);
    d.regularizers = of(figs::plugin::REGULARIZER);
    d.params = plugins
        .iter()
        .map(|p| (p.info().name.clone(), p.info().params.iter().map(|x| x.name.clone()).collect()))
        .collect();
    d.regularizer = Some(sh.core.regularizer_name());
    d.groups = sh
        .core
        .try_supernet()
        .and_then(|g| g.analyze().ok())
        .map(|a| a.groups.iter().filter(|g| g.gated).map(|g| g.name.clone()).collect())
        .unwrap_or_default();
}

/// The default history file: `$XDG_DATA_HOME/figs/history`, else `~/.local/share/figs/history`.
pub fn default_history() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("figs").join("history"))
}

fn red(text: &str) -> String {
    if std::io::stderr().is_terminal() {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Runs the prompt until `quit` or Ctrl-D.
pub fn run(history: Option<PathBuf>) -> anyhow::Result<()> {
    crate::interrupt::set_interactive();
    let mut session = Shell::default();
    figs::plugin::load_all();
    let dynamic = Arc::new(Mutex::new(Dynamic::default()));
    refresh(&dynamic, &session);
    // Built, so clap's own `help` subcommand is in the table too.
    let mut table = Line::command();
    table.build();
    let helper =
        Helper { table, dynamic: dynamic.clone(), files: FilenameCompleter::new(), hinter: HistoryHinter::new() };
    let mut rl: Editor<Helper, DefaultHistory> = Editor::new()?;
    rl.set_helper(Some(helper));
    rl.bind_sequence(Event::Any, EventHandler::Conditional(Box::new(CapLine)));
    let history = history.or_else(default_history);
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.load_history(h);
    }
    println!(
        "figs {} — FiGS at the prompt. `help` lists the commands, `help CMD` explains one; Ctrl-D leaves.",
        env!("CARGO_PKG_VERSION")
    );
    let mut failed = 0usize;
    loop {
        match rl.readline("figs> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                if line.len() >= MAX_LINE {
                    failed += 1;
                    eprintln!(
                        "{} the line is longer than {MAX_LINE} characters and was cut while typing, so it was not run; put long input in a script file (`figs run FILE`)",
                        red("error:")
                    );
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                if let Some(h) = &history {
                    // Saved after every command, so a crash loses nothing typed before it.
                    let _ = rl.save_history(h);
                }
                match execute_line(&mut session, &line) {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) => {
                        failed += 1;
                        eprintln!("{} {}", red("error:"), crate::format::error_text(&e));
                    }
                }
                refresh(&dynamic, &session);
            }
            // Ctrl-C at the prompt clears the line; it never ends the session.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                if session.core.unexported_steps() > 0 {
                    eprintln!("warning: leaving with {} steps that were not exported", session.core.unexported_steps());
                }
                break;
            }
            // A byte that is not UTF-8 (a mistyped key, a paste from a binary) loses the
            // line, not the session.
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                eprintln!("{} the line was not valid UTF-8 (a stray byte?); type it again", red("error:"));
            }
            Err(e) => {
                if session.core.unexported_steps() > 0 {
                    eprintln!("warning: leaving with {} steps that were not exported", session.core.unexported_steps());
                }
                return Err(e.into());
            }
        }
    }
    // Commands piped in (`printf … | figs`) are a script: its caller must see a failure.
    if failed > 0 && !std::io::stdin().is_terminal() {
        anyhow::bail!("{failed} command(s) failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> Helper {
        let mut table = Line::command();
        table.build();
        let params = [
            ("mobilenet_v2", vec!["width".to_string(), "preset".into()]),
            ("resnet", vec!["width".into(), "depth".into()]),
            ("flops", vec![]),
            ("latency", vec!["hardware".into(), "batch".into()]),
        ];
        let dynamic = Dynamic {
            spaces: words(&["mobilenet_v2", "resnet"]),
            regularizers: words(&["flops", "latency"]),
            params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            regularizer: Some("latency".into()),
            groups: vec!["stem.conv".into()],
        };
        Helper {
            table,
            dynamic: Arc::new(Mutex::new(dynamic)),
            files: FilenameCompleter::new(),
            hinter: HistoryHinter::new(),
        }
    }

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn completes_commands_help_and_values() {
        let h = helper();
        assert!(h.candidates(&[], "hel").unwrap().contains(&"help".to_string()));
        assert!(h.candidates(&words(&["help"]), "ste").unwrap().contains(&"step".to_string()));
        assert!(h.candidates(&words(&["supernet", "build"]), "mob").unwrap().contains(&"mobilenet_v2".to_string()));
        assert!(h.candidates(&words(&["gates"]), "").unwrap().contains(&"stem.conv".to_string()));
        // `--epochs 2` is an option with its value, not a positional: `found` still offered.
        assert!(h.candidates(&words(&["retrain", "--epochs", "2"]), "").unwrap().contains(&"found".to_string()));
        assert!(h.candidates(&words(&["step"]), "--ep").unwrap().contains(&"--epochs".to_string()));
        // A multi-byte space before the cursor does not split a character.
        let line = "get\u{a0}";
        let history = rustyline::history::DefaultHistory::new();
        assert!(h.complete(line, line.len(), &Context::new(&history)).is_ok());
    }

    #[test]
    fn parameters_are_those_of_the_plugin_the_line_names() {
        let h = helper();
        let got = |w: &[&str]| {
            let mut v = h.candidates(&words(w), "").unwrap();
            v.sort();
            v
        };
        assert_eq!(got(&["supernet", "build", "resnet", "-p"]), words(&["depth=", "width="]));
        assert_eq!(got(&["search", "--space", "mobilenet_v2", "-p"]), words(&["preset=", "width="]));
        // `search` without --space: its default space's; elsewhere every space's.
        assert_eq!(got(&["search", "-p"]), words(&["preset=", "width="]));
        assert_eq!(got(&["cost", "-p"]), words(&["depth=", "preset=", "width="]));
        assert_eq!(got(&["supernet", "build", "-p"]), words(&["depth=", "preset=", "width="]));
        // A misspelt space offers nothing.
        assert_eq!(got(&["supernet", "build", "resnt", "-p"]), Vec::<String>::new());
        assert_eq!(got(&["regularizer", "flops", "-R"]), Vec::<String>::new());
        // No regularizer named: the session's (latency here).
        assert_eq!(got(&["regularizer", "-R"]), words(&["batch=", "hardware="]));
    }
}
