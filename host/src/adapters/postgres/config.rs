//! The connection URL of the PostgreSQL adapter: libpq's
//! `postgres://user:password@host:port/db?…` plus algohost's own parameters
//! (`pool_size`, `pool_timeout`, `statement_timeout`, `connect_retries`), which are taken out
//! before the rest goes to tokio-postgres. `sslmode` is `disable`, `prefer`
//! (the default) or `require`.

use std::time::Duration;

use algohost_sdk::{Error, Result};
use tokio_postgres::config::{Host, SslMode};

use crate::adapters::display_spec;
use crate::adapters::retry::Backoff;

/// Limits of the adapter's connections; the URL parameters of the same names
/// override the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections open at once (`pool_size`, default 8).
    pub pool_size: usize,
    /// How long an operation waits for a free connection (`pool_timeout`,
    /// default 30 s).
    pub pool_timeout: Duration,
    /// The longest a statement may run before PostgreSQL cancels it
    /// (`statement_timeout`, default 60 s; sent as a startup option).
    pub statement_timeout: Duration,
    /// How long connecting may take (libpq's `connect_timeout`, default 10 s).
    pub connect_timeout: Duration,
    /// How many times opening the adapter tries again to reach a server
    /// that is not up yet (`connect_retries`, default 4: about 3 s; `algohost
    /// serve` waits longer), waiting as [`Backoff::default`] says.
    pub connect_retries: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            pool_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            connect_retries: Backoff::default().retries,
        }
    }
}

/// Whether and how to encrypt connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tls {
    /// Never (`sslmode=disable`).
    Disable,
    /// When the build has TLS and the server offers it (`sslmode=prefer`).
    Prefer,
    /// Always, verifying the server's certificate (`sslmode=require`).
    Require,
}

/// A parsed connection URL.
#[derive(Debug)]
pub(super) struct ConnectionSpec {
    /// What tokio-postgres connects with.
    pub pg: tokio_postgres::Config,
    /// Pool and timeout limits.
    pub options: PostgresOptions,
    /// The TLS mode.
    pub tls: Tls,
    /// The `sslmode` as the URL gives it (`verify-full`, say), for messages.
    #[cfg_attr(
        feature = "postgres-tls",
        allow(dead_code, reason = "only a build without TLS refuses a mode")
    )]
    pub ssl_mode: String,
    /// A PEM file of CA certificates to trust (`sslrootcert`).
    pub root_cert: Option<String>,
    /// The URL without its password, for messages.
    pub target: String,
}

impl ConnectionSpec {
    /// Parses `url` (`postgres://…` or `postgresql://…`); `defaults` applies
    /// where the URL sets no limit.
    pub fn parse(url: &str, defaults: PostgresOptions) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = defaults;
        let (mut tls, mut ssl_mode, mut root_cert) = (Tls::Prefer, "prefer", None);
        let mut passed = Vec::new();
        let mut base = base.to_owned();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "pool_size" => options.pool_size = parse_pool_size(value)?,
                "pool_timeout" => options.pool_timeout = parse_duration(key, value)?,
                "statement_timeout" => options.statement_timeout = parse_duration(key, value)?,
                "connect_retries" => options.connect_retries = parse_connect_retries(value)?,
                "sslmode" => (tls, ssl_mode) = (parse_ssl_mode(value)?, value),
                "sslrootcert" => root_cert = Some(percent_decode(value)),
                "port" if has_hosts(&base) => base = with_port(&base, value)?,
                _ => passed.push(pair),
            }
        }
        let rest = if passed.is_empty() {
            base
        } else {
            format!("{base}?{}", passed.join("&"))
        };
        let mut pg: tokio_postgres::Config = rest.parse().map_err(|e| invalid_url(url, &e))?;
        if pg.get_password().is_none()
            && let Some(password) = password_from_environment(&pg)
        {
            pg.password(password);
        }
        match pg.get_connect_timeout() {
            Some(t) => options.connect_timeout = *t,
            None => {
                pg.connect_timeout(options.connect_timeout);
            }
        }
        pg.ssl_mode(match tls {
            Tls::Disable => SslMode::Disable,
            Tls::Prefer => SslMode::Prefer,
            Tls::Require => SslMode::Require,
        });
        // The user's own `options` come last, so that theirs win.
        let timeout_ms = options.statement_timeout.as_millis();
        let startup = match pg.get_options() {
            Some(own) => format!("-c statement_timeout={timeout_ms} {own}"),
            None => format!("-c statement_timeout={timeout_ms}"),
        };
        pg.options(&startup);
        if pg.get_application_name().is_none() {
            pg.application_name("algohost");
        }
        let target = describe(&pg);
        Ok(Self {
            pg,
            options,
            tls,
            ssl_mode: ssl_mode.to_owned(),
            root_cert,
            target,
        })
    }
}

