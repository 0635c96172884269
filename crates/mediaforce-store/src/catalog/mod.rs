//! The catalog: one SQLite database (`<data dir>/catalog.db`) holding runtime settings, every
//! file found under the library roots with its probe record, and the work done on them
//! (plan items, append-only item events, encode telemetry, validations, the promotion journal).
//!
//! The schema is versioned (see [`MIGRATIONS`]) and brought up to date on open; tables are
//! STRICT, foreign keys are enforced, and the database runs in WAL mode with a busy timeout so a
//! `status` during an `encode --all` waits instead of failing.

use crate::db;
use crate::params;
use crate::sql::{Backend, Db, Row, SqlError};
use crate::Fence;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

mod files;
mod items;
mod library;
mod points;
mod records;
mod schema;
mod stats;

pub use files::{FileProbed, FileSeen, FileWriter};
pub use records::*;
pub use schema::{MIGRATIONS, PG_MIGRATIONS, SCHEMA};
pub use stats::*;

/// The catalog database: SQLite (`<data dir>/catalog.db`) or a PostgreSQL database hosts
/// share. One connection behind a lock, so one value serves every thread of a process.
#[derive(Debug)]
pub struct Catalog {
    db: Mutex<Db>,
    /// The lease the writes through this value belong to, when a queued job makes them.
    fence: Mutex<Option<Fence>>,
}

