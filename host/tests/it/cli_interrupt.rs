//! Ctrl-C during `algohost run`, sent as a real SIGINT to the process: the
//! first cancels the run, which ends `cancelled` with exit code 130, or gives
//! up a plugin that does not stop within 5 s; the second exits at once. With
//! Python embedded (whose own SIGINT handler
//! would raise `KeyboardInterrupt` in the plugin) and through the pip
//! package's console command too, when ALGOHOST_TEST_VENV names the
//! virtualenv. SIGTERM and SIGHUP do the same, with exit codes 143 and 129.
#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Read as _};
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
fn interrupt(command: Command, interrupts: usize) -> (Option<i32>, String) {
    let (code, _, stderr) = signal_capturing(command, libc::SIGINT, interrupts);
    (code, stderr)
}

/// [`interrupt`], returning stdout too.
fn interrupt_capturing(command: Command, interrupts: usize) -> (Option<i32>, String, String) {
    signal_capturing(command, libc::SIGINT, interrupts)
}

/// [`interrupt`] with `signal` instead of SIGINT, returning stdout too.
fn signal_capturing(
    mut command: Command,
    signal: libc::c_int,
    interrupts: usize,
) -> (Option<i32>, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
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
        let sent_ok = unsafe { libc::kill(pid, signal) } == 0;
        assert!(sent_ok, "{}", std::io::Error::last_os_error());
        if sent < interrupts {
            wait_for("again to exit at once", &mut seen);
        }
    }
    // A run that never ends fails the test rather than hang it.
    let given_up = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > given_up {
            let _ = child.kill();
            let _ = child.wait();
            seen.extend(rx.try_iter().map(|line| line + "\n"));
            panic!("still running {PATIENCE:?} after the last Ctrl-C; stderr:\n{seen}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    seen.extend(rx.iter().map(|line| line + "\n"));
    (status.code(), stdout.join().unwrap(), seen)
}

/// The id of the run that the "cancelling run" line on `stderr` names.
fn cancelled_run_id<'a>(door: &str, stderr: &'a str) -> &'a str {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("cancelling run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{door}: no cancelling line: {stderr}"))
}

/// Asserts that the run of `algorithm` was cancelled by one Ctrl-C.
fn assert_cancelled(door: &str, algorithm: &str, (code, stderr): (Option<i32>, String)) {
    assert_eq!(code, Some(130), "{door} {algorithm}: {stderr}");
    let id = cancelled_run_id(&format!("{door} {algorithm}"), &stderr);
    assert!(
        stderr.contains(&format!(
            "cancelling run {id} of {algorithm}; waiting up to 5s for its plugin to stop (Ctrl-C \
             again to exit at once)\n"
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

/// One Ctrl-C on a plugin that never checks for it: a plugin still running
/// 5 s later is given up, one that finishes first keeps its result; exit
/// code 130 either way.
#[test]
fn one_ctrl_c_ends_a_run_whose_plugin_never_checks_with_130() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    for seconds in [120, 1] {
        let params = format!(r#"{{"seconds": {seconds}}}"#);
        let args = ["-v", "run", "py_ignores_cancel", "--params", &params];
        for (door, command) in front_doors(&s, &venv, &args) {
            let (code, stdout, stderr) = interrupt_capturing(command, 1);
            let door = format!("{door} {seconds}s");
            assert_eq!(code, Some(130), "{door}: {stderr}");
            let id = cancelled_run_id(&door, &stderr);
            let last = stderr.lines().last().unwrap_or_default();
            if seconds == 1 {
                let summary: serde_json::Value = serde_json::from_str(&stdout)
                    .unwrap_or_else(|e| panic!("{door}: stdout is not JSON ({e}): {stdout}"));
                assert_eq!(summary["slept"].as_f64(), Some(1.0), "{door}: {stdout}");
                let (head, tail) = last.split_once("s, ").unwrap_or_default();
                assert!(
                    head.starts_with(&format!("run {id} of py_ignores_cancel succeeded in "))
                        && tail
                            == "before its plugin saw the cancel (Ctrl-C): its result is kept, \
                                and the exit code is 130",
                    "{door}: {stderr}"
                );
            } else {
                assert_eq!(stdout, "", "{door}");
                assert_eq!(
                    last,
                    format!(
                        "error: run {id} of py_ignores_cancel cancelled, but its plugin did not \
                         stop within 5s (it does not call ctx.check()); given up without \
                         waiting for it"
                    ),
                    "{door}: {stderr}"
                );
            }
        }
    }
}

/// SIGTERM (a scheduler, systemd, a CI timeout) and SIGHUP (the terminal
/// closed) cancel a run as Ctrl-C does, saying so, with exit code 128 + the
/// signal; a second signal exits at once.
#[test]
fn sigterm_and_sighup_cancel_a_run_like_ctrl_c_with_exit_codes_143_and_129() {
    let s = Scratch::new();
    let mut doors = vec![("binary", None)];
    if let Some(venv) = optional_venv() {
        doors.push(("embedded", Some(venv)));
    }
    for (signal, name, code) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGHUP, "SIGHUP", 129),
    ] {
        for (door, venv) in &doors {
            let mut command = s.command(&["-v", "run", "waits_for_cancel"]);
            if let Some(venv) = venv {
                command.env("VIRTUAL_ENV", venv);
            }
            let (status, stdout, stderr) = signal_capturing(command, signal, 1);
            let door = format!("{door} {name}");
            assert_eq!(status, Some(code), "{door}: {stderr}");
            assert_eq!(stdout, "", "{door}");
            let id = cancelled_run_id(&door, &stderr);
            assert!(
                stderr.contains(&format!(
                    "cancelling run {id} of waits_for_cancel ({name}); waiting up to 5s for its \
                     plugin to stop ({name} again to exit at once)\n"
                )),
                "{door}: {stderr}"
            );
            assert!(
                stderr.ends_with(&format!("error: run {id} of waits_for_cancel cancelled\n")),
                "{door}: {stderr}"
            );
        }
    }
    let Some(venv) = optional_venv() else { return };
    let args = [
        "-v",
        "run",
        "py_ignores_cancel",
        "--params",
        r#"{"seconds": 600}"#,
    ];
    for (door, command) in front_doors(&s, &venv, &args) {
        let (code, _, stderr) = signal_capturing(command, libc::SIGTERM, 2);
        assert_eq!(code, Some(143), "{door}: {stderr}");
        assert!(
            stderr.ends_with("error: interrupted again; exiting without waiting for the run\n"),
            "{door}: {stderr}"
        );
    }
}
