//! Ctrl-C during `algohost run`, sent as a real SIGINT to the process: the
//! first cancels the run, which ends `cancelled` with exit code 130; the
//! second exits at once. With Python embedded (whose own SIGINT handler
//! would raise `KeyboardInterrupt` in the plugin) and through the pip
//! package's console command too, when ALGOHOST_TEST_VENV names the
//! virtualenv.
#![cfg(unix)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::{Scratch, optional_venv};

/// How long to wait for a line before the test fails (a hung run).
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs `command` (a `-v run …`), sends SIGINT once it has started, again
/// after each "cancelling" line until `interrupts` were sent; returns the
/// exit code and stderr.
fn interrupt(mut command: Command, interrupts: usize) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |needle: &str, seen: &mut String| loop {
        let line = rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no `{needle}` line ({e}); stderr so far:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return;
        }
    };
    wait_for("Ctrl-C cancels it", &mut seen);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    for sent in 1..=interrupts {
        // SAFETY: sends a signal to the child we started (and still hold).
        #[allow(unsafe_code)]
        let sent_ok = unsafe { libc::kill(pid, libc::SIGINT) } == 0;
        assert!(sent_ok, "{}", std::io::Error::last_os_error());
        if sent < interrupts {
            wait_for("Ctrl-C again to exit at once", &mut seen);
        }
    }
    let status = child.wait().unwrap();
    seen.extend(rx.iter().map(|line| line + "\n"));
    (status.code(), seen)
}

/// Asserts that the run of `algorithm` was cancelled by one Ctrl-C.
fn assert_cancelled(door: &str, algorithm: &str, (code, stderr): (Option<i32>, String)) {
    assert_eq!(code, Some(130), "{door} {algorithm}: {stderr}");
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("cancelling run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{door} {algorithm}: no cancelling line: {stderr}"));
    assert!(
        stderr.contains(&format!(
            "cancelling run {id} of {algorithm} (Ctrl-C again to exit at once)\n"
        )),
        "{door} {algorithm}: {stderr}"
    );
    assert!(
        stderr.ends_with(&format!("error: run {id} of {algorithm} cancelled\n")),
        "{door} {algorithm}: {stderr}"
    );
    assert!(
        !stderr.contains("KeyboardInterrupt") && !stderr.contains("Traceback"),
        "{door} {algorithm}: {stderr}"
    );
}

#[test]
fn ctrl_c_cancels_a_rust_run_which_exits_130() {
    let s = Scratch::new();
    for extra in [&[][..], &["--timeout", "600"]] {
        let mut args = vec!["-v", "run", "waits_for_cancel"];
        args.extend_from_slice(extra);
        assert_cancelled("binary", "waits_for_cancel", interrupt(s.command(&args), 1));
    }
}

/// Both front doors with the virtualenv's Python plugins: the binary
/// embedding Python, and the pip package's console command.
fn front_doors(s: &Scratch, venv: &Path, args: &[&str]) -> [(&'static str, Command); 2] {
    let mut embedded = s.command(args);
    embedded.env("VIRTUAL_ENV", venv);
    let pip = s.command_of(&venv.join("bin").join("algohost"), args);
    [("embedded", embedded), ("pip", pip)]
}

#[test]
fn ctrl_c_cancels_python_and_rust_runs_through_both_front_doors() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    for algorithm in ["py_waits_for_cancel", "waits_for_cancel"] {
        for (door, command) in front_doors(&s, &venv, &["-v", "run", algorithm]) {
            assert_cancelled(door, algorithm, interrupt(command, 1));
        }
    }
}

#[test]
fn a_second_ctrl_c_exits_at_once_when_the_plugin_ignores_the_first() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    let args = [
        "-v",
        "run",
        "py_ignores_cancel",
        "--params",
        r#"{"seconds": 600}"#,
    ];
    for (door, command) in front_doors(&s, &venv, &args) {
        let (code, stderr) = interrupt(command, 2);
        assert_eq!(code, Some(130), "{door}: {stderr}");
        assert!(
            stderr.ends_with("error: interrupted again; exiting without waiting for the run\n"),
            "{door}: {stderr}"
        );
    }
}
