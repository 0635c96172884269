//! The probe cache: measured (knob → scores, sizes) results of the target search, in SQLite, so a
//! rerun of the same search is instant.
//!
//! A key covers everything a result depends on: the source (size, mtime and a hash of sampled
//! bytes), the sample placement, the scoring scale, the encoder fingerprint (library version and
//! every option, knob included), the pixel format, the VMAF model and libvmaf's version. Any
//! change to one of them is a different key, so stale entries are never read.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE probe_cache (
        key TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        value TEXT NOT NULL
    ) STRICT;"];

/// Errors of the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// SQLite failed.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// Database path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// The data directory: `MEDIAFORCE_DATA_DIR`, else `$XDG_DATA_HOME/mediaforce`, else
/// `~/.local/share/mediaforce`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MEDIAFORCE_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("mediaforce");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/mediaforce")
}

/// A probe cache database.
#[derive(Debug)]
pub struct ProbeCache {
    conn: Connection,
    path: PathBuf,
}

impl ProbeCache {
    /// Open (creating and migrating as needed) the cache database at `path`.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        Ok(Self {
            conn: crate::db::open(path, MIGRATIONS)?,
            path: path.to_path_buf(),
        })
    }

    /// The stored value for `key`.
    pub fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.conn
            .query_row(
                "SELECT value FROM probe_cache WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|source| CacheError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Store `value` under `key`, replacing any previous value.
    pub fn put(&self, key: &str, value: &str) -> Result<(), CacheError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO probe_cache (key, created_at, value) VALUES (?1, ?2, ?3)",
                params![key, now, value],
            )
            .map(|_| ())
            .map_err(|source| CacheError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// The value stored under `key`, parsed as JSON; `None` when absent or when it no longer
    /// parses (a layout from an older version is a miss, not an error).
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CacheError> {
        Ok(self
            .get(key)?
            .and_then(|v| serde_json::from_str::<T>(&v).ok()))
    }

    /// Store `value` as JSON under `key`.
    pub fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        self.put(
            key,
            &serde_json::to_string(value).expect("cached values serialise"),
        )
    }

    /// Number of cached probes.
    pub fn len(&self) -> Result<u64, CacheError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM probe_cache", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|source| CacheError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        Ok(self.len()? == 0)
    }
}

/// A fingerprint of a search source: its quick content hash ([`crate::db::content_hash`]) plus
/// its modification time, so an edited file is never served stale probes.
pub fn source_fingerprint(path: &Path) -> std::io::Result<String> {
    let mtime = std::fs::metadata(path)?
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}:{mtime}", crate::db::content_hash(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/cache.db");
        let c = ProbeCache::open(&db).unwrap();
        assert!(c.is_empty().unwrap());
        c.put("k", "v1").unwrap();
        c.put("k", "v2").unwrap();
        drop(c);
        let c = ProbeCache::open(&db).unwrap();
        assert_eq!(c.get("k").unwrap().as_deref(), Some("v2"));
        assert_eq!(c.get("other").unwrap(), None);
        assert_eq!(c.len().unwrap(), 1);
        let v: i64 = c
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn fingerprint_changes_with_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![1u8; 300_000]).unwrap();
        let a = source_fingerprint(&p).unwrap();
        let mut bytes = vec![1u8; 300_000];
        bytes[150_000] = 2;
        std::fs::write(&p, &bytes).unwrap();
        let b = source_fingerprint(&p).unwrap();
        // Everything but the trailing modification time: the content hash alone differs.
        let content = |f: &str| f.rsplit_once(':').unwrap().0.to_string();
        assert_ne!(content(&a), content(&b));
    }
}
