//! The Automation page: what the service is doing (its guards and its latest events), the
//! library roots (add, remove, scan now), each folder's automation mode and schedule, the
//! Sonarr/Radarr hooks (the URL to paste, what each received) and the notification channels
//! (add, test, remove, their last deliveries). Every form is checked by the application layer:
//! bad input comes back with the field and the reason, and nothing is written.

use super::common::*;
use crate::{blocking, Server};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Form;

/// One folder's row.
pub(super) struct FolderRow {
    pub(super) folder: String,
    pub(super) root: bool,
    pub(super) mode: &'static str,
    pub(super) schedule: String,
    pub(super) action: String,
    pub(super) count: u64,
}

/// One hook's row.
pub(super) struct HookRow {
    pub(super) name: String,
    pub(super) mappings: String,
    pub(super) rescans: String,
    pub(super) recent: Vec<(String, String, i64, String)>,
}

/// One channel's row.
pub(super) struct ChannelRow {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) url: String,
    pub(super) events: String,
    pub(super) recent: Vec<(String, String, i64, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "automation.html")]
pub(super) struct AutomationHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) message: Option<String>,
    pub(super) running: bool,
    pub(super) hold: String,
    pub(super) waiting: usize,
    pub(super) events: Vec<(String, String, String)>,
    pub(super) folders: Vec<FolderRow>,
    pub(super) hooks: Vec<HookRow>,
    pub(super) hook_url: String,
    pub(super) channels: Vec<ChannelRow>,
    pub(super) kinds: Vec<&'static str>,
}

/// What the page shows of the store.
struct Data {
    folders: Vec<mediaforce_app::automation::FolderAutomation>,
    hooks: Vec<mediaforce_app::hooks::HookView>,
    channels: Vec<mediaforce_app::notify::ChannelView>,
}

fn when(ms: i64) -> String {
    mediaforce::manifest::utc_timestamp(ms / 1000)
}

/// The page's query: what the last action said.
#[derive(Debug, Default, serde::Deserialize)]
pub struct MessageQuery {
    pub(super) message: Option<String>,
}

