//! Integration tests of the resample plugin: its params and the registered
//! algorithm run on an in-memory host.

mod algorithm;
mod host;
mod params;
