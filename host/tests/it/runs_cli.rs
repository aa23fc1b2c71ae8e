//! `algohost runs`, `runs show` and `runs output` on the run store of a
//! real `algohost serve`, read while the server runs and after it stopped:
//! the values the HTTP API answers, filters, frames byte for byte as the
//! server encodes them, every error with its exit code, and that reading
//! takes over no run and writes nothing.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::server::{Scratch, Server, peak_params};

/// `algohost ARGS` in `dir`, with no `ALGOHOST_*` variable but `env`.
fn algohost_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_algohost"));
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ALGOHOST_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// `algohost ARGS --store runs.db` in the scratch directory.
fn runs(scratch: &Scratch, args: &[&str]) -> Output {
    algohost_with(scratch.path(), args, &[])
        .args(["--store", "runs.db"])
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success; returns stdout.
fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
}

/// Asserts exit code 2 and nothing on stdout; returns stderr.
fn usage_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(out), stderr(out));
    assert_eq!(stdout(out), "");
    stderr(out)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// The line of the listing that starts with `id`.
fn line_of(listing: &str, id: &str) -> String {
    listing
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no line of {id} in:\n{listing}"))
        .to_owned()
}

/// Runs `algorithm` to its end on `server`; returns its id.
fn finished(server: &Server, algorithm: &str, params: Value) -> String {
    let id = server.submit(algorithm, params);
    server.wait_for(&id, |s| !matches!(s, "queued" | "running"));
    id
}

