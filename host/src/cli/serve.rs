//! `algohost serve`: the HTTP runner. Settings come from flags, then
//! `ALGOHOST_*` variables, then the config file, then defaults (see
//! [`crate::server::config`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::UsageError;
use crate::adapters::{self, Adapter, NoData};
use crate::registry::Registry;
use crate::server::config::LogFormat;
use crate::server::{self, ServerConfig, Settings};
use crate::service::Service;
use crate::sources::{self, DiscoveryOptions};
use crate::store::sqlite::SqliteStore;

/// How long blocking work left after shutdown may keep the process.
const SHUTDOWN_LEFTOVERS: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
#[command(
    after_help = "Settings: a flag beats its ALGOHOST_* variable, which beats the config file, which \
    beats the defaults. Settings with a variable and no flag: ALGOHOST_TOKENS=TOKEN:SCOPE,… (read or \
    run), ALGOHOST_BODY_LIMIT_BYTES, ALGOHOST_REQUEST_TIMEOUT_SECS, ALGOHOST_SHUTDOWN_GRACE_SECS, \
    ALGOHOST_RUN_TIMEOUT_SECS, ALGOHOST_MAX_RUN_TIMEOUT_SECS, ALGOHOST_LOG_FORMAT=json|text (log \
    lines as JSON objects or text). Config file keys are the flags' names in snake case (a list's \
    also plural: plugin_dirs, cors_origins, allowed_hosts) and, for the others, the variables' \
    names without ALGOHOST_ (log, log_format, tokens, …). With --data http(s)://…, the bearer \
    token of that server comes from ALGOHOST_REST_TOKEN."
)]
pub(super) struct ServeArgs {
    /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:8000] [env: ALGOHOST_BIND]
    #[arg(long, value_name = "ADDR", value_parser = server::config::parse_bind)]
    bind: Option<SocketAddr>,
    /// Data for runs and the data API: a directory (files adapter), postgres://… or
    /// http(s)://HOST:PORT of another `algohost serve` [env: ALGOHOST_DATA]
    #[arg(long, value_name = "DIR|URL")]
    data: Option<String>,
    /// SQLite file of the run store [default: algohost.db] [env: ALGOHOST_STORE]
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
    /// TOML config file [env: ALGOHOST_CONFIG]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Rust runs executing at once [default: the number of CPUs] [env: ALGOHOST_CONCURRENCY]
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Python runs executing at once, on workers of their own [default: --concurrency]
    /// [env: ALGOHOST_PYTHON_CONCURRENCY]
    #[arg(long, value_name = "N")]
    python_concurrency: Option<usize>,
    /// Runs waiting for a worker, for Rust and for Python each; beyond it POST /runs answers 503
    /// [default: 64] [env: ALGOHOST_QUEUE]
    #[arg(long, value_name = "N")]
    queue: Option<usize>,
    /// The most samples one read of the data API (GET /samples, /data-points/{id}/samples)
    /// returns; a larger one answers 400 with what to narrow [default: 10000000]
    /// [env: ALGOHOST_MAX_SAMPLES]
    #[arg(long, value_name = "N")]
    max_samples: Option<usize>,
    /// Delete runs that ended more than this many days ago (their logs and outputs with them)
    /// [default: keep every run] [env: ALGOHOST_KEEP_DAYS]
    #[arg(long, value_name = "DAYS")]
    keep_days: Option<f64>,
    /// Listen beyond loopback without tokens (anyone who reaches it by IP address may run
    /// algorithms; host names other than localhost and --allowed-host get 421)
    /// [env: ALGOHOST_INSECURE=true]
    #[arg(long)]
    insecure: bool,
    /// Let a browser app on ORIGIN (e.g. https://dashboard.example.com) call the API (CORS);
    /// repeat for more, or give * for any origin (needs tokens, or --insecure)
    /// [env: ALGOHOST_CORS_ORIGINS=ORIGIN,…]
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Without tokens, answer requests addressed to NAME (as Host: NAME[:PORT]) like those to
    /// localhost, e.g. the name a reverse proxy sends; repeat for more (other names get 421)
    /// [env: ALGOHOST_ALLOWED_HOSTS=NAME,…]
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
}

