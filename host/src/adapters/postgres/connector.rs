//! How the adapter reaches the server: in plain text or through rustls
//! (cargo feature `postgres-tls`), both for the pool's connections and for
//! the cancel requests that stop a statement of an interrupted call.

use algohost_sdk::{Error, Result};
use deadpool_postgres::{Manager, ManagerConfig};

use super::config::{ConnectionSpec, Tls};

/// Makes the connections of one adapter.
#[derive(Clone)]
pub(super) enum Connector {
    /// No TLS (`sslmode=disable`, or `prefer` in a build without TLS).
    Plain,
    /// TLS when the server offers it (`prefer`) or always (`require`).
    #[cfg(feature = "postgres-tls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector `spec`'s `sslmode` asks for.
    pub fn new(spec: &ConnectionSpec) -> Result<Self> {
        match spec.tls {
            Tls::Disable => Ok(Self::Plain),
            Tls::Prefer | Tls::Require => Self::tls(spec),
        }
    }

    /// With rustls when the build has the `postgres-tls` feature.
    #[cfg(feature = "postgres-tls")]
    fn tls(spec: &ConnectionSpec) -> Result<Self> {
        Ok(Self::Rustls(super::tls::connector(
            spec.root_cert.as_deref(),
        )?))
    }

    /// Without TLS in the build, `prefer` connects in plain text and
    /// `require` is refused.
    #[cfg(not(feature = "postgres-tls"))]
    fn tls(spec: &ConnectionSpec) -> Result<Self> {
        if spec.tls == Tls::Require {
            return Err(Error::InvalidInput(format!(
                "sslmode={} for {}: this algohost was built without TLS for PostgreSQL; build \
                 it with `cargo build --features postgres-tls` (the Python package with \
                 MATURIN_PEP517_ARGS=\"--features algohost/postgres-tls\" pip install \
                 ./sdk-python), or use sslmode=disable on a trusted network",
                spec.ssl_mode, spec.target
            )));
        }
        let _ = &spec.root_cert;
        Ok(Self::Plain)
    }

    /// The pool manager for connections to `pg`.
    pub fn manager(&self, pg: tokio_postgres::Config, config: ManagerConfig) -> Manager {
        match self {
            Self::Plain => Manager::from_config(pg, tokio_postgres::NoTls, config),
            #[cfg(feature = "postgres-tls")]
            Self::Rustls(tls) => Manager::from_config(pg, tls.clone(), config),
        }
    }

    /// Asks the server to cancel the statement running on the connection
    /// `token` belongs to (a separate, short connection, as libpq does).
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) -> Result<()> {
        let sent = match self {
            Self::Plain => token.cancel_query(tokio_postgres::NoTls).await,
            #[cfg(feature = "postgres-tls")]
            Self::Rustls(tls) => token.cancel_query(tls.clone()).await,
        };
        sent.map_err(|e| Error::Data(format!("cannot send the cancel request: {e}")))
    }
}
