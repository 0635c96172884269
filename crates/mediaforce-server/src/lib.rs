//! `mediaforce serve`: an HTTP server over the application layer. It carries the web page and
//! its JSON API ([`pages`]), and the file endpoint that transfer-mode workers use (hosts
//! without the library mounted download a job's source and upload its result; see
//! [`mediaforce::transfer`] for the protocol).
//!
//! Handlers hold no rules: they read the request, call [`App`] on a blocking thread (the
//! store's clients are synchronous) and map its errors' kinds to status codes. Files are
//! reached by job id only, never by a path from the request.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use futures_util::StreamExt;
use mediaforce::transfer::{EPOCH, HASH, LENGTH, OFFSET, RECEIVED, STAGED};
use mediaforce_app::transfer::{staged_len, TransferTarget};
use mediaforce_app::{App, AppError, ErrorKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

pub mod automation;
pub mod charts;
mod hooks;
pub mod metrics;
pub mod pages;

/// The buffer a file is read or written with.
const CHUNK: usize = 1 << 20;

/// A file as of one length and modification time.
type FileKey = (PathBuf, u64, SystemTime);

/// One file's hash: computed once, by one task, however many requests want it.
#[derive(Debug, Default)]
struct HashSlot {
    hash: tokio::sync::OnceCell<String>,
    started: std::sync::atomic::AtomicBool,
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct Server {
    app: Arc<App>,
    /// The `Host` values the pages answer to (this server's addresses).
    allowed_hosts: Arc<Vec<String>>,
    /// Source hashes by (path, length, modification time): a resumed download does not hash
    /// the file again, and a large file is hashed while it is sent.
    hashes: Arc<Mutex<HashMap<FileKey, Arc<HashSlot>>>>,
    /// The automation running in this process (`None`: `serve --no-automation`, or a server
    /// embedded without it).
    automation: Option<Arc<automation::Status>>,
}

/// An [`AppError`] as a response: its kind as the status, `{kind, message}` as the body.
pub(crate) struct Failure(pub(crate) AppError);

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.0.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Refused => StatusCode::FORBIDDEN,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = serde_json::json!({"kind": self.0.kind, "message": self.0.message});
        (status, axum::Json(body)).into_response()
    }
}

/// A malformed request: `400`, unlike an invalid upload (`422`).
fn bad_request(message: impl Into<String>) -> Refusal {
    let body = serde_json::json!({"kind": "bad_request", "message": message.into()});
    Refusal::Bad(Box::new(
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response(),
    ))
}

fn internal(message: impl std::fmt::Display) -> Failure {
    Failure(AppError::new(ErrorKind::Internal, message.to_string()))
}

/// Run `f` on a blocking thread (the store's clients must not run on the runtime's threads).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(internal)?
        .map_err(Failure)
}

