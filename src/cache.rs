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
    /// The directory could not be created.
    #[error("{}: {source}", path.display())]
    Io {
        /// Directory.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let err = |source| CacheError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(err)? as usize;
        if version < MIGRATIONS.len() {
            let tx = conn.transaction().map_err(err)?;
            for m in &MIGRATIONS[version..] {
                tx.execute_batch(m).map_err(err)?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Self {
            conn,
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

/// A quick content fingerprint of a file: size, modification time and an FNV-1a hash of three
/// 64 KiB windows (start, middle, end). Cheap on huge files; a changed file changes it.
pub fn source_fingerprint(path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let meta = std::fs::metadata(path)?;
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut f = std::fs::File::open(path)?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 64 * 1024];
    for offset in [0, len / 2, len.saturating_sub(buf.len() as u64)] {
        f.seek(SeekFrom::Start(offset))?;
        let n = f.read(&mut buf)?;
        for b in &buf[..n] {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{len}:{mtime}:{hash:016x}"))
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
        assert_ne!(a.rsplit(':').next(), b.rsplit(':').next());
    }
}
