//! Backends for time-series data. `files` is the embedded default;
//! `postgres` and `rest` (another algohost's data API) are chosen by the
//! `--data` value (see [`open`]); [`copy::copy()`] moves data between any two.

pub mod copy;
pub mod csv;
pub mod files;
pub mod postgres;
pub mod rest;
pub mod retry;

use std::sync::{Arc, mpsc};
use std::time::Duration;

use algohost_sdk::Result;
use algohost_sdk::data::{DataPointConfig, DataPointFilter, FlowFilter};
use algohost_sdk::polars::prelude::DataFrame;

/// A backend for data points and their samples.
///
/// Frames are in long form (`data_point_id: Int64, ts: Datetime[us, UTC],
/// value: Float64`, sorted by id then ts).
pub trait Adapter: Send + Sync {
    /// Data points matching the filter's id, name, tag and quantity parts,
    /// sorted by id.
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>>;
    /// Samples of the matching data points in `[start, end)`, converted to
    /// the filter's resolution when it sets one.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame>;
    /// Adds samples, replacing those at the same (data point, ts); every
    /// other sample is kept. All or nothing.
    fn write(&self, long: &DataFrame) -> Result<()>;
    /// Data points whose flow matches.
    fn flows(&self, filter: &FlowFilter) -> Result<Vec<DataPointConfig>>;
    /// Creates the data points whose names do not exist yet and returns all
    /// of `points` as stored, with ids. A definition of an existing name
    /// must be the same series (quantity, resolution, and the unit and time
    /// zone unless it leaves them empty); an empty time zone of a new data
    /// point is UTC.
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>>;

    /// Like [`Adapter::read`], but gives up with [`Error::Cancelled`] soon
    /// after `interrupt` says so (a run's reads go through here). Adapters
    /// whose reads can wait long (a database, a remote server) override it;
    /// the default just reads.
    ///
    /// [`Error::Cancelled`]: algohost_sdk::Error::Cancelled
    fn read_until(&self, filter: &DataPointFilter, interrupt: &dyn Interrupt) -> Result<DataFrame> {
        let _ = interrupt;
        self.read(filter)
    }

    /// Like [`Adapter::data_points`], giving up as [`Adapter::read_until`]
    /// does. The default just lists.
    fn data_points_until(
        &self,
        filter: &DataPointFilter,
        interrupt: &dyn Interrupt,
    ) -> Result<Vec<DataPointConfig>> {
        let _ = interrupt;
        self.data_points(filter)
    }

    /// Like [`Adapter::define_data_points`], giving up as
    /// [`Adapter::read_until`] does. The default just defines.
    fn define_data_points_until(
        &self,
        points: &[DataPointConfig],
        interrupt: &dyn Interrupt,
    ) -> Result<Vec<DataPointConfig>> {
        let _ = interrupt;
        self.define_data_points(points)
    }

    /// Like [`Adapter::write`], but gives up with [`Error::Cancelled`] soon
    /// after `interrupt` says so, still all or nothing: a write given up
    /// midway leaves the samples as they were. The default just writes.
    ///
    /// [`Error::Cancelled`]: algohost_sdk::Error::Cancelled
    fn write_until(&self, long: &DataFrame, interrupt: &dyn Interrupt) -> Result<()> {
        let _ = interrupt;
        self.write(long)
    }

    /// How many samples a copy into this adapter hands to one `write`,
    /// given the number asked for (`--chunk-size`). The default takes it
    /// as asked; an adapter whose writes cost the size of what is stored,
    /// not of what is written, takes more at once.
    fn copy_chunk_size(&self, asked: usize) -> usize {
        asked
    }
}

/// Tells a long adapter call to give up: a run's [`CancelToken`] does once
/// the run is cancelled or times out.
///
/// [`CancelToken`]: crate::runner::CancelToken
pub trait Interrupt: Send + Sync {
    /// Whether the call should stop now.
    fn is_interrupted(&self) -> bool;
}

impl Interrupt for crate::runner::CancelToken {
    fn is_interrupted(&self) -> bool {
        self.is_cancelled()
    }
}

/// An [`Interrupt`] that never fires: what plain `read` and `write` use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uninterrupted;

impl Interrupt for Uninterrupted {
    fn is_interrupted(&self) -> bool {
        false
    }
}

