//! TLS for PostgreSQL connections through rustls (cargo feature
//! `postgres-tls`). The server's certificate is always verified: against
//! the system's CA certificates plus those in the URL's `sslrootcert` file.

use std::sync::Arc;

use algohost_sdk::{Error, Result};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connector trusting the system's CAs and those in `root_cert` (PEM).
pub(super) fn connector(root_cert: Option<&str>) -> Result<MakeRustlsConnect> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = root_cert {
        let bad = |e: String| {
            Error::InvalidInput(format!(
                "cannot use sslrootcert {path}: {e}; give a PEM file of CA certificates"
            ))
        };
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::InvalidInput(
            "no CA certificates to verify the PostgreSQL server with: install the system's CA \
             certificates or give sslrootcert=FILE in the URL"
                .to_owned(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Data(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
