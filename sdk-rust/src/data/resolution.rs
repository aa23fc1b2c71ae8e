//! ISO 8601 durations used as resolutions: fixed (`PT15M`, `PT1H`) and
//! calendar (`P1D`, `P1W`, `P1M`, `P1Y`) ones.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A resolution: a fixed number of seconds, or a calendar step (days or
/// months) aligned to local midnight in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// A fixed length: `PT15M` is `Seconds(900)`.
    Seconds(i64),
    /// Calendar days (local midnight to local midnight): `P1D`, `P1W` = 7 days.
    Days(u32),
    /// Calendar months: `P1M`, `P1Y` = 12 months.
    Months(u32),
}

impl Resolution {
    /// Whether steps follow the calendar (and so depend on the time zone).
    pub fn is_calendar(&self) -> bool {
        !matches!(self, Resolution::Seconds(_))
    }

    /// The fixed length in seconds, `None` for calendar resolutions.
    pub fn seconds(&self) -> Option<i64> {
        match self {
            Resolution::Seconds(s) => Some(*s),
            _ => None,
        }
    }
}

/// Why a resolution string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid resolution '{0}': use an ISO 8601 duration such as PT15M, PT1H, P1D, P1W, P1M or P1Y (one unit, a positive whole number)"
)]
pub struct ParseResolutionError(pub String);

impl FromStr for Resolution {
    type Err = ParseResolutionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseResolutionError(s.to_owned());
        let upper = s.trim().to_ascii_uppercase();
        let rest = upper.strip_prefix('P').ok_or_else(err)?;
        let (is_time, body) = match rest.strip_prefix('T') {
            Some(b) => (true, b),
            None => (false, rest),
        };
        if body.len() < 2 {
            return Err(err());
        }
        let (digits, unit) = body.split_at(body.len() - 1);
        let n: u32 = digits.parse().map_err(|_| err())?;
        if n == 0 {
            return Err(err());
        }
        let n64 = i64::from(n);
        Ok(match (is_time, unit) {
            (true, "S") => Resolution::Seconds(n64),
            (true, "M") => Resolution::Seconds(n64 * 60),
            (true, "H") => Resolution::Seconds(n64 * 3600),
            (false, "D") => Resolution::Days(n),
            (false, "W") => Resolution::Days(n.checked_mul(7).ok_or_else(err)?),
            (false, "M") => Resolution::Months(n),
            (false, "Y") => Resolution::Months(n.checked_mul(12).ok_or_else(err)?),
            _ => return Err(err()),
        })
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Resolution::Seconds(s) if s % 3600 == 0 => write!(f, "PT{}H", s / 3600),
            Resolution::Seconds(s) if s % 60 == 0 => write!(f, "PT{}M", s / 60),
            Resolution::Seconds(s) => write!(f, "PT{s}S"),
            Resolution::Days(d) if d % 7 == 0 => write!(f, "P{}W", d / 7),
            Resolution::Days(d) => write!(f, "P{d}D"),
            Resolution::Months(m) if m % 12 == 0 => write!(f, "P{}Y", m / 12),
            Resolution::Months(m) => write!(f, "P{m}M"),
        }
    }
}

impl Serialize for Resolution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Resolution {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Resolution {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Resolution".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "ISO 8601 duration: PT15M, PT1H, P1D, P1W, P1M, P1Y",
            "pattern": "^[Pp]([Tt][0-9]+[HhMmSs]|[0-9]+[DdWwMmYy])$",
            "examples": ["PT15M", "PT1H", "P1D"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for (text, res) in [
            ("PT15M", Resolution::Seconds(900)),
            ("PT1H", Resolution::Seconds(3600)),
            ("PT30S", Resolution::Seconds(30)),
            ("P1D", Resolution::Days(1)),
            ("P1W", Resolution::Days(7)),
            ("P1M", Resolution::Months(1)),
            ("P1Y", Resolution::Months(12)),
        ] {
            assert_eq!(text.parse::<Resolution>().unwrap(), res);
            assert_eq!(res.to_string(), text);
        }
    }

    #[test]
    fn rejects_with_a_message_that_shows_the_format() {
        for bad in [
            "", "15min", "PT0M", "P", "PT", "P1H", "PT1D", "PT-5M", "P1.5D",
        ] {
            let err = bad.parse::<Resolution>().unwrap_err();
            assert!(err.to_string().contains("PT15M"), "{bad}: {err}");
        }
    }
}
