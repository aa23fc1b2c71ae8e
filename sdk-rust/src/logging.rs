//! Log records kept on a run, and the `tracing` subscriber that captures a
//! running algorithm's events into them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

use crate::context::RunHost;

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When it was logged, RFC 3339 UTC.
    pub ts: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The module (or logger) that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// Other structured fields, as JSON.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl LogRecord {
    /// A record stamped now.
    pub fn now(level: &str, target: &str, message: impl Into<String>) -> Self {
        Self {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            level: level.to_owned(),
            target: target.to_owned(),
            message: message.into(),
            fields: serde_json::Map::new(),
        }
    }
}

struct CaptureLayer {
    host: Arc<dyn RunHost>,
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for FieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.insert(field.name().to_owned(), value.into());
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        let mut record = LogRecord::now(level_name(meta.level()), meta.target(), visitor.message);
        record.fields = visitor.fields;
        self.host.log(record);
    }
}

/// Runs `f` with every `tracing` event on this thread sent to the run's log
/// (through [`RunHost::log`]), inside a span named after the run.
pub fn with_run_logging<R>(host: Arc<dyn RunHost>, f: impl FnOnce() -> R) -> R {
    let run_id = host.run_id().to_owned();
    let algorithm = host.algorithm().to_owned();
    let subscriber = tracing_subscriber::registry().with(CaptureLayer { host });
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("run", run_id = %run_id, algorithm = %algorithm);
        span.in_scope(f)
    })
}