/// The start and end of the host part of `base` (a URL without its query),
/// as tokio-postgres finds it: after the first `@`, up to the first `/`.
fn host_part(base: &str) -> std::ops::Range<usize> {
    let rest = base.find("://").map_or(0, |i| i + 3);
    let start = base[rest..].find('@').map_or(rest, |at| rest + at + 1);
    let end = base[start..].find('/').map_or(base.len(), |i| start + i);
    start..end
}

/// Whether `base` names hosts (rather than a Unix socket in `?host=`).
fn has_hosts(base: &str) -> bool {
    !host_part(base).is_empty()
}

/// `base` with the ports of a `port=` parameter written into its host part,
/// as libpq takes them (tokio-postgres would add them beside the 5432 it
/// gives each host without one).
fn with_port(base: &str, ports: &str) -> Result<String> {
    let part = host_part(base);
    let hosts: Vec<&str> = base[part.clone()].split(',').collect();
    let ports: Vec<&str> = ports.split(',').collect();
    let has_port = |host: &str| match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    };
    if hosts.iter().any(|host| has_port(host)) {
        return Err(Error::InvalidInput(
            "the PostgreSQL URL gives the port twice, after the host (host:port) and as \
             ?port=…; give it once"
                .to_owned(),
        ));
    }
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(Error::InvalidInput(format!(
            "the PostgreSQL URL's ?port= gives {} ports for {} hosts; give one, or one per host",
            ports.len(),
            hosts.len()
        )));
    }
    let hosts: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, host)| format!("{host}:{}", ports.get(i).unwrap_or(&ports[0])))
        .collect();
    Ok(format!(
        "{}{}{}",
        &base[..part.start],
        hosts.join(","),
        &base[part.end..]
    ))
}

/// Whether `spec` names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(spec: &str) -> bool {
    let lower = spec.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

fn parse_pool_size(value: &str) -> Result<usize> {
    match value.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(Error::InvalidInput(format!(
            "invalid pool_size '{value}' in the PostgreSQL URL: give a whole number from 1 to 1000"
        ))),
    }
}

fn parse_connect_retries(value: &str) -> Result<u32> {
    match value.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(Error::InvalidInput(format!(
            "invalid connect_retries '{value}' in the PostgreSQL URL: give a whole number from 0 \
             to 100"
        ))),
    }
}

/// A duration like PostgreSQL's settings: `1500` (ms), `1500ms`, `30s`,
/// `5min`, `1h`.
fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let scale = match unit {
        "" | "ms" => Some(1),
        "s" => Some(1_000),
        "min" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    };
    match (digits.parse::<u64>(), scale) {
        (Ok(n), Some(scale)) if n > 0 => n
            .checked_mul(scale)
            .map(Duration::from_millis)
            .ok_or_else(|| bad_duration(key, value)),
        _ => Err(bad_duration(key, value)),
    }
}

fn bad_duration(key: &str, value: &str) -> Error {
    Error::InvalidInput(format!(
        "invalid {key} '{value}' in the PostgreSQL URL: give a positive duration such as 1500 (ms), \
         30s, 5min or 1h"
    ))
}

