//! The RFC 3339 text of an instant in UTC (`…Z`), as chrono's
//! `to_rfc3339_opts(_, true)` writes it, written digit by digit: every
//! run's record carries three instants, written to the store and to each
//! answer, and chrono's general formatter (through `fmt`) cost about 2 %
//! of a quick run served over HTTP. Instants this does not write exactly
//! as chrono does (a year before 0 or after 9999, a leap second) are left
//! to chrono.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// How many digits of the second's fraction to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// Always nine (the store's text, which sorts as the instants do).
    Nanos,
    /// As few of 0, 3, 6 or 9 as say it exactly (an API's answer).
    Auto,
}

/// `at` as RFC 3339 text in UTC, with the fraction `fraction` says.
pub fn format(at: &DateTime<Utc>, fraction: Fraction) -> String {
    let seconds = match fraction {
        Fraction::Nanos => SecondsFormat::Nanos,
        Fraction::Auto => SecondsFormat::AutoSi,
    };
    let (date, time) = (at.date_naive(), at.time());
    let nanos = time.nanosecond();
    let year = match u32::try_from(date.year()) {
        Ok(year) if year <= 9999 && nanos < 1_000_000_000 => year,
        _ => return at.to_rfc3339_opts(seconds, true),
    };
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], date.month());
    put_digits(&mut text[8..10], date.day());
    put_digits(&mut text[11..13], time.hour());
    put_digits(&mut text[14..16], time.minute());
    put_digits(&mut text[17..19], time.second());
    let width = match fraction {
        Fraction::Nanos => 9,
        Fraction::Auto if nanos == 0 => 0,
        Fraction::Auto if nanos % 1_000_000 == 0 => 3,
        Fraction::Auto if nanos % 1_000 == 0 => 6,
        Fraction::Auto => 9,
    };
    let end = if width == 0 {
        19
    } else {
        put_digits(
            &mut text[20..20 + width],
            nanos / 10u32.pow(9 - width as u32),
        );
        20 + width
    };
    text[end] = b'Z';
    std::str::from_utf8(&text[..=end])
        .map_or_else(|_| at.to_rfc3339_opts(seconds, true), str::to_owned)
}

/// Writes the last `slot.len()` decimal digits of `n` into `slot`.
fn put_digits(slot: &mut [u8], mut n: u32) {
    for digit in slot.iter_mut().rev() {
        // A digit is below 10.
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Instants across the years, times of day and fractions of every
    /// width, and those left to chrono.
    fn instants() -> Vec<DateTime<Utc>> {
        let mut instants = Vec::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Seconds from 1900 to 2200.
            let seconds = (seed % 9_467_280_000) as i64 - 2_208_988_800;
            let nanos = match seed % 5 {
                0 => 0,
                1 => (seed >> 8) as u32 % 1000 * 1_000_000,
                2 => (seed >> 8) as u32 % 1_000_000 * 1000,
                _ => (seed >> 8) as u32 % 1_000_000_000,
            };
            instants.push(Utc.timestamp_opt(seconds, nanos).unwrap());
        }
        instants.push(Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap());
        instants.push(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        instants.push(Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap());
        instants.push(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap());
        instants.push(DateTime::<Utc>::MIN_UTC);
        instants.push(DateTime::<Utc>::MAX_UTC);
        // A leap second.
        instants.push(Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap());
        instants
    }

    #[test]
    fn writes_what_chrono_writes() {
        for at in instants() {
            assert_eq!(
                format(&at, Fraction::Nanos),
                at.to_rfc3339_opts(SecondsFormat::Nanos, true)
            );
            assert_eq!(
                format(&at, Fraction::Auto),
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            );
        }
    }

    #[test]
    fn examples() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 9, 3, 7).unwrap();
        assert_eq!(format(&at, Fraction::Auto), "2026-11-22T09:03:07Z");
        assert_eq!(
            format(&at, Fraction::Nanos),
            "2026-11-22T09:03:07.000000000Z"
        );
        let at = at + chrono::Duration::microseconds(120);
        assert_eq!(format(&at, Fraction::Auto), "2026-11-22T09:03:07.000120Z");
    }
}
