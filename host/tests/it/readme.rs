//! Every example in README.md runs here: the console commands (curl against
//! a real `algohost serve`, and the CLI) on the demo data with their stated
//! exit codes, and every code block is checked to be the code of a crate
//! that `make test` builds.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::copy_plugins;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).expect("README.md")
}

/// `(language, body)` of every fenced code block.
fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// `(command, expected exit code)` of each `$ ` line of the console blocks.
fn console_commands(text: &str) -> Vec<(String, i32)> {
    let mut commands: Vec<(String, i32)> = Vec::new();
    for (lang, body) in code_blocks(text) {
        if lang != "console" {
            continue;
        }
        for line in body.lines() {
            if let Some(cmd) = line.strip_prefix("$ ") {
                commands.push((cmd.to_owned(), 0));
            } else if let Some(code) = line.strip_prefix("# exit code ") {
                commands.last_mut().expect("exit code after a command").1 =
                    code.trim().parse().unwrap();
            }
        }
    }
    commands
}

/// `algohost serve` on a free port in `cwd`, with the README's data and
/// store; returns the child and its `host:port`.
fn serve(cwd: &Path, plugins: &Path) -> (ServerGuard, String) {
    // Where `make run` keeps its runs, which `algohost runs` reads.
    std::fs::create_dir_all(cwd.join(".algohost")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_algohost"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data",
            "demo-data",
            "--store",
            ".algohost/runs.db",
        ])
        .current_dir(cwd)
        .env("ALGOHOST_PLUGIN_PATH", plugins)
        .env("VIRTUAL_ENV", crate::common::test_venv())
        .env_remove("ALGOHOST_TOKENS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let guard = ServerGuard(child);
    while let Some(Ok(line)) = lines.next() {
        if let Some(url) = line.strip_prefix("listening on http://") {
            // Keep draining: a closed pipe would end the server at its next line.
            std::thread::spawn(move || lines.for_each(drop));
            return (guard, url.trim().to_owned());
        }
    }
    panic!("algohost serve ended without printing its address");
}

struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One bash script running every README command in order (variables carry
/// over between lines); a line whose exit code differs stops it.
fn script(commands: &[(String, i32)], address: &str) -> String {
    let mut script = String::from(
        "check() { if [ \"$1\" != \"$2\" ]; then echo \"README command $3 exited $1, expected $2\" >&2; exit 1; fi; }\n",
    );
    for (i, (command, expected)) in commands.iter().enumerate() {
        let command = command.replace("localhost:8000", address);
        script.push_str(&format!("{command}\ncheck $? {expected} {i}\n"));
    }
    script
}

#[test]
fn readme_console_examples_run_with_their_exit_codes() {
    let commands = console_commands(&readme());
    assert!(commands.len() >= 15, "{commands:?}");
    let cwd = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    copy_plugins(plugins.path(), &["libalgohost_plugin_peak_shaving.so"]);
    algohost::demo::generate(&cwd.path().join("demo-data")).unwrap();
    let (_server, address) = serve(cwd.path(), plugins.path());
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_algohost"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", &script(&commands, &address)])
        .current_dir(cwd.path())
        .env("PATH", &path)
        .env("ALGOHOST_PLUGIN_PATH", plugins.path())
        .env("VIRTUAL_ENV", crate::common::test_venv())
        .env_remove("ALGOHOST_DATA")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(i) = stderr
        .lines()
        .find_map(|l| l.strip_prefix("README command "))
    {
        let index: usize = i.split_whitespace().next().unwrap().parse().unwrap();
        panic!("`{}`: {stderr}", commands[index].0);
    }
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The HTTP tour answered what the README says it answers.
    assert!(stdout.contains("\"peak_shaving\""), "{stdout}");
    assert!(stdout.contains("\"pointer\":\"/limit_kw\""), "{stdout}");
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    let csv = std::fs::read_to_string(cwd.path().join("schedule.csv")).unwrap();
    assert!(
        csv.starts_with("ts,load_kw,pv_kw,battery_kw,soc_kwh,grid_kw"),
        "{}",
        &csv[..200.min(csv.len())]
    );
    assert_eq!(csv.lines().count(), 11_517);
    assert!(
        cwd.path()
            .join("out/peak_shaving/schedule.parquet")
            .exists()
    );
    assert!(cwd.path().join("out/resample/resampled.parquet").exists());
    // `algohost runs output` wrote what the server's download has.
    let cli_csv = std::fs::read_to_string(cwd.path().join("schedule-cli.csv")).unwrap();
    assert_eq!(cli_csv, csv);
    let id = run["id"].as_str().unwrap();
    let listed = stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default();
    assert!(
        listed.contains(" peak_shaving ") && listed.contains(" succeeded "),
        "{stdout}"
    );
}

fn normalise(code: &str) -> String {
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn readme_code_blocks_are_code_that_the_build_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources: Vec<String> = [
        "examples/rust-plugin/Cargo.toml",
        "examples/rust-plugin/src/lib.rs",
        "examples/custom-host/my-plugin/src/lib.rs",
        "examples/custom-host/src/main.rs",
        "plugins/peak-shaving/src/lib.rs",
        "plugins/peak-shaving/Cargo.toml",
        "examples/python-plugin/pyproject.toml",
    ]
    .iter()
    .map(|p| normalise(&std::fs::read_to_string(root.join(p)).unwrap()))
    .collect();
    for (lang, body) in code_blocks(&readme()) {
        if lang == "rust" || lang == "toml" {
            let needle = normalise(&body);
            assert!(
                sources.iter().any(|s| s.contains(&needle)),
                "README {lang} block is not in any example or plugin source:\n{body}"
            );
        }
    }
}

/// The Rust plugin the README shows is `examples/rust-plugin` whole: its
/// `Cargo.toml` and `src/lib.rs` are README blocks as they are, so what a
/// reader copies is what `make test` builds and tests.
#[test]
fn readme_shows_the_whole_rust_plugin_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rust-plugin");
    let blocks: Vec<String> = code_blocks(&readme()).into_iter().map(|(_, b)| b).collect();
    for file in ["Cargo.toml", "src/lib.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            blocks.contains(&text),
            "examples/rust-plugin/{file} is not a README code block as it is:\n{text}"
        );
    }
}

/// A copy of `examples/rust-plugin` outside this workspace, its SDK path
/// pointed at the checkout (as the README says to), is a crate of its own:
/// no workspace inheritance, and its dependencies resolve. (The code itself
/// compiles and its tests pass as a workspace member.)
#[test]
fn the_rust_plugin_example_is_a_crate_of_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(root.join("examples/rust-plugin/Cargo.toml")).unwrap();
    let sdk = root.join("sdk-rust").canonicalize().unwrap();
    let manifest = manifest.replace(
        "path = \"../../sdk-rust\"",
        &format!("path = {:?}", sdk.display().to_string()),
    );
    assert!(manifest.contains(&sdk.display().to_string()), "{manifest}");
    std::fs::write(copy.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir(copy.path().join("src")).unwrap();
    std::fs::copy(
        root.join("examples/rust-plugin/src/lib.rs"),
        copy.path().join("src/lib.rs"),
    )
    .unwrap();
    // The workspace's lock file: the same versions, resolved offline.
    std::fs::copy(root.join("Cargo.lock"), copy.path().join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(copy.path().join("Cargo.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members = metadata["workspace_members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(
        members[0].as_str().unwrap().contains("load-peaks"),
        "{members:?}"
    );
}
