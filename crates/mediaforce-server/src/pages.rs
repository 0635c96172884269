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
use mediaforce_app::web::{LibraryPage, Scope};
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
    // Authentication comes before anything reads the request's body or query: a request
    // without a session (or API token) learns nothing about what it would have sent.
    // (A path no route serves falls through to its 404: there is nothing behind it.)
    let routed = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some();
    if routed && !is_public(req.method(), req.uri().path()) {
        if let Err(e) = session(&server, req.headers()).await {
            let page = *req.method() == Method::GET
                && !req.uri().path().starts_with("/api/")
                && req.uri().path() != "/events"
                && !req.uri().path().ends_with(".csv")
                && !req.uri().path().starts_with("/artifacts/");
            return if page {
                Redirect::to("/login").into_response()
            } else {
                e.into_response()
            };
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

/// What may be reached without signing in: the sign-in itself, the style sheet and script it
/// loads, and the API's description.
fn is_public(method: &Method, path: &str) -> bool {
    matches!(
        path,
        "/login" | "/assets/app.css" | "/assets/app.js" | "/api/openapi.json"
    ) || (*method == Method::GET && path == "/")
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

/// The scope of the API token the request carries (`Authorization: Bearer`), if it carries
/// one; an unknown token is unauthenticated.
async fn api_scope(server: &Server, headers: &HeaderMap) -> Option<Result<Scope, Failure>> {
    let token = crate::bearer(headers);
    if token.is_empty() {
        return None;
    }
    let app = server.app.clone();
    Some(blocking(move || app.api_token_scope(&token)).await)
}

/// The signed-in session's token and CSRF token (both empty for a request carrying an API
/// token instead, which has no forms to protect).
async fn session(server: &Server, headers: &HeaderMap) -> Result<(String, String), Failure> {
    if let Some(scope) = api_scope(server, headers).await {
        return scope.map(|_| (String::new(), String::new()));
    }
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

/// A page's session: its CSRF token, or a redirect to the sign-in page.
async fn page_session(server: &Server, headers: &HeaderMap) -> Result<String, Response> {
    session(server, headers)
        .await
        .map(|(_, csrf)| csrf)
        .map_err(|_| Redirect::to("/login").into_response())
}

/// A page's session and data: its CSRF token and `f`'s view, or the response to send
/// instead (the sign-in page, or the error).
async fn page_data<T: Send + 'static>(
    server: &Server,
    headers: &HeaderMap,
    f: impl FnOnce(&mediaforce_app::App) -> mediaforce_app::Result<T> + Send + 'static,
) -> Result<(String, T), Response> {
    let csrf = page_session(server, headers).await?;
    let app = server.app.clone();
    let v = blocking(move || f(&app))
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((csrf, v))
}

/// An API answer: `f`'s view as JSON for a signed-in session, else the error as JSON.
async fn api<T: serde::Serialize + Send + 'static>(
    server: &Server,
    headers: &HeaderMap,
    f: impl FnOnce(&mediaforce_app::App) -> mediaforce_app::Result<T> + Send + 'static,
) -> Response {
    if let Err(e) = session(server, headers).await {
        return e.into_response();
    }
    let app = server.app.clone();
    match blocking(move || f(&app)).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
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
    #[serde(default)]
    csrf: String,
}

/// An item action's form: the CSRF token, and a re-encode's VMAF target.
#[derive(Debug, serde::Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "mediaforce::catalog::blank_is_none")]
    target_vmaf: Option<f64>,
}

/// A job action's form: the CSRF token, and the new priority for `priority`.
#[derive(Debug, serde::Deserialize)]
pub struct JobForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "mediaforce::catalog::blank_is_none")]
    priority: Option<i64>,
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
    /// The library roots, named once above the table (rows show paths below them).
    roots: Vec<String>,
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
    href: Option<String>,
    /// Below its root.
    path: String,
    /// The root's last name, when the library has several roots.
    root: String,
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

/// The script of the live pages, built into the binary.
const JS: &str = include_str!("../assets/app.js");

