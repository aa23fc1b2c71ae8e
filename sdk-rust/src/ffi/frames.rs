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
            "an Arrow stream of a frame must carry struct arrays (one per record batch), not {:?}: give a frame (named columns), not a single column",
            reader.field().dtype()
        )));
    };
    if let Some(field) = fields.iter().find(|f| !is_supported(f.dtype())) {
        return Err(Error::Data(format!(
            "column '{}' is of type {}, which algohost frames cannot hold; cast it to one \
             they can: a number (Float64, Int64, Int8…UInt64, Float32), a time stamp, a date, \
             a duration, a string, a boolean, or a list or struct of these",
            field.name,
            describe(field.dtype())
        )));
    }
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

/// Whether polars, with the features algohost builds it with, holds
/// columns of `dtype` (others would fail or panic in `Series::try_from`).
fn is_supported(dtype: &ArrowDataType) -> bool {
    use ArrowDataType as A;
    match dtype {
        A::Null
        | A::Boolean
        | A::Int8
        | A::Int16
        | A::Int32
        | A::Int64
        | A::UInt8
        | A::UInt16
        | A::UInt32
        | A::UInt64
        | A::Float32
        | A::Float64
        | A::Timestamp(..)
        | A::Date32
        | A::Date64
        | A::Time32(_)
        | A::Time64(_)
        | A::Duration(_)
        | A::Binary
        | A::LargeBinary
        | A::FixedSizeBinary(_)
        | A::BinaryView
        | A::Utf8
        | A::LargeUtf8
        | A::Utf8View => true,
        A::List(item) | A::LargeList(item) => is_supported(item.dtype()),
        A::Struct(fields) => fields.iter().all(|f| is_supported(f.dtype())),
        A::Dictionary(_, values, _) => {
            matches!(**values, A::Utf8 | A::LargeUtf8 | A::Utf8View)
        }
        _ => false,
    }
}

/// An Arrow type as users of polars and pyarrow know it.
fn describe(dtype: &ArrowDataType) -> String {
    use ArrowDataType as A;
    match dtype {
        A::Decimal(p, s) | A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal256(p, s) => {
            format!("Decimal({p}, {s})")
        }
        A::FixedSizeList(item, n) => format!("Array({}, {n})", describe(item.dtype())),
        A::List(item) | A::LargeList(item) => format!("List({})", describe(item.dtype())),
        other => format!("{other:?}"),
    }
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
    fn small_integers_keep_their_type() {
        let frame = DataFrame::new_infer_height(vec![
            Column::new("hour".into(), [Some(0i8), Some(23), None]),
            Column::new("i16".into(), [1i16, -2, 3]),
            Column::new("u8".into(), [1u8, 2, 255]),
            Column::new("u16".into(), [1u16, 2, 65535]),
        ])
        .unwrap();
        let back = round_trip(&frame);
        assert_eq!(back.schema(), frame.schema());
        assert!(back.equals_missing(&frame), "{back}");
    }

    fn import_one(dtype: ArrowDataType) -> Result<DataFrame> {
        let column = polars_arrow::array::new_null_array(dtype.clone(), 2);
        let fields = vec![ArrowField::new("price".into(), dtype, true)];
        let batch =
            StructArray::try_new(ArrowDataType::Struct(fields.clone()), 2, vec![column], None)
                .unwrap();
        let field = ArrowField::new("".into(), ArrowDataType::Struct(fields), false);
        let batches: Vec<polars::prelude::PolarsResult<ArrayRef>> = vec![Ok(Box::new(batch))];
        let mut stream = export_iterator(Box::new(batches.into_iter()), field);
        // SAFETY: the stream was just exported by polars-arrow.
        unsafe { import_frame(&mut stream) }
    }

    #[test]
    fn a_column_polars_cannot_hold_is_named_with_its_type_not_a_panic() {
        for (dtype, shown) in [
            (ArrowDataType::Decimal(10, 2), "Decimal(10, 2)"),
            (ArrowDataType::Int128, "Int128"),
            (ArrowDataType::Float16, "Float16"),
            (
                ArrowDataType::FixedSizeList(
                    Box::new(ArrowField::new("item".into(), ArrowDataType::Float64, true)),
                    3,
                ),
                "Array(Float64, 3)",
            ),
        ] {
            let err = import_one(dtype).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "column 'price' is of type {shown}, which algohost frames cannot hold; cast it"
                )),
                "{err}"
            );
        }
        let list = ArrowDataType::LargeList(Box::new(ArrowField::new(
            "item".into(),
            ArrowDataType::Float64,
            true,
        )));
        assert_eq!(import_one(list).unwrap().height(), 2);
    }

    #[test]
    fn a_released_stream_is_an_error_not_a_crash() {
        let mut stream = ArrowArrayStream::empty();
        // SAFETY: an empty (released) stream is allowed and must be reported.
        let err = unsafe { import_frame(&mut stream) }.unwrap_err();
        assert!(err.to_string().contains("already released"), "{err}");
    }
}
