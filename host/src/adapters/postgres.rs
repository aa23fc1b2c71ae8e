//! The PostgreSQL adapter: data points in a `data_points` table, samples in
//! `samples` keyed by (data point, ts), both created and migrated by the
//! adapter (`algohost_schema_migrations` records the versions applied).
//!
//! Samples move in bulk with binary COPY straight into and out of the long
//! frame's columns; a read pushes its filter into SQL, and writes are
//! upserts in one transaction. Every value a user gives is a bound
//! parameter: no SQL is ever built from input.
//!
//! The [`Adapter`] trait is synchronous (runs call it from worker threads),
//! so the adapter owns a small tokio runtime that runs its connections; a
//! call hands its work to that runtime and waits on a channel, which is safe
//! from any thread — but it blocks the calling thread, so async code calls
//! it through `spawn_blocking`.
//!
//! Reads and writes can be interrupted (`read_until`, `write_until`, which
//! runs use): the waiting thread looks at the interrupt while the call
//! runs, and once it fires the statement is cancelled on the server, the
//! transaction abandoned (so a write leaves nothing behind) and its
//! connection closed rather than reused, since a cancel request is
//! asynchronous and might otherwise hit the next statement on it.

mod config;
mod connector;
mod copy;
mod migrations;
mod points;
mod samples;

use std::future::Future;
use std::sync::{Arc, mpsc};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, FlowFilter, ReadPlan, check_samples, id_ranges,
    sort_long, ts_micros, validate_long,
};
use algohost_sdk::{Error, Result};
use deadpool_postgres::{
    ManagerConfig, Object, Pool, PoolError, RecyclingMethod, TimeoutType, Timeouts,
};
use futures_util::future::BoxFuture;
use polars::prelude::DataFrame;
use tokio::sync::Notify;
use tokio_postgres::error::SqlState;

use self::config::ConnectionSpec;
pub use self::config::{PostgresOptions, is_postgres_url};
use self::connector::Connector;
use self::samples::Span;
use super::retry::Backoff;
use super::{Adapter, Interrupt, Uninterrupted, wait_for};

/// Data points and samples in a PostgreSQL database.
pub struct PostgresAdapter {
    /// The connections, created on the runtime.
    pool: Pool,
    /// How connections and cancel requests reach the server.
    connector: Connector,
    /// Runs every database call; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// The database as `postgres://user@host:port/db`, for messages.
    target: String,
    /// The limits in force.
    options: PostgresOptions,
}

