//! The builtin source: `#[algorithm]`s of the crates linked into this binary.

use std::sync::Arc;

use algohost_sdk::{AlgorithmRegistration, Context, Output};
use serde_json::Value;

use crate::registry::{Invoker, Registry, Source};

struct BuiltinInvoker(&'static AlgorithmRegistration);

impl Invoker for BuiltinInvoker {
    fn invoke(&self, ctx: &Context, params: Value) -> algohost_sdk::Result<Output> {
        (self.0.run)(ctx, params)
    }
}

/// Adds every algorithm registered with `inventory` in this binary.
pub fn discover(registry: &mut Registry) {
    for registration in algohost_sdk::registrations() {
        registry.add(
            registration.manifest(),
            Source::Builtin,
            Arc::new(BuiltinInvoker(registration)),
        );
    }
}