fn parse_ssl_mode(value: &str) -> Result<Tls> {
    match value {
        "disable" => Ok(Tls::Disable),
        "prefer" | "allow" => Ok(Tls::Prefer),
        "require" | "verify-ca" | "verify-full" => Ok(Tls::Require),
        other => Err(Error::InvalidInput(format!(
            "invalid sslmode '{other}' in the PostgreSQL URL: use disable, prefer or require"
        ))),
    }
}

/// Decodes `%XX` escapes (for file paths in the URL).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The password for a URL that gives none, as libpq finds it: the
/// `PGPASSWORD` variable, else the first matching line of the password file
/// (`PGPASSFILE`, else `~/.pgpass`): `host:port:database:user:password`,
/// `*` matching anything, `\:` and `\\` escaped.
fn password_from_environment(pg: &tokio_postgres::Config) -> Option<Vec<u8>> {
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Some(password.into_encoded_bytes());
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(_)) | None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = pg.get_user().unwrap_or_default();
    let database = pg.get_dbname().unwrap_or(user);
    let wanted = [host.as_str(), &port, database, user];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(pgpass_fields)
        .find(|fields| {
            fields.len() == 5
                && fields[..4]
                    .iter()
                    .zip(wanted)
                    .all(|(field, value)| field == "*" || field == value)
        })
        .map(|fields| fields[4].clone().into_bytes())
}

