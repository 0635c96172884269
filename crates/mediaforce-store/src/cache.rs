//! The probe cache: measured (knob → scores, sizes) results of the target search, in the
//! store (the catalog's SQLite file, or the shared PostgreSQL database hosts use), so a rerun
//! of the same search is instant, on any host that shares the store.
//!
//! A key covers everything a result depends on: the source (size, mtime and a hash of sampled
//! bytes), the sample placement, the scoring scale, the encoder fingerprint (library version and
//! every option, knob included), the pixel format, the VMAF model and libvmaf's version. Any
//! change to one of them is a different key, so stale entries are never read.

use crate::params;
use crate::sql::{Db, Schema, SqlError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cache's schema on both backends.
pub const SCHEMA: Schema<'static> = Schema {
    name: "probe_cache",
    sqlite: &["CREATE TABLE probe_cache (
        key TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        value TEXT NOT NULL
    ) STRICT;"],
    postgres: &["CREATE TABLE probe_cache (
        key TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        value TEXT NOT NULL
    );"],
    legacy: crate::sql::Legacy::None,
};

/// Errors of the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
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

/// A probe cache in a store.
#[derive(Debug)]
pub struct ProbeCache {
    db: Mutex<Db>,
}

impl ProbeCache {
    /// Open (creating and migrating as needed) the cache at `location`: a SQLite file path
    /// or a `postgres://` URL.
    pub fn open(location: &str) -> Result<Self, CacheError> {
        Ok(Self {
            db: Mutex::new(Db::open(location, &SCHEMA)?),
        })
    }

    /// The cache in a data directory (the catalog's file) or in the shared database.
    pub fn location(data_dir: &Path, database: Option<&str>) -> String {
        crate::location(data_dir, database)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored value for `key`.
    pub fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self
            .db()
            .query_opt("SELECT value FROM probe_cache WHERE key = ?1", params![key])?
            .map(|r| r.text(0)))
    }

    /// Store `value` under `key`, replacing any previous value.
    pub fn put(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.db().execute(
            "INSERT INTO probe_cache (key, created_at, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at,
                                             value = excluded.value",
            params![key, crate::db::now(), value],
        )?;
        Ok(())
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
        Ok(self
            .db()
            .query_opt("SELECT COUNT(*) FROM probe_cache", &[])?
            .map_or(0, |r| r.int(0) as u64))
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
        let db = db.to_str().unwrap();
        let c = ProbeCache::open(db).unwrap();
        assert!(c.is_empty().unwrap());
        c.put("k", "v1").unwrap();
        c.put("k", "v2").unwrap();
        drop(c);
        let c = ProbeCache::open(db).unwrap();
        assert_eq!(c.get("k").unwrap().as_deref(), Some("v2"));
        assert_eq!(c.get("other").unwrap(), None);
        assert_eq!(c.len().unwrap(), 1);
        let v = c.db().schema_version(&SCHEMA).unwrap();
        assert_eq!(v, SCHEMA.sqlite.len() as i64);
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