/// How often a blocked adapter call looks at its [`Interrupt`].
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// Waits for the answer on `receiver`, looking at `interrupt` every
/// [`INTERRUPT_POLL`]: `Ok(None)` once it fires, `Err` when the sender went
/// away without answering.
fn wait_for<T>(
    receiver: &mpsc::Receiver<T>,
    interrupt: &dyn Interrupt,
) -> std::result::Result<Option<T>, mpsc::RecvError> {
    loop {
        match receiver.recv_timeout(INTERRUPT_POLL) {
            Ok(answer) => return Ok(Some(answer)),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::RecvTimeoutError::Timeout) if interrupt.is_interrupted() => return Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// The small runtime of an adapter that talks to a server (two threads,
/// named `algohost-<name>`): its calls run there, whatever thread (or
/// runtime) the caller is on.
fn client_runtime(name: &str, what: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("algohost-{name}"))
        .enable_all()
        .build()
        .map_err(|e| algohost_sdk::Error::Data(format!("cannot start the {what}'s runtime: {e}")))
}

/// The kind of adapter a `--data` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSpec {
    /// A directory: the files adapter.
    Files,
    /// `postgres://…` or `postgresql://…`: the PostgreSQL adapter.
    Postgres,
    /// `http://…` or `https://…`: the REST adapter.
    Rest,
}

impl DataSpec {
    /// The kind of `spec`; a URL of any other scheme is an error (rather
    /// than a directory of that odd name).
    pub fn of(spec: &str) -> Result<Self> {
        if postgres::is_postgres_url(spec) {
            return Ok(Self::Postgres);
        }
        if rest::is_rest_url(spec) {
            return Ok(Self::Rest);
        }
        if is_conninfo(spec) {
            return Err(algohost_sdk::Error::InvalidInput(
                "the data reads like a libpq connection string (host=… dbname=…); give it as a \
                 URL instead: postgres://USER:PASSWORD@HOST:PORT/DBNAME (the password may also \
                 come from PGPASSWORD or a .pgpass file)"
                    .to_owned(),
            ));
        }
        match spec.split_once("://") {
            Some((scheme, _)) if !scheme.contains(['/', '\\']) => {
                Err(algohost_sdk::Error::InvalidInput(format!(
                    "unsupported data URL scheme '{scheme}://': give a directory, postgres://… \
                     or http(s)://… (another `algohost serve`)"
                )))
            }
            _ => Ok(Self::Files),
        }
    }
}

/// Opens the adapter a `--data` value names: a `postgres://…` (or
/// `postgresql://…`) URL is the PostgreSQL adapter, an `http://…` (or
/// `https://…`) URL the REST adapter of another `algohost serve` (bearer
/// token from `ALGOHOST_REST_TOKEN`), anything else a directory of the files
/// adapter.
pub fn open(spec: &str) -> Result<Arc<dyn Adapter>> {
    Ok(match DataSpec::of(spec)? {
        DataSpec::Postgres => Arc::new(postgres::PostgresAdapter::connect(spec)?),
        DataSpec::Rest => Arc::new(rest::RestAdapter::connect(spec)?),
        DataSpec::Files => Arc::new(files::FilesAdapter::open(spec)?),
    })
}

/// Opens the adapter of data to run against, as [`open`] does, except that
/// a directory must exist already: a mistyped path is an error, not an
/// empty dataset made on the spot. (An existing empty directory is a new,
/// empty dataset; `algohost data import --to` and `algohost demo-data` make
/// new directories.)
pub fn open_existing(spec: &str) -> Result<Arc<dyn Adapter>> {
    if DataSpec::of(spec)? == DataSpec::Files && !std::path::Path::new(spec).exists() {
        return Err(algohost_sdk::Error::InvalidInput(format!(
            "no such data directory '{spec}'; give a directory of algohost data (for example \
             one made by `algohost demo-data {spec}` or `algohost data import --to {spec}`), a \
             postgres:// or an http:// URL"
        )));
    }
    open(spec)
}

/// Retries of a server's first connection to PostgreSQL or another
/// algohost, about 30 s in all (see [`retry::Backoff`]): in docker-compose
/// and the like, the server often starts before its data source.
const SERVE_CONNECT_RETRIES: u32 = 10;

/// Opens the data of `algohost serve`, as [`open_existing`] does, except
/// that a PostgreSQL server or another algohost that is not up yet is
/// waited for longer, about 30 s (`?connect_retries=N`, or `?retries=N` for
/// an algohost, in the URL says otherwise).
pub fn open_for_serving(spec: &str) -> Result<Arc<dyn Adapter>> {
    match DataSpec::of(spec)? {
        DataSpec::Files => return open_existing(spec),
        DataSpec::Rest => {
            return Ok(Arc::new(rest::RestAdapter::connect_waiting(
                spec,
                SERVE_CONNECT_RETRIES,
            )?));
        }
        DataSpec::Postgres => {}
    }
    let options = postgres::PostgresOptions {
        connect_retries: SERVE_CONNECT_RETRIES,
        ..postgres::PostgresOptions::default()
    };
    Ok(Arc::new(postgres::PostgresAdapter::connect_with(
        spec, options,
    )?))
}