/// Merges the four layers of settings.
fn load_config(plugin_dirs: &[PathBuf], args: &ServeArgs) -> Result<ServerConfig, UsageError> {
    let usage = |e: server::config::ConfigError| UsageError(e.to_string());
    let config_file = args
        .config
        .clone()
        .or_else(|| std::env::var_os("ALGOHOST_CONFIG").map(PathBuf::from));
    let file = match &config_file {
        Some(path) => Settings::from_file(path).map_err(usage)?,
        None => Settings::default(),
    };
    let env = Settings::from_env(|key| std::env::var(key).ok()).map_err(usage)?;
    let flags = Settings {
        bind: args.bind,
        data: args.data.clone(),
        store: args.store.clone(),
        plugin_dirs: (!plugin_dirs.is_empty()).then(|| plugin_dirs.to_vec()),
        concurrency: args.concurrency,
        python_concurrency: args.python_concurrency,
        queue: args.queue,
        max_samples: args.max_samples,
        keep_days: args.keep_days,
        insecure: args.insecure.then_some(true),
        cors_origins: (!args.cors_origins.is_empty()).then(|| args.cors_origins.clone()),
        allowed_hosts: (!args.allowed_hosts.is_empty()).then(|| args.allowed_hosts.clone()),
        ..Settings::default()
    };
    ServerConfig::resolve(file.overridden_by(env).overridden_by(flags)).map_err(usage)
}

/// `algohost serve`: reads the settings, sets up the logs (info by default,
/// `-v` adds debug) and serves until a signal. With JSON logs, what ends
/// the server is a log record too, not a line of text.
pub(super) fn serve(plugin_dirs: &[PathBuf], args: &ServeArgs, verbose: u8) -> anyhow::Result<u8> {
    let config = load_config(plugin_dirs, args)?;
    let logs = super::LogSettings {
        filter: config.log_filter.clone(),
        format: config.log_format,
    };
    super::init_logging(verbose + 1, &logs);
    let served = serve_with(&config);
    match (served, config.log_format) {
        (Ok(()), LogFormat::Json) => tracing::info!("algohost serve stopped"),
        (Ok(()), LogFormat::Text) => errln!("algohost serve stopped"),
        (Err(err), LogFormat::Json) => {
            tracing::error!(error = %format!("{err:#}"), "algohost serve failed");
            return Ok(super::exit_code_of(&err));
        }
        (Err(err), LogFormat::Text) => return Err(err),
    }
    Ok(0)
}

/// Serves with `config` until a signal, then shuts down gracefully.
fn serve_with(config: &ServerConfig) -> anyhow::Result<()> {
    let discovery = DiscoveryOptions::with_env(config.plugin_dirs.clone());
    let registry = Arc::new(sources::discover(&discovery));
    for diagnostic in registry.diagnostics() {
        tracing::warn!(%diagnostic, "plugin not registered");
    }
    let adapter: Arc<dyn Adapter> = match &config.data {
        Some(spec) => adapters::open_for_serving(spec).map_err(|e| {
            let message = format!("--data {}: {e}", adapters::display_spec(spec));
            // A data source that is down is no usage error (exit code 1).
            match e {
                algohost_sdk::Error::Data(m) if adapters::is_unavailable(&m) => {
                    anyhow::anyhow!(message)
                }
                _ => UsageError(message).into(),
            }
        })?,
        None => Arc::new(NoData),
    };
    let store = SqliteStore::open(&config.store)
        .with_context(|| format!("cannot open the run store {}", config.store.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let service = Service::start(registry, adapter, Arc::new(store), config.service())
            .context("cannot start the run service")?;
        let app = server::app(service, config, discovery.plugin_paths);
        print_banner(addr, config, app.state.service.registry())?;
        server::serve(listener, app, config.shutdown_grace, shutdown_signal())
            .await
            .context("the server failed")
    });
    // A request still working on the blocking pool (a long data read whose
    // client is gone) does not hold up the exit.
    runtime.shutdown_timeout(SHUTDOWN_LEFTOVERS);
    served
}

