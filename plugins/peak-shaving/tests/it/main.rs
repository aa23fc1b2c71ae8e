//! Integration tests of the peak-shaving plugin: the pure dispatch, the
//! params, and the registered algorithm run on the SDK's in-memory host.

mod algorithm;
mod dispatch;
mod params;