impl Catalog {
    /// The catalog database file in `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        crate::catalog_file(data_dir)
    }

    /// Open (creating and migrating) the catalog in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogError> {
        Self::open_location(&path_text(&Self::path_in(data_dir)))
    }

    /// Open the catalog in the shared database `database` (`postgres://...`) when given, else
    /// in `data_dir`.
    pub fn open_in(data_dir: &Path, database: Option<&str>) -> Result<Self, CatalogError> {
        match database {
            Some(url) => Self::open_location(url),
            None => Self::open(data_dir),
        }
    }

    /// Open the catalog at `location`: a `postgres://` URL or a SQLite file path.
    pub fn open_location(location: &str) -> Result<Self, CatalogError> {
        let catalog = Self {
            db: Mutex::new(Db::open(location, &SCHEMA)?),
            fence: Mutex::new(None),
        };
        catalog.backfill_media_columns()?;
        Ok(catalog)
    }

    /// Make every later write through this value conditional on `fence`'s lease (a worker
    /// sets it for the job it runs, and clears it after): a write after the lease was lost is
    /// refused as [`CatalogError::Fenced`], in the same transaction that would have made it.
    /// The job queue must live in the same database (it does: both follow `--database`).
    pub fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = fence;
    }

    /// The lease writes are fenced by.
    pub fn fence(&self) -> Option<Fence> {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inside a transaction: refuse when `fence`'s lease is no longer current. On PostgreSQL
    /// the job's row stays locked until the transaction ends, so no other worker can claim the
    /// job in between; on SQLite the transaction holds the write lock.
    fn check_fence(tx: &mut Db, fence: Fence) -> Result<(), CatalogError> {
        let lock = match tx.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let live = tx.query_opt(
            &format!("SELECT 1 FROM job WHERE id = ?1 AND epoch = ?2 AND state = 'running'{lock}"),
            params![fence.job, fence.epoch],
        )?;
        if live.is_none() {
            return Err(CatalogError::Fenced {
                job: fence.job,
                epoch: fence.epoch,
            });
        }
        Ok(())
    }

    /// Move the file `from` to `to` (a rename in one directory, made durable) only while the
    /// fence's lease is current, holding the job's row while it happens: a worker that lost
    /// its lease can never put a file in place. Without a fence it is a plain rename.
    pub fn fenced_rename(&self, from: &Path, to: &Path) -> Result<(), CatalogError> {
        self.rename_fenced_by(self.fence(), from, to)
    }

    fn rename_fenced_by(
        &self,
        fence: Option<Fence>,
        from: &Path,
        to: &Path,
    ) -> Result<(), CatalogError> {
        let io = |e: std::io::Error| {
            CatalogError::Invalid(format!("{} -> {}: {e}", from.display(), to.display()))
        };
        let rename = || -> Result<(), CatalogError> {
            std::fs::rename(from, to).map_err(io)?;
            if let Some(dir) = to.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        match fence {
            None => rename(),
            Some(fence) => self.lock().transaction(|tx| {
                Self::check_fence(tx, fence)?;
                rename()
            }),
        }
    }

    /// [`Catalog::fenced_rename`] under `fence` rather than this catalog's own: the
    /// receiving side of a transfer puts a remote host's upload in place only while that
    /// host's lease is current.
    pub fn rename_under(&self, fence: Fence, from: &Path, to: &Path) -> Result<(), CatalogError> {
        self.rename_fenced_by(Some(fence), from, to)
    }

    /// Which backend holds the catalog.
    pub fn backend(&self) -> Backend {
        self.lock().backend()
    }

    /// The database, as shown in messages.
    pub fn location(&self) -> String {
        self.lock().location().to_string()
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves the connection usable: SQL state is in the
        // database, and an open transaction was rolled back by `Db::transaction`.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn execute(&self, sql: &str, params: &[crate::sql::Value]) -> Result<u64, CatalogError> {
        match self.fence() {
            None => Ok(self.lock().execute(sql, params)?),
            Some(fence) => self.lock().transaction(|tx| {
                Self::check_fence(tx, fence)?;
                Ok(tx.execute(sql, params)?)
            }),
        }
    }

    fn query(&self, sql: &str, params: &[crate::sql::Value]) -> Result<Vec<Row>, CatalogError> {
        Ok(self.lock().query(sql, params)?)
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[crate::sql::Value],
    ) -> Result<Option<Row>, CatalogError> {
        Ok(self.lock().query_opt(sql, params)?)
    }

    /// Run `f` in one write transaction (the scan batches its writes in one).
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let fence = self.fence();
        self.lock().transaction(|tx| {
            if let Some(fence) = fence {
                Self::check_fence(tx, fence)?;
            }
            f(tx)
        })
    }

    // ----- settings -----

    /// Runtime values of a multi-valued setting, in the order they were added.
    pub fn setting_values(&self, key: &str) -> Result<Vec<String>, CatalogError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT value FROM setting WHERE key = ?1 ORDER BY added_at, rowid",
            Backend::Postgres => "SELECT value FROM setting WHERE key = ?1 ORDER BY added_at, seq",
        };
        Ok(self
            .query(sql, params![key])?
            .iter()
            .map(|r| r.text(0))
            .collect())
    }

    /// Add a value to a multi-valued setting; returns false when it was already there.
    pub fn add_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self.execute(
            "INSERT INTO setting (key, value, added_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![key, value, db::now()],
        )?;
        Ok(n > 0)
    }

    /// Remove a value; returns false when it was not there.
    pub fn remove_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self.execute(
            "DELETE FROM setting WHERE key = ?1 AND value = ?2",
            params![key, value],
        )?;
        Ok(n > 0)
    }

    /// Replace a single-valued setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.transaction(|tx| {
            tx.execute("DELETE FROM setting WHERE key = ?1", params![key])?;
            tx.execute(
                "INSERT INTO setting (key, value, added_at) VALUES (?1, ?2, ?3)",
                params![key, value, db::now()],
            )?;
            Ok(())
        })
    }

    /// Fill the media columns of files probed before they existed (once; cheap after).
    fn backfill_media_columns(&self) -> Result<(), CatalogError> {
        let rows = self.query(
            "SELECT id, probe FROM file WHERE probe IS NOT NULL AND video_codec IS NULL
                 AND audio IS NULL AND bit_rate IS NULL",
            &[],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        self.lock().transaction(|db| {
            for r in &rows {
                set_media_columns(db, r.int(0), r.opt_text(1).as_deref())?;
            }
            Ok::<_, SqlError>(())
        })?;
        Ok(())
    }
}

pub use crate::{catalog_file as queue_path, location as queue_location};