/// The `:`-separated fields of a password file line, unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// `postgres://user@host:port/db`, never with the password.
fn describe(pg: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match pg.get_ports().get(i).or(pg.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let user = pg.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = pg.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// The error of a URL that tokio-postgres cannot parse: what it found
/// wrong and how to write the URL, which is shown with its password masked.
fn invalid_url(url: &str, e: &tokio_postgres::Error) -> Error {
    let cause = std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string);
    let advice = if has_unescaped_password(url) {
        UNESCAPED_PASSWORD
    } else if cause.starts_with("unknown option") {
        "give only libpq's parameters (sslmode, sslrootcert, connect_timeout, options, \
         application_name, …) and algohost's own (pool_size, pool_timeout, statement_timeout, connect_retries)"
    } else {
        "use postgres://user:password@host:port/database"
    };
    Error::InvalidInput(format!(
        "invalid PostgreSQL URL {}: {cause}; {advice}",
        display_spec(url)
    ))
}

/// What to do about a password that [`has_unescaped_password`].
pub(super) const UNESCAPED_PASSWORD: &str = "if the password holds special characters, \
     percent-encode them in the URL (@ → %40, : → %3A, / → %2F, ? → %3F, # → %23, % → %25), or \
     give the password in PGPASSWORD or ~/.pgpass instead";

/// Whether the password of `url` (what stands between the first `:` after
/// `://` and the last `@`) seems to hold characters that should have been
/// percent-encoded: `@ : / ? #`, or a `%` that starts no escape.
pub(super) fn has_unescaped_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let Some((_, password)) = rest[..rest.rfind('@').unwrap_or(0)].split_once(':') else {
        return false;
    };
    let bytes = password.as_bytes();
    password.contains(['@', ':', '/', '?', '#'])
        || bytes.iter().enumerate().any(|(i, b)| {
            *b == b'%'
                && !bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_lines_match_like_libpq() {
        assert_eq!(
            pgpass_fields(r"db:5432:*:app:pa\:ss\\"),
            ["db", "5432", "*", "app", r"pa:ss\"]
        );
    }

    #[test]
    fn own_parameters_are_taken_out_and_the_rest_is_passed_on() {
        let spec = ConnectionSpec::parse(
            "postgres://me:secret@db.example:6543/data?pool_size=3&statement_timeout=5s&sslmode=disable&connect_timeout=2&options=-c%20work_mem%3D64MB",
            PostgresOptions::default(),
        )
        .unwrap();
        assert_eq!(spec.options.pool_size, 3);
        assert_eq!(spec.options.statement_timeout, Duration::from_secs(5));
        assert_eq!(spec.options.connect_timeout, Duration::from_secs(2));
        assert_eq!(spec.tls, Tls::Disable);
        assert_eq!(spec.ssl_mode, "disable");
        assert_eq!(spec.target, "postgres://me@db.example:6543/data");
        assert_eq!(
            spec.pg.get_options(),
            Some("-c statement_timeout=5000 -c work_mem=64MB")
        );
        assert_eq!(spec.pg.get_application_name(), Some("algohost"));
    }

    #[test]
    fn bad_values_say_what_to_give_and_hide_the_password() {
        let parse = |url: &str| {
            ConnectionSpec::parse(url, PostgresOptions::default())
                .unwrap_err()
                .to_string()
        };
        assert!(parse("postgres://h/db?pool_size=0").contains("from 1 to 1000"));
        assert!(parse("postgres://h/db?connect_retries=-1").contains("from 0 to 100"));
        assert!(parse("postgres://h/db?statement_timeout=soon").contains("30s"));
        assert!(parse("postgres://h/db?sslmode=maybe").contains("disable, prefer or require"));
        let err = parse("postgres://me:secret@h/db?colour=blue");
        assert!(
            err.contains("postgres://me:***@h/db") && !err.contains("secret"),
            "{err}"
        );
        // The parameter tokio-postgres does not know is named.
        assert!(err.contains("unknown option `colour`"), "{err}");
        assert!(
            err.contains("pool_size, pool_timeout, statement_timeout"),
            "{err}"
        );
    }

    #[test]
    fn a_password_with_unescaped_url_characters_is_masked_whole_and_explained() {
        let url = "postgres://eng:p@ss:w/rd%x@127.0.0.1:19400/ah";
        let err = ConnectionSpec::parse(url, PostgresOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("postgres://eng:***@127.0.0.1:19400/ah"),
            "{err}"
        );
        for part in ["p@ss", "ss:w", "rd%x"] {
            assert!(!err.contains(part), "{part} in {err}");
        }
        assert!(
            err.contains("percent-encode") && err.contains("@ → %40") && err.contains("PGPASSWORD"),
            "{err}"
        );
        assert!(has_unescaped_password(url));
        assert!(has_unescaped_password("postgres://eng:ab?x=cd@h/db"));
        assert!(has_unescaped_password("postgres://eng:50%off@h/db"));
        assert!(!has_unescaped_password(
            "postgres://eng:p%40ss%3Aw@h/db?sslmode=disable"
        ));
        assert!(!has_unescaped_password("postgres://eng@h/db"));
        assert!(!has_unescaped_password("postgres://h:5432/db"));
    }

    #[test]
    fn a_port_parameter_is_the_port_of_the_hosts() {
        let target = |url: &str| {
            ConnectionSpec::parse(url, PostgresOptions::default())
                .map(|spec| spec.target)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            target("postgres://me:pw@db/x?port=19400&sslmode=disable").unwrap(),
            "postgres://me@db:19400/x"
        );
        assert_eq!(
            target("postgres://a,b/x?port=1,2").unwrap(),
            "postgres://a:1,b:2/x"
        );
        // A Unix socket directory takes it as it is.
        assert_eq!(
            target("postgres:///x?host=/run/pg&port=5433").unwrap(),
            "postgres:///run/pg:5433/x"
        );
        let err = target("postgres://db:5432/x?port=19400").unwrap_err();
        assert!(err.contains("gives the port twice"), "{err}");
        let err = target("postgres://a,b,c/x?port=1,2").unwrap_err();
        assert!(err.contains("2 ports for 3 hosts"), "{err}");
    }

    #[test]
    fn urls_are_told_from_directories() {
        assert!(is_postgres_url("postgres://localhost/db"));
        assert!(is_postgres_url("postgresql://localhost/db"));
        assert!(!is_postgres_url("./postgres"));
        assert!(!is_postgres_url("/data/postgresql:/x"));
        assert_eq!(percent_decode("/a%20b/c.pem"), "/a b/c.pem");
    }
}
