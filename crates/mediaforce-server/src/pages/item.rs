//! One plan item: its history, validation, review clips, decisions and artifacts.

use super::common::*;
use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mediaforce_app::ErrorKind;

/// An item action's form: the CSRF token, and a re-encode's VMAF target.
#[derive(Debug, serde::Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default, deserialize_with = "mediaforce::catalog::blank_is_none")]
    pub(super) target_vmaf: Option<f64>,
}

#[derive(Template)]
#[template(path = "item.html")]
pub(super) struct ItemHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) id: i64,
    pub(super) name: String,
    /// The source below its library root, and that root.
    pub(super) source: String,
    pub(super) source_root: String,
    /// The encode below the transcode root (or its whole path when outside it).
    pub(super) staging: String,
    pub(super) staging_in_root: bool,
    pub(super) state: String,
    pub(super) decision: Option<String>,
    pub(super) sizes: String,
    pub(super) saving: String,
    pub(super) vmaf: String,
    pub(super) validation: String,
    pub(super) actions: Vec<&'static str>,
    pub(super) clips: Vec<(i64, String)>,
    pub(super) stills: Vec<(i64, String)>,
    pub(super) plot: Option<i64>,
    pub(super) video: String,
    pub(super) audio: Vec<String>,
    pub(super) subtitles: Vec<String>,
    pub(super) events: Vec<(String, String, String)>,
    pub(super) message: Option<String>,
    pub(super) reencode: bool,
    pub(super) target_vmaf: String,
    /// The newest search: its first guess, its probes and its choice.
    pub(super) search: Vec<(String, String)>,
    /// The newest automatic decision (`automation.mode = "promote"`), if any.
    pub(super) auto: Option<AutoHtml>,
    /// What the plan's estimate rests on, a line each.
    pub(super) estimate: Vec<String>,
}

/// An automatic decision as the item page shows it: the sentence `review` prints, when,
/// and each rule with what it wanted and what was measured.
pub(super) struct AutoHtml {
    pub(super) approved: bool,
    pub(super) at: String,
    pub(super) text: String,
    /// (rule, wanted, measured, held).
    pub(super) checks: Vec<(String, String, String, bool)>,
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
        estimate: v.estimate.clone().unwrap_or_default(),
        auto: v.review.auto_decision.as_ref().map(|d| AutoHtml {
            approved: d.approved,
            at: mediaforce::manifest::utc_timestamp(d.at),
            text: d.text(),
            checks: d
                .decision
                .verdict
                .checks
                .iter()
                .map(|c| {
                    (
                        c.rule.clone(),
                        c.wanted.clone(),
                        c.measured.clone(),
                        c.passed,
                    )
                })
                .collect(),
        }),
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
