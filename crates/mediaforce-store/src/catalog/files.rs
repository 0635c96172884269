//! The scan's writes to the `file` table and its events, inside the scan's one transaction.

use super::{path_text, set_media_columns, CatalogError};
use crate::params;
use crate::sql::{Db, Value};
use std::path::{Path, PathBuf};

/// A file found by the scan's walk.
#[derive(Debug, Clone)]
pub struct FileSeen {
    /// Where it is.
    pub path: PathBuf,
    /// The library root it is under.
    pub root: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// The device it is on.
    pub dev: u64,
    /// Its inode.
    pub inode: u64,
}

/// What reading and probing one new or changed file found.
#[derive(Debug, Clone)]
pub struct FileProbed {
    /// Its content fingerprint (empty when it could not be read).
    pub fingerprint: String,
    /// The probe record (JSON of the media layer's `MediaInfo`).
    pub probe: Option<String>,
    /// Why it could not be read or probed.
    pub error: Option<String>,
    /// Whether mediaforce wrote it (its own encodes are not planned again).
    pub ours: bool,
}

/// Writes the scan's findings, all stamped with one time.
#[derive(Debug)]
pub struct FileWriter<'t> {
    tx: &'t mut Db,
    now: i64,
}

impl<'t> FileWriter<'t> {
    /// Writes through `tx` (the scan's transaction) at time `now` (epoch seconds).
    pub fn new(tx: &'t mut Db, now: i64) -> Self {
        Self { tx, now }
    }

    /// A file seen again, unchanged.
    pub fn scanned(&mut self, id: i64) -> Result<(), CatalogError> {
        self.tx.execute(
            "UPDATE file SET scanned_at = ?2 WHERE id = ?1",
            params![id, self.now],
        )?;
        Ok(())
    }

    /// One event in a file's history.
    pub fn event(
        &mut self,
        id: i64,
        kind: &str,
        detail: Option<String>,
    ) -> Result<(), CatalogError> {
        self.tx.execute(
            "INSERT INTO file_event (file_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, self.now, kind, detail],
        )?;
        Ok(())
    }

    /// A file no longer there.
    pub fn gone(&mut self, id: i64) -> Result<(), CatalogError> {
        self.tx.execute(
            "UPDATE file SET status = 'gone', scanned_at = ?2 WHERE id = ?1",
            params![id, self.now],
        )?;
        self.event(id, "gone", None)
    }

    /// A file touched without a content change (its row vouches for it).
    pub fn touched(&mut self, id: i64, f: &FileSeen) -> Result<(), CatalogError> {
        self.tx.execute(
            "UPDATE file SET mtime_ns = ?2, dev = ?3, inode = ?4, scanned_at = ?5 WHERE id = ?1",
            params![id, f.mtime_ns, f.dev, f.inode, self.now],
        )?;
        self.event(id, "touched", None)
    }

    /// A file moved (or renamed) from `from`: the same row follows it.
    pub fn moved(&mut self, id: i64, f: &FileSeen, from: &Path) -> Result<(), CatalogError> {
        self.tx.execute(
            "UPDATE file SET path = ?2, folder = rtrim(?2, replace(?2, '/', '')), root = ?3,
                mtime_ns = ?4, dev = ?5, inode = ?6,
                status = CASE WHEN status = 'gone' THEN 'ok' ELSE status END, scanned_at = ?7
             WHERE id = ?1",
            params![
                id,
                path_text(&f.path),
                path_text(&f.root),
                f.mtime_ns,
                f.dev,
                f.inode,
                self.now
            ],
        )?;
        self.event(id, "moved", Some(format!("from {}", from.display())))
    }

    /// The row values of a probed file, `?1` to `?12`.
    fn row(&self, f: &FileSeen, p: &FileProbed) -> Vec<Value> {
        params![
            path_text(&f.path),
            path_text(&f.root),
            f.size,
            f.mtime_ns,
            f.dev,
            f.inode,
            &p.fingerprint,
            if p.error.is_some() { "error" } else { "ok" },
            p.error.clone(),
            p.probe.clone(),
            p.ours,
            self.now
        ]
        .to_vec()
    }

    /// A known file whose content changed, probed again.
    pub fn reprobed(&mut self, id: i64, f: &FileSeen, p: &FileProbed) -> Result<(), CatalogError> {
        let mut row = self.row(f, p);
        row.push(Value::from(id));
        self.tx.execute(
            "UPDATE file SET path = ?1, folder = rtrim(?1, replace(?1, '/', '')), root = ?2,
                size = ?3, mtime_ns = ?4, dev = ?5,
                inode = ?6, fingerprint = ?7, status = ?8, error = ?9, probe = ?10,
                ours = ?11, scanned_at = ?12, probed_at = ?12
             WHERE id = ?13",
            &row,
        )?;
        set_media_columns(self.tx, id, p.probe.as_deref())?;
        self.event(id, "changed", p.error.clone())
    }

    /// A new file; returns its row id.
    pub fn found(&mut self, f: &FileSeen, p: &FileProbed) -> Result<i64, CatalogError> {
        let row = self.row(f, p);
        let id = self
            .tx
            .query_opt(
                "INSERT INTO file (path, folder, root, size, mtime_ns, dev, inode, fingerprint,
                    status, error, probe, ours, first_seen, scanned_at, probed_at)
                 VALUES (?1, rtrim(?1, replace(?1, '/', '')), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                    ?10, ?11, ?12, ?12, ?12)
                 RETURNING id",
                &row,
            )?
            .map_or(0, |r| r.int(0));
        set_media_columns(self.tx, id, p.probe.as_deref())?;
        self.event(id, "found", p.error.clone())?;
        Ok(id)
    }
}

impl super::Catalog {
    /// Run the scan's writes in one transaction (a scan is all or nothing), stamped `now`
    /// (epoch seconds).
    pub fn write_files<T>(
        &self,
        now: i64,
        f: impl FnOnce(&mut FileWriter<'_>) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        self.transaction(|tx| f(&mut FileWriter::new(tx, now)))
    }
}