/// Prints where the server listens, with URLs a user can open (loopback
/// for a wildcard address), and what it runs with.
fn print_banner(
    addr: SocketAddr,
    config: &ServerConfig,
    registry: &Registry,
) -> anyhow::Result<()> {
    let url = format!("http://{}", openable(addr));
    outln!("listening on {url}")?;
    if addr.ip().is_unspecified() {
        // Without tokens, a name other than those allowed gets 421.
        let by = if config.tokens.is_empty() && config.allowed_hosts.is_empty() {
            "IP address"
        } else {
            "name or IP address"
        };
        outln!(
            "  interfaces: all ({addr}); other machines reach it at this machine's {by}, port {}",
            addr.port()
        )?;
    }
    outln!("  API docs:  {url}/docs")?;
    outln!("  OpenAPI:   {url}/openapi.json")?;
    outln!("  health:    {url}/health")?;
    outln!("  metrics:   {url}/metrics")?;
    outln!(
        "  runs:      {} worker(s) for Rust, {} for Python, queue of {} each, store {}",
        config.concurrency,
        config.python_concurrency,
        config.queue,
        shown_path(&config.store)
    )?;
    outln!("  policy:    {}", run_policy(config))?;
    match &config.data {
        Some(spec) if adapters::DataSpec::of(spec).ok() == Some(adapters::DataSpec::Files) => {
            outln!("  data:      {}", shown_path(Path::new(spec)))?;
        }
        Some(spec) => outln!("  data:      {}", adapters::display_spec(spec))?,
        None => outln!("  data:      none (runs that read data fail; give --data DIR|URL)")?,
    }
    let counts = server::plugins::source_counts(registry);
    let counts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let problems = match registry.diagnostics().len() {
        0 => String::new(),
        n => format!("; {n} plugin(s) not registered, see `algohost plugins`"),
    };
    outln!("  plugins:   {} algorithm(s){problems}", counts.join(", "))?;
    match &config.cors {
        server::config::Cors::Off => {}
        server::config::Cors::Any => outln!("  CORS:      any origin")?,
        server::config::Cors::Origins(origins) => outln!("  CORS:      {}", origins.join(", "))?,
    }
    if config.tokens.is_empty() {
        let names = match config.allowed_hosts.as_slice() {
            [] => " only (--allowed-host NAME adds a name)".to_owned(),
            names => format!(" and {}", names.join(", ")),
        };
        outln!("  hosts:     localhost, IP addresses{names}")?;
        outln!("  auth:      none (no tokens configured)")?;
    } else {
        outln!("  auth:      bearer tokens ({})", config.tokens.len())?;
    }
    Ok(())
}

/// `addr` as a URL's authority a browser can open: a wildcard address
/// (every interface) becomes the loopback address of its family.
fn openable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if !ip.is_unspecified() => addr,
        IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
    }
}

/// A path as it is on disk, without `..` or symbolic links, when it exists.
fn shown_path(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// The timeouts of runs, the grace they get at shutdown and how long
/// they are kept: `run timeout 600s by default, 3600s at most; shutdown
/// grace 30s; runs deleted 30 days after they end`.
fn run_policy(config: &ServerConfig) -> String {
    let default = match config.run_timeout {
        Some(t) => format!("run timeout {}s by default", seconds(t.as_secs_f64())),
        None => "no run timeout by default".to_owned(),
    };
    let max = match config.max_run_timeout {
        Some(t) => format!("{}s at most", seconds(t.as_secs_f64())),
        None => "no maximum".to_owned(),
    };
    let kept = match config.keep_runs {
        Some(keep) => format!(
            "; runs deleted {} day(s) after they end",
            seconds(keep.as_secs_f64() / 86_400.0)
        ),
        None => String::new(),
    };
    format!(
        "{default}, {max}; shutdown grace {}s{kept}",
        seconds(config.shutdown_grace.as_secs_f64())
    )
}

/// A number of seconds (or days) without a needless fraction: `30`, `0.5`.
fn seconds(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// Completes on Ctrl-C, SIGTERM or SIGHUP (the terminal of a server started
/// by hand closed): each starts the graceful shutdown.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let (terminate, hangup) = {
        use tokio::signal::unix::SignalKind;
        (
            unix_signal(SignalKind::terminate(), "SIGTERM"),
            unix_signal(SignalKind::hangup(), "SIGHUP"),
        )
    };
    #[cfg(not(unix))]
    let (terminate, hangup) = (std::future::pending::<()>(), std::future::pending::<()>());
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
        () = hangup => {}
    }
}

/// Completes when the process receives `kind`; never if it cannot listen.
#[cfg(unix)]
async fn unix_signal(kind: tokio::signal::unix::SignalKind, name: &str) {
    match tokio::signal::unix::signal(kind) {
        Ok(mut signal) => {
            signal.recv().await;
            tracing::info!("{name} received");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}
