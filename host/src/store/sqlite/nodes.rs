//! Which runner nodes use a store file, and which of them are gone.
//!
//! Every handle on the file ([`super::SqliteStore`]) is a node with an id
//! of its own; the runs it inserts or takes over record it as their
//! `owner`. A node is alive while it holds an exclusive lock on its file in
//! the directory `<store>-nodes/`; the kernel drops the lock when the
//! process ends, however it ends (SIGKILL included), so whether a node is
//! gone is exact, with no lease to wait out. SQLite shares a file only
//! between processes of one machine, and so do these locks.

use std::fs::{File, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

use crate::store::StoreError;

/// This handle's node: its id and the lock that says it is alive.
pub(super) struct Node {
    id: String,
    dir: PathBuf,
    /// Held (locked) as long as the node lives; released when it leaves.
    lock: Mutex<Option<File>>,
}

/// Whether the node that owns a run still holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Liveness {
    Alive,
    Gone,
}

fn io(what: String) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{what}: {e}"))
}

impl Node {
    /// Joins the store at `store` as a new node: creates and locks its
    /// file, then clears the files of nodes that are gone.
    pub fn join(store: &Path) -> Result<Node, StoreError> {
        let dir = nodes_dir(store);
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        // A node clearing gone nodes' files may remove this one's between
        // its creation and its lock: then it joins again, as another node.
        let mut attempts = 0;
        let (id, lock) = loop {
            attempts += 1;
            match Self::lock_new(&dir) {
                Err(e) if e.kind() == ErrorKind::NotFound && attempts < 3 => continue,
                locked => break locked.map_err(io(format!("joining {}", dir.display())))?,
            }
        };
        let node = Node {
            id,
            dir,
            lock: Mutex::new(Some(lock)),
        };
        node.clear_gone();
        Ok(node)
    }

    /// A new node id and its file, locked: the file is locked under a name
    /// nobody looks at, then renamed into place, so that a node checking
    /// on this one never finds its file unlocked.
    fn lock_new(dir: &Path) -> std::io::Result<(String, File)> {
        let id = Uuid::now_v7().to_string();
        let joining = dir.join(format!(".{id}.joining"));
        let mut lock = File::create(&joining)?;
        lock.try_lock().map_err(std::io::Error::from)?;
        let about = format!(
            "algohost {} pid {}\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        lock.write_all(about.as_bytes())?;
        std::fs::rename(&joining, dir.join(format!("{id}.lock")))?;
        Ok((id, lock))
    }

    /// This node's id, as the `owner` of its runs.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock_path(&self, node: &str) -> Option<PathBuf> {
        lock_path(&self.dir, node)
    }

    /// Whether `owner` still holds its runs: this node does, others as
    /// [`liveness_in`] tells.
    pub fn liveness(&self, owner: Option<&str>) -> Liveness {
        if owner == Some(self.id.as_str()) {
            return Liveness::Alive;
        }
        liveness_in(&self.dir, owner)
    }

    /// Removes the files of gone nodes (their runs were taken over, or they
    /// held none).
    pub fn clear_gone(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Also the file of a node killed while it joined.
            let is_node_file = name.ends_with(".lock") || name.ends_with(".joining");
            if is_node_file && matches!(is_locked(&entry.path()), Ok(false)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The directory of the nodes of the store at `store`.
fn nodes_dir(store: &Path) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_owned();
    name.push("-nodes");
    store.with_file_name(name)
}

/// The lock file of `node` in `dir`.
fn lock_path(dir: &Path, node: &str) -> Option<PathBuf> {
    // Ids come from the store file: only a UUID names a lock file.
    Uuid::parse_str(node)
        .ok()
        .map(|id| dir.join(format!("{id}.lock")))
}

/// Whether `owner` (a node id from the store; `None` for runs stored
/// before nodes were recorded) of the node directory `dir` still holds its
/// runs. A node whose lock cannot be checked (say, a file it cannot read)
/// counts as alive: its runs stay its own rather than run twice.
fn liveness_in(dir: &Path, owner: Option<&str>) -> Liveness {
    let Some(owner) = owner else {
        return Liveness::Gone;
    };
    let Some(path) = lock_path(dir, owner) else {
        return Liveness::Gone;
    };
    match is_locked(&path) {
        Ok(true) => Liveness::Alive,
        Ok(false) => Liveness::Gone,
        Err(e) => {
            tracing::warn!(
                "cannot tell whether node {owner} is alive ({}): {e}",
                path.display()
            );
            Liveness::Alive
        }
    }
}

/// Whether the node `owner` of a run in the store at `store` is gone (its
/// process ended), for a reader that is no node (see [`liveness_in`]).
pub(super) fn is_gone(store: &Path, owner: Option<&str>) -> bool {
    liveness_in(&nodes_dir(store), owner) == Liveness::Gone
}

/// Whether a node holds the lock on `path`; a file that is not there is
/// not locked.
fn is_locked(path: &Path) -> std::io::Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

impl Node {
    /// Stops holding runs: from now on other nodes take over the runs this
    /// one holds. The file goes first, then the lock.
    pub fn leave(&self) {
        let mut lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if lock.is_some()
            && let Some(path) = self.lock_path(&self.id)
        {
            let _ = std::fs::remove_file(path);
        }
        *lock = None;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_alive_while_it_holds_its_lock_and_the_files_of_gone_nodes_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("runs.db");
        let first = Node::join(&store).unwrap();
        let nodes = dir.path().join("runs.db-nodes");
        // Left by processes killed while they ran, and while they joined.
        let killed = Uuid::now_v7().to_string();
        std::fs::write(nodes.join(format!("{killed}.lock")), "").unwrap();
        std::fs::write(nodes.join(format!(".{killed}.joining")), "").unwrap();
        assert_eq!(first.liveness(Some(&killed)), Liveness::Gone);

        let second = Node::join(&store).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&nodes)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let mut live = vec![
            format!("{}.lock", first.id()),
            format!("{}.lock", second.id()),
        ];
        live.sort();
        assert_eq!(files, live);
        assert_eq!(second.liveness(Some(first.id())), Liveness::Alive);
        assert_eq!(second.liveness(None), Liveness::Gone);
        assert_eq!(second.liveness(Some("../../etc/passwd")), Liveness::Gone);

        first.leave();
        assert_eq!(second.liveness(Some(first.id())), Liveness::Gone);
        drop(first);
        drop(second);
        assert_eq!(std::fs::read_dir(&nodes).unwrap().count(), 0);
    }
}