/// Opens the adapter of data to copy from, as [`open`] does, except that a
/// PostgreSQL database must hold algohost's tables already: a source is
/// only read, so it never gets them.
pub fn open_source(spec: &str) -> Result<Arc<dyn Adapter>> {
    match DataSpec::of(spec)? {
        DataSpec::Postgres => Ok(Arc::new(postgres::PostgresAdapter::connect_existing(spec)?)),
        DataSpec::Rest | DataSpec::Files => open(spec),
    }
}

/// How the adapters begin the message of a data source that cannot be
/// reached now, rather than one that refused what was asked: PostgreSQL
/// refusing connections or having none free, another algohost not
/// answering, or answering 503/429 after the retries. The adapters write
/// their messages with these, and [`is_unavailable`] tells them apart by
/// them (an outage is worth retrying; a refusal is not).
pub mod unavailable {
    /// PostgreSQL refused or failed the connection.
    pub const POSTGRES: &str = "cannot connect to PostgreSQL at ";
    /// No pooled PostgreSQL connection came free in time.
    pub const POSTGRES_POOL: &str = "no connection to PostgreSQL at ";
    /// Another algohost did not take the connection.
    pub const REST: &str = "cannot connect to the data API at ";
    /// Another algohost answered 503 or 429 after the retries.
    pub const REST_BUSY: &str = "the data API is unavailable ";
    /// The data directory cannot be written (a full disk, a read-only
    /// mount): the server answers 503 until it can.
    pub const FILES: &str = "the data directory cannot be written: ";
}

/// Whether the message of an [`algohost_sdk::Error::Data`] says the data
/// source cannot be reached now (see [`unavailable`]).
pub fn is_unavailable(message: &str) -> bool {
    use unavailable::{FILES, POSTGRES, POSTGRES_POOL, REST, REST_BUSY};
    [POSTGRES, POSTGRES_POOL, REST, REST_BUSY, FILES]
        .iter()
        .any(|prefix| message.starts_with(prefix))
}

/// A `--data` value fit to print: whatever stands between `://` and the
/// last `@` is masked when it holds a `:` (a password, percent-encoded or
/// not), keeping a plain user name before the first `:`
/// (`postgres://app:***@db/energy`), and so is every `password=` parameter;
/// a directory is shown as it is.
///
/// The last `@`, not the one that ends the authority, since a password whose
/// `@`, `/` or `?` is not percent-encoded makes the URL unparseable: the
/// mask must not depend on how it parses.
pub fn display_spec(spec: &str) -> String {
    let url = match spec.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) if rest[..at].contains(':') => {
                let user = rest[..at].split(':').next().unwrap_or_default();
                let is_user_name = !user.contains(['/', '?', '#', '&', '=']);
                let kept = if is_user_name { user } else { "" };
                let separator = if is_user_name { ":" } else { "" };
                format!("{scheme}://{kept}{separator}***{}", &rest[at..])
            }
            _ => spec.to_owned(),
        },
        None => spec.to_owned(),
    };
    SECRET_PARAMETERS
        .iter()
        .fold(url, |text, key| mask_parameter(&text, key))
}

/// Parameters whose values are secrets: masked wherever a data spec is
/// shown, even where they are refused (a token belongs in
/// `ALGOHOST_REST_TOKEN`, and saying so must not print it).
const SECRET_PARAMETERS: [&str; 7] = [
    "password",
    "token",
    "access_token",
    "bearer",
    "api_key",
    "apikey",
    "secret",
];

