//! `catalog.json`: the data points of a files data directory.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, Quantity, TS, parse_time_zone,
};
use algohost_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

use super::write_atomic;

/// The catalog file's format version; bumped on incompatible changes.
const FORMAT: u32 = 1;

/// The data points of a data directory, sorted by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Catalog {
    /// Format version of the file.
    format: u32,
    /// Every data point, ids unique and positive, names unique.
    pub data_points: Vec<DataPointConfig>,
}

impl Catalog {
    /// A catalog without data points.
    pub fn empty() -> Self {
        Self {
            format: FORMAT,
            data_points: Vec::new(),
        }
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Data(format!(
                "cannot read the catalog {}: {e}; open the data directory again to recreate it only if it is new",
                path.display()
            ))
        })?;
        let mut catalog: Catalog = serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!(
                "the catalog {} is not valid: {e}; fix or restore the file (it lists the data points as JSON)",
                path.display()
            ))
        })?;
        catalog.check(path)?;
        catalog.data_points.sort_by_key(|p| p.id);
        Ok(catalog)
    }

    /// Writes the catalog to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Data(format!("cannot serialise the catalog: {e}")))?;
        write_atomic(path, |file| {
            use std::io::Write;
            file.write_all(&json)?;
            file.write_all(b"\n")
        })
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |what: String| {
            Error::Data(format!(
                "the catalog {} is not valid: {what}; fix or restore the file",
                path.display()
            ))
        };
        if self.format != FORMAT {
            return Err(bad(format!(
                "format {} is not supported (this algohost reads format {FORMAT})",
                self.format
            )));
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for point in &self.data_points {
            if point.id.0 <= 0 {
                return Err(bad(format!(
                    "data point '{}' has id {}, ids must be positive",
                    point.name, point.id
                )));
            }
            if !ids.insert(point.id) {
                return Err(bad(format!("id {} appears more than once", point.id)));
            }
            if !names.insert(point.name.as_str()) {
                return Err(bad(format!("name '{}' appears more than once", point.name)));
            }
        }
        Ok(())
    }

    /// The id the next new data point gets.
    pub fn next_id(&self) -> DataPointId {
        DataPointId(self.data_points.iter().map(|p| p.id.0).max().unwrap_or(0) + 1)
    }

    /// The data point with this name.
    pub fn by_name(&self, name: &str) -> Option<&DataPointConfig> {
        self.data_points.iter().find(|p| p.name == name)
    }

    /// The data point with this id.
    pub fn by_id(&self, id: DataPointId) -> Option<&DataPointConfig> {
        self.data_points.iter().find(|p| p.id == id)
    }

    /// The data points passing the filter's id, name, tag and quantity parts,
    /// sorted by id.
    pub fn matching(&self, filter: &DataPointFilter) -> Vec<DataPointConfig> {
        self.data_points
            .iter()
            .filter(|p| filter.matches(p))
            .cloned()
            .collect()
    }

    /// Like [`Catalog::matching`], but every id and name the filter lists
    /// must exist: a typo is an error, not an empty result.
    pub fn select(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        let unknown_ids: BTreeSet<DataPointId> = filter
            .ids
            .iter()
            .copied()
            .filter(|id| self.by_id(*id).is_none())
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
            .filter(|n| self.by_name(n).is_none())
            .collect();
        if !unknown_names.is_empty() {
            return Err(self.unknown_names_error(&unknown_names));
        }
        Ok(self.matching(filter))
    }

    /// An error naming each unknown name, its close known names, and the known names.
    pub fn unknown_names_error(&self, unknown: &[&str]) -> Error {
        let known: Vec<&str> = self.data_points.iter().map(|p| p.name.as_str()).collect();
        unknown_names_error(unknown, &known)
    }
}

/// The longest data point name a definition may give, in characters: a
/// name heads CSV columns and fills log lines and error messages.
pub(crate) const MAX_NAME_CHARS: usize = 256;

/// The longest name an error repeats in full; a longer one is cut to this
/// many characters and `…`, so that an error stays short whatever the
/// names.
const MAX_NAME_SHOWN: usize = 64;

/// At most this many known names are listed in an error (as many as
/// [`algohost_sdk::suggest::listed`] shows).
const MAX_NAMES_LISTED: usize = 20;

/// An error naming each unknown data point name, its close names among
/// `known`, and the known names (the first twenty; every name cut to
/// [`MAX_NAME_SHOWN`] characters). Shared by the adapters.
pub(crate) fn unknown_names_error(unknown: &[&str], known: &[&str]) -> Error {
    let unknown: Vec<String> = unknown.iter().map(|n| shown(n)).collect();
    let known_shown: Vec<String> = known.iter().map(|n| shown(n)).collect();
    let mut message = algohost_sdk::suggest::unknown_names(
        "data point name",
        &unknown.iter().map(String::as_str).collect::<Vec<_>>(),
        &known_shown.iter().map(String::as_str).collect::<Vec<_>>(),
        "there are no data points yet; define them first",
    );
    if known.len() > MAX_NAMES_LISTED {
        message.push_str("; list the data points to see them all");
    }
    Error::InvalidInput(message)
}