pub(crate) fn bearer(headers: &HeaderMap) -> String {
    header_str(headers, header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_num(headers: &HeaderMap, name: &str) -> Result<u64, Refusal> {
    header_str(headers, name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad_request(format!("missing or malformed {name} header")))
}

/// A handler's failure: an [`AppError`] or a malformed request.
enum Refusal {
    App(Failure),
    Bad(Box<Response>),
}

impl From<Failure> for Refusal {
    fn from(f: Failure) -> Self {
        Refusal::App(f)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::App(f) => f.into_response(),
            Refusal::Bad(r) => *r,
        }
    }
}

impl Server {
    /// A server over `app`.
    pub fn new(app: Arc<App>) -> Self {
        Self::with_hosts(app, Vec::new())
    }

    /// A server over `app` whose pages answer to the `Host` values `hosts` (`name:port`).
    pub fn with_hosts(app: Arc<App>, hosts: Vec<String>) -> Self {
        Self {
            app,
            allowed_hosts: Arc::new(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
            hashes: Arc::default(),
            automation: None,
        }
    }

    /// The same server, showing the status of the automation running beside it.
    pub fn with_automation(mut self, status: Arc<automation::Status>) -> Self {
        self.automation = Some(status);
        self
    }

    /// The job's files as the request's host may reach them (token and epoch from headers).
    async fn target(&self, headers: &HeaderMap, job: i64) -> Result<TransferTarget, Refusal> {
        let token = bearer(headers);
        let epoch = header_num(headers, EPOCH)? as i64;
        let app = self.app.clone();
        Ok(blocking(move || app.transfer_target(&token, job, epoch)).await?)
    }

    /// The hash slot of `path` as it is now, and its length; the hash is started in the
    /// background if nobody has started it.
    async fn hash_slot(&self, path: &std::path::Path) -> Result<(Arc<HashSlot>, u64), Failure> {
        let meta = tokio::fs::metadata(path).await.map_err(|e| {
            Failure(AppError::new(
                ErrorKind::NotFound,
                format!("{}: {e}", path.display()),
            ))
        })?;
        let key = (
            path.to_path_buf(),
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let slot = {
            let mut map = self.hashes.lock().expect("hash cache");
            // Earlier versions of the same file are forgotten.
            map.retain(|k, _| k.0 != key.0 || *k == key);
            map.entry(key).or_default().clone()
        };
        if slot.hash.get().is_none()
            && !slot.started.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let (s, p) = (slot.clone(), path.to_path_buf());
            tokio::spawn(async move {
                let hashed =
                    tokio::task::spawn_blocking(move || mediaforce::transfer::hash_file(&p)).await;
                match hashed {
                    Ok(Ok(h)) => {
                        let _ = s.hash.set(h);
                    }
                    // Tried again by the next request.
                    _ => s.started.store(false, std::sync::atomic::Ordering::SeqCst),
                }
            });
        }
        Ok((slot, meta.len()))
    }
}

/// The router: the web page and its API (signed-in sessions, `Host` and `Origin` checked),
/// and the transfer endpoints under `/transfer/v1` (host tokens).
pub fn router(server: Server) -> Router {
    let pages = Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/dashboard") }),
        )
        .route("/dashboard", get(pages::dashboard))
        .route("/api/dashboard", get(pages::dashboard_json))
        .route("/events", get(pages::events))
        .route("/queue", get(pages::queue))
        .route("/queue/{id}/{action}", post(pages::job_action))
        .route("/queue/{action}", post(pages::bulk_action))
        .route("/hosts", get(pages::hosts))
        .route("/hosts/{name}/state", post(pages::host_settings))
        .route("/hosts/{name}/settings", post(pages::host_settings))
        .route("/assets/app.js", get(pages::js))
        .route("/api/openapi.json", get(pages::openapi))
        .route("/folders", get(pages::folder))
        .route("/api/folders", get(pages::folder_json))
        .route("/folders/{action}", post(pages::folder_action))
        .route("/settings", get(pages::settings))
        .route("/analytics", get(pages::analytics))
        .route("/analytics.csv", get(pages::analytics_csv))
        .route("/analytics/health.csv", get(pages::health_csv))
        .route("/analytics/queue", post(pages::analytics_queue))
        .route("/analytics/findings", get(pages::findings))
        .route("/api/findings", get(pages::findings_json))
        .route("/api/stats", get(pages::stats_json))
        .route("/metrics", get(pages::metrics))
        .route("/automation", get(pages::automation))
        .route("/automation/{action}", post(pages::automation_action))
        .route("/items/{id}", get(pages::item))
        .route("/api/items/{id}", get(pages::item_json))
        .route("/items/{id}/{action}", post(pages::item_action))
        .route("/artifacts/{id}", get(pages::artifact))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/library", get(pages::library))
        .route("/library.csv", get(pages::library_csv))
        .route("/api/library", get(pages::library_json))
        .route("/assets/app.css", get(pages::css))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            pages::guard,
        ));
    Router::new()
        .route("/transfer/v1/whoami", get(whoami))
        .route("/transfer/v1/jobs/{job}/source", get(source))
        .route("/transfer/v1/jobs/{job}/source/hash", get(source_hash))
        .route(
            "/transfer/v1/jobs/{job}/result",
            put(result_put).head(result_head),
        )
        .route("/transfer/v1/jobs/{job}/result/commit", post(result_commit))
        .layer(DefaultBodyLimit::disable())
        .route(
            "/hooks/arr",
            post(hooks::arr).layer(DefaultBodyLimit::max(4 << 20)),
        )
        .merge(pages)
        .with_state(server)
}

