//! Where `algohost runs` finds the run store: as `algohost serve` does,
//! `--store`, then `ALGOHOST_STORE`, then `store` in the config file
//! (`--config` or `ALGOHOST_CONFIG`), then `algohost.db`.

use std::path::PathBuf;

use super::StoreArgs;
use crate::cli::UsageError;
use crate::server::config::{DEFAULT_STORE, Settings};
use crate::store::StoreError;
use crate::store::sqlite::ReadOnlyStore;

/// The run store's path, and how it was chosen (for messages).
pub(super) struct StorePath {
    /// The store file, as given (relative to the working directory).
    pub path: PathBuf,
    /// `given by --store`, `from ALGOHOST_STORE`, …
    origin: String,
}

impl StorePath {
    /// As `algohost serve` resolves it: `--store`, `ALGOHOST_STORE`, the
    /// config file's `store`, the default.
    pub fn resolve(args: &StoreArgs) -> Result<Self, UsageError> {
        if let Some(path) = &args.store {
            return Ok(Self::new(path.clone(), "given by --store"));
        }
        // Only ALGOHOST_STORE: the server's other settings do not matter here.
        let env = Settings::from_env(|key| {
            (key == "ALGOHOST_STORE")
                .then(|| std::env::var(key).ok())
                .flatten()
        })
        .map_err(|e| UsageError(e.to_string()))?;
        if let Some(path) = env.store {
            return Ok(Self::new(path, "from ALGOHOST_STORE"));
        }
        let config = args
            .config
            .clone()
            .or_else(|| std::env::var_os("ALGOHOST_CONFIG").map(PathBuf::from));
        if let Some(config) = config {
            let settings = Settings::from_file(&config).map_err(|e| UsageError(e.to_string()))?;
            if let Some(path) = settings.store {
                let origin = format!("from `store` in the config file {}", config.display());
                return Ok(Self::new(path, &origin));
            }
        }
        let cwd = std::env::current_dir()
            .map(|d| format!(" {}", d.display()))
            .unwrap_or_default();
        Ok(Self::new(
            PathBuf::from(DEFAULT_STORE),
            &format!(
                "the default: {DEFAULT_STORE} in the working directory{cwd}; give the run store \
                 of `algohost serve` with --store FILE or ALGOHOST_STORE, or its config file \
                 with --config FILE"
            ),
        ))
    }

    fn new(path: PathBuf, origin: &str) -> Self {
        Self {
            path,
            origin: origin.to_owned(),
        }
    }

    /// Opens the store read-only; a missing file is an error that says
    /// how its path was chosen.
    pub fn open(&self) -> Result<ReadOnlyStore, UsageError> {
        let path = self.path.display();
        if !self.path.exists() {
            return Err(UsageError(format!(
                "there is no run store at {path} ({})",
                self.origin
            )));
        }
        if self.path.is_dir() {
            return Err(UsageError(format!(
                "the run store {path} ({}) is a directory; give the file that `algohost serve \
                 --store` was given",
                self.origin
            )));
        }
        ReadOnlyStore::open(&self.path).map_err(|e| {
            let why = match e {
                StoreError::Backend(why) => why,
                other => other.to_string(),
            };
            UsageError(format!(
                "the run store {path} ({}) cannot be read: {why}",
                self.origin
            ))
        })
    }
}
