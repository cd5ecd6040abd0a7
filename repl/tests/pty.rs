//! Typing at the real prompt through a pseudo-terminal: completion of a command and of a
//! plugin name, history recall, Ctrl-C during `step` keeping the step counter, errors (a
//! bad command, a NaN loss) that leave the session alive, Ctrl-C at an empty prompt and
//! during `retrain`, Ctrl-D to leave, and the history back in the next session.

use expectrl::{ControlCode, Regex};
use std::process::Command;
use std::time::Duration;

type Pty = expectrl::Session;

/// Waits for `want` in the output, then lets the prompt come back: keys sent while a
/// command still runs could arrive before the line editor reads them.
fn wait(p: &mut Pty, want: &str) {
    p.expect(want).unwrap_or_else(|e| panic!("waiting for `{want}`: {e}"));
    std::thread::sleep(Duration::from_millis(400));
}

/// Types `line`, waits for `want` and then for the next prompt, so that nothing the command
/// printed is left over for the next check to match by accident.
fn command(p: &mut Pty, line: &str, want: &str) {
    p.send_line(line).unwrap();
    p.expect(want).unwrap_or_else(|e| panic!("`{line}`: waiting for `{want}`: {e}"));
    wait(p, "figs> ");
}

/// Starts `figs` in a pty with its history in `history` and waits for the prompt.
fn start(history: &std::path::Path) -> Pty {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_figs"));
    cmd.arg("--history").arg(history).env("TERM", "xterm");
    let mut p = expectrl::Session::spawn(cmd).expect("figs starts in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    wait(&mut p, "figs> ");
    p
}

#[test]
fn typing_at_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(&dir.path().join("history"));

    // An error leaves the session alive.
    command(&mut p, "bogus", "error:");
    command(&mut p, "data synthetic --size 256", "256 train");

    // Tab completes a command name, a subcommand and a plugin name.
    p.send("superne\t").unwrap();
    p.expect("supernet ").unwrap();
    p.send("bu\t").unwrap();
    p.expect("build ").unwrap();
    p.send("mobilenet\t").unwrap();
    p.expect("mobilenet_v2 ").unwrap();
    // … and a parameter of the space the line names.
    p.send("-p wid\t").unwrap();
    p.expect("width=").unwrap();
    command(&mut p, "0.5", "supernet mobilenet_v2:");

    command(&mut p, "set device cpu", "device = cpu");
    command(&mut p, "set batch-size 16", "batch-size = 16");
    command(&mut p, "init", "search initialised");

    // Ctrl-C during a long `step` stops it and keeps the state.
    p.send_line("step 100000").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    p.send(ControlCode::EndOfText).unwrap();
    let caps = p.expect(Regex(r"the search is at step (\d+)")).unwrap();
    let steps: u64 = String::from_utf8_lossy(caps.get(1).unwrap()).parse().unwrap();
    assert!(steps > 0 && steps < 100000, "{steps}");
    wait(&mut p, "figs> ");
    let at_step = format!("{steps} (epoch");
    command(&mut p, "status", &at_step);

    // Up recalls the last line from history.
    p.send("\x1b[A").unwrap();
    p.expect("status").unwrap();
    p.send("\r").unwrap();
    wait(&mut p, &at_step);
    wait(&mut p, "figs> ");

    // Ctrl-C during `retrain` stops it too, and the prompt comes back.
    p.send_line("retrain seed --epochs 1000").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    p.send(ControlCode::EndOfText).unwrap();
    wait(&mut p, "retraining stopped by Ctrl-C");
    wait(&mut p, "no accuracy recorded");
    wait(&mut p, "figs> ");
    command(&mut p, "get seed", "\r\n0\r\n");

    // Ctrl-C at an empty prompt does not leave; the session still answers.
    p.send(ControlCode::EndOfText).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    command(&mut p, "get seed", "\r\n0\r\n");
    command(&mut p, "get batch-size", "\r\n16\r\n");

    // A failed change leaves the session as it was.
    command(&mut p, "regularizer flops --target 40us", "is a time");
    command(&mut p, "regularizer", "regularizer latency");
    p.send("hel\t").unwrap();
    p.expect("help ").unwrap();
    command(&mut p, "get", "Usage: get");

    // A NaN loss is an error, not the end: the session answers and can start over.
    command(&mut p, "init --lr 1e30", "search initialised");
    command(&mut p, "step 20", "the loss became NaN");
    command(&mut p, "status", "(epoch");

    // Ctrl-D leaves, warning about the unexported steps.
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect("not exported").unwrap();
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("step 100000") && history.contains("supernet build mobilenet_v2"), "{history}");

    // The next session starts with that history: Up recalls the last command.
    let mut p = start(&dir.path().join("history"));
    p.send("\x1b[A").unwrap();
    p.expect("status").unwrap();
}

#[test]
fn an_invalid_utf8_byte_does_not_end_the_session() {
    // Issue 11, defect 2: one byte that is not UTF-8 ended the session.
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(&dir.path().join("history"));
    p.send(b"get se\xffed\r").unwrap();
    p.expect("not valid UTF-8").unwrap_or_else(|e| panic!("no error for the bad byte: {e}"));
    wait(&mut p, "figs> ");
    command(&mut p, "get seed", "0");
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(expectrl::Eof).unwrap();
}

/// FAULTS.md 16: pasting 1 MB at the prompt (a terminal without bracketed paste sends it
/// key by key) redrew the line on every character and never came back. Now the line is
/// capped and refused with a clear error, and the session goes on. The paste is driven by
/// `scripts/paste.py`, which reads figs' output on a thread while it writes, as a terminal
/// does (a one-thread driver deadlocks on the pty's full buffers).
#[test]
fn a_huge_paste_is_refused_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/paste.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_figs"))
        .arg(dir.path().join("history"))
        .arg((1 << 20).to_string())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{report}{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(v["refused"], true, "{report}");
    assert_eq!(v["alive_after"], true, "{report}");
    assert!(v["seconds"].as_f64().unwrap() < 60.0, "{report}");
}
