//! Frames as Arrow C streams: a stream of struct arrays, one per record
//! batch, whose fields are the frame's columns. This is the layout of the
//! Arrow PyCapsule interface (`__arrow_c_stream__`), so the same two
//! functions serve dylib plugins and Python; neither side sees the other's
//! polars types.
//!
//! Columns cross without copying (strings as `Utf8View`, time stamps with
//! their unit and time zone). Ownership follows the C stream interface: the
//! consumer of a stream releases it, which runs the producer's `release`, and
//! every imported array keeps its producer's `release` until the last
//! column using it is dropped.

use polars::prelude::{ArrowDataType, ArrowField, Column, CompatLevel, DataFrame, Series};
use polars_arrow::array::{Array, ArrayRef, StructArray, new_empty_array};
use polars_arrow::ffi::{ArrowArrayStream, ArrowArrayStreamReader, export_iterator};

use crate::error::{Error, Result};

/// Exports `frame` as an Arrow C stream of struct arrays, one per record
/// batch. The columns are shared, not copied; the stream owns references
/// to them until the consumer releases it.
///
/// ```
/// use algohost_sdk::ffi::frames::{export_frame, import_frame};
/// use algohost_sdk::prelude::*;
///
/// let frame = DataFrame::new_infer_height(vec![Column::new("x".into(), [1.0, 2.0])]).unwrap();
/// let mut stream = export_frame(&frame);
/// // SAFETY: the stream was just exported by `export_frame`.
/// let back = unsafe { import_frame(&mut stream) }.unwrap();
/// assert!(back.equals_missing(&frame));
/// ```
pub fn export_frame(frame: &DataFrame) -> ArrowArrayStream {
    let compat = CompatLevel::newest();
    let mut frame = frame.clone();
    if frame.should_rechunk() {
        frame.align_chunks_par();
    }
    let fields: Vec<ArrowField> = frame
        .columns()
        .iter()
        .map(|c| c.field().to_arrow(compat))
        .collect();
    let dtype = ArrowDataType::Struct(fields);
    let batches: Vec<_> = frame
        .iter_chunks(compat, false)
        .map(|batch| {
            let height = batch.height();
            StructArray::try_new(dtype.clone(), height, batch.into_arrays(), None)
                .map(|array| Box::new(array) as ArrayRef)
        })
        .collect();
    export_iterator(
        Box::new(batches.into_iter()),
        ArrowField::new("".into(), dtype, false),
    )
}

