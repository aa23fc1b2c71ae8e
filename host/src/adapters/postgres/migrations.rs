//! Versioned schema migrations. Each runs once, in order, in the same
//! transaction as its row in `algohost_schema_migrations`; an advisory lock
//! keeps two adapters opening the same database at once from racing.

use algohost_sdk::{Error, Result};
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

/// Brings the schema of the connected database up to date; returns the
/// versions it applied.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<i32>> {
    let fail = |e| db_error("cannot migrate the schema", e);
    // A schema that is up to date takes no lock and no DDL, so that a role
    // without the right to create tables (a read-only one, or one for a
    // server whose schema an administrator migrates) can open it.
    let current = client
        .query_one(
            "SELECT to_regclass('algohost_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(fail)?
        .get::<_, bool>(0);
    if current {
        let applied = applied(&*client).await?;
        if MIGRATIONS.iter().all(|m| applied.contains(&m.version)) {
            check_not_newer(&applied)?;
            return Ok(Vec::new());
        }
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
            db_error(
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

/// The versions of the migrations applied to the database.
async fn applied(client: &impl GenericClient) -> Result<Vec<i32>> {
    let rows = client
        .query("SELECT version FROM algohost_schema_migrations", &[])
        .await
        .map_err(|e| db_error("cannot migrate the schema", e))?;
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
