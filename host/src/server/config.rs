//! Settings of `algohost serve`, from four layers. A setting given in a
//! higher layer replaces the lower ones:
//!
//! 1. command-line flags (`--bind`, `--queue`, …),
//! 2. environment variables `ALGOHOST_<KEY>` (`ALGOHOST_BIND`, …),
//! 3. the TOML config file (`--config FILE` or `ALGOHOST_CONFIG`),
//! 4. the defaults below.
//!
//! Plugin directories are the exception: they add up (flags, then the
//! config file, then `ALGOHOST_PLUGIN_PATH`), and the first registration of
//! a name wins.
//!
//! ```toml
//! bind = "127.0.0.1:8000"
//! data = "demo-data"              # or "postgres://…", or "http://host:8000"
//! store = "algohost.db"
//! plugin_dirs = ["plugins"]
//! concurrency = 4                 # Rust runs at once (default: CPUs)
//! python_concurrency = 2          # Python runs at once, on their own workers
//!                                 # (default: concurrency)
//! queue = 64
//! body_limit_bytes = 10485760
//! request_timeout_secs = 30
//! shutdown_grace_secs = 30
//! run_timeout_secs = 600          # runs that ask for no timeout
//! max_run_timeout_secs = 3600     # the longest a run may ask for
//! max_samples = 10000000          # the most samples one read of the data API returns
//! keep_days = 30                  # delete ended runs older than this (default: keep all)
//! insecure = false                # bind beyond loopback without tokens
//! cors_origins = ["https://dashboard.example.com"]  # browser apps on other
//!                                 # origins that may call the API (default: none)
//! allowed_hosts = ["algohost.example.com"]  # host names answered without
//!                                 # tokens, like localhost (behind a proxy)
//! log = "info,algohost=debug"     # tracing filter of the server's logs
//! log_format = "json"             # or "text" (the default)
//!
//! [[tokens]]
//! token = "change-me"
//! scope = "run"                   # "read" or "run" (run includes read)
//! ```
//!
//! Relative paths in the file (`store`, `plugin_dirs`, a `data` directory)
//! are relative to the file's directory. The lists also take the singular
//! of their flag's name (`plugin_dir`, `cors_origin`, `allowed_host`).
//!
//! `ALGOHOST_TOKENS` holds tokens as `TOKEN:SCOPE` separated by commas,
//! `ALGOHOST_CORS_ORIGINS` origins and `ALGOHOST_ALLOWED_HOSTS` names
//! separated by commas.
//! Tokens are never printed or logged. When `data` is another server's
//! `http(s)://` URL, its bearer token comes from `ALGOHOST_REST_TOKEN`
//! (never from the URL or this file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";
/// Default run store file, in the working directory.
pub const DEFAULT_STORE: &str = "algohost.db";
/// Default runs waiting for a worker.
pub const DEFAULT_QUEUE: usize = 64;
/// Default request body limit (10 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;
/// Default timeout of non-streaming requests.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time running runs get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default of the most samples one read of the data API returns: some
/// 250 MB as Arrow, a gigabyte as JSON.
pub const DEFAULT_MAX_SAMPLES: usize = 10_000_000;

/// A setting that cannot be used; the message names where it came from.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What a token may do. `Run` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// List and read algorithms, runs, outputs, plugins, data and metrics.
    Read,
    /// Also start, cancel and delete runs and write data.
    Run,
}

impl Scope {
    /// `read` or `run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Run => "run",
        }
    }

    /// What the scope allows, after "to": `list and read`.
    pub fn grants(self) -> &'static str {
        match self {
            Scope::Read => "list and read",
            Scope::Run => "start, cancel and delete runs and write data",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "read" => Ok(Scope::Read),
            "run" => Ok(Scope::Run),
            other => Err(ConfigError(format!(
                "unknown token scope '{other}': use 'read' or 'run'"
            ))),
        }
    }
}

/// A bearer token and its scope. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The secret clients send as `Authorization: Bearer <token>`.
    pub token: String,
    /// What it may do.
    pub scope: Scope,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("token", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// How the server writes its log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Text for people (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors (Loki, ELK).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ();

    /// `json` or `text`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err(()),
        }
    }
}

