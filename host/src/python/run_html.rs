//! `Run._repr_html_`: a run as a notebook shows it when it is a cell's last
//! expression. Every text from the run goes through Python's `html.escape`.

use std::fmt::Write as _;

use algohost_sdk::Output;
use chrono::TimeDelta;
use pyo3::prelude::*;

use crate::runner::{Run, RunStatus};

/// How much of the summary's JSON is shown.
const SUMMARY_CHARS: usize = 300;
/// How much of the error message is shown.
const ERROR_CHARS: usize = 1000;
/// How many warning and error log records are listed.
const LOGS_LISTED: usize = 3;

/// A table of the run's algorithm, status (with the error when it did not
/// succeed), duration, summary, frames and warning and error log records.
pub(super) fn html(py: Python<'_>, run: &Run, output: Option<&Output>) -> PyResult<String> {
    let escape = py.import("html")?.getattr("escape")?;
    let esc = |text: &str| -> PyResult<String> { escape.call1((text,))?.extract() };
    let mut rows: Vec<(&str, String)> = vec![
        (
            "algorithm",
            format!(
                "<code>{}</code> {}",
                esc(&run.algorithm)?,
                esc(&run.version)?
            ),
        ),
        (
            "status",
            format!("<strong>{}</strong>", run.status.as_str()),
        ),
    ];
    if let Some(error) = run
        .error
        .as_ref()
        .filter(|_| run.status != RunStatus::Succeeded)
    {
        rows.push((
            "error",
            format!(
                "<code>{}</code>: <span style=\"white-space: pre-wrap\">{}</span>",
                esc(&error.kind)?,
                esc(&cut(&error.message, ERROR_CHARS))?
            ),
        ));
    }
    rows.push(("duration", esc(&duration(run))?));
    let summary = match &run.summary {
        serde_json::Value::Null => "none".to_owned(),
        value => format!(
            "<code>{}</code>",
            esc(&cut(&value.to_string(), SUMMARY_CHARS))?
        ),
    };
    rows.push(("summary", summary));
    rows.push(("frames", frames(output, &esc)?));
    rows.push(("logs", logs(run, &esc)?));

    let mut html = format!(
        "<div><strong>Run</strong> <code>{}</code><table>",
        esc(&run.id.to_string())?
    );
    for (name, value) in rows {
        write!(
            html,
            "<tr><th style=\"text-align: left\">{name}</th>\
             <td style=\"text-align: left\">{value}</td></tr>"
        )
        .expect("writing to a String");
    }
    html.push_str("</table></div>");
    Ok(html)
}

/// `text` cut to `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// From start to end (`1.25 s`), or what it is instead.
fn duration(run: &Run) -> String {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => shown((end - start).max(TimeDelta::zero())),
        (Some(_), None) => "still running".to_owned(),
        (None, _) => "never started".to_owned(),
    }
}

/// `350 ms`, `1.25 s` or `2 min 5 s`.
fn shown(span: TimeDelta) -> String {
    let ms = span.num_milliseconds();
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// Each frame's name and shape (`rows × columns`).
fn frames(output: Option<&Output>, esc: &dyn Fn(&str) -> PyResult<String>) -> PyResult<String> {
    let Some(output) = output.filter(|o| !o.frames.is_empty()) else {
        return Ok("none".to_owned());
    };
    let mut items = Vec::with_capacity(output.frames.len());
    for (name, frame) in &output.frames {
        items.push(format!(
            "<code>{}</code> ({} × {})",
            esc(name)?,
            frame.height(),
            frame.width()
        ));
    }
    Ok(items.join(", "))
}

/// How many warning and error records the log holds, with the first few.
fn logs(run: &Run, esc: &dyn Fn(&str) -> PyResult<String>) -> PyResult<String> {
    let count = |level: &str| run.logs.iter().filter(|r| r.level == level).count();
    let (warnings, errors) = (count("warn"), count("error"));
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut html = format!(
        "{}, {} (of {} records)",
        plural(warnings, "warning"),
        plural(errors, "error"),
        run.logs.len()
    );
    let listed: Vec<_> = run
        .logs
        .iter()
        .filter(|r| r.level == "warn" || r.level == "error")
        .take(LOGS_LISTED)
        .collect();
    if !listed.is_empty() {
        html.push_str("<ul>");
        for record in listed {
            write!(
                html,
                "<li>{}: {}</li>",
                esc(&record.level)?,
                esc(&cut(&record.message, SUMMARY_CHARS))?
            )
            .expect("writing to a String");
        }
        html.push_str("</ul>");
    }
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(shown(TimeDelta::milliseconds(350)), "350 ms");
        assert_eq!(shown(TimeDelta::milliseconds(1_250)), "1.25 s");
        assert_eq!(shown(TimeDelta::milliseconds(125_000)), "2 min 5 s");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