/// The `Host` values a server bound to `addr` answers to: the address itself, and `localhost`
/// at its port when it is a loopback or unspecified address; plus `extra` (`--public-host`).
pub fn hosts_for(addr: std::net::SocketAddr, extra: &[String]) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        hosts.extend([
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

/// Serve `app` on `listener` until the process ends; the pages answer to the listener's
/// addresses and `public_hosts`. A listener that [`refuse_unprotected`] refuses is not served.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    public_hosts: &[String],
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    refuse_unprotected(addr, &app).await?;
    let hosts = hosts_for(addr, public_hosts);
    keep_stats_fresh(app.clone());
    axum::serve(
        listener,
        router(Server::with_hosts(app, hosts))
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

/// Serve `app` on `listener` until `stopped` completes (in-flight requests finish first),
/// showing `automation`'s status on the Automation page when it runs beside.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    public_hosts: &[String],
    automation: Option<Arc<automation::Status>>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    refuse_unprotected(addr, &app).await?;
    let hosts = hosts_for(addr, public_hosts);
    keep_stats_fresh(app.clone());
    let mut server = Server::with_hosts(app, hosts);
    if let Some(status) = automation {
        server = server.with_automation(status);
    }
    axum::serve(
        listener,
        router(server).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped)
    .await
}

/// Every 5 s, compute again the analytics ranges people looked at lately that the store has
/// changed under ([`App::refresh_stats`]), off the request path, so the Analytics page and
/// `/api/stats` find them ready. Ends with the runtime, or when the app is gone. The task holds
/// the app only weakly, and a strong reference only on the blocking thread that uses it: the
/// app's last reference must not be dropped on a runtime thread (its PostgreSQL clients block
/// when they close).
fn keep_stats_fresh(app: Arc<App>) {
    let app = Arc::downgrade(&app);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let app = app.clone();
            let refreshed = blocking(move || match app.upgrade() {
                Some(a) => a.refresh_stats().map(Some),
                None => Ok(None),
            })
            .await;
            match refreshed {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => eprintln!("mediaforce serve: analytics refresh: {}", e.0.message),
            }
        }
    });
}

/// Refuse (`PermissionDenied`) to serve on `addr` when it is not loopback and no web password
/// is set: the page would be open to the network, to be claimed by whoever set one first.
pub async fn refuse_unprotected(addr: std::net::SocketAddr, app: &Arc<App>) -> std::io::Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let a = app.clone();
    let password_set = blocking(move || a.web_password_set())
        .await
        .map_err(|f| std::io::Error::other(f.0.message))?;
    if password_set {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "refusing to serve on {addr} (not loopback) without a web password: \
             set one with `mediaforce web-password`"
        ),
    ))
}

/// `bytes=N-` or `bytes=N-M` of a file of `len` bytes: the first and last byte; `None` for a
/// range this server does not serve (several ranges, suffix ranges).
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => len.checked_sub(1)?,
        e => e.parse::<u64>().ok()?.min(len.checked_sub(1)?),
    };
    (start <= end).then_some((start, end))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(name, v);
    }
}

/// The host a token belongs to: a worker checks its token before it claims anything.
async fn whoami(State(server): State<Server>, headers: HeaderMap) -> Result<Response, Refusal> {
    let token = bearer(&headers);
    let app = server.app.clone();
    let host = blocking(move || app.token_host(&token)).await?;
    Ok(axum::Json(serde_json::json!({ "host": host })).into_response())
}

async fn source_hash(
    State(server): State<Server>,
    Path(job): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let target = server.target(&headers, job).await?;
    let (slot, len) = server.hash_slot(&target.source).await?;
    let mut h = HeaderMap::new();
    set(&mut h, LENGTH, len);
    Ok(match slot.hash.get() {
        Some(hash) => {
            set(&mut h, HASH, hash);
            (StatusCode::OK, h).into_response()
        }
        None => {
            set(&mut h, "retry-after", 1);
            (StatusCode::ACCEPTED, h).into_response()
        }
    })
}

async fn source(
    State(server): State<Server>,
    Path(job): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let target = server.target(&headers, job).await?;
    let path = target.source.clone();
    let (slot, len) = server.hash_slot(&path).await?;
    let hash = slot.hash.get().cloned();
    let mut extra = HeaderMap::new();
    if let Some(hash) = &hash {
        set(&mut extra, HASH, hash);
    }
    set(&mut extra, LENGTH, len);
    serve_file(&path, &headers, "application/octet-stream", extra).await
}

