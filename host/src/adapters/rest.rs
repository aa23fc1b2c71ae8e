//! The REST adapter: a client of another algohost's data API (`algohost
//! serve`), so that runs here read and write the data of that server,
//! whatever adapter it uses there. Samples travel as Arrow IPC streams;
//! filters, resolution conversion and all-or-nothing writes happen on the
//! server, through its adapter.
//!
//! ```text
//! GET  /data-points   data_points(filter)        POST /data-points  define_data_points
//! GET  /flows         flows(filter)
//! GET  /samples       read(filter)               POST /samples      write(long)
//! ```
//!
//! The URL is `http://host:port` (see [`RestOptions`] for its parameters);
//! the bearer token comes from `ALGOHOST_REST_TOKEN`. Like the PostgreSQL
//! adapter, it owns a small tokio runtime: a call hands its request to that
//! runtime and waits, which is safe from any thread but blocks it, so async
//! code calls the adapter through `spawn_blocking`. An interrupted read or
//! write (`read_until`, `write_until`, which runs use) drops its request in
//! flight, closing the connection; the remote server writes all or nothing,
//! so a write cut off before its body has arrived writes nothing there.

mod client;
mod config;
pub mod wire;

use std::future::Future;
use std::sync::{Arc, mpsc};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, FlowFilter, validate_long,
};
use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::{Error, Result};
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::client::{Client, Reply, Request};
use self::config::RestSpec;
pub use self::config::{RestOptions, TOKEN_ENV, is_rest_url};
use self::wire::ARROW_STREAM;
use super::{Adapter, Interrupt, Uninterrupted, wait_for};

/// Whether the message of an [`Error::Data`] is this adapter's account of
/// the other algohost failing or refusing a request (rather than being
/// unreachable: see [`super::is_unavailable`]), which a server answers
/// with 502.
pub fn is_upstream(message: &str) -> bool {
    message.starts_with("the bearer token ")
        || message.starts_with("the data API ")
        || message.starts_with(client::UPSTREAM_LIMIT)
}

const JSON: &str = "application/json";

/// Data points and samples of a remote algohost, over its data API.
pub struct RestAdapter {
    /// The HTTP client, shared with the requests in flight.
    client: Arc<Client>,
    /// Runs every request; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for RestAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestAdapter")
            .field("target", &self.client.target())
            .field("options", self.client.options())
            .finish_non_exhaustive()
    }
}

/// The body of `GET /data-points`, `GET /flows` and `POST /data-points`.
#[derive(Serialize, Deserialize)]
struct DataPoints {
    data_points: Vec<DataPointConfig>,
}

impl RestAdapter {
    /// Connects to the data API at `url` (`http://host:port`), with the
    /// token of `ALGOHOST_REST_TOKEN`, and checks that it answers.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RestOptions::from_env())
    }

    /// Like [`RestAdapter::connect`], with other options (the URL's
    /// parameters still win).
    pub fn connect_with(url: &str, options: RestOptions) -> Result<Self> {
        let spec = RestSpec::parse(url, options)?;
        let runtime = super::client_runtime("rest", "REST adapter")?;
        let client = {
            let _entered = runtime.enter();
            Client::new(spec)?
        };
        let adapter = Self {
            client: Arc::new(client),
            runtime: Some(runtime),
        };
        // Fails early on a wrong address or token: no data point has id 0.
        adapter.data_points(&DataPointFilter::default().with_ids([DataPointId(0)]))?;
        Ok(adapter)
    }

    /// Like [`RestAdapter::connect`], but the first request retries a
    /// server that does not answer yet `retries` times (unless the URL's
    /// `retries` says otherwise), for a server started beside the one it
    /// reads from; later requests retry as the URL (or the default) says.
    pub fn connect_waiting(url: &str, retries: u32) -> Result<Self> {
        let waiting = RestOptions {
            retries,
            ..RestOptions::from_env()
        };
        let mut adapter = Self::connect_with(url, waiting)?;
        let spec = RestSpec::parse(url, RestOptions::from_env())?;
        let client = {
            let _entered = adapter.runtime.as_ref().map(|r| r.enter());
            Client::new(spec)?
        };
        adapter.client = Arc::new(client);
        Ok(adapter)
    }

    /// The base URL of the data API.
    pub fn target(&self) -> &str {
        self.client.target()
    }

    /// Runs `work` on the adapter's runtime and waits for its result, or
    /// drops it and gives up with [`Error::Cancelled`] once `interrupt`
    /// fires.
    fn call_until<T, F>(
        &self,
        interrupt: &dyn Interrupt,
        work: impl FnOnce(Arc<Client>) -> F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        if interrupt.is_interrupted() {
            return Err(Error::Cancelled);
        }
        let Some(runtime) = &self.runtime else {
            return Err(Error::Data("the REST adapter is shut down".to_owned()));
        };
        let future = work(self.client.clone());
        let (sender, receiver) = mpsc::sync_channel(1);
        let task = runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        match wait_for(&receiver, interrupt) {
            Ok(Some(answer)) => answer,
            Ok(None) => {
                task.abort();
                // A request that succeeded just before the interrupt stands.
                match receiver.try_recv() {
                    Ok(Ok(value)) => Ok(value),
                    _ => Err(Error::Cancelled),
                }
            }
            Err(_) => Err(Error::Data(
                "a request to the data API stopped without an answer (it panicked)".into(),
            )),
        }
    }

    /// Sends `request` and returns the answer, unless `interrupt` fires first.
    fn send_until(&self, request: Request, interrupt: &dyn Interrupt) -> Result<Reply> {
        self.call_until(
            interrupt,
            |client| async move { client.send(request).await },
        )
    }

    /// Sends `request` and parses its JSON answer, unless `interrupt`
    /// fires first.
    fn json<T: DeserializeOwned>(&self, request: Request, interrupt: &dyn Interrupt) -> Result<T> {
        let path = request.path;
        let reply = self.send_until(request, interrupt)?;
        serde_json::from_slice(&reply.body).map_err(|e| {
            Error::Data(format!(
                "the answer to {path} from {} is not the data API's JSON ({e}; content type \
                 '{}'); is this an algohost server?",
                self.target(),
                reply.media_type
            ))
        })
    }
}