fn node_files(scratch: &Scratch) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scratch.path().join("runs.db-nodes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn runs_are_read_while_their_server_runs_and_after_it_stopped() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let peak = finished(&server, "peak_shaving", peak_params());
    let failed = finished(&server, "fails", json!({}));
    let echo = finished(&server, "echo_frames", json!({"names": ["site.load"]}));
    let waiting = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&waiting, |s| s == "running");
    // The CLI reads the store, which gets a running run's progress within
    // a flush interval of its report.
    let since = Instant::now();
    while json_of(&runs(&scratch, &["runs", "show", &waiting, "--json"]))["progress"] != 0.1 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "progress never stored"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let nodes = node_files(&scratch);

    // The listing: newest first, as GET /runs lists them.
    let listed = json_of(&runs(&scratch, &["runs", "--json"]));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&waiting, &echo, &failed, &peak]);
    let ended = server.get("/runs?status=succeeded,failed").json();
    let out = runs(
        &scratch,
        &["runs", "--status", "succeeded,failed", "--json"],
    );
    assert_eq!(
        json_of(&out),
        ended["runs"],
        "the API's runs, value for value"
    );

    let text = ok(&runs(&scratch, &["runs"]));
    assert!(
        text.starts_with("ID  ") && text.lines().next().unwrap().ends_with("DURATION  ERROR"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5, "{text}");
    let line = line_of(&text, &failed);
    assert!(line.contains("  fails  "), "{line}");
    assert!(line.contains("  failed  "), "{line}");
    assert!(
        line.ends_with("data: echo fixture: the data source is gone"),
        "{line}"
    );
    let line = line_of(&text, &peak);
    assert!(
        line.contains("  peak_shaving  ") && line.contains("  succeeded  "),
        "{line}"
    );
    let peak_run = ended["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == peak.as_str())
        .unwrap();
    let created = &peak_run["created_at"].as_str().unwrap()[..19];
    assert!(line.contains(&format!("{created}Z")), "{created}: {line}");
    let line = line_of(&text, &waiting);
    assert!(line.contains("  running  "), "{line}");
    assert!(
        line.trim_end().ends_with('+'),
        "a running run's time so far: {line}"
    );

    // Filters, as GET /runs's.
    let text = ok(&runs(&scratch, &["runs", "--status", "failed,running"]));
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(&failed) && text.contains(&waiting), "{text}");
    let text = ok(&runs(&scratch, &["runs", "--algorithm", "peak_shaving"]));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(&peak), "{text}");
    let out = runs(&scratch, &["runs", "--limit", "2"]);
    let text = ok(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(&waiting) && text.contains(&echo), "{text}");
    assert_eq!(
        stderr(&out),
        "only the newest 2 shown; --limit N shows more, --limit 0 all\n"
    );
    // Both to one file (`2>&1`): the note after the table, not inside a
    // line of it.
    let both = scratch.path().join("both.txt");
    let file = std::fs::File::create(&both).unwrap();
    let status = algohost_with(scratch.path(), &["runs", "--limit", "2"], &[])
        .args(["--store", "runs.db"])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    let both = std::fs::read_to_string(&both).unwrap();
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(lines.len(), 4, "{both}");
    assert!(
        lines[0].starts_with("ID  ") && lines[0].ends_with("ERROR"),
        "{both}"
    );
    assert!(
        lines[1].starts_with(&waiting) && lines[1].ends_with('+'),
        "{both}"
    );
    assert!(lines[2].starts_with(&echo), "{both}");
    assert_eq!(
        lines[3],
        "only the newest 2 shown; --limit N shows more, --limit 0 all"
    );
    let out = runs(&scratch, &["runs", "--algorithm", "resample"]);
    assert_eq!(ok(&out).lines().count(), 1);
    assert_eq!(
        stderr(&out),
        "no runs match the filters in the run store runs.db\n"
    );
    let err = usage_error(&runs(&scratch, &["runs", "--status", "failed,done"]));
    assert!(
        err.contains(
            "'done' is not a run status: give one or more of queued, running, succeeded, failed, \
             cancelled, timed_out, separated by commas"
        ),
        "{err}"
    );

    // One run, as GET /runs/{id} has it.
    let out = runs(&scratch, &["runs", "show", &peak, "--json"]);
    assert_eq!(
        json_of(&out),
        server.get(&format!("/runs/{peak}?logs=none")).json()
    );
    let out = runs(&scratch, &["runs", "show", &failed, "--json", "--logs"]);
    assert_eq!(json_of(&out), server.get(&format!("/runs/{failed}")).json());
    let text = ok(&runs(&scratch, &["runs", "show", &peak]));
    assert!(
        text.starts_with(&format!(
            "run {peak}  peak_shaving 0.1.0\nstatus    succeeded\n"
        )),
        "{text}"
    );
    let params = serde_json::to_string(&peak_params()).unwrap();
    assert!(text.contains(&format!("\nparams    {params}\n")), "{text}");
    let summary = &server.get(&format!("/runs/{peak}")).json()["summary"];
    let indented: String = serde_json::to_string_pretty(summary)
        .unwrap()
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    assert!(text.contains(&format!("\nsummary\n{indented}")), "{text}");
    assert!(
        text.contains(&format!(
            "\nframes    schedule  (algohost runs output {peak} FRAME)\n"
        )),
        "{text}"
    );
    assert!(text.contains("(--logs shows them)"), "{text}");
    // To the millisecond: runs often take less than a second.
    let peak_run = server.get(&format!("/runs/{peak}")).json();
    for (line, field) in [("created", "created_at"), ("finished", "finished_at")] {
        let at = peak_run[field].as_str().unwrap();
        let shown = format!("\n{line:<10}{}Z", &at[..23]);
        assert!(text.contains(&shown), "{shown:?} in {text}");
    }
    let text = ok(&runs(&scratch, &["runs", "show", &echo, "--logs"]));
    assert!(text.contains("\nframes    echo, types  "), "{text}");
    assert!(
        text.contains(" INFO ") && text.contains("echoing samples selected=1"),
        "{text}"
    );
    let text = ok(&runs(&scratch, &["runs", "show", &failed]));
    assert!(
        text.contains("\nerror     data: echo fixture: the data source is gone\n"),
        "{text}"
    );
    assert!(!text.contains("summary"), "{text}");
    let text = ok(&runs(&scratch, &["runs", "show", &waiting]));
    assert!(
        text.contains("\nstatus    running\nprogress  10% waiting to be cancelled\n"),
        "{text}"
    );

    // Output frames: the bytes of the server's download, in each format.
    for format in ["csv", "json", "parquet", "arrow"] {
        let out = runs(
            &scratch,
            &["runs", "output", &echo, "types", "--format", format],
        );
        let download = server.get(&format!("/runs/{echo}/outputs/types?format={format}"));
        assert_eq!(download.status, 200);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(
            out.stdout == download.body,
            "{format}: not the download's bytes"
        );
    }
    let csv = ok(&runs(&scratch, &["runs", "output", &peak, "schedule"]));
    assert!(
        csv.starts_with("ts,load_kw,pv_kw,battery_kw,soc_kwh,grid_kw\n"),
        "CSV by default: {}",
        &csv[..100]
    );
    let out = runs(
        &scratch,
        &["runs", "output", &peak, "schedule", "-o", "s.parquet"],
    );
    assert_eq!(ok(&out), "");
    assert!(
        stderr(&out).starts_with(&format!(
            "wrote s.parquet: frame 'schedule' of run {peak}, "
        )),
        "{}",
        stderr(&out)
    );
    let parquet = std::fs::read(scratch.path().join("s.parquet")).unwrap();
    let download = server.get(&format!("/runs/{peak}/outputs/schedule?format=parquet"));
    assert!(parquet == download.body, "-o FILE.parquet writes Parquet");
    let arrows = runs(
        &scratch,
        &["runs", "output", &peak, "schedule", "-o", "s.arrows"],
    );
    assert_eq!(arrows.status.code(), Some(0), "{}", stderr(&arrows));
    let stream = server.get(&format!("/runs/{peak}/outputs/schedule?format=arrow"));
    assert!(std::fs::read(scratch.path().join("s.arrows")).unwrap() == stream.body);
    // An extension that names no format is not CSV under another name.
    let err = usage_error(&runs(
        &scratch,
        &["runs", "output", &peak, "schedule", "-o", "s.csv.gz"],
    ));
    assert_eq!(
        err,
        "error: cannot tell the format from the extension .gz of s.csv.gz: give --format csv, \
         json, parquet or arrow (an Arrow stream), or a file name ending in one of them\n"
    );
    assert!(!scratch.path().join("s.csv.gz").exists());
    // A path no file can be made at is the user's to fix (exit code 2).
    let err = usage_error(&runs(
        &scratch,
        &["runs", "output", &peak, "schedule", "-o", "gone/s.csv"],
    ));
    assert_eq!(
        err,
        "error: cannot create gone/s.csv: the directory gone does not exist; create it \
         (mkdir -p gone) or give -o a path in an existing one\n"
    );
    std::fs::create_dir(scratch.path().join("dir.csv")).unwrap();
    let err = usage_error(&runs(
        &scratch,
        &["runs", "output", &peak, "schedule", "-o", "dir.csv"],
    ));
    assert_eq!(
        err,
        "error: cannot create dir.csv: it is a directory; give -o a file path in it\n"
    );

    // What is not there, and what is no run id.
    let err = usage_error(&runs(&scratch, &["runs", "output", &peak, "schedul"]));
    assert_eq!(
        err,
        format!(
            "error: run {peak}: unknown output frame 'schedul' (did you mean 'schedule'?); \
             known names: schedule\n"
        )
    );
    let err = usage_error(&runs(&scratch, &["runs", "output", &failed, "schedule"]));
    assert!(
        err.contains(&format!(
            "run {failed} ended failed, so it has no output frames"
        )),
        "{err}"
    );
    let err = usage_error(&runs(&scratch, &["runs", "output", &waiting, "x"]));
    assert!(
        err.contains(&format!(
            "run {waiting} is running: its output frames are there once it has succeeded"
        )),
        "{err}"
    );
    let unknown = "01936f0e-8c1a-7d2b-9e4f-5a6b7c8d9e0f";
    for args in [
        &["runs", "show", unknown][..],
        &["runs", "output", unknown, "x"],
    ] {
        let err = usage_error(&runs(&scratch, args));
        assert_eq!(
            err,
            format!(
                "error: there is no run {unknown} in the run store runs.db; `algohost runs` \
                 lists the runs it holds\n"
            ),
            "{args:?}"
        );
    }
    let err = usage_error(&runs(&scratch, &["runs", "show", "42"]));
    assert!(
        err.contains("'42' is not a run id: a run id is a UUID such as "),
        "{err}"
    );
    let err = usage_error(&runs(
        &scratch,
        &["runs", "--status", "failed", "show", &peak],
    ));
    assert!(
        err.contains("--status is a flag of `algohost runs` (the listing), not of `runs show`"),
        "{err}"
    );

    // Reading took over no run: the server still holds the running one, and
    // cancels it; no node joined.
    assert_eq!(node_files(&scratch), nodes);
    let cancel = server.send(server.req(Method::POST, &format!("/runs/{waiting}/cancel")));
    assert_eq!(cancel.status, 202, "{}", cancel.text());
    server.wait_for(&waiting, |s| s == "cancelled");
    assert!(server.terminate().success());

    // With the server stopped: the run as it ended, and the file unchanged.
    let store = std::fs::read(scratch.path().join("runs.db")).unwrap();
    let text = ok(&runs(&scratch, &["runs", "--status", "cancelled"]));
    let line = line_of(&text, &waiting);
    assert!(line.contains("  cancelled  "), "{line}");
    assert!(!line.trim_end().ends_with('+'), "{line}");
    assert_eq!(
        std::fs::read(scratch.path().join("runs.db")).unwrap(),
        store,
        "reading writes nothing"
    );
    assert!(node_files(&scratch).is_empty());
}

