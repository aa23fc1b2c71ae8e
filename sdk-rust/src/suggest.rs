//! "Did you mean …?": the known names close to a mistyped one, for error
//! messages about unknown algorithms, data points, frames and the like.

/// At most this many close names are suggested.
const MAX_SUGGESTIONS: usize = 3;

/// At most this many known names are listed in an error.
const MAX_LISTED: usize = 20;

/// Names longer than this are compared by containment only (edit
/// distance costs the product of the two lengths).
const MAX_EDITED_CHARS: usize = 512;

/// A name in an error is cut to this many characters (and `…`), so that a
/// very long one does not make every message that lists it as long.
const MAX_SHOWN_CHARS: usize = 64;

/// `name`, cut to `MAX_SHOWN_CHARS` characters with `…` when longer.
pub fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    match name.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &name[..at]).into(),
        None => name.into(),
    }
}

/// The names of `known` close to `name`, closest first, at most three: those
/// within a few edits of it (a third of its length, at least two), or that
/// contain it, ignoring case.
///
/// ```
/// use algohost_sdk::suggest::close_names;
///
/// let known = ["site.load", "site.pv", "market.day_ahead"];
/// assert_eq!(close_names("site.lod", known), ["site.load"]);
/// assert_eq!(close_names("Day_Ahead", known), ["market.day_ahead"]);
/// assert!(close_names("weather", known).is_empty());
/// ```
pub fn close_names<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let length = lower.chars().count();
    let limit = (length / 3).max(2);
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter_map(|k| {
            let k_lower = k.to_lowercase();
            let contains = !lower.is_empty() && k_lower.contains(&lower);
            // Edits cost O(length²): only for names of a sensible length,
            // and not when the lengths alone differ by more than the limit.
            let k_length = k_lower.chars().count();
            let distance =
                if length.max(k_length) <= MAX_EDITED_CHARS && length.abs_diff(k_length) <= limit {
                    strsim::levenshtein(&lower, &k_lower)
                } else {
                    usize::MAX
                };
            (distance <= limit || contains).then_some((distance, k))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, k)| k)
        .collect()
}

/// `'a' or 'b'` for a message, from [`close_names`]' answer.
pub fn or_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The error text for names of `what` (e.g. "data point name") that are
/// not among `known`: each one with its close names, then the known names
/// (the first twenty, sorted) or, when there are none, `none_yet`.
///
/// ```
/// use algohost_sdk::suggest::unknown_names;
///
/// let text = unknown_names("data point name", &["site.lod", "pv"], &["site.load", "site.pv"], "");
/// assert_eq!(
///     text,
///     "unknown data point name 'site.lod' (did you mean 'site.load'?); \
///      unknown data point name 'pv' (did you mean 'site.pv'?); known names: site.load, site.pv"
/// );
/// ```
pub fn unknown_names(what: &str, unknown: &[&str], known: &[&str], none_yet: &str) -> String {
    let mut parts: Vec<String> = unknown
        .iter()
        .map(|name| {
            let close = close_names(name, known.iter().copied());
            let name = shown(name);
            if close.is_empty() {
                format!("unknown {what} '{name}'")
            } else {
                let close: Vec<_> = close.iter().map(|c| shown(c)).collect();
                let close: Vec<&str> = close.iter().map(|c| c.as_ref()).collect();
                format!(
                    "unknown {what} '{name}' (did you mean {}?)",
                    or_list(&close)
                )
            }
        })
        .collect();
    parts.push(if known.is_empty() {
        none_yet.to_owned()
    } else {
        listed("known names", known)
    });
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

/// `names` sorted, under `label`: `"{label}: a, b"`, or with more than
/// twenty, `"{label} include: a, …, t, … (25 in all)"`.
pub fn listed(label: &str, names: &[&str]) -> String {
    let mut names = names.to_vec();
    names.sort_unstable();
    let names: Vec<std::borrow::Cow<'_, str>> = names.into_iter().map(shown).collect();
    let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
    if names.len() > MAX_LISTED {
        format!(
            "{label} include: {}, … ({} in all)",
            names[..MAX_LISTED].join(", "),
            names.len()
        )
    } else {
        format!("{label}: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_case_and_substrings_are_close_and_the_closest_come_first() {
        let known = [
            "peak_shaving",
            "price_arbitrage",
            "resample",
            "naive_forecast",
        ];
        assert_eq!(close_names("peak_shavin", known), ["peak_shaving"]);
        assert_eq!(close_names("RESAMPLE", known), ["resample"]);
        assert_eq!(close_names("forecast", known), ["naive_forecast"]);
        assert!(close_names("dispatch", known).is_empty());
        let many = ["load1", "load2", "load3", "load4", "load"];
        assert_eq!(close_names("load", many), ["load", "load1", "load2"]);
    }

    #[test]
    fn many_known_names_are_cut_to_twenty() {
        let known: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let text = unknown_names("data point name", &["zzzzzz"], &known, "none");
        assert!(
            text.starts_with("unknown data point name 'zzzzzz'; known names include: p00, p01"),
            "{text}"
        );
        assert!(text.ends_with("p19, … (25 in all)"), "{text}");
        assert_eq!(
            unknown_names("frame", &["a"], &[], "there are none yet"),
            "unknown frame 'a'; there are none yet"
        );
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        let long = "n".repeat(100_000);
        let typo = "n".repeat(99_999);
        // Found by containment (the long name holds the typo), at once.
        let text = unknown_names("data point name", &[&typo], &[&long, "site.load"], "");
        let cut = format!("{}…", "n".repeat(64));
        assert_eq!(
            text,
            format!(
                "unknown data point name '{cut}' (did you mean '{cut}'?); known names: {cut}, \
                 site.load"
            )
        );
    }
}
