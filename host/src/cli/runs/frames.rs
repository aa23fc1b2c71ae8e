//! `algohost runs output`: an output frame encoded by the server's own
//! encoder, so that its bytes are those of
//! `GET /runs/{id}/outputs/{frame}?format=…`.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::suggest;
use anyhow::Context as _;
use futures_util::StreamExt as _;
use uuid::Uuid;

use super::find;
use super::store_path::StorePath;
use crate::cli::UsageError;
use crate::runner::RunStatus;
use crate::server::frames::FrameFormat;
use crate::store::Logs;
use crate::store::sqlite::ReadOnlyStore;

/// Logs that `runs` turns off: the server's frame encoder, which logs a
/// reader that went away (`algohost runs output … | head`) as an error,
/// and whose real errors [`encode`] reports itself.
pub(in crate::cli) const SILENCED_LOGS: &[&str] = &["algohost::server::frames"];

/// A format by the name `?format=` takes, which is also its file extension.
fn format_named(name: &str) -> Option<FrameFormat> {
    FrameFormat::ALL
        .into_iter()
        .find(|f| f.extension().eq_ignore_ascii_case(name))
}

/// `--format NAME`; the error lists the names.
pub(super) fn parse_format(text: &str) -> Result<FrameFormat, String> {
    format_named(text.trim())
        .ok_or_else(|| format!("'{text}' is not a format: give csv, json, parquet or arrow"))
}

/// The format a file's extension names (`schedule.parquet`).
fn extension_format(path: &Path) -> Option<FrameFormat> {
    format_named(path.extension()?.to_str()?)
}

/// The frame `name` of the run `id`, or an error saying why there is none.
fn output_frame(
    store: &ReadOnlyStore,
    store_path: &StorePath,
    id: Uuid,
    name: &str,
) -> anyhow::Result<DataFrame> {
    if let Some(frame) = store.frame(id, name)? {
        return Ok(frame);
    }
    let run = find(store, store_path, id, Logs::None)?;
    let why = if !run.status.is_finished() {
        format!(
            "run {id} is {}: its output frames are there once it has succeeded; `algohost runs \
             show {id}` shows how far it is",
            run.status
        )
    } else if run.status != RunStatus::Succeeded {
        format!(
            "run {id} ended {}, so it has no output frames (only a run that succeeded has them); \
             `algohost runs show {id}` says why",
            run.status
        )
    } else {
        let known: Vec<&str> = run.frames.iter().map(String::as_str).collect();
        format!(
            "run {id}: {}",
            suggest::unknown_names("output frame", &[name], &known, "it has no output frames")
        )
    };
    Err(UsageError(why).into())
}

/// `algohost runs output ID FRAME`: the frame encoded as the server's
/// `GET /runs/{id}/outputs/{frame}?format=…` encodes it, to stdout or `to`
/// (`-` is stdout), in `format`, else the one `to`'s extension names, else
/// CSV.
pub(super) fn write_output(
    store: &ReadOnlyStore,
    store_path: &StorePath,
    id: Uuid,
    name: &str,
    format: Option<FrameFormat>,
    to: Option<&Path>,
) -> anyhow::Result<u8> {
    let format = format
        .or_else(|| to.and_then(extension_format))
        .unwrap_or(FrameFormat::Csv);
    let to = to.filter(|p| p.as_os_str() != "-");
    let is_binary = matches!(format, FrameFormat::Parquet | FrameFormat::ArrowStream);
    if to.is_none() && is_binary && std::io::stdout().is_terminal() {
        return Err(UsageError(format!(
            "{} is binary and stdout is a terminal: give -o FILE, or redirect stdout (> FILE)",
            format.extension()
        ))
        .into());
    }
    let frame = output_frame(store, store_path, id, name)?;
    let rows = frame.height();
    let Some(path) = to else {
        encode(frame, format, |chunk| {
            Ok(crate::cli::output::write_bytes(chunk)?)
        })?;
        return Ok(0);
    };
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let written = encode(frame, format, |chunk| {
        file.write_all(chunk)
            .with_context(|| format!("cannot write {}", path.display()))
    })
    .and_then(|()| {
        file.sync_all()
            .with_context(|| format!("cannot write {}", path.display()))
    });
    if let Err(e) = written {
        // No partial file that looks like a whole one (but a device such
        // as /dev/stdout stays).
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    errln!(
        "wrote {}: frame '{name}' of run {id}, {rows} rows as {}",
        path.display(),
        format.extension()
    );
    Ok(0)
}

/// Encodes `frame` through the server's own encoder
/// ([`FrameFormat::streamed`]), so that the bytes are those of a download,
/// handing each chunk to `write` as it comes.
fn encode(
    frame: DataFrame,
    format: FrameFormat,
    mut write: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut body = format.streamed(frame).into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                anyhow::anyhow!("cannot encode the frame as {}: {e}", format.extension())
            })?;
            write(&chunk)?;
        }
        Ok(())
    })
}
