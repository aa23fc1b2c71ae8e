//! Arrow types this build's polars cannot read: on these it panics
//! (`activate 'dtype-decimal' feature`) rather than returning an error, so
//! a Parquet file or an Arrow IPC body is checked for them before polars
//! decodes it, and refused with what to do.

use polars::prelude::{ArrowDataType, ArrowSchema};

/// The first column of `schema` holding a type polars cannot read here:
/// its name and that type.
pub(crate) fn unreadable_column(schema: &ArrowSchema) -> Option<(String, String)> {
    schema
        .iter_values()
        .find_map(|field| unreadable(&field.dtype).map(|dtype| (field.name.to_string(), dtype)))
}

/// `dtype`, or the type it is made of, when polars cannot read it: 128-bit
/// integers, decimals and extension types, however nested.
fn unreadable(dtype: &ArrowDataType) -> Option<String> {
    match dtype {
        ArrowDataType::Decimal(precision, scale)
        | ArrowDataType::Decimal32(precision, scale)
        | ArrowDataType::Decimal64(precision, scale)
        | ArrowDataType::Decimal256(precision, scale) => {
            Some(format!("decimal({precision}, {scale})"))
        }
        ArrowDataType::Int128 => Some("int128".to_owned()),
        ArrowDataType::UInt128 => Some("uint128".to_owned()),
        ArrowDataType::Extension(_) => Some("an extension type".to_owned()),
        ArrowDataType::List(field)
        | ArrowDataType::LargeList(field)
        | ArrowDataType::FixedSizeList(field, _)
        | ArrowDataType::Map(field, _) => unreadable(&field.dtype),
        ArrowDataType::Struct(fields) => fields.iter().find_map(|f| unreadable(&f.dtype)),
        ArrowDataType::Dictionary(_, values, _) => unreadable(values),
        _ => None,
    }
}

/// What to tell the sender of a column of `dtype`.
pub(crate) fn refusal(column: &str, dtype: &str) -> String {
    format!(
        "column '{column}' holds {dtype} values, which algohost cannot read; cast it to \
         float64 first (pyarrow: table.cast(...) with pa.float64(), polars: \
         pl.col(\"{column}\").cast(pl.Float64))"
    )
}
