//! Folders and settings: a folder's files and policy, its override, and host settings.

use super::common::*;
use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use mediaforce_app::ErrorKind;

#[derive(Template)]
#[template(path = "folder.html")]
pub(super) struct FolderHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    /// The whole path (what the forms send back).
    pub(super) folder: String,
    /// The folder below its root, and that root.
    pub(super) folder_shown: String,
    pub(super) folder_root: String,
    pub(super) library_href: String,
    pub(super) files: String,
    pub(super) summary: Vec<(&'static str, String)>,
    pub(super) suggested: String,
    pub(super) policy: Vec<(String, String, String)>,
    pub(super) message: Option<String>,
    /// The override's text in the editor: the saved one, or what was just refused.
    pub(super) override_text: String,
    /// Why the last save was refused.
    pub(super) error: Option<String>,
}

/// Which folder, and what the last action said.
#[derive(Debug, serde::Deserialize)]
pub struct FolderQuery {
    pub(super) path: String,
    pub(super) message: Option<String>,
}

/// A folder page's address.
pub(super) fn folder_href(path: &str) -> String {
    format!(
        "/folders?{}",
        serde_urlencoded::to_string([("path", path)]).unwrap_or_default()
    )
}

pub(super) fn counts(m: &std::collections::BTreeMap<String, usize>) -> String {
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
pub(super) fn folder_page(
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
    pub(super) csrf: String,
    pub(super) path: String,
    /// The override's text (`override`).
    #[serde(default)]
    pub(super) text: String,
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
pub(super) async fn save_override(server: Server, form: FolderForm) -> Response {
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
pub(super) struct SettingsHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) data_dir: String,
    pub(super) catalog: String,
    pub(super) transcode_root: String,
    pub(super) transcode_source: String,
    pub(super) ignore: String,
    pub(super) extensions: String,
    pub(super) roots: Vec<(String, String, &'static str, &'static str)>,
    pub(super) policy: Vec<(String, String, String)>,
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
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) state: String,
    #[serde(default)]
    pub(super) max_jobs: String,
    #[serde(default)]
    pub(super) schedule: String,
    #[serde(default)]
    pub(super) nice: String,
    #[serde(default)]
    pub(super) ionice: String,
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
