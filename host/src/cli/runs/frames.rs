//! `algohost runs output`: an output frame encoded by the server's own
//! encoder ([`FrameFormat::encode_into`]), so that its bytes are those of
//! `GET /runs/{id}/outputs/{frame}?format=…`.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::suggest;
use anyhow::Context as _;
use uuid::Uuid;

use super::find;
use super::store_path::StorePath;
use crate::cli::UsageError;
use crate::runner::RunStatus;
use crate::server::frames::FrameFormat;
use crate::store::Logs;
use crate::store::sqlite::ReadOnlyStore;

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

/// The format a file's extension names (`schedule.parquet`; `.arrows`,
/// the Arrow stream's own, too); `None` without an extension, an error for
/// one that names no format, rather than CSV under another name.
fn extension_format(path: &Path) -> Result<Option<FrameFormat>, UsageError> {
    let Some(extension) = path.extension() else {
        return Ok(None);
    };
    let extension = extension.to_string_lossy();
    let named = match extension.to_ascii_lowercase().as_str() {
        "arrows" => Some(FrameFormat::ArrowStream),
        name => format_named(name),
    };
    named.map(Some).ok_or_else(|| {
        UsageError(format!(
            "cannot tell the format from the extension .{extension} of {}: give --format \
             csv, json, parquet or arrow (an Arrow stream), or a file name ending in one of them",
            path.display()
        ))
    })
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
    let format = match (format, to) {
        (Some(format), _) => format,
        (None, Some(to)) if to.as_os_str() != "-" => {
            extension_format(to)?.unwrap_or(FrameFormat::Csv)
        }
        (None, _) => FrameFormat::Csv,
    };
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
    let mut file = std::fs::File::create(path).map_err(|e| unusable_path(path, e))?;
    let written = encode(frame, format, |chunk| {
        file.write_all(chunk)
            .with_context(|| format!("cannot write {}", path.display()))
    })
    .and_then(|()| {
        // On disk before it says so; a pipe or a device (/dev/stdout, a
        // process substitution) has nothing to sync, and refuses to.
        let is_file = file.metadata().is_ok_and(|m| m.is_file());
        if !is_file {
            return Ok(());
        }
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

/// Why `-o path` cannot be created: a usage error (exit code 2) when the
/// path is not one a file can be made at (a missing directory, a
/// directory, no permission), with what to do; the I/O error otherwise.
fn unusable_path(path: &Path, e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let shown = path.display();
    let why = match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            format!(
                "cannot create {shown}: the directory {} does not exist; create it (mkdir -p {}) \
                 or give -o a path in an existing one",
                dir.display(),
                dir.display()
            )
        }
        ErrorKind::IsADirectory => {
            format!("cannot create {shown}: it is a directory; give -o a file path in it")
        }
        ErrorKind::PermissionDenied => {
            format!("cannot create {shown}: permission denied; give -o a path you can write")
        }
        _ => return anyhow::Error::new(e).context(format!("cannot create {shown}")),
    };
    UsageError(why).into()
}

/// Encodes `frame` with the server's own encoder ([`FrameFormat::encode_into`]),
/// so that the bytes are those of a download, handing each chunk to
/// `write` as it comes.
fn encode(
    mut frame: DataFrame,
    format: FrameFormat,
    write: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = Chunks {
        write,
        failure: None,
    };
    let encoded = {
        let mut buffered = std::io::BufWriter::with_capacity(CHUNK, &mut out);
        format
            .encode_into(&mut frame, &mut buffered)
            .map_err(std::io::Error::other)
            .and_then(|()| buffered.flush())
    };
    match (encoded, out.failure) {
        // Writing failed (a closed pipe, a full disk): that error, not
        // the encoder's report of it.
        (_, Some(failure)) => Err(failure),
        (Err(e), None) => Err(anyhow::anyhow!(
            "cannot encode the frame as {}: {e}",
            format.extension()
        )),
        (Ok(()), None) => Ok(()),
    }
}

/// The size of the chunks handed to the writer.
const CHUNK: usize = 256 * 1024;

/// Hands what the encoder writes to `write`, keeping its error.
struct Chunks<F> {
    write: F,
    failure: Option<anyhow::Error>,
}

impl<F: FnMut(&[u8]) -> anyhow::Result<()>> std::io::Write for Chunks<F> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.failure.is_some() {
            return Err(std::io::Error::other("writing failed"));
        }
        match (self.write)(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                self.failure = Some(e);
                Err(std::io::Error::other("writing failed"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