/// One layer of settings; unset fields fall through to the layer below.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port).
    #[serde(deserialize_with = "deserialize_bind")]
    pub bind: Option<SocketAddr>,
    /// The data that runs read and the data API serves: a directory (files
    /// adapter), `postgres://…` or `http(s)://…` (another algohost).
    pub data: Option<String>,
    /// SQLite file of the run store.
    pub store: Option<PathBuf>,
    /// Directories of dylib plugins.
    #[serde(alias = "plugin_dir")]
    pub plugin_dirs: Option<Vec<PathBuf>>,
    /// Rust runs executing at once.
    pub concurrency: Option<usize>,
    /// Python runs executing at once (workers of their own).
    pub python_concurrency: Option<usize>,
    /// Runs waiting for a worker.
    pub queue: Option<usize>,
    /// Allow binding beyond loopback without tokens.
    pub insecure: Option<bool>,
    /// Bearer tokens; none means no authentication.
    pub tokens: Option<Vec<Token>>,
    /// Largest request body accepted.
    pub body_limit_bytes: Option<usize>,
    /// Timeout of non-streaming requests, in seconds.
    pub request_timeout_secs: Option<f64>,
    /// Time running runs get to finish at shutdown, in seconds.
    pub shutdown_grace_secs: Option<f64>,
    /// Timeout of runs that ask for none, in seconds.
    pub run_timeout_secs: Option<f64>,
    /// The longest timeout a run may ask for, in seconds.
    pub max_run_timeout_secs: Option<f64>,
    /// The most samples one read of the data API may return.
    pub max_samples: Option<usize>,
    /// Ended runs older than this many days are deleted.
    pub keep_days: Option<f64>,
    /// Origins of browser apps allowed to call the API (CORS), or `*`.
    #[serde(alias = "cors_origin")]
    pub cors_origins: Option<Vec<String>>,
    /// Host names answered without tokens, as `localhost` is.
    #[serde(alias = "allowed_host")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Tracing filter of the server's own logs (`ALGOHOST_LOG`).
    pub log: Option<String>,
    /// How log lines are written.
    pub log_format: Option<LogFormat>,
}

impl Settings {
    /// `higher` over `self`: each field set in `higher` wins, except plugin
    /// directories, which add up (`higher`'s first).
    pub fn overridden_by(self, higher: Settings) -> Settings {
        let plugin_dirs = match (higher.plugin_dirs, self.plugin_dirs) {
            (Some(mut high), Some(low)) => {
                high.extend(low);
                Some(high)
            }
            (high, low) => high.or(low),
        };
        Settings {
            bind: higher.bind.or(self.bind),
            data: higher.data.or(self.data),
            store: higher.store.or(self.store),
            plugin_dirs,
            concurrency: higher.concurrency.or(self.concurrency),
            python_concurrency: higher.python_concurrency.or(self.python_concurrency),
            queue: higher.queue.or(self.queue),
            insecure: higher.insecure.or(self.insecure),
            tokens: higher.tokens.or(self.tokens),
            body_limit_bytes: higher.body_limit_bytes.or(self.body_limit_bytes),
            request_timeout_secs: higher.request_timeout_secs.or(self.request_timeout_secs),
            shutdown_grace_secs: higher.shutdown_grace_secs.or(self.shutdown_grace_secs),
            run_timeout_secs: higher.run_timeout_secs.or(self.run_timeout_secs),
            max_run_timeout_secs: higher.max_run_timeout_secs.or(self.max_run_timeout_secs),
            max_samples: higher.max_samples.or(self.max_samples),
            keep_days: higher.keep_days.or(self.keep_days),
            cors_origins: higher.cors_origins.or(self.cors_origins),
            allowed_hosts: higher.allowed_hosts.or(self.allowed_hosts),
            log: higher.log.or(self.log),
            log_format: higher.log_format.or(self.log_format),
        }
    }

    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| {
            ConfigError(format!(
                "config file {}: {}",
                path.display(),
                toml_error(&text, &e)
            ))
        })?;
        // Paths in the file are relative to it, not to wherever the server
        // happens to start (`/` under systemd without WorkingDirectory=).
        let dir = path.parent().unwrap_or(Path::new(""));
        let beside = |p: &Path| {
            if p.is_relative() {
                dir.join(p)
            } else {
                p.to_owned()
            }
        };
        settings.store = settings.store.as_deref().map(beside);
        settings.plugin_dirs = settings
            .plugin_dirs
            .map(|dirs| dirs.iter().map(|d| beside(d)).collect());
        if let Some(data) = &settings.data
            && crate::adapters::DataSpec::of(data).ok() == Some(crate::adapters::DataSpec::Files)
        {
            settings.data = Some(beside(Path::new(data)).display().to_string());
        }
        Ok(settings)
    }

    /// Reads `ALGOHOST_<KEY>` variables through `var` (the process
    /// environment in production, a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        Ok(Settings {
            bind: get("ALGOHOST_BIND")
                .map(|v| parse_bind(&v).map_err(|e| ConfigError(format!("ALGOHOST_BIND: {e}"))))
                .transpose()?,
            data: get("ALGOHOST_DATA"),
            store: get("ALGOHOST_STORE").map(PathBuf::from),
            plugin_dirs: None,
            concurrency: parse_env(&get, "ALGOHOST_CONCURRENCY", "a whole number")?,
            python_concurrency: parse_env(&get, "ALGOHOST_PYTHON_CONCURRENCY", "a whole number")?,
            queue: parse_env(&get, "ALGOHOST_QUEUE", "a whole number")?,
            insecure: parse_flag_env(&get, "ALGOHOST_INSECURE")?,
            tokens: get("ALGOHOST_TOKENS")
                .map(|v| parse_tokens(&v))
                .transpose()?,
            body_limit_bytes: parse_env(&get, "ALGOHOST_BODY_LIMIT_BYTES", "a number of bytes")?,
            request_timeout_secs: parse_env(&get, "ALGOHOST_REQUEST_TIMEOUT_SECS", "seconds")?,
            shutdown_grace_secs: parse_env(&get, "ALGOHOST_SHUTDOWN_GRACE_SECS", "seconds")?,
            run_timeout_secs: parse_env(&get, "ALGOHOST_RUN_TIMEOUT_SECS", "seconds")?,
            max_run_timeout_secs: parse_env(&get, "ALGOHOST_MAX_RUN_TIMEOUT_SECS", "seconds")?,
            max_samples: parse_env(&get, "ALGOHOST_MAX_SAMPLES", "a whole number")?,
            keep_days: parse_env(&get, "ALGOHOST_KEEP_DAYS", "a number of days")?,
            cors_origins: get("ALGOHOST_CORS_ORIGINS").map(|v| comma_list(&v)),
            allowed_hosts: get("ALGOHOST_ALLOWED_HOSTS").map(|v| comma_list(&v)),
            log: get("ALGOHOST_LOG"),
            log_format: get("ALGOHOST_LOG_FORMAT")
                .map(|v| {
                    v.parse().map_err(|()| {
                        ConfigError(format!("ALGOHOST_LOG_FORMAT={v:?} is not json or text"))
                    })
                })
                .transpose()?,
        })
    }
}

