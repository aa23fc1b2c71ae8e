//! The `data_points` table: listing with the filter pushed into SQL, the
//! selection of a read (unknown ids and names are errors), and definitions.
//! Every value comes in as a bound parameter.

use std::collections::{BTreeMap, BTreeSet};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, Flow, FlowFilter, Quantity,
};
use algohost_sdk::{Error, Result};
use serde_json::Value;
use tokio_postgres::{GenericClient, Row};

use super::db_error;
use crate::adapters::files::{check_definition, unknown_names_error, with_time_zone};

/// The columns of a data point, in the order [`point_from_row`] reads them.
const SELECT_MATCHING: &str = "SELECT id, name, unit, quantity, resolution, time_zone, tags, flow_from, flow_to, flow_carrier FROM data_points WHERE (cardinality($1::int8[]) = 0 OR id = ANY ($1)) AND (cardinality($2::text[]) = 0 OR name = ANY ($2)) AND tags @> $3::jsonb AND ($4::text IS NULL OR quantity = $4) ORDER BY id";

const SELECT_FLOWS: &str = "SELECT id, name, unit, quantity, resolution, time_zone, tags, flow_from, flow_to, flow_carrier FROM data_points WHERE flow_from IS NOT NULL AND ($1::text IS NULL OR flow_from = $1) AND ($2::text IS NULL OR flow_to = $2) AND ($3::text IS NULL OR flow_carrier = $3) ORDER BY id";

const SELECT_BY_NAMES: &str = "SELECT id, name, unit, quantity, resolution, time_zone, tags, flow_from, flow_to, flow_carrier FROM data_points WHERE name = ANY ($1::text[])";

const SELECT_LISTED: &str =
    "SELECT id, name FROM data_points WHERE id = ANY ($1::int8[]) OR name = ANY ($2::text[])";

const SELECT_NAMES: &str = "SELECT name FROM data_points";

const LOCK_POINTS: &str = "LOCK TABLE data_points IN SHARE ROW EXCLUSIVE MODE";

const INSERT_POINT: &str = "INSERT INTO data_points (name, unit, quantity, resolution, time_zone, tags, flow_from, flow_to, flow_carrier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

/// Data points passing the filter's id, name, tag and quantity parts, by id.
pub(super) async fn matching(
    client: &impl GenericClient,
    filter: &DataPointFilter,
) -> Result<Vec<DataPointConfig>> {
    let ids: Vec<i64> = filter.ids.iter().map(|id| id.0).collect();
    let tags = tags_json(&filter.tags);
    let quantity = filter.quantity.map(|q| q.to_string());
    let rows = client
        .query(SELECT_MATCHING, &[&ids, &filter.names, &tags, &quantity])
        .await
        .map_err(|e| db_error("cannot list the data points", e))?;
    rows.iter().map(point_from_row).collect()
}

/// Like [`matching`], but every id and name the filter lists must exist: a
/// typo is an error (naming close and known names), not an empty result.
pub(super) async fn select(
    client: &impl GenericClient,
    filter: &DataPointFilter,
) -> Result<Vec<DataPointConfig>> {
    if !filter.ids.is_empty() || !filter.names.is_empty() {
        let ids: Vec<i64> = filter.ids.iter().map(|id| id.0).collect();
        let listed = client
            .query(SELECT_LISTED, &[&ids, &filter.names])
            .await
            .map_err(|e| db_error("cannot look up the data points", e))?;
        let found_ids: BTreeSet<i64> = listed.iter().map(|r| r.get(0)).collect();
        let found_names: BTreeSet<String> = listed.iter().map(|r| r.get(1)).collect();
        let unknown_ids: BTreeSet<i64> = ids
            .iter()
            .copied()
            .filter(|id| !found_ids.contains(id))
            .collect();
        if !unknown_ids.is_empty() {
            let list: Vec<String> = unknown_ids.iter().map(ToString::to_string).collect();
            return Err(Error::InvalidInput(format!(
                "unknown data point id(s) {}; list the data points to see their ids",
                list.join(", ")
            )));
        }
        let unknown_names: Vec<&str> = filter
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !found_names.contains(*n))
            .collect();
        if !unknown_names.is_empty() {
            let known: Vec<String> = client
                .query(SELECT_NAMES, &[])
                .await
                .map_err(|e| db_error("cannot list the data point names", e))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(unknown_names_error(&unknown_names, &known));
        }
    }
    matching(client, filter).await
}