impl std::fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("target", &self.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PostgresAdapter {
    /// Connects to the database `url` names (`postgres://…` or
    /// `postgresql://…`, see [`PostgresOptions`] for algohost's own URL
    /// parameters) and migrates its schema.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default())
    }

    /// Like [`PostgresAdapter::connect`], with other default limits (the
    /// URL's parameters still win).
    pub fn connect_with(url: &str, defaults: PostgresOptions) -> Result<Self> {
        Self::open(url, defaults, Schema::Migrate)
    }

    /// Connects to a database that holds algohost's tables already, to read
    /// it (`algohost data export --from`): a database without them (a
    /// mistyped name, someone else's) is an error, and gets none.
    pub fn connect_existing(url: &str) -> Result<Self> {
        Self::open(url, PostgresOptions::default(), Schema::Expect)
    }

    fn open(url: &str, defaults: PostgresOptions, schema: Schema) -> Result<Self> {
        let spec = ConnectionSpec::parse(url, defaults)?;
        let runtime = super::client_runtime("postgres", "PostgreSQL adapter")?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let connector = Connector::new(&spec)?;
        let manager = connector.manager(spec.pg, manager_config);
        let pool = Pool::builder(manager)
            .max_size(spec.options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(spec.options.pool_timeout))
            .create_timeout(Some(spec.options.connect_timeout))
            .recycle_timeout(Some(spec.options.connect_timeout))
            .build()
            .map_err(|e| Error::Data(format!("cannot set up the PostgreSQL pool: {e}")))?;
        let adapter = Self {
            pool,
            connector,
            runtime: Some(runtime),
            target: spec.target,
            options: spec.options,
        };
        let backoff = Backoff {
            retries: adapter.options.connect_retries,
            ..Backoff::default()
        };
        adapter
            .call(move |pool, target| async move {
                let mut client = first_connection(&pool, &target, backoff).await?;
                match schema {
                    Schema::Migrate => migrations::migrate(&mut client).await.map(drop),
                    Schema::Expect => expect_schema(&**client, &target).await,
                }
            })
            .map_err(|e| match e {
                // The password that failed may be a part of the one meant.
                Error::Data(message) if config::has_unescaped_password(url) => {
                    Error::Data(format!("{message}; {}", config::UNESCAPED_PASSWORD))
                }
                other => other,
            })?;
        Ok(adapter)
    }

    /// The database, as `postgres://user@host:port/db` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The limits in force.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// Runs `work` on the adapter's runtime and waits for its result.
    fn call<T, F>(&self, work: impl FnOnce(Pool, String) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let runtime = self.runtime()?;
        let future = work(self.pool.clone(), self.target.clone());
        let (sender, receiver) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| no_answer())?
    }

    /// Runs `work` on a pooled connection on the adapter's runtime and
    /// waits for its result, or gives up with [`Error::Cancelled`] once
    /// `interrupt` fires (see the module's documentation); it returns once
    /// the cancel request has been sent.
    fn call_until<T, W>(&self, interrupt: &dyn Interrupt, helper: bool, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: for<'c> FnOnce(&'c mut Object, Option<&'c mut Object>) -> BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        if interrupt.is_interrupted() {
            return Err(Error::Cancelled);
        }
        let runtime = self.runtime()?;
        let call = Interruptible {
            pool: self.pool.clone(),
            target: self.target.clone(),
            connector: self.connector.clone(),
            stop: Arc::new(Notify::new()),
            cancel_timeout: self.options.connect_timeout,
            helper,
        };
        let stop = call.stop.clone();
        let (sender, receiver) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = sender.send(call.run(work).await);
        });
        match wait_for(&receiver, interrupt) {
            Ok(Some(answer)) => answer,
            Ok(None) => {
                stop.notify_one();
                // The work may have ended just before the interrupt: its
                // answer stands when it succeeded.
                match receiver.recv() {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(_)) => Err(Error::Cancelled),
                    Err(_) => Err(no_answer()),
                }
            }
            Err(_) => Err(no_answer()),
        }
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        self.runtime
            .as_ref()
            .ok_or_else(|| Error::Data("the PostgreSQL adapter is shut down".to_owned()))
    }
}

/// What opening an adapter does with the database's schema.
#[derive(Debug, Clone, Copy)]
enum Schema {
    /// Creates or migrates algohost's tables as needed.
    Migrate,
    /// Requires them, up to date, and changes nothing.
    Expect,
}

/// An error unless the database `target` holds algohost's tables at this
/// algohost's version.
async fn expect_schema(client: &impl tokio_postgres::GenericClient, target: &str) -> Result<()> {
    use migrations::{SchemaState, TABLES};
    match migrations::state(client).await? {
        SchemaState::Current => Ok(()),
        SchemaState::Missing => Err(Error::InvalidInput(format!(
            "{target} has no algohost tables ({}); import data first (algohost data import \
             --to URL) or check the database name",
            TABLES.join(", ")
        ))),
        SchemaState::Behind => Err(Error::Data(format!(
            "the algohost tables of {target} are older than this algohost; open the database once \
             for writing (algohost data import --to URL, or algohost serve --data URL) so that it \
             migrates them"
        ))),
    }
}

/// The error of a call whose task ended without answering.
fn no_answer() -> Error {
    Error::Data("a PostgreSQL call stopped without an answer (it panicked); see the log".to_owned())
}

/// What an interruptible call needs on the runtime.
struct Interruptible {
    pool: Pool,
    target: String,
    connector: Connector,
    /// Notified once when the caller's interrupt fires.
    stop: Arc<Notify>,
    /// The longest the cancel request may take.
    cancel_timeout: std::time::Duration,
    /// Whether `work` would like a second connection, when one is free at
    /// once (it never waits for one: two callers each holding one and
    /// waiting for another would starve the pool).
    helper: bool,
}