/// Imports a frame from an Arrow C stream of struct arrays (as
/// [`export_frame`], pyarrow's `RecordBatchReader` or any
/// `__arrow_c_stream__` producer writes them). Reads every batch; the
/// stream itself stays with the caller, who releases it.
///
/// # Safety
/// `stream` must be a valid Arrow C stream (or already released, which is
/// reported as an error), producing arrays that follow the Arrow C data
/// interface.
pub unsafe fn import_frame(stream: &mut ArrowArrayStream) -> Result<DataFrame> {
    // SAFETY: the caller guarantees a valid C stream.
    let mut reader = unsafe { ArrowArrayStreamReader::try_new(stream) }
        .map_err(|e| Error::Data(format!("cannot read the Arrow stream of a frame: {e}")))?;
    let ArrowDataType::Struct(fields) = reader.field().dtype().clone() else {
        return Err(Error::Data(format!(
            "an Arrow stream of a frame must carry struct arrays (one per record batch), not {:?}",
            reader.field().dtype()
        )));
    };
    let mut chunks: Vec<Vec<ArrayRef>> = vec![Vec::new(); fields.len()];
    let mut height = 0;
    loop {
        // SAFETY: the caller guarantees arrays that follow the C data interface.
        let Some(batch) = (unsafe { reader.next() }) else {
            break;
        };
        let batch =
            batch.map_err(|e| Error::Data(format!("cannot read a batch of a frame: {e}")))?;
        let Some(batch) = batch.as_any().downcast_ref::<StructArray>() else {
            return Err(Error::Data(
                "a batch of a frame is not a struct array".to_owned(),
            ));
        };
        if batch.null_count() > 0 {
            return Err(Error::Data(
                "a batch of a frame has null rows; record batches cannot".to_owned(),
            ));
        }
        height += batch.len();
        for (column, values) in chunks.iter_mut().zip(batch.values()) {
            column.push(values.clone());
        }
    }
    let columns = fields
        .iter()
        .zip(chunks)
        .map(|(field, mut column)| {
            if column.is_empty() {
                column.push(new_empty_array(field.dtype().clone()));
            }
            Series::try_from((field, column)).map(Column::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DataFrame::new(height, columns)?)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    fn round_trip(frame: &DataFrame) -> DataFrame {
        let mut stream = export_frame(frame);
        // SAFETY: the stream was just exported by `export_frame`.
        unsafe { import_frame(&mut stream) }.unwrap()
    }

    fn datetime(name: &str, micros: Vec<Option<i64>>, tz: &str) -> Column {
        Int64Chunked::new(name.into(), micros)
            .into_datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::opt_try_new(Some(tz)).unwrap().unwrap()),
            )
            .into_column()
    }

    fn every_dtype() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("int".into(), [Some(1i64), None, Some(-3), Some(i64::MAX)]),
            Column::new(
                "float".into(),
                [Some(1.5f64), None, Some(f64::INFINITY), Some(-0.0)],
            ),
            Column::new(
                "text".into(),
                [Some("plain"), None, Some("Grüße, 東京 ⚡"), Some("")],
            ),
            Column::new("flag".into(), [Some(true), Some(false), None, Some(true)]),
            datetime(
                "local",
                vec![Some(1_711_846_800_000_000), None, Some(0), Some(-1)],
                "Europe/Berlin",
            ),
            datetime(
                "utc",
                vec![Some(1_711_846_800_000_000), Some(1), None, Some(2)],
                "UTC",
            ),
        ])
        .unwrap()
    }

    #[test]
    fn every_dtype_round_trips_with_nulls_and_time_zones() {
        let frame = every_dtype();
        let back = round_trip(&frame);
        assert_eq!(back.schema(), frame.schema());
        assert!(back.equals_missing(&frame), "{back}\n!=\n{frame}");
        assert_eq!(
            back.column("local").unwrap().dtype(),
            &DataType::Datetime(
                TimeUnit::Microseconds,
                Some(
                    TimeZone::opt_try_new(Some("Europe/Berlin"))
                        .unwrap()
                        .unwrap()
                )
            )
        );
        assert_eq!(
            back.column("text").unwrap().str().unwrap().get(2),
            Some("Grüße, 東京 ⚡")
        );
        assert_eq!(back.column("int").unwrap().null_count(), 1);
    }

    #[test]
    fn several_batches_become_one_frame() {
        let frame = every_dtype();
        let mut two = frame.clone();
        two.vstack_mut(&frame).unwrap();
        assert!(two.first_col_n_chunks() > 1);
        let back = round_trip(&two);
        assert_eq!(back.height(), 8);
        assert!(back.equals_missing(&two));
    }

    #[test]
    fn columns_chunked_differently_are_aligned_into_batches() {
        let mut a = Series::new("a".into(), [1i64, 2]);
        a.append(&Series::new("a".into(), [3i64])).unwrap();
        let b = Series::new("b".into(), ["x", "y", "z"]);
        let frame = DataFrame::new(3, vec![a.into_column(), b.into_column()]).unwrap();
        assert!(frame.should_rechunk());
        let back = round_trip(&frame);
        assert!(back.equals_missing(&frame), "{back}");
    }

    #[test]
    fn empty_frames_keep_their_schema() {
        let frame = every_dtype().clear();
        let back = round_trip(&frame);
        assert_eq!(back.height(), 0);
        assert_eq!(back.schema(), frame.schema());
    }

    #[test]
    fn frames_without_columns_keep_their_height() {
        let frame = DataFrame::empty_with_height(3);
        let back = round_trip(&frame);
        assert_eq!((back.height(), back.width()), (3, 0));
    }

    #[test]
    fn a_stream_of_plain_arrays_is_rejected_with_a_message() {
        let array: ArrayRef = Box::new(polars_arrow::array::Int64Array::from_slice([1, 2]));
        let field = ArrowField::new("x".into(), ArrowDataType::Int64, false);
        let mut stream = export_iterator(Box::new(std::iter::once(Ok(array))), field);
        // SAFETY: the stream was just exported by polars-arrow.
        let err = unsafe { import_frame(&mut stream) }.unwrap_err();
        assert!(
            err.to_string().contains("must carry struct arrays"),
            "{err}"
        );
    }

    #[test]
    fn a_released_stream_is_an_error_not_a_crash() {
        let mut stream = ArrowArrayStream::empty();
        // SAFETY: an empty (released) stream is allowed and must be reported.
        let err = unsafe { import_frame(&mut stream) }.unwrap_err();
        assert!(err.to_string().contains("already released"), "{err}");
    }
}
