//! The web page: server-rendered pages (templates checked at compile time) and their JSON
//! API, behind a sign-in. Every request must name this server in its `Host` (against DNS
//! rebinding); a state-changing one must also come from this server's own pages (`Origin`)
//! and carry the session's CSRF token. The session cookie is `HttpOnly` and `SameSite=Strict`.

use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Form, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use mediaforce::catalog::LibraryQuery;
use mediaforce_app::web::LibraryPage;
use mediaforce_app::{AppError, ErrorKind};

/// The session cookie's name.
pub const COOKIE: &str = "mf_session";

/// The style sheet, built into the binary.
const CSS: &str = include_str!("../assets/app.css");

/// Refuse a request whose `Host` is not this server's (a page reached through a rebinding
/// DNS name), and a state-changing one from another origin.
pub async fn guard(State(server): State<Server>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !server.allowed_hosts.contains(&host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            format!("Host {host:?} is not this server's; open it by an address it serves"),
        )
            .into_response();
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let ok = origin
                .to_str()
                .ok()
                .is_some_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")));
            if !ok {
                return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
            }
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The signed-in session's token and CSRF token.
async fn session(server: &Server, headers: &HeaderMap) -> Result<(String, String), Failure> {
    let token = cookie(headers).unwrap_or_default();
    if token.is_empty() {
        return Err(Failure(AppError::new(
            ErrorKind::Unauthenticated,
            "not signed in",
        )));
    }
    let app = server.app.clone();
    let t = token.clone();
    let csrf = blocking(move || app.web_session(&t)).await?;
    Ok((token, csrf))
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /assets/app.css`.
pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    signed_in: bool,
    csrf: String,
    password_set: bool,
    error: Option<String>,
}

/// `GET /login`.
pub async fn login_page(State(server): State<Server>) -> Response {
    let app = server.app.clone();
    let password_set = blocking(move || app.web_password_set())
        .await
        .unwrap_or(false);
    render(&LoginPage {
        signed_in: false,
        csrf: String::new(),
        password_set,
        error: None,
    })
}

/// The sign-in form.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    password: String,
}

/// `POST /login`: a session cookie and on to the library, or the form again with the cause.
pub async fn login(State(server): State<Server>, Form(form): Form<LoginForm>) -> Response {
    let app = server.app.clone();
    match blocking(move || app.web_login(&form.password)).await {
        Ok(s) => {
            let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", s.token);
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, "/library".to_string()),
                ],
            )
                .into_response()
        }
        Err(Failure(e)) => {
            let status = if e.kind == ErrorKind::Unauthenticated {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let mut resp = render(&LoginPage {
                signed_in: false,
                csrf: String::new(),
                password_set: true,
                error: Some(e.message),
            });
            *resp.status_mut() = status;
            resp
        }
    }
}

/// A form carrying only the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(server): State<Server>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Ok((token, csrf)) = session(&server, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if form.csrf != csrf {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    let app = server.app.clone();
    let _ = blocking(move || app.web_logout(&token)).await;
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "library.html")]
struct LibraryHtml {
    signed_in: bool,
    csrf: String,
    total: u64,
    total_label: String,
    f: Filters,
    ranges: Vec<(&'static str, &'static str, bool)>,
    sorts: Vec<(&'static str, &'static str, bool)>,
    desc: bool,
    query_string: String,
    rows: Vec<RowView>,
    prev: Option<String>,
    next: Option<String>,
    first: u64,
    last: u64,
}

/// The filter form's values, as typed.
struct Filters {
    folder: String,
    codec: String,
    min_height: String,
    max_height: String,
    state: String,
    min_bytes: String,
    max_bytes: String,
}

/// One table row, formatted.
struct RowView {
    path: String,
    codec: String,
    resolution: String,
    hdr: String,
    bit_rate: String,
    audio: String,
    size: String,
    bucket: &'static str,
    saving: String,
    state: String,
}

fn num(v: Option<i64>) -> String {
    v.map_or(String::new(), |n| n.to_string())
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The query as a query string (empty fields left out).
fn query_string(q: &LibraryQuery) -> String {
    serde_urlencoded::to_string(q)
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.ends_with('=') && !kv.is_empty())
        .collect::<Vec<_>>()
        .join("&")
}

async fn library_page(server: &Server, q: LibraryQuery) -> Result<LibraryPage, Failure> {
    let app = server.app.clone();
    blocking(move || app.library(&q)).await
}

/// `GET /library`: the catalogued files, filtered, sorted and paged by the store.
pub async fn library(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    let Ok((_, csrf)) = session(&server, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let page = match library_page(&server, q.clone()).await {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
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
        .map(|r| RowView {
            path: r.path.display().to_string(),
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
    })
}

/// `GET /api/library`: the same page as JSON.
pub async fn library_json(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    if let Err(f) = session(&server, &headers).await {
        return f.into_response();
    }
    match library_page(&server, q).await {
        Ok(p) => axum::Json(p).into_response(),
        Err(f) => f.into_response(),
    }
}

fn csv_field(s: &str) -> String {
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