/// The items of a comma-separated list, trimmed, empty ones left out.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_env<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    get(key)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| ConfigError(format!("{key}={v:?} is not {expected}")))
        })
        .transpose()
}

/// A yes/no variable as systemd units and container files write them:
/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
fn parse_flag_env(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<bool>, ConfigError> {
    get(key)
        .map(|v| match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError(format!(
                "{key}={v:?} is not a yes or no: give true or false (1 or 0, yes or no, on or \
                 off)"
            ))),
        })
        .transpose()
}

/// Parses the address to listen on: an IP address and a port. A host name
/// is refused with what to give instead.
pub fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "'{text}' is not an IP address and port: give an IP address, not a host name, e.g. \
             127.0.0.1:8000 (this machine only) or 0.0.0.0:8000 (every interface)"
        )
    })
}

/// `bind` of the config file, read by [`parse_bind`].
fn deserialize_bind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|t| parse_bind(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// A TOML error as `line L, column C: message`, without the snippet of
/// the file that `toml` shows and with quoted values left out: the file may
/// hold tokens, and errors go to logs.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("line {line}, column {column}: ")
    });
    let mut message = String::new();
    let mut is_quoted = false;
    for c in e.message().chars() {
        match c {
            '"' if !is_quoted => {
                is_quoted = true;
                message.push_str("\"…");
            }
            '"' => {
                is_quoted = false;
                message.push('"');
            }
            _ if is_quoted => {}
            c => message.push(c),
        }
    }
    format!("{}{}", at.unwrap_or_default(), message.trim_end())
}

/// Parses `TOKEN:SCOPE[,TOKEN:SCOPE…]`; the error never repeats a token.
pub fn parse_tokens(text: &str) -> Result<Vec<Token>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, entry)| {
            let (token, scope) = entry.rsplit_once(':').ok_or_else(|| {
                ConfigError(format!(
                    "ALGOHOST_TOKENS entry {}: expected TOKEN:SCOPE with scope 'read' or 'run'",
                    i + 1
                ))
            })?;
            let scope = scope.parse().map_err(|e: ConfigError| {
                ConfigError(format!("ALGOHOST_TOKENS entry {}: {e}", i + 1))
            })?;
            Ok(Token {
                token: token.to_owned(),
                scope,
            })
        })
        .collect()
}

/// Refuses an empty token and one listed twice with different scopes
/// (which would grant the first silently); tokens are named by their
/// place, never shown.
fn check_tokens(tokens: &[Token]) -> Result<(), ConfigError> {
    if let Some(i) = tokens.iter().position(|t| t.token.trim().is_empty()) {
        return Err(ConfigError(format!(
            "token {} of {} is empty; give each token its secret",
            i + 1,
            tokens.len()
        )));
    }
    for (i, token) in tokens.iter().enumerate() {
        if let Some(j) = tokens[..i]
            .iter()
            .position(|t| t.token == token.token && t.scope != token.scope)
        {
            return Err(ConfigError(format!(
                "tokens {} and {} are the same secret with scopes '{}' and '{}'; list each \
                 token once, with the scope it should have",
                j + 1,
                i + 1,
                tokens[j].scope.as_str(),
                token.scope.as_str()
            )));
        }
    }
    Ok(())
}

