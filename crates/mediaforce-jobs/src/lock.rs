//! One encode at a time per source file, across runs and processes: an advisory file lock.

use crate::hosts::host_name;
use std::path::{Path, PathBuf};

/// An exclusive hold on one source file's encode, so two runs never stage the same item at
/// once (two `encode --all` side by side on one plan). It is an advisory lock on
/// `<data dir>/locks/file-<id>.lock`, released when the hold is dropped or the process dies,
/// so a killed run never leaves an item locked.
#[derive(Debug)]
pub struct ItemLock {
    _file: std::fs::File,
}

/// Why an [`ItemLock`] could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; who, as it wrote it.
    Held(String),
    /// The lock file could not be opened.
    Io(std::io::Error),
}

impl ItemLock {
    /// The lock file for a source: by catalog file id, else by the source path.
    pub fn path(data_dir: &Path, file_id: Option<i64>, source: &Path) -> PathBuf {
        let name = match file_id {
            Some(id) => format!("file-{id}.lock"),
            None => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                source.hash(&mut h);
                format!("path-{:016x}.lock", h.finish())
            }
        };
        data_dir.join("locks").join(name)
    }

    /// Take the lock at `path` without waiting.
    pub fn try_take(path: &Path) -> Result<Self, LockError> {
        use std::io::{Read, Seek, Write};
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(LockError::Io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held(if holder.is_empty() {
                    "another mediaforce run".into()
                } else {
                    holder.to_string()
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {} on {}", std::process::id(), host_name());
        let _ = file.flush();
        Ok(Self { _file: file })
    }
}
