//! Versioned schema migrations. Each runs once, in order, in the same
//! transaction as its row in `algohost_schema_migrations`; an advisory lock
//! keeps two adapters opening the same database at once from racing.

use algohost_sdk::{Error, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient};

use super::db_error;

/// One step of the schema.
struct Migration {
    /// Applied in increasing order; never reused or renumbered.
    version: i32,
    /// What it does, stored beside the version.
    name: &'static str,
    /// The statements.
    sql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration is
/// never edited.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "data points and samples",
    sql: include_str!("migrations/0001_data_points_and_samples.sql"),
}];

/// The advisory lock key migrations hold (any constant shared by all
/// algohost versions works).
const LOCK_KEY: i64 = 0x616c_676f_686f_7374; // "algohost"

/// How far the connected database holds algohost's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SchemaState {
    /// No algohost tables at all.
    Missing,
    /// Some migrations of this algohost are not applied yet.
    Behind,
    /// Every migration this algohost knows is applied.
    Current,
}

/// How far the connected database holds algohost's schema; an error when
/// it is newer than this algohost knows. Takes no lock and runs no DDL.
pub(super) async fn state(client: &impl GenericClient) -> Result<SchemaState> {
    let exists = client
        .query_one(
            "SELECT to_regclass('algohost_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| failed("cannot migrate the schema", e))?
        .get::<_, bool>(0);
    if !exists {
        return Ok(SchemaState::Missing);
    }
    let applied = applied(client).await?;
    check_not_newer(&applied)?;
    Ok(if MIGRATIONS.iter().all(|m| applied.contains(&m.version)) {
        SchemaState::Current
    } else {
        SchemaState::Behind
    })
}

/// Brings the schema of the connected database up to date; returns the
/// versions it applied.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<i32>> {
    let fail = |e| failed_creating("cannot migrate the schema", e);
    // A schema that is up to date takes no lock and no DDL, so that a role
    // without the right to create tables (a read-only one, or one for a
    // server whose schema an administrator migrates) can open it.
    if state(&*client).await? == SchemaState::Current {
        return Ok(Vec::new());
    }
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(fail)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS algohost_schema_migrations (version integer PRIMARY KEY, \
         name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(fail)?;
    let applied = applied(&tx).await?;
    check_not_newer(&applied)?;
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(migration.sql).await.map_err(|e| {
            failed_creating(
                &format!(
                    "cannot apply schema migration {} ({})",
                    migration.version, migration.name
                ),
                e,
            )
        })?;
        tx.execute(
            "INSERT INTO algohost_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(fail)?;
        done.push(migration.version);
    }
    tx.commit().await.map_err(fail)?;
    Ok(done)
}

/// How to give algohost a schema of its own, beside the user's tables.
const OWN_SCHEMA: &str = "give algohost a schema of its own: create it (CREATE SCHEMA algohost; \
     algohost does not create schemas) and add ?options=-c%20search_path%3Dalgohost to the URL \
     (&options=… after other parameters)";

/// An error of a migration statement, with what to do about the usual
/// causes: a table of the user's with one of algohost's names, a
/// `search_path` schema that does not exist.
fn failed(context: &str, e: tokio_postgres::Error) -> Error {
    let advice = match e.code() {
        Some(&SqlState::DUPLICATE_TABLE) => format!(
            "the database has a table named {} of its own; {OWN_SCHEMA}",
            TABLES.join(" or ")
        ),
        Some(&SqlState::INVALID_SCHEMA_NAME) => "the schema the URL's search_path names does not \
             exist: create it first (CREATE SCHEMA algohost, with the name the URL gives; \
             algohost does not create schemas)"
            .to_owned(),
        _ => return db_error(context, e),
    };
    with_advice(db_error(context, e), &advice)
}

/// [`failed`], for the statements that create algohost's tables: a role
/// that may not is told what to do.
fn failed_creating(context: &str, e: tokio_postgres::Error) -> Error {
    if e.code() != Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return failed(context, e);
    }
    with_advice(
        db_error(context, e),
        "the database has no algohost tables yet and this role may not create them: grant it \
         CREATE on the schema (GRANT CREATE ON SCHEMA public TO the role), or import the data \
         first (algohost data import --to URL) with a role that has it",
    )
}

/// `error` with `advice` after its message.
fn with_advice(error: Error, advice: &str) -> Error {
    match error {
        Error::Data(message) => Error::Data(format!("{message}; {advice}")),
        other => other,
    }
}

/// algohost's tables, as messages name them.
pub(super) const TABLES: [&str; 2] = ["data_points", "samples"];

/// The versions of the migrations applied to the database.
async fn applied(client: &impl GenericClient) -> Result<Vec<i32>> {
    let rows = client
        .query("SELECT version FROM algohost_schema_migrations", &[])
        .await
        .map_err(|e| failed("cannot migrate the schema", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// An error when the database has a migration this algohost does not know.
fn check_not_newer(applied: &[i32]) -> Result<()> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    match applied.iter().copied().filter(|v| *v > latest).max() {
        Some(newer) => Err(Error::Data(format!(
            "the database's schema is at version {newer}, newer than this algohost knows \
             (up to {latest}); use a newer algohost with it"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_from_one() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i as i32 + 1, "{}", migration.name);
        }
    }
}
