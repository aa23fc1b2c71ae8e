//! What every handler gets: the run service and the server's settings.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::service::Service;

use super::RequestDeadline;
use super::auth::Auth;
use super::config::ServerConfig;
use super::metrics::HttpMetrics;

/// How long before its request's deadline a `Prefer: wait` ends.
const WAIT_MARGIN: Duration = Duration::from_secs(1);

/// Shared state of the HTTP server: one reference count to clone per
/// request and middleware (see [`Shared`] for what it holds).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// The run service (registry, adapter, store, workers).
    pub service: Arc<Service>,
    /// Bearer tokens and the scope each route needs.
    pub auth: Auth,
    /// Request counters for `/metrics`.
    pub metrics: HttpMetrics,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Timeout of non-streaming requests.
    pub request_timeout: Duration,
    /// The most samples one read of the data API may return.
    pub max_samples: usize,
    /// Plugin directories given to discovery (shown by `/plugins`).
    pub plugin_dirs: Vec<PathBuf>,
    /// The OpenAPI document, serialised once.
    pub openapi_json: String,
    /// Host names answered without tokens besides `localhost` and IP
    /// addresses (the DNS-rebinding guard), in lower case.
    pub allowed_hosts: Vec<String>,
    shutting_down: AtomicBool,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for a server of `service` with the limits of `config`.
    pub fn new(
        service: Arc<Service>,
        auth: Auth,
        config: &ServerConfig,
        plugin_dirs: Vec<PathBuf>,
        openapi_json: String,
    ) -> Self {
        Self(Arc::new(Shared {
            service,
            auth,
            metrics: HttpMetrics::default(),
            body_limit: config.body_limit,
            request_timeout: config.request_timeout,
            max_samples: config.max_samples,
            plugin_dirs,
            openapi_json,
            allowed_hosts: config.allowed_hosts.clone(),
            shutting_down: AtomicBool::new(false),
        }))
    }

    /// The longest `Prefer: wait` honoured: a second less than the request
    /// timeout, so that a waiting request answers before it is cut off.
    pub fn max_wait(&self) -> Duration {
        self.request_timeout.saturating_sub(WAIT_MARGIN)
    }

    /// The longest a request that came in with `deadline` may still wait
    /// for a run: until [`WAIT_MARGIN`] before its deadline, which counts
    /// from its arrival (a slow upload of its body included), so that it
    /// answers with the run (202) rather than time out (503) with a run
    /// made that its client never hears of.
    pub(crate) fn wait_left(&self, deadline: Option<&RequestDeadline>) -> Duration {
        match deadline {
            Some(deadline) => deadline
                .at
                .saturating_duration_since(tokio::time::Instant::now())
                .saturating_sub(WAIT_MARGIN),
            None => self.max_wait(),
        }
    }

    /// Whether shutdown has begun (`/ready` answers 503 from then on).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Marks the start of shutdown.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}