#[test]
fn the_store_is_found_as_the_server_finds_it_and_a_missing_one_is_not_made() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let peak = finished(&server, "peak_shaving", peak_params());
    drop(server);
    let dir = scratch.path();
    let listed = |out: &Output| {
        let text = ok(out);
        assert!(text.contains(&peak), "{text}");
    };

    // The default: algohost.db in the working directory.
    let out = algohost_with(dir, &["runs"], &[]).output().unwrap();
    let err = usage_error(&out);
    assert!(
        err.starts_with(
            "error: there is no run store at algohost.db (the default: algohost.db in the \
             working directory "
        ),
        "{err}"
    );
    assert!(
        err.contains("give the run store of `algohost serve` with --store FILE or ALGOHOST_STORE"),
        "{err}"
    );
    assert!(!dir.join("algohost.db").exists(), "no store is made");

    let err = usage_error(
        &algohost_with(dir, &["runs", "--store", "nope.db"], &[])
            .output()
            .unwrap(),
    );
    assert_eq!(
        err,
        "error: there is no run store at nope.db (given by --store)\n"
    );
    assert!(!dir.join("nope.db").exists());

    // ALGOHOST_STORE, and --store beats it.
    let env = [("ALGOHOST_STORE", "runs.db")];
    listed(&algohost_with(dir, &["runs"], &env).output().unwrap());
    let env = [("ALGOHOST_STORE", "gone.db")];
    let err = usage_error(&algohost_with(dir, &["runs"], &env).output().unwrap());
    assert_eq!(
        err,
        "error: there is no run store at gone.db (from ALGOHOST_STORE)\n"
    );
    listed(
        &algohost_with(dir, &["runs", "--store", "runs.db"], &env)
            .output()
            .unwrap(),
    );

    // The config file's store, relative to the file; ALGOHOST_STORE beats it.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.join("serve.toml"), "store = \"runs.db\"\nqueue = 8\n").unwrap();
    listed(
        &algohost_with(&sub, &["runs", "--config", "../serve.toml"], &[])
            .output()
            .unwrap(),
    );
    listed(
        &algohost_with(&sub, &["runs"], &[("ALGOHOST_CONFIG", "../serve.toml")])
            .output()
            .unwrap(),
    );
    let env = [
        ("ALGOHOST_CONFIG", "../serve.toml"),
        ("ALGOHOST_STORE", "x.db"),
    ];
    let err = usage_error(&algohost_with(&sub, &["runs"], &env).output().unwrap());
    assert_eq!(
        err,
        "error: there is no run store at x.db (from ALGOHOST_STORE)\n"
    );
    std::fs::write(dir.join("other.toml"), "store = \"old/runs.db\"\n").unwrap();
    let out = algohost_with(&sub, &["runs", "--config", "../other.toml"], &[])
        .output()
        .unwrap();
    assert_eq!(
        usage_error(&out),
        "error: there is no run store at ../old/runs.db (from `store` in the config file \
         ../other.toml)\n"
    );

    // A path that is not a run store.
    let err = usage_error(
        &algohost_with(dir, &["runs", "--store", "data"], &[])
            .output()
            .unwrap(),
    );
    assert_eq!(
        err,
        "error: the run store data (given by --store) is a directory; give the file that \
         `algohost serve --store` was given\n"
    );
    let out = algohost_with(dir, &["runs", "--store", "serve.toml"], &[])
        .output()
        .unwrap();
    assert_eq!(
        usage_error(&out),
        "error: the run store serve.toml (given by --store) cannot be read: serve.toml is not a \
         run store (it is not an SQLite database)\n"
    );
}

