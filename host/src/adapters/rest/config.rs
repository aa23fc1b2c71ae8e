//! The URL of the REST adapter: the address of another algohost's data API
//! (`http://host:8000`, with a path prefix when it sits behind a proxy:
//! `http://gateway/algohost/`) plus algohost's own parameters `timeout`,
//! `connect_timeout` and `retries`, which are taken out of the query.
//!
//! The bearer token never comes from the URL (URLs end up in logs, shell
//! history and process lists): it comes from the `ALGOHOST_REST_TOKEN`
//! environment variable, or from [`RestOptions::token`] in code.

use std::time::Duration;

use algohost_sdk::{Error, Result};
use reqwest::Url;

use crate::adapters::retry::Backoff;

/// The environment variable holding the bearer token of the remote data API.
pub const TOKEN_ENV: &str = "ALGOHOST_REST_TOKEN";

/// How the adapter talks to the remote server; the URL parameters of the
/// same names override the defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct RestOptions {
    /// Bearer token sent with every request (`ALGOHOST_REST_TOKEN`).
    pub token: Option<String>,
    /// The longest one request may take, body included (`timeout`,
    /// default 60 s).
    pub timeout: Duration,
    /// How long connecting may take (`connect_timeout`, default 10 s).
    pub connect_timeout: Duration,
    /// Retries after a 503, a 429 or a failed connection (`retries`,
    /// default 4); waits double from [`RestOptions::backoff`].
    pub retries: u32,
    /// The wait before the first retry (default 200 ms).
    pub backoff: Duration,
    /// The longest wait between two attempts, also capping `Retry-After`
    /// (default 5 s).
    pub max_backoff: Duration,
}

impl Default for RestOptions {
    fn default() -> Self {
        Self {
            token: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: Backoff::default().retries,
            backoff: Backoff::default().first,
            max_backoff: Backoff::default().max,
        }
    }
}

impl std::fmt::Debug for RestOptions {
    /// Shows everything but the token's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl RestOptions {
    /// The defaults with the token of `ALGOHOST_REST_TOKEN`, if set.
    pub fn from_env() -> Self {
        Self {
            token: std::env::var(TOKEN_ENV)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
            ..Self::default()
        }
    }

    /// How requests are retried.
    pub(super) fn schedule(&self) -> Backoff {
        Backoff {
            retries: self.retries,
            first: self.backoff,
            max: self.max_backoff,
        }
    }
}

/// Whether `spec` names a remote data API (`http://…` or `https://…`).
pub fn is_rest_url(spec: &str) -> bool {
    let lower = spec.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A parsed URL: the base every path is joined to, and the options.
#[derive(Debug)]
pub(super) struct RestSpec {
    /// The base address, ending in `/`, without query.
    pub base: Url,
    /// The options, the URL's parameters applied.
    pub options: RestOptions,
}

impl RestSpec {
    /// Parses `url`; `defaults` applies where the URL sets no parameter.
    pub fn parse(url: &str, defaults: RestOptions) -> Result<Self> {
        let mut base = Url::parse(url.trim()).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid data API URL '{url}': {e}; use http://host:port of an `algohost serve`"
            ))
        })?;
        check_scheme(&base)?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::InvalidInput(format!(
                "the data API URL {} holds a user or password; put the token in {TOKEN_ENV} \
                 instead (URLs end up in logs)",
                without_userinfo(&base)
            )));
        }
        let mut options = defaults;
        for (key, value) in base.query_pairs() {
            match key.as_ref() {
                "timeout" | "connect_timeout" => {
                    let duration = parse_duration(&key, &value)?;
                    if key == "timeout" {
                        options.timeout = duration;
                    } else {
                        options.connect_timeout = duration;
                    }
                }
                "retries" => options.retries = parse_retries(&value)?,
                "token" | "access_token" | "bearer" => {
                    return Err(Error::InvalidInput(format!(
                        "the data API URL holds a token ('{key}='); set {TOKEN_ENV} instead \
                         (URLs end up in logs and process lists)"
                    )));
                }
                other => {
                    return Err(Error::InvalidInput(format!(
                        "unknown parameter '{other}' in the data API URL: algohost reads \
                         timeout, connect_timeout and retries"
                    )));
                }
            }
        }
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self { base, options })
    }
}

#[cfg(feature = "rest-tls")]
fn check_scheme(url: &Url) -> Result<()> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(not_http(other)),
    }
}

#[cfg(not(feature = "rest-tls"))]
fn check_scheme(url: &Url) -> Result<()> {
    match url.scheme() {
        "http" => Ok(()),
        "https" => Err(Error::InvalidInput(format!(
            "{}: this algohost was built without TLS for the REST adapter; build it with \
             `--features rest-tls`, or use http:// on a trusted network",
            without_userinfo(url)
        ))),
        other => Err(not_http(other)),
    }
}

fn not_http(scheme: &str) -> Error {
    Error::InvalidInput(format!(
        "the data API URL has scheme '{scheme}'; use http:// (or https://)"
    ))
}

/// The URL without user and password, for messages.
fn without_userinfo(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A duration with its unit: `1500ms`, `30s`, `2min`, `1h`.
fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let scale_ms = match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "min" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    };
    match (digits.parse::<u64>(), scale_ms) {
        (Ok(n), Some(scale)) if n > 0 => Ok(Duration::from_millis(n.saturating_mul(scale))),
        _ => Err(Error::InvalidInput(format!(
            "invalid {key} '{value}' in the data API URL: give a positive duration with its \
             unit, such as 1500ms, 30s or 2min"
        ))),
    }
}

fn parse_retries(value: &str) -> Result<u32> {
    match value.parse::<u32>() {
        Ok(n) if n <= 20 => Ok(n),
        _ => Err(Error::InvalidInput(format!(
            "invalid retries '{value}' in the data API URL: give a whole number from 0 to 20"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<RestSpec> {
        RestSpec::parse(url, RestOptions::default())
    }

    #[test]
    fn options_come_out_of_the_query_and_the_base_ends_in_a_slash() {
        let spec =
            parse("http://db:8000/algohost?timeout=30s&retries=2&connect_timeout=500ms").unwrap();
        assert_eq!(spec.base.as_str(), "http://db:8000/algohost/");
        assert_eq!(spec.options.timeout, Duration::from_secs(30));
        assert_eq!(spec.options.connect_timeout, Duration::from_millis(500));
        assert_eq!(spec.options.retries, 2);
        assert_eq!(
            parse("http://db:8000").unwrap().base.as_str(),
            "http://db:8000/"
        );
    }

    #[test]
    fn tokens_in_the_url_and_bad_parameters_are_refused() {
        let err = parse("http://db:8000?token=s3cret")
            .unwrap_err()
            .to_string();
        assert!(err.contains(TOKEN_ENV) && !err.contains("s3cret"), "{err}");
        let err = parse("http://me:s3cret@db:8000").unwrap_err().to_string();
        assert!(err.contains(TOKEN_ENV) && !err.contains("s3cret"), "{err}");
        let err = parse("http://db?timeout=30").unwrap_err().to_string();
        assert!(err.contains("with its unit"), "{err}");
        let err = parse("http://db?retry=3").unwrap_err().to_string();
        assert!(err.contains("unknown parameter 'retry'"), "{err}");
        let err = parse("http://").unwrap_err().to_string();
        assert!(err.contains("invalid data API URL"), "{err}");
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let options = RestOptions {
            token: Some("s3cret".into()),
            ..RestOptions::default()
        };
        assert!(!format!("{options:?}").contains("s3cret"));
    }
}
