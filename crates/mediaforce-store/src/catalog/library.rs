//! The library page: one page of files filtered and sorted by the database.

use crate::sql::{Backend, Row};

use super::records::*;
use super::Catalog;

impl Catalog {
    /// One page of the library as `q` filters and sorts it, done by the database, and how
    /// many files match in all. Files no longer on disk are left out.
    pub fn library_page(&self, q: &LibraryQuery) -> Result<(Vec<LibraryFile>, u64), CatalogError> {
        use crate::sql::Value;
        let backend = self.backend();
        let state_expr =
            "(SELECT i.state FROM item i WHERE i.file_id = file.id ORDER BY i.id DESC LIMIT 1)";
        let mut clauses = vec!["status <> 'gone'".to_string()];
        let mut values: Vec<Value> = Vec::new();
        let mut bind = |v: Value| {
            values.push(v);
            format!("?{}", values.len())
        };
        if let Some(f) = q.folder.as_deref().filter(|f| !f.is_empty()) {
            let f = f.trim_end_matches('/').to_string();
            if backend == Backend::Sqlite {
                // Paths under `f/` are those in [`f/`, `f0`) in SQLite's byte order ('0'
                // follows '/'): a range the path index answers.
                let lo = bind(format!("{f}/").into());
                let hi = bind(format!("{f}0").into());
                clauses.push(format!("path >= {lo} AND path < {hi}"));
            } else {
                // PostgreSQL orders text by its collation, where that does not hold.
                let n = bind((f.chars().count() as i64 + 1).into());
                let p = bind(format!("{f}/").into());
                clauses.push(format!("substr(path, 1, {n}) = {p}"));
            }
        }
        if let Some(c) = q.codec.as_deref().filter(|c| !c.is_empty()) {
            clauses.push(format!("video_codec = {}", bind(c.to_string().into())));
        }
        if let Some(h) = q.min_height {
            clauses.push(format!("height >= {}", bind(h.into())));
        }
        if let Some(h) = q.max_height {
            clauses.push(format!("height <= {}", bind(h.into())));
        }
        match q.dynamic_range.as_deref() {
            Some("hdr") => clauses.push("hdr IS NOT NULL".into()),
            Some("sdr") => clauses.push("hdr IS NULL".into()),
            _ => {}
        }
        match q.state.as_deref().filter(|s| !s.is_empty()) {
            Some("none") => clauses.push(format!("{state_expr} IS NULL")),
            Some(s) => clauses.push(format!("{state_expr} = {}", bind(s.to_string().into()))),
            None => {}
        }
        if let Some(b) = q.min_bytes {
            clauses.push(format!("size >= {}", bind(b.into())));
        }
        if let Some(b) = q.max_bytes {
            clauses.push(format!("size <= {}", bind(b.into())));
        }
        let filter = clauses.join(" AND ");
        let key = match q.sort.as_deref() {
            Some("size") => "size",
            Some("codec") => "video_codec",
            Some("height") => "height",
            Some("bit_rate") => "bit_rate",
            Some("state") => state_expr,
            _ => "path",
        };
        let dir = if q.desc.unwrap_or(false) {
            "DESC"
        } else {
            "ASC"
        };
        // Paths are unique and never NULL: sorted by path alone, the path index gives the
        // order; any other key ties on path.
        let order = if key == "path" {
            format!("path {dir}")
        } else {
            format!("{key} {dir} NULLS LAST, path ASC")
        };
        let limit = q.limit.unwrap_or(100).clamp(1, 1000) as i64;
        let offset = q.offset.unwrap_or(0) as i64;
        let total = self
            .query_opt(
                &format!("SELECT COUNT(*) FROM file WHERE {filter}"),
                &values,
            )?
            .map_or(0, |r| r.int(0)) as u64;
        // First the page's ids, sorted and cut from the narrow indexed columns; then the rows
        // (probe records are kilobytes each: sorting them would move them all).
        let mut page_values = values.clone();
        page_values.push(limit.into());
        page_values.push(offset.into());
        let (l, o) = (page_values.len() - 1, page_values.len());
        let ids: Vec<i64> = self
            .query(
                &format!(
                    "SELECT id FROM file WHERE {filter} ORDER BY {order} LIMIT ?{l} OFFSET ?{o}"
                ),
                &page_values,
            )?
            .iter()
            .map(|r| r.int(0))
            .collect();
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
        let id_values: Vec<Value> = ids.iter().map(|&i| i.into()).collect();
        let sql = format!(
            "SELECT {FILE_COLUMNS}, video_codec, width, height, hdr, bit_rate, audio,
                 {state_expr} AS state,
                 (SELECT i.id FROM item i WHERE i.file_id = file.id ORDER BY i.id DESC LIMIT 1)
             FROM file WHERE id IN ({})",
            marks.join(", ")
        );
        let mut rows = self.query(&sql, &id_values)?;
        let rank: std::collections::HashMap<i64, usize> =
            ids.iter().enumerate().map(|(n, &id)| (id, n)).collect();
        rows.sort_by_key(|r| rank.get(&r.int(0)).copied().unwrap_or(usize::MAX));
        let n = FILE_COLUMNS.split(',').count();
        let opt_int = |r: &Row, i: usize| r.opt_int(i);
        Ok((
            rows.iter()
                .map(|r| LibraryFile {
                    file: file_from_row(r),
                    media: MediaColumns {
                        video_codec: r.opt_text(n),
                        width: opt_int(r, n + 1),
                        height: opt_int(r, n + 2),
                        hdr: r.opt_text(n + 3),
                        bit_rate: opt_int(r, n + 4),
                        audio: r.opt_text(n + 5),
                    },
                    state: r.opt_text(n + 6),
                    item_id: r.opt_int(n + 7),
                })
                .collect(),
            total,
        ))
    }
}