#[test]
fn a_closed_stdout_ends_an_output_quietly_and_a_full_disk_is_an_error() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let peak = finished(&server, "peak_shaving", peak_params());
    // `algohost runs output … | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = algohost_with(
        scratch.path(),
        &["runs", "output", &peak, "schedule", "--store", "runs.db"],
        &[],
    )
    .stdout(writer)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    #[cfg(target_os = "linux")]
    {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = algohost_with(scratch.path(), &["runs", "--store", "runs.db"], &[])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "error: cannot write to stdout: No space left on device (os error 28)\n"
        );
        let out = runs(
            &scratch,
            &["runs", "output", &peak, "schedule", "-o", "/dev/full"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: cannot write /dev/full: "),
            "{}",
            stderr(&out)
        );
        assert!(Path::new("/dev/full").exists(), "a device is left alone");

        // A device or pipe that takes it all: done, though it cannot sync.
        let out = runs(
            &scratch,
            &["runs", "output", &peak, "schedule", "-o", "/dev/null"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with("wrote /dev/null: frame 'schedule' of run "),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn runs_of_a_killed_server_are_shown_as_held_by_a_server_that_is_gone() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    // While its server runs, the run is running.
    let listing = ok(&runs(&scratch, &["runs"]));
    let line = line_of(&listing, &running);
    assert!(line.contains(" running "), "{line}");
    assert!(!line.contains("server gone"), "{line}");

    server.kill();
    let out = runs(&scratch, &["runs"]);
    let line = line_of(&ok(&out), &running);
    assert!(line.contains("running (server gone)"), "{line}");
    assert!(
        stderr(&out).contains("(server gone): the server that holds the run is no longer running"),
        "{}",
        stderr(&out)
    );
    let shown = ok(&runs(&scratch, &["runs", "show", &running]));
    assert!(
        shown.contains(
            "status    running, on a server that is gone: the next `algohost serve` on this \
             store marks it failed (interrupted)"
        ),
        "{shown}"
    );
    // As the next server does.
    let next = scratch.start(&[]);
    let run = next.wait_for(&running, |s| s == "failed");
    assert_eq!(run["error"]["kind"], "interrupted", "{run}");
    let line = line_of(&ok(&runs(&scratch, &["runs"])), &running);
    assert!(line.contains(" failed "), "{line}");
}
