//! The files adapter, the embedded default: a data directory holding
//! `catalog.json` (the data points) and one Parquet file of samples per data
//! point, `samples/<id>.parquet`.
//!
//! File names come from ids only, never from data point names, so no name
//! can reach outside the directory. Every file is replaced atomically (a
//! temporary file in the same directory, then a rename), and writers take
//! a lock, so readers see either the old or the new samples and concurrent
//! writers lose no updates.

mod catalog;
mod samples;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, FlowFilter, check_samples, long_frame, read_range,
    read_samples, validate_long,
};
use algohost_sdk::{Error, Result};
use polars::prelude::*;

use self::catalog::Catalog;
pub(crate) use self::catalog::{check_definition, unknown_names_error, with_time_zone};
use self::samples::{Samples, split_long};
use super::{Adapter, Interrupt, Uninterrupted};

/// The catalog's file name inside the data directory.
const CATALOG: &str = "catalog.json";
/// The folder of samples files inside the data directory.
const SAMPLES: &str = "samples";
/// The lock file writers hold, so that writers in other processes wait too.
const LOCK: &str = ".lock";

/// A data directory of Parquet samples files plus a catalog of data points.
#[derive(Debug)]
pub struct FilesAdapter {
    /// The data directory, canonical.
    dir: PathBuf,
    /// Serialises writers within this process (the lock file does it
    /// across processes).
    write_lock: Mutex<()>,
    /// Whether a killed writer's leftovers were swept (once, at the first
    /// write lock).
    is_swept: AtomicBool,
}