/// `GET /assets/app.js`.
pub async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// A running job's row, formatted.
struct RunningRow {
    id: i64,
    what: String,
    worker: String,
    frames: u64,
    total: u64,
    fps: String,
    eta: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardHtml {
    signed_in: bool,
    csrf: String,
    counts: Vec<(String, usize)>,
    saved: String,
    running: Vec<RunningRow>,
    hosts: Vec<mediaforce::hosts::HostRow>,
    failures: Vec<(i64, String)>,
    last_event: i64,
}

/// `GET /dashboard`.
pub async fn dashboard(State(server): State<Server>, headers: HeaderMap) -> Response {
    let (csrf, view) = match page_data(&server, &headers, |app| app.dashboard()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let running = view
        .running
        .iter()
        .map(|j| {
            let p = j.progress.clone().unwrap_or_default();
            RunningRow {
                id: j.id,
                what: j.what.clone(),
                worker: j.host.clone().unwrap_or_default(),
                frames: p["frames"].as_u64().unwrap_or(0),
                total: p["total"].as_u64().unwrap_or(0),
                fps: p["fps"]
                    .as_f64()
                    .map_or(String::new(), |f| format!("{f:.1}")),
                eta: p["eta_seconds"]
                    .as_f64()
                    .map_or(String::new(), |s| format!("{s:.0} s")),
            }
        })
        .collect();
    render(&DashboardHtml {
        signed_in: true,
        csrf,
        counts: view.counts.into_iter().collect(),
        saved: mediaforce_app::human_bytes(view.saved_bytes.max(0) as u64),
        running,
        hosts: view.hosts,
        failures: view
            .failures
            .iter()
            .map(|f| (f.id, f.last_error.clone().unwrap_or_default()))
            .collect(),
        last_event: view.last_event,
    })
}

/// `GET /api/dashboard`.
pub async fn dashboard_json(State(server): State<Server>, headers: HeaderMap) -> Response {
    api(&server, &headers, |app| app.dashboard()).await
}

/// Where a live stream starts.
#[derive(Debug, serde::Deserialize)]
pub struct After {
    after: Option<i64>,
}

/// `GET /events`: every job event after `?after=` (or the `Last-Event-ID` a reconnecting
/// browser sends) as Server-Sent Events, read from the store, so it shows jobs that run on
/// any host.
pub async fn events(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(after): Query<After>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if let Err(f) = session(&server, &headers).await {
        return f.into_response();
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let start = resume.or(after.after).unwrap_or(0);
    let app = server.app.clone();
    let stream = futures_util::stream::unfold(
        (start, std::collections::VecDeque::new()),
        move |(mut last, mut pending): (
            i64,
            std::collections::VecDeque<mediaforce::store::JobEvent>,
        )| {
            let app = app.clone();
            async move {
                loop {
                    if let Some(e) = pending.pop_front() {
                        let sse = Event::default()
                            .id(e.id.to_string())
                            .event("job")
                            .json_data(&e)
                            .unwrap_or_default();
                        return Some((Ok::<_, std::convert::Infallible>(sse), (last, pending)));
                    }
                    let a = app.clone();
                    let from = last;
                    match blocking(move || a.events_since(from, 200)).await {
                        Ok(batch) if !batch.is_empty() => {
                            last = batch.last().map_or(last, |e| e.id);
                            pending.extend(batch);
                        }
                        Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(300)).await,
                        Err(_) => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
                    }
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A job's row on the queue page, formatted, with the actions its state allows.
struct JobRowView {
    id: i64,
    state: &'static str,
    what: String,
    priority: i64,
    attempts: String,
    worker: String,
    error: String,
    actions: Vec<(&'static str, &'static str)>,
    /// A queued job's priority can be set.
    reorder: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueueHtml {
    signed_in: bool,
    csrf: String,
    states: Vec<&'static str>,
    state: String,
    jobs: Vec<JobRowView>,
    message: Option<String>,
}

/// Which jobs the queue page shows, and what the last action said.
#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueQuery {
    state: Option<String>,
    message: Option<String>,
}

/// `GET /queue`.
pub async fn queue(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Response {
    let state = q.state.clone().filter(|s| !s.is_empty());
    let st = state.clone();
    let (csrf, (jobs, words)) = match page_data(&server, &headers, move |app| {
        let jobs = app.jobs_list(st.as_deref(), 500)?;
        let words = app.describe_jobs(&jobs);
        Ok((jobs, words))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    use mediaforce::store::JobState as S;
    let jobs = jobs
        .iter()
        .zip(words)
        .map(|(j, w)| JobRowView {
            id: j.id,
            state: j.state.as_str(),
            what: w.what,
            priority: j.priority,
            attempts: format!("{}/{}", j.attempts, j.max_attempts),
            worker: w.host.unwrap_or_default(),
            error: j.last_error.clone().unwrap_or_default(),
            actions: {
                let encode = j.kind.starts_with("stage");
                let mut a = match j.state {
                    S::Queued => vec![("run-now", "run now"), ("cancel", "cancel")],
                    S::Running => vec![("cancel", "cancel")],
                    S::Failed | S::Cancelled => vec![("retry", "retry")],
                    S::Done => vec![],
                };
                if encode && j.state != S::Running {
                    a.push(("skip", "skip file"));
                }
                if encode && matches!(j.state, S::Done | S::Failed | S::Cancelled) {
                    a.push(("re-encode", "re-encode"));
                }
                a
            },
            reorder: j.state == S::Queued,
        })
        .collect();
    render(&QueueHtml {
        signed_in: true,
        csrf,
        states: vec!["queued", "running", "done", "failed", "cancelled"],
        state: state.unwrap_or_default(),
        jobs,
        message: q.message,
    })
}

/// Check a state-changing request: a write-scoped API token, or a session and its CSRF token.
async fn changing(server: &Server, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    match api_scope(server, headers).await {
        Some(Ok(Scope::Write)) => return Ok(()),
        Some(Ok(Scope::Read)) => {
            return Err((StatusCode::FORBIDDEN, "this API token is read-only").into_response())
        }
        Some(Err(f)) => return Err(f.into_response()),
        None => {}
    }
    let Ok((_, want)) = session(server, headers).await else {
        return Err((StatusCode::UNAUTHORIZED, "not signed in").into_response());
    };
    if csrf != want {
        return Err((StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response());
    }
    Ok(())
}

/// Back to a page with what the action said.
fn back(page: &str, message: &str) -> Response {
    let q = serde_urlencoded::to_string([("message", message)]).unwrap_or_default();
    Redirect::to(&format!("{page}?{q}")).into_response()
}

/// `POST /queue/{id}/{action}`: retry, cancel or run a job now.
pub async fn job_action(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path((id, action)): axum::extract::Path<(i64, String)>,
    Form(form): Form<JobForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let app = server.app.clone();
    let a = action.clone();
    let done = blocking(move || match a.as_str() {
        "retry" => app.job_retry(id).map(|()| format!("job {id} queued again")),
        "cancel" => app.job_cancel(id).map(|()| format!("job {id} cancelled")),
        "run-now" => app.job_run_now(id).map(|()| format!("job {id} runs next")),
        "skip" => app.job_skip(id).map(|f| {
            format!(
                "job {id}: {} skipped; later plans ignore it (settings remove-ignore to undo)",
                f.display()
            )
        }),
        "re-encode" => app
            .job_reencode(id)
            .map(|new| format!("job {id}: encoded again from the start as job {new}")),
        "priority" => match form.priority {
            Some(p) => app
                .job_priority(id, p)
                .map(|()| format!("job {id}: priority {p}")),
            None => Err(AppError::new(
                ErrorKind::Invalid,
                "priority: give a whole number (higher runs first)",
            )),
        },
        other => Err(AppError::new(
            ErrorKind::Invalid,
            format!("no job action {other:?}"),
        )),
    })
    .await;
    match done {
        Ok(said) => back("/queue", &said),
        Err(Failure(e))
            if e.kind == ErrorKind::Invalid && e.message.starts_with("no job action") =>
        {
            (StatusCode::NOT_FOUND, e.message).into_response()
        }
        Err(Failure(e)) => back("/queue", &e.message),
    }
}

/// `POST /queue/{retry-failed|clear-failed}`.
pub async fn bulk_action(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(action): axum::extract::Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let app = server.app.clone();
    let a = action.clone();
    let done = blocking(move || match a.as_str() {
        "retry-failed" => app.jobs_retry_failed(),
        "clear-failed" => app.jobs_clear_failed(),
        other => Err(AppError::new(
            ErrorKind::NotFound,
            format!("no action {other:?}"),
        )),
    })
    .await;
    match done {
        Ok(n) => back("/queue", &format!("{action}: {n} jobs")),
        Err(f) => f.into_response(),
    }
}

/// A host's row, formatted.
struct HostView {
    name: String,
    state: &'static str,
    live: &'static str,
    seen: String,
    cores: u64,
    encoders: String,
    max_jobs: u64,
    schedule: String,
    priority: String,
    nice: i32,
    ionice: String,
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsHtml {
    signed_in: bool,
    csrf: String,
    hosts: Vec<HostView>,
    message: Option<String>,
}

/// `GET /hosts`.
pub async fn hosts(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Response {
    let (csrf, hosts) = match page_data(&server, &headers, |app| app.hosts_list()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = mediaforce::hosts::now_ms();
    render(&HostsHtml {
        signed_in: true,
        csrf,
        hosts: hosts
            .iter()
            .map(|h| HostView {
                name: h.name.clone(),
                state: h.state.as_str(),
                live: if h.alive { "live" } else { "gone" },
                seen: format!("{:.0} s ago", (now - h.last_seen_ms).max(0) as f64 / 1000.0),
                cores: h.cores,
                encoders: h.encoders.join(" "),
                max_jobs: h.max_jobs,
                schedule: h.schedule.clone(),
                priority: format!("{} / {}", h.nice, h.ionice),
                nice: h.nice,
                ionice: h.ionice.to_string(),
            })
            .collect(),
        message: q.message,
    })
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemHtml {
    signed_in: bool,
    csrf: String,
    id: i64,
    name: String,
    /// The source below its library root, and that root.
    source: String,
    source_root: String,
    /// The encode below the transcode root (or its whole path when outside it).
    staging: String,
    staging_in_root: bool,
    state: String,
    decision: Option<String>,
    sizes: String,
    saving: String,
    vmaf: String,
    validation: String,
    actions: Vec<&'static str>,
    clips: Vec<(i64, String)>,
    stills: Vec<(i64, String)>,
    plot: Option<i64>,
    video: String,
    audio: Vec<String>,
    subtitles: Vec<String>,
    events: Vec<(String, String, String)>,
    message: Option<String>,
    reencode: bool,
    target_vmaf: String,
    /// The newest search: its first guess, its probes and its choice.
    search: Vec<(String, String)>,
}

/// `GET /items/{id}`: numbers, review clips, worst frames, the per-frame plot, the history
/// and the actions the item's state allows.
pub async fn item(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Query(q): Query<QueueQuery>,
) -> Response {
    let (csrf, (v, source, staging)) = match page_data(&server, &headers, move |app| {
        let v = app.item_view(id)?;
        let source = app.shown_path(&v.review.row.source);
        let staging = mediaforce_app::display::shown(
            &v.review.row.staging,
            std::slice::from_ref(&app.settings().transcode_root),
        );
        Ok((v, source, staging))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = &v.review.row;
    let of = |kind: &str| -> Vec<(i64, String)> {
        v.review
            .artifacts
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| (a.id, a.detail.clone().unwrap_or_default()))
            .collect()
    };
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    render(&ItemHtml {
        signed_in: true,
        csrf,
        id,
        name: r
            .source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source_root: source
            .root
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        source: source.relative,
        staging_in_root: staging.root.is_some(),
        staging: staging.relative,
        state: r.state.clone(),
        decision: r.decision.clone(),
        sizes: match (r.source_bytes, r.staged_bytes) {
            (Some(a), Some(b)) => format!(
                "{} → {}",
                mediaforce_app::human_bytes(a),
                mediaforce_app::human_bytes(b)
            ),
            _ => "-".into(),
        },
        saving: r.saving_percent.map_or("-".into(), |p| format!("{p:.1}%")),
        vmaf: format!("{} → {}", opt(r.predicted_vmaf), opt(r.measured_vmaf)),
        validation: r.validation.clone().unwrap_or_else(|| "-".into()),
        actions: v.actions.clone(),
        reencode: v.reencode,
        target_vmaf: format!("{}", v.target_vmaf),
        search: {
            // The newest search: from the last first guess or probe run after the last choice.
            let kinds = ["first_guess", "probe", "chosen"];
            let steps: Vec<&(i64, String, Option<String>)> = v
                .events
                .iter()
                .filter(|e| kinds.contains(&e.1.as_str()))
                .collect();
            let start = steps
                .iter()
                .rposition(|e| e.1 == "chosen")
                .and_then(|last| {
                    steps[..last]
                        .iter()
                        .rposition(|e| e.1 == "chosen")
                        .map(|prev| prev + 1)
                })
                .unwrap_or(0);
            steps[start..]
                .iter()
                .map(|e| (e.1.replace('_', " "), e.2.clone().unwrap_or_default()))
                .collect()
        },
        clips: of("clip"),
        stills: of("still"),
        plot: v
            .review
            .artifacts
            .iter()
            .rev()
            .find(|a| a.kind == "plot")
            .map(|a| a.id),
        video: v.video.clone(),
        audio: v.audio.clone(),
        subtitles: v.subtitles.clone(),
        events: v
            .events
            .iter()
            .map(|(at, kind, detail)| {
                (
                    mediaforce::manifest::utc_timestamp(*at),
                    kind.clone(),
                    detail.clone().unwrap_or_default(),
                )
            })
            .collect(),
        message: q.message,
    })
}

/// `GET /api/items/{id}`.
pub async fn item_json(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Response {
    api(&server, &headers, move |app| app.item_view(id)).await
}

/// `POST /items/{id}/{approve|reject|promote|rollback}`.
pub async fn item_action(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path((id, action)): axum::extract::Path<(i64, String)>,
    Form(form): Form<ItemForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let app = server.app.clone();
    if action == "re-encode" {
        let target = form.target_vmaf;
        return match blocking(move || app.item_reencode(id, target)).await {
            Ok(job) => back(
                &format!("/items/{id}"),
                &format!("queued for a fresh encode as job {job}"),
            ),
            Err(Failure(e)) if e.kind == ErrorKind::NotFound => {
                (StatusCode::NOT_FOUND, e.message).into_response()
            }
            Err(Failure(e)) => back(&format!("/items/{id}"), &e.message),
        };
    }
    let a = action.clone();
    match blocking(move || app.item_action(id, &a)).await {
        Ok(()) => back(&format!("/items/{id}"), &format!("{action}: done")),
        Err(Failure(e)) if e.kind == ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, e.message).into_response()
        }
        Err(Failure(e)) => back(&format!("/items/{id}"), &e.message),
    }
}

/// `GET /artifacts/{id}`: a review clip, still, plot or report by its id, with `Range` (a
/// video seeks).
pub async fn artifact(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Response {
    if let Err(f) = session(&server, &headers).await {
        return f.into_response();
    }
    let app = server.app.clone();
    let a = match blocking(move || app.artifact_file(id)).await {
        Ok(a) => a,
        Err(f) => return f.into_response(),
    };
    let content_type = match a.kind.as_str() {
        "clip" => "video/mp4",
        "still" => "image/png",
        "plot" => "image/svg+xml",
        _ => "application/json",
    };
    crate::serve_file(&a.path, &headers, content_type, HeaderMap::new())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The API's OpenAPI document, built into the binary.
const OPENAPI: &str = include_str!("../assets/openapi.json");

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[derive(Template)]
#[template(path = "folder.html")]
struct FolderHtml {
    signed_in: bool,
    csrf: String,
    /// The whole path (what the forms send back).
    folder: String,
    /// The folder below its root, and that root.
    folder_shown: String,
    folder_root: String,
    library_href: String,
    files: String,
    summary: Vec<(&'static str, String)>,
    suggested: String,
    policy: Vec<(String, String, String)>,
    message: Option<String>,
    /// The override's text in the editor: the saved one, or what was just refused.
    override_text: String,
    /// Why the last save was refused.
    error: Option<String>,
}

/// Which folder, and what the last action said.
#[derive(Debug, serde::Deserialize)]
pub struct FolderQuery {
    path: String,
    message: Option<String>,
}

/// A folder page's address.
fn folder_href(path: &str) -> String {
    format!(
        "/folders?{}",
        serde_urlencoded::to_string([("path", path)]).unwrap_or_default()
    )
}

fn counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /folders?path=`: a library folder's summary, suggested override and policy.
pub async fn folder(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<FolderQuery>,
) -> Response {
    let path = std::path::PathBuf::from(&q.path);
    match page_data(&server, &headers, move |app| app.folder_view(&path)).await {
        Ok((csrf, v)) => folder_page(csrf, &v, q.message, None, None),
        Err(r) => r,
    }
}

/// `GET /api/folders?path=`: the folder page's view as JSON.
pub async fn folder_json(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<FolderQuery>,
) -> Response {
    let path = std::path::PathBuf::from(&q.path);
    api(&server, &headers, move |app| app.folder_view(&path)).await
}

/// The folder page; `refused` is a draft override that was not saved, and why.
fn folder_page(
    csrf: String,
    v: &mediaforce_app::web::FolderView,
    message: Option<String>,
    draft: Option<String>,
    error: Option<String>,
) -> Response {
    let s = &v.summary;
    let mbps = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.1} Mb/s"));
    render(&FolderHtml {
        signed_in: true,
        csrf,
        folder: s.prefix.display().to_string(),
        folder_shown: match &v.shown.root {
            Some(_) if v.shown.relative.is_empty() => ".".to_string(),
            _ => v.shown.relative.clone(),
        },
        folder_root: v
            .shown
            .root
            .as_ref()
            .map(|r| r.display().to_string())
            .unwrap_or_default(),
        library_href: format!(
            "/library?{}",
            serde_urlencoded::to_string([("folder", s.prefix.display().to_string())])
                .unwrap_or_default()
        ),
        files: match s.files {
            1 => "1 file".into(),
            n => format!("{n} files"),
        },
        summary: vec![
            ("Size", mediaforce_app::human_bytes(s.bytes)),
            ("Unreadable", s.errors.to_string()),
            ("Codecs", counts(&s.codecs)),
            ("Resolutions", counts(&s.resolutions)),
            ("Containers", counts(&s.containers)),
            ("Audio", counts(&s.audio)),
            ("HDR", counts(&s.hdr)),
            (
                "Bit rate (min / median / max)",
                format!(
                    "{} / {} / {}",
                    mbps(s.bitrate_mbps_min),
                    mbps(s.bitrate_mbps_median),
                    mbps(s.bitrate_mbps_max)
                ),
            ),
        ],
        suggested: s.suggested_override.clone(),
        policy: v.policy.clone(),
        message,
        override_text: draft.unwrap_or_else(|| v.override_text.clone().unwrap_or_default()),
        error,
    })
}

/// The plan-a-folder form.
#[derive(Debug, serde::Deserialize)]
pub struct FolderForm {
    #[serde(default)]
    csrf: String,
    path: String,
    /// The override's text (`override`).
    #[serde(default)]
    text: String,
}

/// `POST /folders/{plan|queue}`: plan the folder (and queue its encodes).
pub async fn folder_action(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(action): axum::extract::Path<String>,
    Form(form): Form<FolderForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let queue = match action.as_str() {
        "plan" => false,
        "queue" => true,
        "override" => return save_override(server, form).await,
        other => {
            return (StatusCode::NOT_FOUND, format!("no folder action {other:?}")).into_response()
        }
    };
    let app = server.app.clone();
    let path = std::path::PathBuf::from(&form.path);
    let page = folder_href(&form.path);
    match blocking(move || app.plan_folder(&path, queue)).await {
        Ok((items, queued)) => {
            let said = if queue {
                format!("planned {items} items; {queued} encodes queued for any host")
            } else {
                format!("planned {items} items")
            };
            let q = serde_urlencoded::to_string([("message", said)]).unwrap_or_default();
            Redirect::to(&format!("{page}&{q}")).into_response()
        }
        Err(f) => f.into_response(),
    }
}

/// `POST /folders/override`: save the folder's override; refused text comes back in the editor
/// with the reason (`422`), and nothing is written.
async fn save_override(server: Server, form: FolderForm) -> Response {
    let app = server.app.clone();
    let path = std::path::PathBuf::from(&form.path);
    let text = form.text.replace("\r\n", "\n");
    let draft = text.clone();
    let page = folder_href(&form.path);
    let note = format!(
        "saved from the web page, {}",
        mediaforce::manifest::utc_timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        )
    );
    match blocking(move || app.set_folder_override(&path, &text, &note)).await {
        Ok(true) => back(
            &page,
            "override saved; the policy below is what applies now",
        ),
        Ok(false) => back(&page, "override removed; the folder follows the defaults"),
        Err(f) if f.0.kind == mediaforce_app::ErrorKind::Invalid => {
            let app = server.app.clone();
            let path = std::path::PathBuf::from(&form.path);
            match blocking(move || app.folder_view(&path)).await {
                Ok(v) => {
                    let mut r = folder_page(form.csrf, &v, None, Some(draft), Some(f.0.message));
                    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    r
                }
                Err(f) => f.into_response(),
            }
        }
        Err(f) => f.into_response(),
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsHtml {
    signed_in: bool,
    csrf: String,
    data_dir: String,
    catalog: String,
    transcode_root: String,
    transcode_source: String,
    ignore: String,
    extensions: String,
    roots: Vec<(String, String, &'static str, &'static str)>,
    policy: Vec<(String, String, String)>,
}

/// `GET /settings`: roots, transcode root, ignore patterns and the defaults in force.
pub async fn settings(State(server): State<Server>, headers: HeaderMap) -> Response {
    let (csrf, v) = match page_data(&server, &headers, |app| Ok(app.settings_page())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = &v.settings;
    render(&SettingsHtml {
        signed_in: true,
        csrf,
        data_dir: s.data_dir.display().to_string(),
        catalog: s.catalog.clone(),
        transcode_root: s.transcode_root.display().to_string(),
        transcode_source: s.transcode_root_source.clone(),
        ignore: s.ignore.join(", "),
        extensions: s.extensions.join(" "),
        roots: s
            .roots
            .iter()
            .map(|r| {
                (
                    r.path.display().to_string(),
                    folder_href(&r.path.display().to_string()),
                    r.source,
                    if r.exists { "yes" } else { "no" },
                )
            })
            .collect(),
        policy: v.policy.clone(),
    })
}

/// The host settings form: state, jobs at once, schedule, nice and ionice (absent or empty
/// fields unchanged).
#[derive(Debug, serde::Deserialize)]
pub struct HostSettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    max_jobs: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    nice: String,
    #[serde(default)]
    ionice: String,
}

/// `POST /hosts/{name}/settings` (and `/hosts/{name}/state`, the state buttons): the same
/// checks as `mediaforce hosts set` (a schedule that does not parse, zero jobs or a nice level
/// out of range is refused with the cause; an unknown state is a 422). Workers read it at
/// their next heartbeat.
pub async fn host_settings(
    State(server): State<Server>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
    Form(form): Form<HostSettingsForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let field = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let state = match field(&form.state).map(|v| v.parse::<mediaforce::hosts::HostState>()) {
        Some(Err(e)) => return (StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let parsed = (|| -> Result<mediaforce::hosts::HostSettings, String> {
        Ok(mediaforce::hosts::HostSettings {
            state,
            max_jobs: field(&form.max_jobs)
                .map(|v| {
                    v.parse()
                        .map_err(|_| format!("jobs at once {v:?}: not a number"))
                })
                .transpose()?,
            schedule: field(&form.schedule),
            nice: field(&form.nice)
                .map(|v| v.parse().map_err(|_| format!("nice {v:?}: not a number")))
                .transpose()?,
            ionice: field(&form.ionice)
                .map(|v| v.parse::<mediaforce::priority::IoPriority>())
                .transpose()?,
            ..Default::default()
        })
    })();
    let change = match parsed {
        Ok(c) => c,
        Err(e) => return back("/hosts", &format!("host {name}: {e}")),
    };
    let app = server.app.clone();
    let n = name.clone();
    match blocking(move || app.host_set(&n, &change)).await {
        Ok(h) => back(
            "/hosts",
            &format!("host {name}: settings saved ({})", h.state.as_str()),
        ),
        Err(Failure(e)) if e.kind == ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, e.message).into_response()
        }
        Err(Failure(e)) => back("/hosts", &e.message),
    }
}