/// `GET /automation`.
pub async fn automation(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<MessageQuery>,
) -> Response {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("THIS-HOST")
        .to_string();
    let (csrf, d) = match page_data(&server, &headers, |app| {
        Ok(Data {
            folders: app.folder_automation(),
            hooks: app.hooks()?,
            channels: app.notify_list()?,
        })
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = server.automation.clone();
    render(&AutomationHtml {
        signed_in: true,
        csrf,
        message: q.message,
        running: status.is_some(),
        hold: status.as_ref().and_then(|s| s.hold()).unwrap_or_default(),
        waiting: status
            .as_ref()
            .map_or(0, |s| s.waiting.load(std::sync::atomic::Ordering::Relaxed)),
        events: status.as_ref().map_or_else(Vec::new, |s| {
            s.events()
                .into_iter()
                .rev()
                .take(30)
                .map(|e| (mediaforce::manifest::utc_timestamp(e.at), e.kind, e.message))
                .collect()
        }),
        folders: d
            .folders
            .into_iter()
            .map(|f| FolderRow {
                folder: f.folder.display().to_string(),
                root: f.root,
                mode: f.mode.as_str(),
                schedule: f.schedule,
                action: f.schedule_action,
                count: f.schedule_count,
            })
            .collect(),
        hooks: d
            .hooks
            .into_iter()
            .map(|h| HookRow {
                mappings: h
                    .mappings
                    .iter()
                    .map(|(t, o)| format!("{t} → {o}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                rescans: if h.api_key_set {
                    h.row.arr_url.clone()
                } else {
                    "off".into()
                },
                recent: h
                    .recent
                    .into_iter()
                    .take(5)
                    .map(|(at, e, s, w)| (when(at), e, s, w))
                    .collect(),
                name: h.row.name,
            })
            .collect(),
        hook_url: format!("http://{host}/hooks/arr?token="),
        channels: d
            .channels
            .into_iter()
            .map(|c| ChannelRow {
                recent: c
                    .recent
                    .into_iter()
                    .take(5)
                    .map(|(at, e, n, ok, d)| (when(at), e, n, if ok { "ok" } else { "failed" }, d))
                    .collect(),
                events: c.events.join(", "),
                name: c.name,
                kind: c.kind,
                url: c.url,
            })
            .collect(),
        kinds: mediaforce_app::notify::KINDS.to_vec(),
    })
}

/// The forms of the page (each uses the fields it needs).
#[derive(Debug, Default, serde::Deserialize)]
pub struct AutomationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    schedule_action: String,
    #[serde(default)]
    schedule_count: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    map: String,
    #[serde(default)]
    arr_url: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    events: String,
    #[serde(default)]
    secret: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `POST /automation/{action}`: `add-root`, `remove-root`, `scan`, `folder`, `add-hook`,
/// `remove-hook`, `add-channel`, `test-channel`, `remove-channel`. Back to the page with what
/// was done, or the field and the reason it was refused.
pub async fn automation_action(
    State(server): State<Server>,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(f): Form<AutomationForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &f.csrf).await {
        return r;
    }
    let app = server.app.clone();
    let said = blocking(move || -> mediaforce_app::Result<String> {
        let path = std::path::PathBuf::from(f.path.trim());
        match action.as_str() {
            "add-root" => {
                let (d, new) = app.add_root(&path)?;
                Ok(format!(
                    "root {}: {}",
                    d.display(),
                    if new { "added" } else { "already a root" }
                ))
            }
            "remove-root" => Ok(format!("root {}: removed", app.remove_root(&path)?.display())),
            "scan" => {
                let r = app.scan(Some(&path), None, &|_| {})?;
                Ok(format!(
                    "scanned {}: {} files, {} new, {} changed, {} gone",
                    path.display(),
                    r.files,
                    r.new,
                    r.changed,
                    r.gone
                ))
            }
            "folder" => {
                let count = match opt(&f.schedule_count) {
                    None => 10,
                    Some(c) => c.parse().map_err(|_| {
                        mediaforce_app::AppError::new(
                            mediaforce_app::ErrorKind::Invalid,
                            format!("schedule count {c:?}: not a whole number"),
                        )
                    })?,
                };
                let action = opt(&f.schedule_action).unwrap_or_else(|| "queue".into());
                app.set_folder_automation(&path, &f.mode, &f.schedule, &action, count)?;
                Ok(format!("{}: automation saved", path.display()))
            }
            "add-hook" => {
                let maps = f
                    .map
                    .split([',', '\n'])
                    .filter_map(opt)
                    .map(|m| {
                        m.split_once('=')
                            .map(|(t, o)| (t.trim().to_string(), o.trim().to_string()))
                            .ok_or_else(|| {
                                mediaforce_app::AppError::new(
                                    mediaforce_app::ErrorKind::Invalid,
                                    format!("mappings {m:?}: expected THEIRS=OURS"),
                                )
                            })
                    })
                    .collect::<mediaforce_app::Result<Vec<_>>>()?;
                let token = app.hook_add(
                    f.name.trim(),
                    &maps,
                    opt(&f.arr_url).as_deref(),
                    opt(&f.api_key).as_deref(),
                )?;
                Ok(format!(
                    "hook {} added; paste this URL into Sonarr/Radarr now (the token is shown once): /hooks/arr?token={token}",
                    f.name.trim()
                ))
            }
            "remove-hook" => {
                app.hook_remove(f.name.trim())?;
                Ok(format!("hook {} removed", f.name.trim()))
            }
            "add-channel" => {
                let events: Vec<String> = f.events.split(',').filter_map(opt).collect();
                let c = app.notify_add(
                    f.name.trim(),
                    f.url.trim(),
                    opt(&f.kind).as_deref(),
                    &events,
                    opt(&f.secret).as_deref(),
                )?;
                Ok(format!("channel {} added ({} {})", c.name, c.kind, c.url))
            }
            "test-channel" => app.notify_test(f.name.trim()),
            "remove-channel" => {
                app.notify_remove(f.name.trim())?;
                Ok(format!("channel {} removed", f.name.trim()))
            }
            other => Err(mediaforce_app::AppError::new(
                mediaforce_app::ErrorKind::NotFound,
                format!("no action {other:?}"),
            )),
        }
    })
    .await;
    match said {
        Ok(m) => back("/automation", &m),
        Err(crate::Failure(e))
            if e.kind == mediaforce_app::ErrorKind::NotFound
                && e.message.starts_with("no action") =>
        {
            (axum::http::StatusCode::NOT_FOUND, e.message).into_response()
        }
        Err(crate::Failure(e)) => back("/automation", &format!("refused: {}", e.message)),
    }
}
