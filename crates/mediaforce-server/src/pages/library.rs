//! The library page: every file, filtered and sorted by the database, as HTML, JSON or CSV.

use super::common::*;
use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use mediaforce::catalog::LibraryQuery;
use mediaforce_app::web::LibraryPage;

#[derive(Template)]
#[template(path = "library.html")]
pub(super) struct LibraryHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) total: u64,
    pub(super) total_label: String,
    pub(super) f: Filters,
    pub(super) ranges: Vec<(&'static str, &'static str, bool)>,
    pub(super) sorts: Vec<(&'static str, &'static str, bool)>,
    pub(super) desc: bool,
    pub(super) query_string: String,
    pub(super) rows: Vec<RowView>,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
    pub(super) first: u64,
    pub(super) last: u64,
    /// The library roots, named once above the table (rows show paths below them).
    pub(super) roots: Vec<String>,
}

/// The filter form's values, as typed.
pub(super) struct Filters {
    pub(super) folder: String,
    pub(super) codec: String,
    pub(super) min_height: String,
    pub(super) max_height: String,
    pub(super) state: String,
    pub(super) min_bytes: String,
    pub(super) max_bytes: String,
}

/// One table row, formatted.
pub(super) struct RowView {
    pub(super) href: Option<String>,
    /// Below its root.
    pub(super) path: String,
    /// The root's last name, when the library has several roots.
    pub(super) root: String,
    pub(super) codec: String,
    pub(super) resolution: String,
    pub(super) hdr: String,
    pub(super) bit_rate: String,
    pub(super) audio: String,
    pub(super) size: String,
    pub(super) bucket: &'static str,
    pub(super) saving: String,
    pub(super) state: String,
}

/// The query as a query string (empty fields left out).
pub(super) fn query_string(q: &LibraryQuery) -> String {
    serde_urlencoded::to_string(q)
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.ends_with('=') && !kv.is_empty())
        .collect::<Vec<_>>()
        .join("&")
}

pub(super) async fn library_page(server: &Server, q: LibraryQuery) -> Result<LibraryPage, Failure> {
    let app = server.app.clone();
    blocking(move || app.library(&q)).await
}

/// `GET /library`: the catalogued files, filtered, sorted and paged by the store.
pub async fn library(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    let csrf = match page_session(&server, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let page = match library_page(&server, q.clone()).await {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
    let app = server.app.clone();
    let roots = app.settings().roots.clone();
    let at = |offset: u64| {
        let mut moved = q.clone();
        moved.offset = Some(offset);
        format!("/library?{}", query_string(&moved))
    };
    let (offset, limit) = (page.offset, page.limit);
    let prev = (offset > 0).then(|| at(offset.saturating_sub(limit)));
    let next = (offset + limit < page.total).then(|| at(offset + limit));
    let shown = page.rows.len() as u64;
    let sort = q.sort.clone().unwrap_or_else(|| "path".into());
    let rows = page
        .rows
        .iter()
        .map(|r| {
            let shown = mediaforce_app::display::shown(&r.path, &roots);
            RowView {
                href: r.item_id.map(|i| format!("/items/{i}")),
                path: shown.relative,
                root: match (&shown.root, roots.len()) {
                    (Some(root), 2..) => root
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    _ => String::new(),
                },
                codec: r.media.video_codec.clone().unwrap_or_else(|| "-".into()),
                resolution: match (r.media.width, r.media.height) {
                    (Some(w), Some(h)) => format!("{w}×{h}"),
                    _ => "-".into(),
                },
                hdr: text(&r.media.hdr),
                bit_rate: r
                    .media
                    .bit_rate
                    .map_or("-".into(), |b| format!("{} kb/s", b / 1000)),
                audio: text(&r.media.audio),
                size: mediaforce_app::human_bytes(r.size_bytes),
                bucket: r.bucket,
                saving: mediaforce_app::human_bytes(r.expected_saving_bytes),
                state: text(&r.state),
            }
        })
        .collect();
    let range = q.dynamic_range.clone().unwrap_or_default();
    render(&LibraryHtml {
        signed_in: true,
        csrf,
        total: page.total,
        total_label: match page.total {
            1 => "1 file".to_string(),
            n => format!("{n} files"),
        },
        f: Filters {
            folder: text(&q.folder),
            codec: text(&q.codec),
            min_height: num(q.min_height),
            max_height: num(q.max_height),
            state: text(&q.state),
            min_bytes: num(q.min_bytes),
            max_bytes: num(q.max_bytes),
        },
        ranges: [("", "any"), ("hdr", "HDR"), ("sdr", "SDR")]
            .into_iter()
            .map(|(v, l)| (v, l, v == range))
            .collect(),
        sorts: [
            ("path", "path"),
            ("size", "size"),
            ("codec", "codec"),
            ("height", "resolution"),
            ("bit_rate", "bit rate"),
            ("state", "state"),
        ]
        .into_iter()
        .map(|(v, l)| (v, l, v == sort))
        .collect(),
        desc: q.desc == Some(true),
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        query_string: query_string(&LibraryQuery {
            offset: None,
            limit: None,
            ..q.clone()
        }),
        rows,
        prev,
        next,
        roots: roots.iter().map(|r| r.display().to_string()).collect(),
    })
}

/// `GET /api/library`: the same page as JSON.
pub async fn library_json(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    api(&server, &headers, move |app| app.library(&q)).await
}

pub(super) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `GET /library.csv`: the filtered view (up to 1000 rows a request) as CSV.
pub async fn library_csv(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    if let Err(f) = session(&server, &headers).await {
        return f.into_response();
    }
    let page = match library_page(&server, q).await {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
    let mut out = String::from(
        "path,codec,width,height,hdr,bit_rate,audio,size_bytes,bucket,expected_saving_bytes,state\n",
    );
    for r in &page.rows {
        let n = |v: Option<i64>| v.map_or(String::new(), |n| n.to_string());
        let fields = [
            csv_field(&r.path.to_string_lossy()),
            csv_field(r.media.video_codec.as_deref().unwrap_or("")),
            n(r.media.width),
            n(r.media.height),
            csv_field(r.media.hdr.as_deref().unwrap_or("")),
            n(r.media.bit_rate),
            csv_field(r.media.audio.as_deref().unwrap_or("")),
            r.size_bytes.to_string(),
            r.bucket.to_string(),
            r.expected_saving_bytes.to_string(),
            csv_field(r.state.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}
