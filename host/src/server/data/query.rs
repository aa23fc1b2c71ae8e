//! The query parameters of the data API, parsed from the raw pairs so that
//! lists repeat (`names=a&names=b`: a name may hold commas) and tags take
//! any key (`tags[KEY]=VALUE`). An unknown parameter is a 400: a mistyped
//! filter must not quietly select everything. The REST adapter writes
//! these parameters (`adapters::rest::wire`).

use std::collections::BTreeMap;

use algohost_sdk::data::{DataPointFilter, DataPointId, FlowFilter, Resolution};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::QuantityView;
use crate::server::ApiError;
use crate::server::frames::FormatName;

/// Raw query pairs, in order.
pub type Pairs = Vec<(String, String)>;

/// Which data points; every parameter given must match.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataPointQuery {
    /// Only these names; repeat for several (`names=a&names=b`).
    #[param(style = Form, explode, required = false)]
    pub names: Vec<String>,
    /// Only these ids; repeat for several (`ids=1&ids=2`).
    #[param(style = Form, explode, required = false)]
    pub ids: Vec<i64>,
    /// Only data points with all these tags: `tags[KEY]=VALUE` (any key),
    /// or `tags=KEY=VALUE` (split at the first `=`); repeat for several.
    #[param(style = DeepObject, explode, value_type = Object, required = false)]
    pub tags: BTreeMap<String, String>,
    /// Only this quantity.
    pub quantity: Option<QuantityView>,
}

/// Which samples of the selected data points.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Samples at or after this instant (RFC 3339, e.g. 2026-02-01T00:00:00Z,
    /// to the microsecond at most).
    pub start: Option<DateTime<Utc>>,
    /// Samples before this instant (to the microsecond at most).
    pub end: Option<DateTime<Utc>>,
    /// Convert to this resolution (ISO 8601 duration such as PT1H or P1D).
    #[param(value_type = Option<String>)]
    pub resolution: Option<Resolution>,
    /// Time zone of calendar resolutions; default each data point's.
    pub time_zone: Option<String>,
    /// The response's format, instead of `Accept` (which it beats).
    pub format: Option<FormatName>,
}

/// Which flows; every parameter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FlowQuery {
    /// Flow source ("grid").
    pub from: Option<String>,
    /// Flow destination ("site").
    pub to: Option<String>,
    /// Carrier ("electricity").
    pub carrier: Option<String>,
}

impl From<FlowQuery> for FlowFilter {
    fn from(q: FlowQuery) -> Self {
        FlowFilter {
            from: q.from,
            to: q.to,
            carrier: q.carrier,
        }
    }
}

const POINT_PARAMS: &str = "names, ids, tags[KEY], quantity";
const RANGE_PARAMS: &str = "start, end, resolution, time_zone, format";

impl DataPointQuery {
    /// Takes the pair if it is one of these parameters; gives it back if not.
    fn take(&mut self, key: String, value: String) -> Result<Option<(String, String)>, ApiError> {
        match key.as_str() {
            "names" => self.names.push(value),
            "ids" => self.ids.push(value.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!("ids: '{value}' is not a whole number"))
            })?),
            "tags" => {
                let (k, v) = value.split_once('=').ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "tags: '{value}' is not KEY=VALUE; use tags=site=demo or tags[site]=demo"
                    ))
                })?;
                self.add_tag(k, v)?;
            }
            "quantity" => {
                let quantity = serde_json::from_value(serde_json::Value::String(value.clone()))
                    .map_err(|_| {
                        ApiError::BadRequest(format!(
                            "quantity: '{value}' is not one of power, energy, price, state"
                        ))
                    })?;
                set_once(&mut self.quantity, quantity, "quantity")?;
            }
            _ => match key.strip_prefix("tags[").and_then(|k| k.strip_suffix(']')) {
                Some(k) => self.add_tag(k, &value)?,
                None => return Ok(Some((key, value))),
            },
        }
        Ok(None)
    }

    fn add_tag(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        match self.tags.insert(key.to_owned(), value.to_owned()) {
            Some(other) if other != value => Err(ApiError::BadRequest(format!(
                "tags: '{key}' is given twice, as '{other}' and '{value}'; a data point has one \
                 value per tag"
            ))),
            _ => Ok(()),
        }
    }

    /// The filter of these parameters.
    pub fn filter(self) -> DataPointFilter {
        DataPointFilter {
            ids: self.ids.into_iter().map(DataPointId).collect(),
            names: self.names,
            tags: self.tags,
            quantity: self.quantity.map(Into::into),
            ..DataPointFilter::default()
        }
    }

    /// Parses `GET /data-points`'s parameters.
    pub fn parse(pairs: Pairs) -> Result<Self, ApiError> {
        let mut query = Self::default();
        for (key, value) in pairs {
            if let Some((key, _)) = query.take(key, value)? {
                return Err(unknown(&key, POINT_PARAMS));
            }
        }
        Ok(query)
    }
}

impl RangeQuery {
    /// Takes the pair if it is one of these parameters; gives it back if not.
    fn take(&mut self, key: String, value: String) -> Result<Option<(String, String)>, ApiError> {
        match key.as_str() {
            "start" => set_once(&mut self.start, instant(&key, &value)?, "start")?,
            "end" => set_once(&mut self.end, instant(&key, &value)?, "end")?,
            "resolution" => {
                let resolution = value
                    .parse()
                    .map_err(|e| ApiError::BadRequest(format!("resolution: {e}")))?;
                set_once(&mut self.resolution, resolution, "resolution")?;
            }
            "time_zone" => set_once(&mut self.time_zone, value, "time_zone")?,
            "format" => set_once(&mut self.format, FormatName::parse(&value)?, "format")?,
            _ => return Ok(Some((key, value))),
        }
        Ok(None)
    }