impl FilesAdapter {
    /// Opens the data directory `dir`.
    ///
    /// A directory that does not exist yet is created (its parent must
    /// exist); an empty one is an empty dataset, whose catalog and samples
    /// are written with its first data points. A non-empty directory
    /// without `catalog.json` is refused, so that a wrong path does not get
    /// data files written into it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let given = dir.as_ref();
        if given.as_os_str().is_empty() {
            return Err(Error::InvalidInput(
                "the data directory path is empty; pass a directory such as ./data".to_owned(),
            ));
        }
        ensure_dir(given)?;
        let dir = given.canonicalize().map_err(|e| {
            Error::Data(format!(
                "cannot resolve the data directory {}: {e}",
                given.display()
            ))
        })?;
        let adapter = Self {
            dir,
            write_lock: Mutex::new(()),
            is_swept: AtomicBool::new(false),
        };
        let catalog_path = adapter.dir.join(CATALOG);
        if catalog_path.exists() {
            Catalog::load(&catalog_path)?;
        } else {
            adapter.check_fresh()?;
        }
        Ok(adapter)
    }

    /// The data directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The catalog; a new directory has none until its first data point
    /// is defined (opening or reading one writes nothing).
    fn catalog(&self) -> Result<Catalog> {
        let path = self.dir.join(CATALOG);
        if !path.exists() {
            return Ok(Catalog::empty());
        }
        Catalog::load(&path)
    }

    /// Removes the data points named `names` (those that exist) with their
    /// samples: for replacing a data point by another series under its
    /// name (`algohost demo-data --force`).
    pub fn remove_data_points(&self, names: &[&str]) -> Result<()> {
        let _guard = self.lock()?;
        let mut catalog = self.catalog()?;
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut catalog.data_points)
            .into_iter()
            .partition(|p| names.contains(&p.name.as_str()));
        catalog.data_points = kept;
        if gone.is_empty() {
            return Ok(());
        }
        catalog.save(&self.dir.join(CATALOG))?;
        for point in gone {
            let path = self.samples_path(point.id.0);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Data(format!(
                        "cannot remove the samples of '{}' ({}): {e}",
                        point.name,
                        path.display()
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn samples_path(&self, id: i64) -> PathBuf {
        self.dir.join(SAMPLES).join(format!("{id}.parquet"))
    }

    /// Refuses to create a catalog in a directory holding other files.
    fn check_fresh(&self) -> Result<()> {
        let entries = fs::read_dir(&self.dir).map_err(|e| {
            Error::Data(format!(
                "cannot list the data directory {}: {e}",
                self.dir.display()
            ))
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Data(e.to_string()))?;
            let name = entry.file_name();
            if name != LOCK && name != SAMPLES {
                return Err(Error::InvalidInput(format!(
                    "{} is not an algohost data directory (it has no {CATALOG} but holds other files, such as {}); \
                     pass a new or empty directory, or the directory that holds {CATALOG}",
                    self.dir.display(),
                    name.to_string_lossy()
                )));
            }
        }
        Ok(())
    }

    /// Removes the temporary samples files that a writer killed midway
    /// left behind: samples are only staged under the lock, so with the
    /// lock held none is in flight. Once per adapter: a listing of the
    /// samples folder on every write would cost as many entries as there
    /// are data points.
    fn remove_stale_samples(&self) {
        let Ok(entries) = fs::read_dir(self.dir.join(SAMPLES)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Takes the write lock of this process, then the lock file's.
    fn lock(&self) -> Result<WriteGuard<'_>> {
        let guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = self.dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::Data(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        file.lock()
            .map_err(|e| Error::Data(format!("cannot lock {}: {e}", path.display())))?;
        if !self.is_swept.swap(true, Ordering::Relaxed) {
            self.remove_stale_samples();
        }
        Ok(WriteGuard {
            _file: file,
            _guard: guard,
        })
    }

    /// The long frame of the samples of `points` with `lo <= ts < hi` (µs).
    fn read_raw(
        &self,
        points: &[DataPointConfig],
        lo: i64,
        hi: i64,
        interrupt: &dyn Interrupt,
    ) -> Result<DataFrame> {
        let (mut ids, mut ts, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for point in points {
            // Each file takes a while when they are long: a run that is
            // cancelled or timed out stops between them.
            if interrupt.is_interrupted() {
                return Err(Error::Cancelled);
            }
            let samples = Samples::load(&self.samples_path(point.id.0))?;
            let range = samples.range(lo, hi);
            ids.extend(std::iter::repeat_n(point.id.0, range.len()));
            ts.extend_from_slice(&samples.ts[range.clone()]);
            values.extend_from_slice(&samples.values[range]);
        }
        long_frame(ids, ts, values)
    }
}

/// Held while writing: the in-process lock and the locked lock file.
struct WriteGuard<'a> {
    _file: File,
    _guard: MutexGuard<'a, ()>,
}

impl Adapter for FilesAdapter {
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Ok(self.catalog()?.matching(filter))
    }

    /// Names and ids that the filter lists but that do not exist are an
    /// error (listing the close and known names), not an empty frame.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        self.read_until(filter, &Uninterrupted)
    }

    fn read_until(&self, filter: &DataPointFilter, interrupt: &dyn Interrupt) -> Result<DataFrame> {
        // The range and time zone are checked before the catalog is read.
        read_range(filter)?;
        let points = self.catalog()?.select(filter)?;
        read_samples(filter, &points, |lo, hi| {
            self.read_raw(&points, lo, hi, interrupt)
        })
    }

    /// All or nothing: every changed file is written to a temporary file
    /// first and renamed into place only when all of them are ready.
    fn write(&self, long: &DataFrame) -> Result<()> {
        validate_long(long)?;
        let groups = split_long(long)?;
        if groups.is_empty() {
            return Ok(());
        }
        let _guard = self.lock()?;
        let catalog = self.catalog()?;
        let unknown: Vec<String> = groups
            .iter()
            .filter(|(id, _)| {
                catalog
                    .by_id(algohost_sdk::data::DataPointId(*id))
                    .is_none()
            })
            .map(|(id, _)| id.to_string())
            .collect();
        if !unknown.is_empty() {
            return Err(Error::InvalidInput(format!(
                "unknown data point id(s) {} in column 'data_point_id'; define the data points first \
                 (define_data_points) and write with the ids it returns",
                unknown.join(", ")
            )));
        }
        check_samples(long, &catalog.data_points)?;
        let samples = self.dir.join(SAMPLES);
        fs::create_dir_all(&samples).map_err(|e| unwritable(&samples, &e))?;
        let mut staged = Vec::with_capacity(groups.len());
        for (id, newer) in groups {
            let path = self.samples_path(id);
            let merged = Samples::load(&path)?.merged(newer);
            staged.push(merged.stage(&path)?);
        }
        for file in staged {
            file.commit()?;
        }
        sync_dir(&self.dir.join(SAMPLES));
        Ok(())
    }

    /// Every write rewrites each data point's file whole, so a copy hands
    /// each data point over at once rather than in chunks.
    fn copy_chunk_size(&self, _asked: usize) -> usize {
        usize::MAX
    }

    fn flows(&self, filter: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        Ok(self
            .catalog()?
            .data_points
            .into_iter()
            .filter(|p| filter.matches(p))
            .collect())
    }

    /// New names get the next free ids (the ids in `points` are ignored);
    /// existing names are returned as stored, unless defined as another
    /// series ([`DataPointConfig::check_redefinition`]; an empty time zone
    /// matches the stored one, see `with_time_zone`).
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        let _guard = self.lock()?;
        let mut catalog = self.catalog()?;
        let mut stored = Vec::with_capacity(points.len());
        let mut is_changed = false;
        let stored_before = catalog.data_points.len();
        for point in points {
            let mut point = with_time_zone(point, catalog.by_name(&point.name));
            if let Some(existing) = catalog.by_name(&point.name) {
                let is_new = catalog.data_points[stored_before..]
                    .iter()
                    .any(|p| p.name == point.name);
                if is_new {
                    existing.check_repeated(&point)?;
                } else {
                    existing.check_redefinition(&point)?;
                }
                stored.push(existing.clone());
            } else {
                check_definition(&point)?;
                point.id = catalog.next_id();
                catalog.data_points.push(point.clone());
                stored.push(point);
                is_changed = true;
            }
        }
        if is_changed {
            catalog.save(&self.dir.join(CATALOG))?;
        }
        Ok(stored)
    }
}

/// Creates `dir` when it does not exist and its parent does.
fn ensure_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidInput(format!(
            "the data directory {} is a file; pass a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                return Err(Error::InvalidInput(format!(
                    "cannot create the data directory {}: its parent {} does not exist; \
                     create the parent first or pass another path",
                    dir.display(),
                    parent.display()
                )));
            }
            match fs::create_dir(dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
                Err(e) => Err(Error::Data(format!(
                    "cannot create the data directory {}: {e}",
                    dir.display()
                ))),
            }
        }
        Err(e) => Err(Error::Data(format!(
            "cannot access the data directory {}: {e}",
            dir.display()
        ))),
    }
}

