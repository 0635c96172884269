//! What the store has learned: folder knobs, tuning points, savings.

use crate::db;
use crate::params;
use std::path::Path;

use super::records::*;
use super::Catalog;

impl Catalog {
    /// The knobs the newest encodes of other items in `folder` (files directly in it) settled
    /// on with `encoder`, newest first (at most `limit`), with each source's height: what a
    /// folder's measured first guess is made of.
    pub fn folder_knobs(
        &self,
        folder: &Path,
        encoder: &str,
        except_item: i64,
        limit: usize,
    ) -> Result<Vec<(f64, Option<i64>)>, CatalogError> {
        let prefix = format!("{}/", folder.display().to_string().trim_end_matches('/'));
        let rows = self.query(
            "SELECT e.knob, f.height, i.source FROM encode e
             JOIN item i ON i.id = e.item_id
             LEFT JOIN file f ON f.id = i.file_id
             WHERE e.encoder = ?1 AND i.id <> ?2
               AND substr(i.source, 1, ?3) = ?4
               AND e.id = (SELECT MAX(id) FROM encode WHERE item_id = e.item_id)
             ORDER BY e.id DESC",
            params![
                encoder,
                except_item,
                prefix.chars().count() as i64,
                prefix.clone()
            ],
        )?;
        Ok(rows
            .iter()
            .filter(|r| !r.text(2)[prefix.len()..].contains('/'))
            .take(limit)
            .map(|r| (r.real(0), r.opt_int(1)))
            .collect())
    }
}

impl Catalog {
    /// Record measured points (a search's probes, a grid's rows), each once: a point already
    /// held (same source content, encoder and version, preset, knob, whole file or samples)
    /// is skipped. Returns how many were new.
    pub fn record_points(
        &self,
        points: &[crate::point::TuningPoint],
    ) -> Result<usize, CatalogError> {
        let held: std::collections::HashSet<_> = self
            .points_of_sources(
                &points
                    .iter()
                    .map(|p| p.source_fingerprint.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>(),
            )?
            .iter()
            .map(crate::point::TuningPoint::key)
            .collect();
        let fresh: Vec<_> = points.iter().filter(|p| !held.contains(&p.key())).collect();
        self.transaction(|tx| {
            for p in &fresh {
                tx.execute(
                    "INSERT INTO tuning_point
                         (at, origin, source_fingerprint, encoder, preset, knob, vmaf_mean, row)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        db::now(),
                        p.origin.clone(),
                        p.source_fingerprint.clone(),
                        p.encoder.clone(),
                        p.preset.clone(),
                        p.knob,
                        p.vmaf_mean,
                        serde_json::to_string(p).unwrap_or_default()
                    ],
                )?;
            }
            Ok(())
        })?;
        Ok(fresh.len())
    }

    /// The points measured on sources with these fingerprints, oldest first.
    pub fn points_of_sources(
        &self,
        fingerprints: &[String],
    ) -> Result<Vec<crate::point::TuningPoint>, CatalogError> {
        let mut out = Vec::new();
        for f in fingerprints {
            for r in self.query(
                "SELECT row FROM tuning_point WHERE source_fingerprint = ?1 ORDER BY id",
                params![f.clone()],
            )? {
                if let Ok(p) = serde_json::from_str(&r.text(0)) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Every measured point, oldest first (what a knob model is fitted on).
    pub fn all_points(&self) -> Result<Vec<crate::point::TuningPoint>, CatalogError> {
        Ok(self
            .query("SELECT row FROM tuning_point ORDER BY id", &[])?
            .iter()
            .filter_map(|r| serde_json::from_str(&r.text(0)).ok())
            .collect())
    }
}

impl Catalog {
    /// One item by its row id.
    pub fn item_by_id(&self, id: i64) -> Result<Option<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE id = ?1");
        self.query_opt(&sql, params![id])?
            .as_ref()
            .map(item_from_row)
            .transpose()
    }

    /// Bytes saved in the library so far: for every promoted item, its source's size less its
    /// newest encode's.
    pub fn saved_bytes(&self) -> Result<i64, CatalogError> {
        Ok(self
            .query_opt(
                // PostgreSQL sums BIGINTs as NUMERIC: cast back to a 64-bit integer.
                "SELECT CAST(COALESCE(SUM(e.source_bytes - e.output_bytes), 0) AS BIGINT) FROM item i
                 JOIN encode e ON e.id = (SELECT MAX(id) FROM encode WHERE item_id = i.id)
                 WHERE i.state = 'promoted'",
                &[],
            )?
            .map_or(0, |r| r.int(0)))
    }
}