    /// Sets the range, resolution and time zone of `filter`.
    pub fn apply(&self, filter: DataPointFilter) -> DataPointFilter {
        DataPointFilter {
            start: self.start,
            end: self.end,
            resolution: self.resolution,
            time_zone: self.time_zone.clone(),
            ..filter
        }
    }

    /// Parses `GET /data-points/{id}/samples`'s parameters.
    pub fn parse(pairs: Pairs) -> Result<Self, ApiError> {
        let mut query = Self::default();
        for (key, value) in pairs {
            if let Some((key, _)) = query.take(key, value)? {
                return Err(unknown(&key, RANGE_PARAMS));
            }
        }
        Ok(query)
    }
}

/// Parses `GET /samples`'s parameters: data points, range and format.
pub fn samples_filter(pairs: Pairs) -> Result<(DataPointFilter, Option<FormatName>), ApiError> {
    let (mut points, mut range) = (DataPointQuery::default(), RangeQuery::default());
    for (key, value) in pairs {
        let Some((key, value)) = points.take(key, value)? else {
            continue;
        };
        if let Some((key, _)) = range.take(key, value)? {
            return Err(unknown(&key, &format!("{POINT_PARAMS}, {RANGE_PARAMS}")));
        }
    }
    Ok((range.apply(points.filter()), range.format))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), ApiError> {
    if slot.replace(value).is_some() {
        return Err(ApiError::BadRequest(format!(
            "{name} is given more than once"
        )));
    }
    Ok(())
}

/// The instant of `start` or `end`: RFC 3339, to the microsecond at most
/// (a finer one would be cut to the microsecond, moving the range's edge,
/// so it is refused like a finer sample `ts`).
fn instant(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    let instant = DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            // A `+` left unencoded in a query string arrives as a space.
            let hint = match value.trim().rsplit_once(' ') {
                Some((time, offset)) if time.contains('T') && is_offset(offset) => format!(
                    "; a '+' in a query string means a space: encode it as %2B \
                     ({name}={}) or give the time in UTC with Z",
                    value.trim().replacen(' ', "%2B", 1)
                ),
                _ => String::new(),
            };
            ApiError::BadRequest(format!(
                "{name}: '{value}' is not an RFC 3339 instant such as 2026-02-01T00:00:00Z \
                 ({e}){hint}"
            ))
        })?;
    if instant.timestamp_subsec_nanos() % 1000 != 0 {
        return Err(ApiError::BadRequest(format!(
            "{name}: '{value}' has a fraction of a microsecond, finer than the microseconds \
             algohost keeps; give it to the microsecond at most (six digits after the seconds' \
             point), such as {}",
            instant.to_rfc3339_opts(SecondsFormat::Micros, true)
        )));
    }
    Ok(instant)
}

/// `01:00`, `0100` or `01`: what is left of `+01:00` when its `+` is lost.
fn is_offset(text: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match text.split_once(':') {
        Some((h, m)) => h.len() == 2 && m.len() == 2 && digits(h) && digits(m),
        None => matches!(text.len(), 2 | 4) && digits(text),
    }
}

fn unknown(key: &str, accepted: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "unknown query parameter '{key}'; this endpoint reads {accepted}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Pairs {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn lists_repeat_and_tags_take_any_key() {
        let filter = samples_filter(pairs(&[
            ("names", "a,b"),
            ("names", "c"),
            ("ids", "4"),
            ("tags[k=1]", "v&w"),
            ("tags", "site=x=y"),
            ("quantity", "energy"),
            ("resolution", "PT1H"),
            ("start", "2026-01-01T00:00:00+01:00"),
        ]))
        .unwrap()
        .0;
        assert_eq!(filter.names, ["a,b", "c"]);
        assert_eq!(filter.ids, [DataPointId(4)]);
        assert_eq!(filter.tags["k=1"], "v&w");
        assert_eq!(filter.tags["site"], "x=y");
        assert_eq!(filter.resolution, Some(Resolution::Seconds(3600)));
        assert_eq!(
            filter.start.unwrap().to_rfc3339(),
            "2025-12-31T23:00:00+00:00"
        );
    }

    #[test]
    fn bad_parameters_say_what_to_send() {
        let err = |items: &[(&str, &str)]| samples_filter(pairs(items)).unwrap_err().to_string();
        assert!(err(&[("name", "x")]).contains("unknown query parameter 'name'"));
        assert!(err(&[("quantity", "volts")]).contains("power, energy"));
        assert!(err(&[("start", "today")]).contains("RFC 3339"));
        assert!(
            err(&[
                ("end", "2026-01-01T00:00:00Z"),
                ("end", "2026-01-02T00:00:00Z")
            ])
            .contains("more than once")
        );
        assert!(err(&[("tags[a]", "1"), ("tags[a]", "2")]).contains("given twice"));
        assert!(err(&[("format", "xml")]).contains("json, csv, parquet, arrow"));
        // An unencoded `+` arrives as a space.
        assert!(
            err(&[("start", "2026-03-29T00:00:00 01:00")]).ends_with(
                "; a '+' in a query string means a space: encode it as %2B \
                 (start=2026-03-29T00:00:00%2B01:00) or give the time in UTC with Z"
            ),
            "{}",
            err(&[("start", "2026-03-29T00:00:00 01:00")])
        );
        assert!(!err(&[("start", "today")]).contains("%2B"));
        let list = DataPointQuery::parse(pairs(&[("start", "2026-01-01T00:00:00Z")]));
        assert!(list.unwrap_err().to_string().contains("names, ids"));
    }
}