/// The settings the server runs with, every default filled in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The data: a directory, `postgres://…` or `http(s)://…`, if any.
    pub data: Option<String>,
    /// SQLite file of the run store.
    pub store: PathBuf,
    /// Directories of dylib plugins (before `ALGOHOST_PLUGIN_PATH`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Rust runs executing at once.
    pub concurrency: usize,
    /// Python runs executing at once.
    pub python_concurrency: usize,
    /// Runs waiting for a worker.
    pub queue: usize,
    /// Binding beyond loopback without tokens was allowed explicitly.
    pub insecure: bool,
    /// Bearer tokens; empty means no authentication.
    pub tokens: Vec<Token>,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Timeout of non-streaming requests.
    pub request_timeout: Duration,
    /// Time running runs get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Timeout of runs that ask for none.
    pub run_timeout: Option<Duration>,
    /// The longest timeout a run may ask for.
    pub max_run_timeout: Option<Duration>,
    /// The most samples one read of the data API may return.
    pub max_samples: usize,
    /// How long ended runs are kept (all of them when `None`).
    pub keep_runs: Option<Duration>,
    /// Which browser origins may call the API.
    pub cors: Cors,
    /// Host names answered without tokens besides `localhost` and IP
    /// addresses, in lower case.
    pub allowed_hosts: Vec<String>,
    /// Tracing filter of the server's own logs, if set.
    pub log_filter: Option<String>,
    /// How log lines are written.
    pub log_format: LogFormat,
}

/// Which web origins a browser lets call the API (CORS): the server answers
/// their preflight requests and marks its responses readable by them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cors {
    /// None: only pages served by the API's own origin (the default).
    #[default]
    Off,
    /// Any origin (`*`); needs tokens, or `insecure`.
    Any,
    /// These origins (`scheme://host[:port]`, as browsers send `Origin`).
    Origins(Vec<String>),
}