impl Interruptible {
    /// Runs `work` on a pooled connection until it ends or `stop` is
    /// notified. When stopped, the running statement is cancelled, `work`
    /// is dropped (so no further statement is sent and its transaction
    /// never commits) and the connection is closed.
    async fn run<T, W>(self, work: W) -> Result<T>
    where
        W: for<'c> FnOnce(&'c mut Object, Option<&'c mut Object>) -> BoxFuture<'c, Result<T>>,
    {
        let mut client = tokio::select! {
            client = connection(&self.pool, &self.target) => client?,
            () = self.stop.notified() => return Err(Error::Cancelled),
        };
        let mut helper = if self.helper {
            let at_once = Timeouts {
                wait: Some(std::time::Duration::ZERO),
                ..self.pool.timeouts()
            };
            self.pool.timeout_get(&at_once).await.ok()
        } else {
            None
        };
        let tokens: Vec<_> = std::iter::once(&client)
            .chain(&helper)
            .map(|c| c.cancel_token())
            .collect();
        let mut running = work(&mut client, helper.as_mut());
        tokio::select! {
            result = &mut running => return result,
            () = self.stop.notified() => {}
        }
        for token in &tokens {
            match tokio::time::timeout(self.cancel_timeout, self.connector.cancel(token)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(database = %self.target, "{e}"),
                Err(_) => tracing::warn!(
                    database = %self.target,
                    "the cancel request got no answer in time"
                ),
            }
        }
        drop(running);
        drop(Object::take(client));
        if let Some(helper) = helper {
            drop(Object::take(helper));
        }
        Err(Error::Cancelled)
    }
}

impl Drop for PostgresAdapter {
    /// Stops the runtime without waiting, so that dropping the adapter is
    /// fine anywhere, even inside another runtime.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Adapter for PostgresAdapter {
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        let filter = filter.clone();
        self.call(|pool, target| async move {
            let client = connection(&pool, &target).await?;
            points::matching(&**client, &filter).await
        })
    }

    /// Names and ids that the filter lists but that do not exist are an
    /// error (listing the close and known names), not an empty frame. The
    /// data points and their samples are read in one snapshot.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        self.read_until(filter, &Uninterrupted)
    }

    fn read_until(&self, filter: &DataPointFilter, interrupt: &dyn Interrupt) -> Result<DataFrame> {
        let plan = ReadPlan::new(filter)?;
        let filter = filter.clone();
        let fetch = plan.clone();
        let (points, raw) = self.call_until(interrupt, true, move |client, helper| {
            Box::pin(async move {
                let tx = samples::begin_read(client).await?;
                let points = points::select(&*tx, &filter).await?;
                let (lo, hi) = fetch.fetch_range(&points);
                let raw = match helper.filter(|_| points.len() > 1) {
                    None => samples::read(&tx, &points, lo, hi).await?,
                    Some(helper) => samples::read_in_two(&tx, helper, &points, lo, hi).await?,
                };
                tx.commit()
                    .await
                    .map_err(|e| db_error("cannot end a read", e))?;
                Ok((points, raw))
            })
        })?;
        plan.finish(raw, &points)
    }

    /// All or nothing: one transaction copies the samples in (see
    /// `samples::write`).
    fn write(&self, long: &DataFrame) -> Result<()> {
        self.write_until(long, &Uninterrupted)
    }

    fn write_until(&self, long: &DataFrame, interrupt: &dyn Interrupt) -> Result<()> {
        validate_long(long)?;
        if long.height() == 0 {
            return Ok(());
        }
        let long = sort_long(long)?;
        let ts = ts_micros(&long)?;
        let spans: Vec<Span> = id_ranges(&long)?
            .into_iter()
            .map(|(id, rows)| Span {
                id: id.0,
                first: ts[rows.start],
                last: ts[rows.end - 1],
            })
            .collect();
        let ids: Vec<i64> = spans.iter().map(|s| s.id).collect();
        self.call_until(interrupt, false, move |client, _| {
            Box::pin(async move {
            let tx = client
                .transaction()
                .await
                .map_err(|e| db_error("cannot start a write", e))?;
            let points = points::matching(
                &*tx,
                &DataPointFilter::default().with_ids(ids.iter().copied().map(DataPointId)),
            )
            .await?;
            let unknown: Vec<String> = ids
                .iter()
                .filter(|id| !points.iter().any(|p| p.id.0 == **id))
                .map(ToString::to_string)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "unknown data point id(s) {} in column 'data_point_id'; define the data points \
                     first (define_data_points) and write with the ids it returns",
                    unknown.join(", ")
                )));
            }
            check_samples(&long, &points)?;
            samples::write(&tx, &long, &spans).await?;
            tx.commit()
                .await
                .map_err(|e| db_error("cannot commit the write", e))
            })
        })
    }

    fn flows(&self, filter: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        let filter = filter.clone();
        self.call(|pool, target| async move {
            let client = connection(&pool, &target).await?;
            points::flows(&**client, &filter).await
        })
    }

    /// New names get the next ids (the ids in `points` are ignored);
    /// existing names are returned as stored, unless the quantity differs.
    /// All or nothing.
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        let points = points.to_vec();
        self.call(|pool, target| async move {
            let mut client = connection(&pool, &target).await?;
            let tx = client
                .transaction()
                .await
                .map_err(|e| db_error("cannot start a definition", e))?;
            let stored = points::define(&*tx, &points).await?;
            tx.commit()
                .await
                .map_err(|e| db_error("cannot commit the definition", e))?;
            Ok(stored)
        })
    }
}

