//! What every page shares: the guard (authentication before the body is read), sessions, CSRF
//! checks, rendering and the embedded assets.

use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use mediaforce_app::web::Scope;
use mediaforce_app::{AppError, ErrorKind};

/// The session cookie's name.
pub const COOKIE: &str = "mf_session";

/// The style sheet, built into the binary.
pub(super) const CSS: &str = include_str!("../../assets/app.css");

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
pub(super) fn is_public(method: &Method, path: &str) -> bool {
    matches!(
        path,
        "/login" | "/assets/app.css" | "/assets/app.js" | "/api/openapi.json"
    ) || (*method == Method::GET && path == "/")
        // Its handler lets loopback in and asks anyone else for an API token or a session.
        || (*method == Method::GET && path == "/metrics")
}

pub(super) fn cookie(headers: &HeaderMap) -> Option<String> {
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
pub(super) async fn api_scope(
    server: &Server,
    headers: &HeaderMap,
) -> Option<Result<Scope, Failure>> {
    let token = crate::bearer(headers);
    if token.is_empty() {
        return None;
    }
    let app = server.app.clone();
    Some(blocking(move || app.api_token_scope(&token)).await)
}

/// The signed-in session's token and CSRF token (both empty for a request carrying an API
/// token instead, which has no forms to protect).
pub(super) async fn session(
    server: &Server,
    headers: &HeaderMap,
) -> Result<(String, String), Failure> {
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
pub(super) async fn page_session(server: &Server, headers: &HeaderMap) -> Result<String, Response> {
    session(server, headers)
        .await
        .map(|(_, csrf)| csrf)
        .map_err(|_| Redirect::to("/login").into_response())
}

/// A page's session and data: its CSRF token and `f`'s view, or the response to send
/// instead (the sign-in page, or the error).
pub(super) async fn page_data<T: Send + 'static>(
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
pub(super) async fn api<T: serde::Serialize + Send + 'static>(
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

pub(super) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /assets/app.css`.
pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// A form carrying only the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) fn num(v: Option<i64>) -> String {
    v.map_or(String::new(), |n| n.to_string())
}

pub(super) fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The script of the live pages, built into the binary.
pub(super) const JS: &str = include_str!("../../assets/app.js");

/// `GET /assets/app.js`.
pub async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// Check a state-changing request: a write-scoped API token, or a session and its CSRF token.
pub(super) async fn changing(
    server: &Server,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(), Response> {
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
pub(super) fn back(page: &str, message: &str) -> Response {
    let q = serde_urlencoded::to_string([("message", message)]).unwrap_or_default();
    Redirect::to(&format!("{page}?{q}")).into_response()
}

/// The API's OpenAPI document, built into the binary.
pub(super) const OPENAPI: &str = include_str!("../../assets/openapi.json");

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Which jobs the queue page shows, and what the last action said.
#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueQuery {
    pub(super) state: Option<String>,
    pub(super) message: Option<String>,
}