impl Cors {
    /// Reads `cors_origins`: `*` alone, or origins such as
    /// `https://dashboard.example.com:8443` (a trailing `/` is dropped).
    fn parse(origins: Vec<String>) -> Result<Cors, ConfigError> {
        if origins.iter().any(|o| o.trim() == "*") {
            return if origins.len() == 1 {
                Ok(Cors::Any)
            } else {
                Err(ConfigError(
                    "cors_origins: '*' (any origin) cannot be listed with other origins; give either '*' or the origins"
                        .into(),
                ))
            };
        }
        let origins = origins
            .iter()
            .map(|o| parse_origin(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if origins.is_empty() {
            Cors::Off
        } else {
            Cors::Origins(origins)
        })
    }
}

/// One origin of `cors_origins`, as browsers send it in `Origin`:
/// lower-case `http(s)://host[:port]`, without path or trailing `/`.
fn parse_origin(text: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| {
        ConfigError(format!(
            "cors_origins: '{text}' is not an origin ({why}): give the scheme, host and port \
             the browser shows for the app, e.g. https://dashboard.example.com or \
             http://localhost:3000"
        ))
    };
    let (scheme, rest) = text
        .trim()
        .split_once("://")
        .ok_or_else(|| bad("no http:// or https://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme is not http or https"));
    }
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    if rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            "an origin has no path, query or user, only a host and port",
        ));
    }
    let authority: axum::http::uri::Authority = rest
        .parse()
        .ok()
        .filter(|a: &axum::http::uri::Authority| {
            let port = rest
                .rsplit_once(':')
                .map(|(_, p)| p)
                .filter(|p| !p.contains(']'));
            !a.host().is_empty() && port.is_none_or(|p| p.parse::<u16>().is_ok())
        })
        .ok_or_else(|| bad("the host or port is not valid"))?;
    Ok(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

/// One name of `allowed_hosts`: a host name as a client puts it in `Host`,
/// without scheme or port (every port is answered), in lower case.
fn parse_allowed_host(text: &str) -> Result<String, ConfigError> {
    let name = text.trim();
    let bad = |why: &str| {
        ConfigError(format!(
            "allowed_hosts: '{name}' is not a host name ({why}): give the name clients and \
             proxies send in Host, e.g. algohost.example.com"
        ))
    };
    if name == "*" {
        return Err(ConfigError(
            "allowed_hosts: '*' would answer every host name without tokens, which is what the \
             guard against DNS rebinding prevents; list the names, or configure tokens (then \
             every host name is answered)"
                .into(),
        ));
    }
    if name.contains("://") {
        return Err(bad("no scheme: leave out http://"));
    }
    if name.contains(':') {
        return Err(bad("no port: every port is answered"));
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty() || !name.chars().all(is_name_char) {
        return Err(bad("letters, digits, '.', '-' and '_' only"));
    }
    Ok(name.to_ascii_lowercase())
}

/// Checks a tracing filter (`ALGOHOST_LOG`, `log`); the error quotes it.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|_| format!("{filter:?} is not a tracing filter such as warn or algohost=debug"))
}

/// A number of workers: at least 1, one per CPU when not set.
fn workers(key: &str, setting: Option<usize>) -> Result<usize, ConfigError> {
    match setting {
        Some(0) => Err(ConfigError(format!("{key} must be at least 1"))),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

impl ServerConfig {
    /// The settings of the run service behind the server.
    pub fn service(&self) -> crate::service::ServiceConfig {
        crate::service::ServiceConfig {
            concurrency: self.concurrency,
            python_concurrency: self.python_concurrency,
            queue_capacity: self.queue,
            default_timeout: self.run_timeout,
            max_timeout: self.max_run_timeout,
            keep_runs: self.keep_runs,
            ..Default::default()
        }
    }

    /// Fills in the defaults and checks the values, including that a
    /// non-loopback address has tokens (or `insecure`).
    pub fn resolve(settings: Settings) -> Result<ServerConfig, ConfigError> {
        let concurrency = workers("concurrency", settings.concurrency)?;
        let default_bind: SocketAddr = DEFAULT_BIND
            .parse()
            .map_err(|_| ConfigError("bad default address".into()))?;
        let config = ServerConfig {
            bind: settings.bind.unwrap_or(default_bind),
            data: settings.data,
            store: settings.store.unwrap_or_else(|| DEFAULT_STORE.into()),
            plugin_dirs: settings.plugin_dirs.unwrap_or_default(),
            concurrency,
            python_concurrency: match settings.python_concurrency {
                None => concurrency,
                set => workers("python_concurrency", set)?,
            },
            queue: settings.queue.unwrap_or(DEFAULT_QUEUE),
            insecure: settings.insecure.unwrap_or(false),
            tokens: settings.tokens.unwrap_or_default(),
            body_limit: settings.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT),
            request_timeout: seconds("request_timeout_secs", settings.request_timeout_secs)?
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            shutdown_grace: seconds("shutdown_grace_secs", settings.shutdown_grace_secs)?
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            run_timeout: seconds("run_timeout_secs", settings.run_timeout_secs)?,
            max_run_timeout: seconds("max_run_timeout_secs", settings.max_run_timeout_secs)?,
            max_samples: match settings.max_samples {
                Some(0) => return Err(ConfigError("max_samples must be at least 1".into())),
                set => set.unwrap_or(DEFAULT_MAX_SAMPLES),
            },
            keep_runs: seconds("keep_days", settings.keep_days.map(|d| d * 86_400.0)).map_err(
                |_| {
                    ConfigError(format!(
                        "keep_days must be a positive number of days, got {}; leave it out to \
                         keep every run",
                        settings.keep_days.unwrap_or_default()
                    ))
                },
            )?,
            cors: Cors::parse(settings.cors_origins.unwrap_or_default())?,
            allowed_hosts: settings
                .allowed_hosts
                .unwrap_or_default()
                .iter()
                .map(|name| parse_allowed_host(name))
                .collect::<Result<_, _>>()?,
            log_filter: settings
                .log
                .map(|filter| {
                    check_log_filter(&filter).map(|()| filter).map_err(|e| {
                        ConfigError(format!(
                            "the log filter {e} (ALGOHOST_LOG, or log in the config file)"
                        ))
                    })
                })
                .transpose()?,
            log_format: settings.log_format.unwrap_or_default(),
        };
        if let (Some(default), Some(max)) = (config.run_timeout, config.max_run_timeout)
            && default > max
        {
            return Err(ConfigError(format!(
                "run_timeout_secs ({}) is above max_run_timeout_secs ({}): every run would get \
                 the maximum; lower the one or raise the other",
                default.as_secs_f64(),
                max.as_secs_f64()
            )));
        }
        check_tokens(&config.tokens)?;
        if !config.bind.ip().is_loopback() && config.tokens.is_empty() && !config.insecure {
            return Err(ConfigError(format!(
                "refusing to listen on {} without tokens: anyone who can reach it could run algorithms \
                 and read their data. Configure tokens (ALGOHOST_TOKENS=TOKEN:run or [[tokens]] in the \
                 config file), bind a loopback address such as 127.0.0.1, or pass --insecure",
                config.bind
            )));
        }
        if config.cors == Cors::Any && config.tokens.is_empty() && !config.insecure {
            return Err(ConfigError(
                "refusing cors_origins = '*' without tokens: any web page a user of this machine \
                 opens could run algorithms and read their data through the browser. Configure \
                 tokens, list the origins of your apps instead of '*', or pass --insecure"
                    .into(),
            ));
        }
        Ok(config)
    }
}

fn seconds(key: &str, value: Option<f64>) -> Result<Option<Duration>, ConfigError> {
    value
        .map(|s| {
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{key} must be a positive number of seconds, got {s}"
                    ))
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn python_runs_get_as_many_workers_of_their_own_as_rust_runs_unless_set() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let config = ServerConfig::resolve(Settings::default()).unwrap();
        assert_eq!(
            (config.concurrency, config.python_concurrency),
            (cpus, cpus)
        );
        let one = Settings {
            concurrency: Some(1),
            ..Settings::default()
        };
        let config = ServerConfig::resolve(one).unwrap();
        assert_eq!((config.concurrency, config.python_concurrency), (1, 1));
        let three = Settings::from_env(env(&[("ALGOHOST_PYTHON_CONCURRENCY", "3")])).unwrap();
        assert_eq!(ServerConfig::resolve(three).unwrap().python_concurrency, 3);
        let zero = Settings {
            python_concurrency: Some(0),
            ..Settings::default()
        };
        assert_eq!(
            ServerConfig::resolve(zero).unwrap_err().to_string(),
            "python_concurrency must be at least 1"
        );
        let err = Settings::from_env(env(&[("ALGOHOST_PYTHON_CONCURRENCY", "many")])).unwrap_err();
        assert!(
            err.to_string().contains("ALGOHOST_PYTHON_CONCURRENCY"),
            "{err}"
        );
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file: Settings = toml::from_str(
            "bind = \"127.0.0.1:9000\"\nqueue = 5\nconcurrency = 3\nplugin_dirs = [\"file\"]\n",
        )
        .unwrap();
        let env = Settings::from_env(env(&[
            ("ALGOHOST_QUEUE", "7"),
            ("ALGOHOST_CONCURRENCY", "2"),
        ]))
        .unwrap();
        let flags = Settings {
            concurrency: Some(1),
            plugin_dirs: Some(vec!["flag".into()]),
            ..Settings::default()
        };
        let config = ServerConfig::resolve(file.overridden_by(env).overridden_by(flags)).unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.queue, 7);
        assert_eq!(config.concurrency, 1);
        assert_eq!(config.plugin_dirs, [PathBuf::from("flag"), "file".into()]);
        assert_eq!(config.body_limit, DEFAULT_BODY_LIMIT);
        assert_eq!(config.max_samples, DEFAULT_MAX_SAMPLES);
        assert_eq!(config.store, PathBuf::from(DEFAULT_STORE));
    }

    #[test]
    fn tokens_parse_from_env_and_never_show_in_debug() {
        let s = Settings::from_env(env(&[("ALGOHOST_TOKENS", "abc:read, s3cr:et:run")])).unwrap();
        let tokens = s.tokens.unwrap();
        assert_eq!(tokens[0].scope, Scope::Read);
        assert_eq!(tokens[1].token, "s3cr:et");
        assert_eq!(tokens[1].scope, Scope::Run);
        assert!(!format!("{tokens:?}").contains("abc"));
        let err = parse_tokens("supersecret:admin").unwrap_err().to_string();
        assert!(
            err.contains("'admin'") && !err.contains("supersecret"),
            "{err}"
        );
    }

    #[test]
    fn paths_in_the_config_file_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("algohost.toml");
        std::fs::write(
            &file,
            "store = \"runs.db\"\ndata = \"data\"\nplugin_dirs = [\"plugins\", \"/opt/p\"]\n",
        )
        .unwrap();
        let settings = Settings::from_file(&file).unwrap();
        assert_eq!(settings.store, Some(dir.path().join("runs.db")));
        assert_eq!(
            settings.data,
            Some(dir.path().join("data").display().to_string())
        );
        assert_eq!(
            settings.plugin_dirs,
            Some(vec![dir.path().join("plugins"), PathBuf::from("/opt/p")])
        );
        std::fs::write(&file, "data = \"postgres://db/energy\"\n").unwrap();
        let settings = Settings::from_file(&file).unwrap();
        assert_eq!(settings.data.as_deref(), Some("postgres://db/energy"));
    }

    #[test]
    fn a_default_run_timeout_above_the_maximum_is_refused() {
        let err = ServerConfig::resolve(Settings {
            run_timeout_secs: Some(100.0),
            max_run_timeout_secs: Some(10.0),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "run_timeout_secs (100) is above max_run_timeout_secs (10): every run would get the \
             maximum; lower the one or raise the other"
        );
    }

    #[test]
    fn keep_days_is_how_long_ended_runs_are_kept() {
        let config = |keep_days| {
            ServerConfig::resolve(Settings {
                keep_days,
                ..Settings::default()
            })
        };
        assert_eq!(config(None).unwrap().keep_runs, None);
        assert_eq!(
            config(Some(0.5)).unwrap().service().keep_runs,
            Some(Duration::from_secs(43_200))
        );
        assert_eq!(
            config(Some(-1.0)).unwrap_err().to_string(),
            "keep_days must be a positive number of days, got -1; leave it out to keep every run"
        );
    }

    #[test]
    fn yes_or_no_variables_take_what_unit_files_write() {
        for (text, insecure) in [("1", true), ("yes", true), ("On", true), ("0", false)] {
            let settings = Settings::from_env(env(&[("ALGOHOST_INSECURE", text)])).unwrap();
            assert_eq!(settings.insecure, Some(insecure), "{text}");
        }
        let err = Settings::from_env(env(&[("ALGOHOST_INSECURE", "sure")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALGOHOST_INSECURE=\"sure\" is not a yes or no: give true or false (1 or 0, yes or no, \
             on or off)"
        );
    }

    #[test]
    fn bad_values_say_where_they_came_from() {
        let err = Settings::from_env(env(&[("ALGOHOST_QUEUE", "lots")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALGOHOST_QUEUE=\"lots\" is not a whole number"
        );
        let err = toml::from_str::<Settings>("qeueu = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("qeueu"), "{err}");
        let s = Settings {
            request_timeout_secs: Some(-1.0),
            ..Settings::default()
        };
        assert!(
            ServerConfig::resolve(s)
                .unwrap_err()
                .to_string()
                .contains("request_timeout_secs")
        );
    }

    #[test]
    fn public_addresses_need_tokens_or_insecure() {
        let public = || Settings {
            bind: Some("0.0.0.0:8000".parse().unwrap()),
            ..Settings::default()
        };
        let err = ServerConfig::resolve(public()).unwrap_err().to_string();
        assert!(
            err.contains("--insecure") && err.contains("ALGOHOST_TOKENS"),
            "{err}"
        );
        let insecure = Settings {
            insecure: Some(true),
            ..public()
        };
        assert!(ServerConfig::resolve(insecure).is_ok());
        let with_tokens = Settings {
            tokens: Some(parse_tokens("t:read").unwrap()),
            ..public()
        };
        assert!(ServerConfig::resolve(with_tokens).is_ok());
    }

    #[test]
    fn cors_origins_are_origins_as_browsers_send_them() {
        let cors = |origins: &[&str], tokens: Option<&str>| {
            ServerConfig::resolve(Settings {
                cors_origins: Some(origins.iter().map(|o| (*o).to_owned()).collect()),
                tokens: tokens.map(|t| parse_tokens(t).unwrap()),
                ..Settings::default()
            })
            .map(|c| c.cors)
        };
        assert_eq!(cors(&[], None).unwrap(), Cors::Off);
        assert_eq!(
            cors(
                &["https://Dash.Example.com/", "http://localhost:3000"],
                None
            )
            .unwrap(),
            Cors::Origins(vec![
                "https://dash.example.com".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        for (bad, why) in [
            ("dash.example.com", "no http:// or https://"),
            ("ftp://dash.example.com", "not http or https"),
            ("https://dash.example.com/app", "no path"),
            ("https://", "no host"),
            ("https://dash.example.com:port", "not valid"),
        ] {
            let err = cors(&[bad], None).unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains(why) && err.contains("e.g. https://"),
                "{bad}: {err}"
            );
        }
        // Any origin: only with tokens (or --insecure), and alone.
        let err = cors(&["*"], None).unwrap_err().to_string();
        assert!(
            err.contains("without tokens") && err.contains("--insecure"),
            "{err}"
        );
        assert_eq!(cors(&["*"], Some("t:read")).unwrap(), Cors::Any);
        let err = cors(&["*", "https://a.example"], Some("t:read"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cors_origins: '*' (any origin) cannot be listed with other origins; give either \
             '*' or the origins"
        );
        let env = Settings::from_env(env(&[(
            "ALGOHOST_CORS_ORIGINS",
            "https://a.example, http://localhost:3000,",
        )]))
        .unwrap();
        assert_eq!(
            env.cors_origins.unwrap(),
            ["https://a.example", "http://localhost:3000"]
        );
    }

    #[test]
    fn tokens_listed_twice_or_empty_are_refused_by_place_never_shown() {
        let resolve = |tokens: &str| {
            ServerConfig::resolve(Settings {
                tokens: Some(parse_tokens(tokens).unwrap()),
                ..Settings::default()
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            resolve("dupTok:read,other:run,dupTok:run").unwrap_err(),
            "tokens 1 and 3 are the same secret with scopes 'read' and 'run'; list each token \
             once, with the scope it should have"
        );
        assert!(resolve("same:run,same:run").is_ok());
        assert_eq!(
            resolve("a:read, :run").unwrap_err(),
            "token 2 of 2 is empty; give each token its secret"
        );
    }

    #[test]
    fn allowed_hosts_come_from_flags_env_or_file_as_lower_case_names() {
        let file: Settings =
            toml::from_str("allowed_hosts = [\"Algohost.Example.com\"]\n").unwrap();
        let config = ServerConfig::resolve(file.clone()).unwrap();
        assert_eq!(config.allowed_hosts, ["algohost.example.com"]);
        // The flag's name is a key too.
        let singular: Settings = toml::from_str("allowed_host = [\"algo\"]\n").unwrap();
        assert_eq!(singular.allowed_hosts.unwrap(), ["algo"]);
        let env = Settings::from_env(env(&[("ALGOHOST_ALLOWED_HOSTS", "algo, proxy.internal,")]))
            .unwrap();
        let config = ServerConfig::resolve(file.overridden_by(env)).unwrap();
        assert_eq!(config.allowed_hosts, ["algo", "proxy.internal"]);
        assert!(
            ServerConfig::resolve(Settings::default())
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
        let refused = |name: &str| {
            ServerConfig::resolve(Settings {
                allowed_hosts: Some(vec![name.to_owned()]),
                ..Settings::default()
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            refused("algo:8000"),
            "allowed_hosts: 'algo:8000' is not a host name (no port: every port is answered): \
             give the name clients and proxies send in Host, e.g. algohost.example.com"
        );
        assert!(
            refused("https://algo").contains("(no scheme: leave out http://)"),
            "{}",
            refused("https://algo")
        );
        assert!(refused("a b").contains("letters, digits"));
        assert_eq!(
            refused("*"),
            "allowed_hosts: '*' would answer every host name without tokens, which is what the \
             guard against DNS rebinding prevents; list the names, or configure tokens (then \
             every host name is answered)"
        );
    }

    #[test]
    fn the_config_file_takes_the_log_settings_and_the_flags_names_for_lists() {
        let file: Settings = toml::from_str(
            "log = \"info,algohost=debug\"\nlog_format = \"json\"\nplugin_dir = [\"p\"]\n\
             cors_origin = [\"http://localhost:3000\"]\n",
        )
        .unwrap();
        assert_eq!(file.plugin_dirs, Some(vec![PathBuf::from("p")]));
        let config = ServerConfig::resolve(file.clone()).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_filter.as_deref(), Some("info,algohost=debug"));
        assert_eq!(
            config.cors,
            Cors::Origins(vec!["http://localhost:3000".to_owned()])
        );
        // The variables beat the file.
        let variables = Settings::from_env(env(&[
            ("ALGOHOST_LOG_FORMAT", "Text"),
            ("ALGOHOST_LOG", "warn"),
        ]))
        .unwrap();
        let config = ServerConfig::resolve(file.overridden_by(variables)).unwrap();
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_filter.as_deref(), Some("warn"));
        let default = ServerConfig::resolve(Settings::default()).unwrap();
        assert_eq!(
            (default.log_format, default.log_filter),
            (LogFormat::Text, None)
        );

        let err = toml::from_str::<Settings>("log_format = \"xml\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown variant") && err.contains("json"),
            "{err}"
        );
        let err = Settings::from_env(env(&[("ALGOHOST_LOG_FORMAT", "xml")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALGOHOST_LOG_FORMAT=\"xml\" is not json or text"
        );
        let err = ServerConfig::resolve(Settings {
            log: Some("[[[".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the log filter \"[[[\" is not a tracing filter such as warn or algohost=debug \
             (ALGOHOST_LOG, or log in the config file)"
        );
    }

    #[test]
    fn config_file_errors_never_show_the_file_s_values() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            (
                "[[tokens]]\ntoken = \"SuperSecretCfg\nscope = \"run\"\n",
                "line 2, column",
            ),
            (
                "tokens = \"SuperSecretCfg:run\"\n",
                "line 1, column 10: invalid type: string \"…\", expected a sequence",
            ),
        ] {
            let path = dir.path().join("c.toml");
            std::fs::write(&path, text).unwrap();
            let err = Settings::from_file(&path).unwrap_err().to_string();
            assert!(!err.contains("SuperSecret"), "{err}");
            assert!(err.contains(expected), "{expected} not in {err}");
        }
    }
}