/// A file written beside its destination, renamed over it by
/// [`Staged::commit`] and removed if dropped uncommitted.
#[derive(Debug)]
struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    is_committed: bool,
}

impl Staged {
    /// Writes a temporary file in `dest`'s folder with `write` and syncs it.
    fn create(dest: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<Self> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let folder = dest.parent().unwrap_or(Path::new("."));
        let file_name = dest
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let tmp = folder.join(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let staged = Self {
            tmp,
            dest: dest.to_owned(),
            is_committed: false,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged.tmp)
            .map_err(|e| staged.io_error(e))?;
        write(&mut file)
            .and_then(|()| file.sync_all())
            .map_err(|e| staged.io_error(e))?;
        Ok(staged)
    }

    /// Renames the temporary file over the destination.
    fn commit(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.dest).map_err(|e| self.io_error(e))?;
        self.is_committed = true;
        Ok(())
    }

    fn io_error(&self, e: io::Error) -> Error {
        unwritable(&self.dest, &e)
    }
}

/// Writing `path` failed: the data directory cannot be written now (a
/// full disk, a read-only mount), which the server answers with 503.
fn unwritable(path: &Path, e: &io::Error) -> Error {
    Error::Data(format!(
        "{}{}: {e}; check that it is writable and has free space",
        super::unavailable::FILES,
        path.display()
    ))
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.is_committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` atomically with what `write` writes.
fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    Staged::create(path, write)?.commit()?;
    if let Some(folder) = path.parent() {
        sync_dir(folder);
    }
    Ok(())
}

/// Makes renames in `folder` durable where the platform allows it.
fn sync_dir(folder: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}
