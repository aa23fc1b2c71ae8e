//! Every example in README.md runs here: the console commands against the
//! real binary and demo data (with their stated exit codes), and every code
//! block is checked to be the code of a crate that `make test` builds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::target_debug_dir;

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

fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lib = target_debug_dir().join("libalgohost_plugin_peak_shaving.so");
    assert!(
        lib.exists(),
        "{} is missing: run `make test` (it builds the plugins first)",
        lib.display()
    );
    std::fs::copy(&lib, dir.path().join("libalgohost_plugin_peak_shaving.so")).unwrap();
    dir
}

#[test]
fn readme_console_examples_run_with_their_exit_codes() {
    let commands = console_commands(&readme());
    assert!(commands.len() >= 6, "{commands:?}");
    let cwd = tempfile::tempdir().unwrap();
    let plugins = plugin_dir();
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_algohost"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (command, expected) in commands {
        let out = Command::new("bash")
            .args(["-c", &command])
            .current_dir(cwd.path())
            .env("PATH", &path)
            .env("ALGOHOST_PLUGIN_PATH", plugins.path())
            .env_remove("ALGOHOST_DATA")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(expected),
            "`{command}`\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        cwd.path()
            .join("out/peak_shaving/schedule.parquet")
            .exists()
    );
    assert!(cwd.path().join("out/resample/resampled.parquet").exists());
}

fn normalise(code: &str) -> String {
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn readme_code_blocks_are_code_that_the_build_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources: Vec<String> = [
        "examples/custom-host/my-plugin/src/lib.rs",
        "examples/custom-host/src/main.rs",
        "plugins/peak-shaving/src/lib.rs",
        "plugins/peak-shaving/Cargo.toml",
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