/// `text` with the value of every `key=` parameter (of a URL's query,
/// `?password=…&`, or of a libpq connection string, `password=… `)
/// replaced by `***`.
fn mask_parameter(text: &str, key: &str) -> String {
    let pattern = format!("{key}=");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.to_ascii_lowercase().find(&pattern) {
        let starts_key = at == 0 || matches!(rest.as_bytes()[at - 1], b'?' | b'&' | b' ' | b'\t');
        let value_start = at + pattern.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if starts_key {
            let end = rest.find(['&', ' ', '\t']).unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `spec` reads like a libpq connection string (`host=db
/// dbname=energy …`) rather than a directory.
fn is_conninfo(spec: &str) -> bool {
    const KEYS: [&str; 6] = ["host", "hostaddr", "port", "dbname", "user", "password"];
    spec.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .any(|(key, _)| KEYS.contains(&key))
        && spec.contains(char::is_whitespace)
}

/// How the message of every [`NoData`] access starts.
pub const NO_DATA: &str = "this run reads or writes data but none was given";

/// The adapter of a run that was given no data: every data access fails
/// with a message that says how to give it some.
#[derive(Debug, Default)]
pub struct NoData;

impl NoData {
    fn error<T>() -> Result<T> {
        Err(algohost_sdk::Error::Data(format!(
            "{NO_DATA}: pass --data DIR (for example the demo data made by `algohost demo-data \
             DIR`), --data postgres://… or --data http://HOST:PORT (another `algohost serve`)"
        )))
    }
}

impl Adapter for NoData {
    fn data_points(&self, _: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn read(&self, _: &DataPointFilter) -> Result<DataFrame> {
        Self::error()
    }
    fn write(&self, _: &DataFrame) -> Result<()> {
        Self::error()
    }
    fn flows(&self, _: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn define_data_points(&self, _: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
}

#[cfg(test)]
mod tests {
    use super::{DataSpec, display_spec};

    #[test]
    fn passwords_in_data_urls_are_masked() {
        assert_eq!(
            display_spec("postgres://app:s3cr3t@db:5432/energy?sslmode=require"),
            "postgres://app:***@db:5432/energy?sslmode=require"
        );
        assert_eq!(display_spec("postgres://db/energy"), "postgres://db/energy");
        // No password, nothing to mask.
        assert_eq!(
            display_spec("postgres://app@db:5999/energy"),
            "postgres://app@db:5999/energy"
        );
        assert_eq!(display_spec("./demo-data"), "./demo-data");
        // Passwords as parameters, in a URL or a libpq connection string.
        assert_eq!(
            display_spec("postgres://db:5432/energy?user=app&password=s3cr3t&sslmode=disable"),
            "postgres://db:5432/energy?user=app&password=***&sslmode=disable"
        );
        assert_eq!(
            display_spec("postgres://app:pw@db/energy?PASSWORD=s3cr3t"),
            "postgres://app:***@db/energy?PASSWORD=***"
        );
        assert_eq!(
            display_spec("host=db user=app password=s3cr3t dbname=energy"),
            "host=db user=app password=*** dbname=energy"
        );
        assert_eq!(display_spec("data/old_password=x"), "data/old_password=x");
        // Tokens in a data API URL are refused, and masked when shown.
        assert_eq!(
            display_spec("http://a:8000?timeout=3&token=s3cret&access_token=s3cret"),
            "http://a:8000?timeout=3&token=***&access_token=***"
        );
        assert_eq!(
            display_spec("http://a:8000/?Bearer=s3cret&x=1"),
            "http://a:8000/?Bearer=***&x=1"
        );
    }

    #[test]
    fn passwords_with_unescaped_url_characters_are_masked_whole() {
        // Everything up to the last `@` goes, however the URL parses.
        assert_eq!(
            display_spec("postgres://eng:p@ss:w/rd%x@127.0.0.1:19400/ah"),
            "postgres://eng:***@127.0.0.1:19400/ah"
        );
        assert_eq!(
            display_spec("postgres://eng:ab?sslmode=disable&x=cd@127.0.0.1:19400/ah"),
            "postgres://eng:***@127.0.0.1:19400/ah"
        );
        assert_eq!(
            display_spec("postgresql://eng:a/b#c@db/x?sslmode=disable"),
            "postgresql://eng:***@db/x?sslmode=disable"
        );
        // A user name that cannot be one (it holds a path or a query) is
        // masked too.
        assert_eq!(
            display_spec("postgres://db/x?password=a:b@c"),
            "postgres://***@c"
        );
        assert_eq!(
            display_spec("postgres://me@corp:pw@db/x"),
            "postgres://me@corp:***@db/x"
        );
        // An `@` in the query of a URL without a password hides nothing.
        assert_eq!(
            display_spec("postgres://app@db/x?application_name=a@b"),
            "postgres://app@db/x?application_name=a@b"
        );
    }

    #[test]
    fn a_libpq_connection_string_is_refused_without_echoing_it() {
        let err = DataSpec::of("host=127.0.0.1 port=5432 user=app password=s3cr3t dbname=x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("give it as a URL instead: postgres://"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
        assert_eq!(DataSpec::of("my data/x=1").unwrap(), DataSpec::Files);
    }

    #[test]
    fn specs_are_told_apart_by_scheme() {
        assert_eq!(
            DataSpec::of("postgresql://db/x").unwrap(),
            DataSpec::Postgres
        );
        assert_eq!(DataSpec::of("HTTP://host:8000").unwrap(), DataSpec::Rest);
        assert_eq!(DataSpec::of("https://host").unwrap(), DataSpec::Rest);
        assert_eq!(DataSpec::of("./data").unwrap(), DataSpec::Files);
        assert_eq!(DataSpec::of("dir/a://b").unwrap(), DataSpec::Files);
        let err = DataSpec::of("ftp://host/data").unwrap_err().to_string();
        assert!(
            err.contains("unsupported data URL scheme 'ftp://'"),
            "{err}"
        );
    }
}