/// A connection from the pool, with an error that says what to check.
async fn connection(pool: &Pool, target: &str) -> Result<deadpool_postgres::Object> {
    pool.get()
        .await
        .map_err(|e| connection_error(pool, target, e, 1))
}

/// The adapter's first connection: a server that is not up yet (refusing
/// connections, starting up, not answering) is tried again as `backoff`
/// says, with a warning each time, since a database often starts after
/// the programs that use it.
async fn first_connection(
    pool: &Pool,
    target: &str,
    backoff: Backoff,
) -> Result<deadpool_postgres::Object> {
    let (outcome, attempts) = backoff
        .retry(
            || pool.get(),
            |outcome| match outcome {
                Err(e) if is_not_up(e) => Some(None),
                _ => None,
            },
            |outcome, attempt, wait| {
                if let Err(e) = outcome {
                    tracing::warn!(
                        "PostgreSQL at {target} is not up yet ({}); trying again in {:.1} s \
                         (attempt {attempt} of {})",
                        pool_error(e),
                        wait.as_secs_f64(),
                        backoff.retries + 1
                    );
                }
            },
        )
        .await;
    outcome.map_err(|e| connection_error(pool, target, e, attempts))
}

/// Whether `e` says the server is not (yet) there, rather than refusing
/// what was asked (a password, a database name, a certificate).
fn is_not_up(e: &PoolError) -> bool {
    const NOT_NOW: [SqlState; 4] = [
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
    ];
    match e {
        PoolError::Timeout(TimeoutType::Create) => true,
        PoolError::Backend(e) => match e.as_db_error() {
            Some(db) => NOT_NOW.contains(db.code()),
            None => std::error::Error::source(e)
                .and_then(|source| source.downcast_ref::<std::io::Error>())
                .is_some_and(|io| io.kind() != std::io::ErrorKind::InvalidData),
        },
        _ => false,
    }
}

/// What went wrong getting a connection, for messages.
fn pool_error(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) => describe(e),
        PoolError::Timeout(TimeoutType::Create) => "no answer within connect_timeout".to_owned(),
        other => other.to_string(),
    }
}

/// The error of a connection the pool could not give after `attempts`
/// attempts, saying what to check.
fn connection_error(pool: &Pool, target: &str, e: PoolError, attempts: u32) -> Error {
    use super::unavailable::{POSTGRES, POSTGRES_POOL};
    let tried = match attempts {
        1 => String::new(),
        n => format!(" ({n} attempts)"),
    };
    match e {
        PoolError::Timeout(TimeoutType::Wait) => Error::Data(format!(
            "{POSTGRES_POOL}{target} was free in time (pool of {}); raise \
             pool_size or pool_timeout in the URL, or run fewer runs at once",
            pool.status().max_size
        )),
        e @ (PoolError::Backend(_) | PoolError::Timeout(_)) => {
            let reason = pool_error(&e);
            let advice = if reason.contains("password missing") {
                "the server asks for a password and none was given: put it in the URL \
                 (postgres://user:PASSWORD@host/db, percent-encoded), in PGPASSWORD or in \
                 ~/.pgpass (or the file PGPASSFILE names)"
            } else {
                "check that the server runs and the URL's host, port, user, password and \
                 database"
            };
            Error::Data(format!("{POSTGRES}{target}{tried}: {reason}; {advice}"))
        }
        other => Error::Data(format!("{POSTGRES}{target}{tried}: {other}")),
    }
}

/// An error of the database, in context; a cancelled statement says how to
/// give it more time.
pub(crate) fn db_error(context: &str, e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::QUERY_CANCELED) {
        return Error::Data(format!(
            "{context}: the statement was cancelled, usually because it ran longer than \
             statement_timeout; raise it with ?statement_timeout=… in the URL or read less at once"
        ));
    }
    Error::Data(format!("{context}: {}", describe(&e)))
}

/// The message of a database error with its detail and hint.
fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        };
    };
    let mut text = format!("{} ({})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; {hint}"));
    }
    text
}

#[cfg(feature = "postgres-tls")]
mod tls;
