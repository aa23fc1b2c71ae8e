//! `algohost serve` as a client sees it: a real server process on
//! 127.0.0.1 port 0, the peak-shaving and echo fixture plugins, the demo
//! data, a SQLite store in a scratch directory. Every response any test
//! receives is checked against the server's own `/openapi.json` (status
//! documented for the path and method, JSON body valid against the schema).

mod api;
mod auth;
mod connections;
mod cors;
mod data;
mod docs;
mod lifecycle;
mod outputs;
mod queries;
mod resilience;
mod spec;
mod store_full;

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::copy_plugins;

/// Peak-shaving params the demo battery can keep (most of the time).
pub fn peak_params() -> Value {
    json!({"limit_kw": 60, "battery": {"capacity_kwh": 100, "power_kw": 50}})
}

/// A scratch directory: `plugins/` (peak shaving + echo fixture), `data/`
/// (the demo dataset) and the store `runs.db`. Servers started on the same
/// scratch share the store.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        copy_plugins(
            &plugins,
            &[
                "libalgohost_plugin_peak_shaving.so",
                "libalgohost_fixture_echo.so",
            ],
        );
        algohost::demo::generate(&dir.path().join("data")).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `algohost serve` command on this scratch (bind 127.0.0.1:0),
    /// with no `ALGOHOST_*` variable from the outer environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let data = self.path().join("data");
        self.command_with_data(path_str(&data), args)
    }

    /// [`Scratch::command`] serving other data: a directory or a URL.
    pub fn command_with_data(&self, data: &str, args: &[&str]) -> Command {
        let mut cmd = self.command_without_data(args);
        cmd.args(["--data", data]);
        cmd
    }

    /// [`Scratch::command`] without `--data`.
    pub fn command_without_data(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_algohost"));
        let store = self.path().join("runs.db");
        let plugins = self.path().join("plugins");
        cmd.arg("serve")
            .args(["--store", path_str(&store)])
            .args(["--plugin-dir", path_str(&plugins)]);
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        cmd.args(args).current_dir(self.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ALGOHOST_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ALGOHOST_LOG", "info");
        cmd
    }

    /// Starts a server with extra flags.
    pub fn start(&self, args: &[&str]) -> Server {
        Server::spawn(self.command(args))
    }

    /// Starts a server of other data (a directory or a URL) with extra flags.
    pub fn start_with_data(&self, data: &str, args: &[&str]) -> Server {
        Server::spawn(self.command_with_data(data, args))
    }

    /// Starts a server with extra flags and environment variables.
    pub fn start_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        Server::spawn(cmd)
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A running `algohost serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What the server printed on stdout (the banner).
    pub stdout: Arc<Mutex<String>>,
    /// What it logged on stderr.
    pub stderr: Arc<Mutex<String>>,
    client: Client,
    spec: OnceLock<spec::Spec>,
}

impl Server {
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
        drain(child.stderr.take().unwrap(), stderr.clone(), None);
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the server printed no banner (exit {status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Server {
            child,
            url,
            stdout,
            stderr,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            spec: OnceLock::new(),
        }
    }

    /// A request to `path` (no token).
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Sends a request, reads the whole body and checks the reply against
    /// the OpenAPI document.
    pub fn send(&self, request: RequestBuilder) -> Reply {
        let request = request.build().unwrap();
        let method = request.method().clone();
        let response = self.client.execute(request).unwrap();
        self.read(method, response)
    }

    /// Reads the rest of a GET response (an event stream ends with its
    /// run) and checks it against the OpenAPI document.
    pub fn finish(&self, response: Response) -> Reply {
        self.read(Method::GET, response)
    }

    fn read(&self, method: Method, response: Response) -> Reply {
        let path = response.url().path().to_owned();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().unwrap().to_vec();
        let reply = Reply {
            method,
            path,
            status,
            headers,
            body,
        };
        if let Err(e) = self.spec().check(&reply) {
            panic!(
                "{} {} → {} does not match /openapi.json: {e}\nbody: {}",
                reply.method,
                reply.path,
                reply.status,
                reply.text()
            );
        }
        reply
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send(self.req(Method::GET, path))
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.req(Method::POST, path).json(body))
    }

    /// The server's OpenAPI document (fetched once).
    pub fn spec(&self) -> &spec::Spec {
        self.spec.get_or_init(|| {
            let text = self
                .client
                .get(format!("{}/openapi.json", self.url))
                .send()
                .unwrap()
                .text()
                .unwrap();
            spec::Spec::new(serde_json::from_str(&text).unwrap())
        })
    }

    /// Starts a run and returns its id (asserting 202).
    pub fn submit(&self, algorithm: &str, params: Value) -> String {
        let reply = self.post("/runs", &json!({"algorithm": algorithm, "params": params}));
        assert_eq!(reply.status, 202, "{}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    /// Polls `GET /runs/{id}` until `done(status)` (30 s at most).
    pub fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.get(&format!("/runs/{id}")).json();
            if done(run["status"].as_str().unwrap_or("")) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} stayed {} for 30 s",
                run["status"]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL and waits for the process to end.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (60 s at most) for the process to exit.
    pub fn terminate(self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends the signal `name` (`TERM`, `HUP`) and waits (60 s at most) for
    /// the process to exit.
    pub fn signal(self, name: &str) -> ExitStatus {
        self.send_signal(name);
        self.wait_exit(name)
    }

    /// Sends the signal `name` and returns at once.
    pub fn send_signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits (60 s at most) for the process to exit after SIG`name`.
    pub fn wait_exit(mut self, name: &str) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within 60 s of SIG{name}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `request` as written (request line and headers, CRLF-ended)
    /// over a new TCP connection and returns the whole response as text:
    /// for what an HTTP client would not send.
    pub fn raw(&self, request: &str) -> String {
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a pipe into `sink`; once the banner's last line (`  auth: …`)
/// is in, sends the `listening on URL` address to `url`.
fn drain(
    pipe: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    url: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
            if let (Some(tx), true) = (&url, line.starts_with("  auth:")) {
                let address = s
                    .lines()
                    .find_map(|l| l.strip_prefix("listening on "))
                    .unwrap_or_default();
                let _ = tx.send(address.trim().to_owned());
            }
        }
    });
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters.
    pub fn media_type(&self) -> &str {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
    }

    /// Asserts a 503 problem of `kind` (`urn:algohost:problem:{kind}`)
    /// with `Retry-After: {retry_after}`; returns its detail.
    pub fn unavailable(&self, kind: &str, retry_after: &str) -> String {
        let text = self.text();
        assert_eq!(self.status, 503, "{}", &text[..text.len().min(500)]);
        let problem = self.problem(503);
        assert_eq!(problem["type"], format!("urn:algohost:problem:{kind}"));
        assert_eq!(self.header("retry-after"), Some(retry_after));
        problem["detail"].as_str().unwrap().to_owned()
    }

    /// Asserts an RFC 9457 problem with this status; returns the body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.media_type(), "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status);
        for field in ["type", "title", "detail"] {
            assert!(p[field].is_string(), "problem without {field}: {p}");
        }
        p
    }
}