impl Drop for RestAdapter {
    /// Stops the runtime without waiting, so that dropping the adapter is
    /// fine anywhere, even inside another runtime.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn get(path: &'static str, query: Vec<(String, String)>, accept: &'static str) -> Request {
    Request {
        method: Method::GET,
        path,
        query,
        body: None,
        accept,
    }
}

fn post(path: &'static str, media_type: &'static str, body: Vec<u8>) -> Request {
    Request {
        method: Method::POST,
        path,
        query: Vec::new(),
        body: Some((media_type, Bytes::from(body))),
        accept: JSON,
    }
}

impl Adapter for RestAdapter {
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        self.data_points_until(filter, &Uninterrupted)
    }

    fn data_points_until(
        &self,
        filter: &DataPointFilter,
        interrupt: &dyn Interrupt,
    ) -> Result<Vec<DataPointConfig>> {
        let request = get("data-points", wire::point_query(filter), JSON);
        let list: DataPoints = self.json(request, interrupt)?;
        Ok(list.data_points)
    }

    /// One request: the server reads, converts and trims through its
    /// adapter, so unknown names are its error, quoted.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        self.read_until(filter, &Uninterrupted)
    }

    fn read_until(&self, filter: &DataPointFilter, interrupt: &dyn Interrupt) -> Result<DataFrame> {
        let request = get("samples", wire::sample_query(filter), ARROW_STREAM);
        let reply = self.send_until(request, interrupt)?;
        if reply.media_type != ARROW_STREAM {
            return Err(Error::Data(format!(
                "the data API at {} answered samples as '{}', not {ARROW_STREAM}; is this an \
                 algohost server?",
                self.target(),
                reply.media_type
            )));
        }
        wire::decode_arrow(&reply.body, None).map_err(|e| {
            Error::Data(format!(
                "the samples from the data API at {} are not a long frame: {e}",
                self.target()
            ))
        })
    }

    /// One request, so all or nothing like the server's adapter; its size
    /// is bounded by the server's `body_limit_bytes`.
    fn write(&self, long: &DataFrame) -> Result<()> {
        self.write_until(long, &Uninterrupted)
    }

    fn write_until(&self, long: &DataFrame, interrupt: &dyn Interrupt) -> Result<()> {
        validate_long(long)?;
        if long.height() == 0 {
            return Ok(());
        }
        let body = wire::encode_arrow(&mut long.clone())?;
        self.send_until(post("samples", ARROW_STREAM, body), interrupt)
            .map(drop)
    }

    fn flows(&self, filter: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        let list: DataPoints =
            self.json(get("flows", wire::flow_query(filter), JSON), &Uninterrupted)?;
        Ok(list.data_points)
    }

    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        self.define_data_points_until(points, &Uninterrupted)
    }

    fn define_data_points_until(
        &self,
        points: &[DataPointConfig],
        interrupt: &dyn Interrupt,
    ) -> Result<Vec<DataPointConfig>> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(&DataPoints {
            data_points: points.to_vec(),
        })?;
        let list: DataPoints = self.json(post("data-points", JSON, body), interrupt)?;
        Ok(list.data_points)
    }
}
