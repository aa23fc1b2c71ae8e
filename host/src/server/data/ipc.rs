//! What the server checks of an Arrow IPC stream before polars decodes it:
//! the framing of its messages, and that no record batch is compressed or
//! declares more rows than its bytes can hold. The body limit bounds the
//! bytes on the wire; these checks make it bound what the body decodes to
//! (a 10 MB zstd stream can hold gigabytes).

use polars_arrow_format::ipc::planus::{self, ReadAsRoot};
use polars_arrow_format::ipc::{CompressionType, MessageHeaderRef, MessageRef};

use crate::server::ApiError;

/// Marks the start of a message's length (Arrow 0.15 and later).
const CONTINUATION: u32 = 0xFFFF_FFFF;

/// The fewest bytes a row takes in an uncompressed stream: its `ts`.
const MIN_ROW_BYTES: usize = 8;

/// How an Arrow IPC stream is refused, before any of it is decoded.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// A record batch's buffers are compressed with this codec.
    Compressed(&'static str),
    /// The messages are not framed as an Arrow IPC stream; says why.
    Malformed(String),
    /// The record batches declare more rows than the body can hold.
    TooManyRows { rows: u64, bytes: usize },
}

impl Refusal {
    /// The problem to answer, for a body that should have `columns`.
    pub fn into_error(self, columns: &str) -> ApiError {
        match self {
            Refusal::Compressed(codec) => ApiError::UnsupportedMediaType(format!(
                "the Arrow IPC stream's record batches are compressed ({codec}); send an \
                 uncompressed Arrow IPC stream (pyarrow: IpcWriteOptions(compression=None), \
                 polars: write_ipc_stream(compression=\"uncompressed\"))"
            )),
            Refusal::Malformed(why) => ApiError::BadRequest(format!(
                "the body is not an Arrow IPC stream with columns {columns}: {why}"
            )),
            Refusal::TooManyRows { rows, bytes } => ApiError::BadRequest(format!(
                "the Arrow IPC stream declares {rows} rows, more than its {bytes} bytes can \
                 hold (a ts alone takes {MIN_ROW_BYTES} bytes); send columns {columns} \
                 with a value for every row"
            )),
        }
    }
}

/// Walks the messages of `body` (an Arrow IPC stream) by their headers,
/// without decoding a body: refuses compression, row counts beyond what
/// the body can hold, and framing polars would trip over.
pub fn check_stream(body: &[u8]) -> Result<(), Refusal> {
    let mut at = 0;
    let mut rows: u64 = 0;
    while at < body.len() {
        let start = at;
        let mut length = read_u32(body, &mut at)?;
        if length == CONTINUATION {
            length = read_u32(body, &mut at)?;
        }
        let length = i32::from_le_bytes(length.to_le_bytes());
        if length == 0 {
            break;
        }
        let Some(metadata) = usize::try_from(length)
            .ok()
            .and_then(|n| body.get(at..at.checked_add(n)?))
        else {
            return Err(Refusal::Malformed(format!(
                "the message at byte {start} declares {length} bytes of metadata, but {} follow",
                body.len() - at
            )));
        };
        at += metadata.len();
        let not_a_message = |e: planus::Error| {
            Refusal::Malformed(format!(
                "the bytes at {start} are not an Arrow IPC message ({})",
                e.error_kind.to_string().to_lowercase()
            ))
        };
        let message = MessageRef::read_as_root(metadata).map_err(not_a_message)?;
        let batch = match message.header().map_err(not_a_message)? {
            Some(MessageHeaderRef::RecordBatch(batch)) => Some(batch),
            Some(MessageHeaderRef::DictionaryBatch(dictionary)) => {
                dictionary.data().map_err(not_a_message)?
            }
            _ => None,
        };
        if let Some(batch) = batch {
            if let Some(compression) = batch.compression().map_err(not_a_message)? {
                return Err(Refusal::Compressed(codec_name(
                    compression.codec().map_err(not_a_message)?,
                )));
            }
            // A negative length is polars' to refuse; it holds no rows.
            let length = batch.length().map_err(not_a_message)?;
            rows = rows.saturating_add(u64::try_from(length).unwrap_or(0));
        }
        let body_length = message.body_length().map_err(not_a_message)?;
        match usize::try_from(body_length)
            .ok()
            .and_then(|n| at.checked_add(n))
        {
            Some(end) if end <= body.len() => at = end,
            _ => {
                return Err(Refusal::Malformed(format!(
                    "the stream is cut off: the message at byte {start} declares a body of \
                     {body_length} bytes, but {} follow",
                    body.len() - at
                )));
            }
        }
    }
    if rows.saturating_mul(MIN_ROW_BYTES as u64) > body.len() as u64 {
        return Err(Refusal::TooManyRows {
            rows,
            bytes: body.len(),
        });
    }
    Ok(())
}

fn codec_name(codec: CompressionType) -> &'static str {
    match codec {
        CompressionType::Lz4Frame => "lz4",
        CompressionType::Zstd => "zstd",
    }
}

fn read_u32(body: &[u8], at: &mut usize) -> Result<u32, Refusal> {
    let bytes = body.get(*at..*at + 4).ok_or_else(|| {
        Refusal::Malformed(format!(
            "the stream is cut off at byte {}, inside a message's length",
            *at
        ))
    })?;
    *at += 4;
    Ok(u32::from_le_bytes(bytes.try_into().expect("four bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_no_message_are_refused_with_where() {
        assert_eq!(
            check_stream(b"garbage"),
            Err(Refusal::Malformed(
                "the message at byte 0 declares 1651663207 bytes of metadata, but 3 follow".into()
            ))
        );
        assert_eq!(
            check_stream(&[0xFF, 0xFF, 0xFF, 0xFF, 8, 0]),
            Err(Refusal::Malformed(
                "the stream is cut off at byte 4, inside a message's length".into()
            ))
        );
        let mut zeros = vec![0xFF, 0xFF, 0xFF, 0xFF, 8, 0, 0, 0];
        zeros.extend([0; 8]);
        assert!(matches!(
            check_stream(&zeros),
            Err(Refusal::Malformed(m)) if m.starts_with("the bytes at 0 are not an Arrow IPC message (")
        ));
        assert_eq!(check_stream(&[]), Ok(()));
        assert_eq!(check_stream(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]), Ok(()));
    }
}