/// Serve the file at `path` with `Range` support (one range: `bytes=N-` or `bytes=N-M`),
/// adding `extra` headers.
pub(crate) async fn serve_file(
    path: &std::path::Path,
    headers: &HeaderMap,
    content_type: &str,
    extra: HeaderMap,
) -> Result<Response, Refusal> {
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| {
            Failure(AppError::new(
                ErrorKind::NotFound,
                format!("{}: {e}", path.display()),
            ))
        })?
        .len();
    let range = header_str(headers, header::RANGE.as_str());
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(r) => match parse_range(r, len) {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
            None => {
                let mut h = extra;
                set(&mut h, "content-range", format!("bytes */{len}"));
                return Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response());
            }
        },
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| internal(format!("{}: {e}", path.display())))?;
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(internal)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(file, count),
        CHUNK,
    );
    let mut h = extra;
    set(&mut h, "content-type", content_type);
    set(&mut h, "content-length", count);
    set(&mut h, "accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut h,
            "content-range",
            format!("bytes {start}-{end}/{len}"),
        );
    }
    Ok((status, h, Body::from_stream(stream)).into_response())
}

async fn result_head(
    State(server): State<Server>,
    Path(job): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let target = server.target(&headers, job).await?;
    let received = tokio::fs::metadata(target.upload_path())
        .await
        .map_or(0, |m| m.len());
    let mut h = HeaderMap::new();
    set(&mut h, RECEIVED, received);
    if let Some(n) = staged_len(&target.staging) {
        set(&mut h, STAGED, n);
    }
    Ok((StatusCode::OK, h).into_response())
}

async fn result_put(
    State(server): State<Server>,
    Path(job): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let target = server.target(&headers, job).await?;
    let offset = header_num(&headers, OFFSET)?;
    let app = server.app.clone();
    let t = target.clone();
    let path = blocking(move || app.transfer_prepare_upload(&t)).await?;
    let have = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    if offset > have {
        let mut h = HeaderMap::new();
        set(&mut h, RECEIVED, have);
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            h,
            format!("job {job}: the upload holds {have} bytes; send from there"),
        )
            .into_response());
    }
    let io = |e: std::io::Error| internal(format!("{}: {e}", path.display()));
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .await
        .map_err(io)?;
    file.set_len(offset).await.map_err(io)?;
    let mut file = tokio::io::BufWriter::with_capacity(CHUNK, file);
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut cut = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => file.write_all(&bytes).await.map_err(io)?,
            Err(e) => {
                cut = Some(e.to_string());
                break;
            }
        }
    }
    // What arrived is kept, cut or not: the sender resumes from it.
    file.flush().await.map_err(io)?;
    let received = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    let mut h = HeaderMap::new();
    set(&mut h, RECEIVED, received);
    Ok(match cut {
        None => (StatusCode::OK, h).into_response(),
        Some(e) => (StatusCode::BAD_REQUEST, h, format!("upload cut: {e}")).into_response(),
    })
}

async fn result_commit(
    State(server): State<Server>,
    Path(job): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let target = server.target(&headers, job).await?;
    let Some(hash) = header_str(&headers, HASH).map(str::to_string) else {
        return Err(bad_request(format!("missing {HASH} header")));
    };
    let len = header_num(&headers, LENGTH)?;
    let app = server.app.clone();
    blocking(move || app.transfer_commit(&target, &hash, len)).await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        type Case<'a> = (&'a str, u64, Option<(u64, u64)>);
        let cases: &[Case<'_>] = &[
            ("bytes=0-", 10, Some((0, 9))),
            ("bytes=4-", 10, Some((4, 9))),
            ("bytes=4-6", 10, Some((4, 6))),
            ("bytes=4-60", 10, Some((4, 9))),
            ("bytes=10-", 10, None),
            ("bytes=-5", 10, None),
            ("bytes=0-1,4-5", 10, None),
            ("items=0-", 10, None),
            ("bytes=0-", 0, None),
        ];
        for (v, len, want) in cases {
            assert_eq!(parse_range(v, *len), *want, "{v} of {len}");
        }
    }
}