/// `name` cut to [`MAX_NAME_SHOWN`] characters and `…` when longer.
fn shown(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_SHOWN) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

/// Whether `c` is a Unicode format character (general category Cf):
/// invisible, yet part of the name, so that two names that look the same
/// differ (U+200B zero width space), or a name shows reordered (U+202E
/// right-to-left override).
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// `point`, a definition given to `define_data_points`, with the time zone
/// it leaves out (empty) filled in: that of `stored`, the data point of its
/// name if there is one, so that a definition that says no zone matches
/// whatever zone the point was stored with; UTC for a new data point.
/// (Shared by the adapters.)
pub(crate) fn with_time_zone(
    point: &DataPointConfig,
    stored: Option<&DataPointConfig>,
) -> DataPointConfig {
    let mut point = point.clone();
    if point.time_zone.is_empty() {
        point.time_zone = stored.map_or_else(|| "UTC".to_owned(), |p| p.time_zone.clone());
    }
    point
}

/// Checks a new data point's definition before it is stored (shared by the
/// adapters).
pub(crate) fn check_definition(point: &DataPointConfig) -> Result<()> {
    let name = &point.name;
    if name.trim().is_empty() {
        return Err(Error::InvalidInput(
            "a data point needs a non-empty name, such as 'site.load'".to_owned(),
        ));
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(Error::InvalidInput(format!(
            "data point name '{}' is {length} characters long, longer than the \
             {MAX_NAME_CHARS} a name may have; use a shorter name",
            shown(name)
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "data point name {name:?} contains control characters; use printable characters only"
        )));
    }
    if let Some(c) = name.chars().find(|c| is_format_char(*c)) {
        let visible: String = name
            .chars()
            .map(|c| {
                if is_format_char(c) {
                    format!("<U+{:04X}>", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect();
        return Err(Error::InvalidInput(format!(
            "data point name '{visible}' contains U+{:04X}, an invisible formatting character \
             that makes a name look like another (or show reordered) in logs, CSV headers and \
             UIs; use visible characters only",
            u32::from(c)
        )));
    }
    if name == TS {
        return Err(Error::InvalidInput(format!(
            "'{TS}' cannot name a data point: it is the time column of every frame; use another \
             name, such as 'site.ts'"
        )));
    }
    if name.contains(',') {
        // Lists of names are comma-separated (`--names a,b`, CSV headers).
        return Err(Error::InvalidInput(format!(
            "data point name '{name}' contains a ',', which separates names in lists (--names \
             a,b) and cells in CSV files; use another character, such as '_'"
        )));
    }
    if name.starts_with(['=', '+', '-', '@']) {
        // A spreadsheet opening a CSV output would take it for a formula.
        return Err(Error::InvalidInput(format!(
            "data point name '{name}' starts with '{}', which spreadsheets read as a formula in \
             the CSV files it heads; start it with a letter or digit",
            &name[..1]
        )));
    }
    parse_time_zone(&point.time_zone).map_err(|e| {
        Error::InvalidInput(format!("data point '{name}': {e}", e = strip_kind(&e)))
    })?;
    check_unit(point)
}

/// Power in an energy unit or energy in a power unit (the kW/kWh mix-up)
/// is refused: algorithms would read the values as the other quantity.
fn check_unit(point: &DataPointConfig) -> Result<()> {
    const POWER: [&str; 4] = ["W", "kW", "MW", "GW"];
    const ENERGY: [&str; 4] = ["Wh", "kWh", "MWh", "GWh"];
    let unit = point.unit.as_str();
    let (units, other, other_units) = match point.quantity {
        Quantity::Power if ENERGY.contains(&unit) => (POWER, Quantity::Energy, ENERGY),
        Quantity::Energy if POWER.contains(&unit) => (ENERGY, Quantity::Power, POWER),
        _ => return Ok(()),
    };
    Err(Error::InvalidInput(format!(
        "data point '{}' is {} in {unit}, which is a unit of {other}: {} is in {}, {other} in {}; \
         give it a unit of {} (such as {}), or make it {other} if its values are",
        point.name,
        point.quantity,
        point.quantity,
        units.join(", "),
        other_units.join(", "),
        point.quantity,
        units[1],
    )))
}

/// The message of an SDK error without its "invalid input: " prefix.
fn strip_kind(error: &Error) -> String {
    match error {
        Error::InvalidInput(m) | Error::Data(m) | Error::Failed(m) => m.clone(),
        other => other.to_string(),
    }
}