/// Data points whose flow matches, by id.
pub(super) async fn flows(
    client: &impl GenericClient,
    filter: &FlowFilter,
) -> Result<Vec<DataPointConfig>> {
    let rows = client
        .query(SELECT_FLOWS, &[&filter.from, &filter.to, &filter.carrier])
        .await
        .map_err(|e| db_error("cannot list the flows", e))?;
    rows.iter().map(point_from_row).collect()
}

/// Stores the data points of `points` whose names are new and returns all
/// of them as stored (a definition without a time zone matches the stored
/// one: see [`with_time_zone`]). Runs inside the caller's transaction,
/// which it locks against other definitions; nothing is inserted unless
/// every definition is valid.
pub(super) async fn define(
    client: &impl GenericClient,
    points: &[DataPointConfig],
) -> Result<Vec<DataPointConfig>> {
    let fail = |e| db_error("cannot define the data points", e);
    client.batch_execute(LOCK_POINTS).await.map_err(fail)?;
    let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    let mut stored: BTreeMap<String, DataPointConfig> = BTreeMap::new();
    for row in client
        .query(SELECT_BY_NAMES, &[&names])
        .await
        .map_err(fail)?
    {
        let point = point_from_row(&row)?;
        stored.insert(point.name.clone(), point);
    }
    let mut new: Vec<DataPointConfig> = Vec::new();
    for point in points {
        let first = new.iter().find(|p| p.name == point.name);
        let point = &with_time_zone(point, stored.get(&point.name).or(first));
        if let Some(existing) = stored.get(&point.name) {
            existing.check_redefinition(point)?;
        } else if let Some(first) = first {
            first.check_repeated(point)?;
        } else {
            check_definition(point)?;
            new.push(point.clone());
        }
    }
    for point in &new {
        let tags = tags_json(&point.tags);
        let flow = point.flow.as_ref();
        let row = client
            .query_one(
                INSERT_POINT,
                &[
                    &point.name,
                    &point.unit,
                    &point.quantity.to_string(),
                    &point.resolution.to_string(),
                    &point.time_zone,
                    &tags,
                    &flow.map(|f| f.from.as_str()),
                    &flow.map(|f| f.to.as_str()),
                    &flow.map(|f| f.carrier.as_str()),
                ],
            )
            .await
            .map_err(fail)?;
        let mut stored_point = point.clone();
        stored_point.id = DataPointId(row.get(0));
        stored.insert(point.name.clone(), stored_point);
    }
    Ok(points
        .iter()
        .filter_map(|p| stored.get(&p.name).cloned())
        .collect())
}

/// Tags as a JSON object of strings, for `jsonb` parameters.
fn tags_json(tags: &BTreeMap<String, String>) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A data point from a row of `id, name, unit, quantity, resolution,
/// time_zone, tags, flow_from, flow_to, flow_carrier`.
fn point_from_row(row: &Row) -> Result<DataPointConfig> {
    let bad = |what: String| {
        Error::Data(format!(
            "a row of the data_points table is not valid: {what}; fix it in the database"
        ))
    };
    let get_text = |i: usize| -> Result<String> {
        row.try_get::<_, String>(i)
            .map_err(|e| bad(format!("column {i}: {e}")))
    };
    let id: i64 = row.try_get(0).map_err(|e| bad(e.to_string()))?;
    let name = get_text(1)?;
    let quantity_text = get_text(3)?;
    let quantity: Quantity = serde_json::from_value(Value::String(quantity_text.clone()))
        .map_err(|_| bad(format!("'{name}' has the quantity '{quantity_text}'")))?;
    let resolution_text = get_text(4)?;
    let resolution = resolution_text
        .parse()
        .map_err(|e| bad(format!("'{name}': {e}")))?;
    let tags: Value = row.try_get(6).map_err(|e| bad(e.to_string()))?;
    let tags: BTreeMap<String, String> = serde_json::from_value(tags)
        .map_err(|e| bad(format!("the tags of '{name}' are not strings: {e}")))?;
    let flow_part = |i: usize| -> Result<Option<String>> {
        row.try_get::<_, Option<String>>(i)
            .map_err(|e| bad(e.to_string()))
    };
    let flow = match (flow_part(7)?, flow_part(8)?, flow_part(9)?) {
        (Some(from), Some(to), Some(carrier)) => Some(Flow { from, to, carrier }),
        _ => None,
    };
    Ok(DataPointConfig {
        id: DataPointId(id),
        name,
        unit: get_text(2)?,
        quantity,
        resolution,
        time_zone: get_text(5)?,
        tags,
        flow,
    })
}
