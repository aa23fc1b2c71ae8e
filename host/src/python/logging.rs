//! `algohost.init()`: the host's `tracing` events as Python `logging`
//! records. Events are queued and handed to Python by one thread of ours,
//! so that no thread that emits an event (a tokio worker, say) ever waits
//! for the GIL.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender};

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// One event on its way to Python.
struct Record {
    level: u8,
    target: String,
    message: String,
}

/// Events waiting beyond this many are dropped (logging must not block).
const QUEUE: usize = 4096;

static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the bridge as the global subscriber, once; `level` is an
/// `EnvFilter` directive such as `info` or `algohost=debug`. When the
/// process already has a global subscriber (the CLI ran in it), that one
/// keeps the events.
pub fn install(level: &str) -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            let filter = EnvFilter::try_new(level)
                .map_err(|e| format!("'{level}' is not a log level or filter: {e}"))?;
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            std::thread::Builder::new()
                .name("algohost-log".to_owned())
                .spawn(move || forward(rx))
                .map_err(|e| format!("could not start the logging thread: {e}"))?;
            let subscriber = Registry::default().with(filter).with(Bridge { tx });
            // The CLI, run in this process before, installs its own (to
            // stderr); that one stays, and so does the process.
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                tracing::debug!("a tracing subscriber is already installed; it stays");
            }
            Ok(())
        })
        .clone()
}

fn forward(rx: Receiver<Record>) {
    while let Ok(record) = rx.recv() {
        let Some(_in_python) = super::exit::InPython::enter() else {
            return;
        };
        Python::attach(|py| {
            let emit = || -> PyResult<()> {
                let logger = py
                    .import("logging")?
                    .call_method1("getLogger", (record.target.replace("::", "."),))?;
                let extra = pyo3::types::PyDict::new(py);
                extra.set_item("algohost_rust", true)?;
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs.set_item("extra", extra)?;
                logger.call_method("log", (record.level, record.message), Some(&kwargs))?;
                Ok(())
            };
            if let Err(e) = emit() {
                e.print(py);
            }
        });
    }
}

struct Bridge {
    tx: SyncSender<Record>,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Bridge {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let level = match *event.metadata().level() {
            Level::ERROR => 40,
            Level::WARN => 30,
            Level::INFO => 20,
            Level::DEBUG => 10,
            Level::TRACE => 5,
        };
        let _ = self.tx.try_send(Record {
            level,
            target: event.metadata().target().to_owned(),
            message: message.0,
        });
    }
}
