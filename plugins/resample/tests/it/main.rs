//! Integration tests of the resample plugin: its params and the registered
//! algorithm run on the SDK's in-memory host.

mod algorithm;
mod params;
