//! The dashboard, its live events, the queue and its actions, and the hosts.

use super::common::*;
use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mediaforce_app::{AppError, ErrorKind};

/// A job action's form: the CSRF token, and the new priority for `priority`.
#[derive(Debug, serde::Deserialize)]
pub struct JobForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default, deserialize_with = "mediaforce::catalog::blank_is_none")]
    pub(super) priority: Option<i64>,
}

/// A running job's row, formatted.
pub(super) struct RunningRow {
    pub(super) id: i64,
    pub(super) what: String,
    pub(super) worker: String,
    pub(super) frames: u64,
    pub(super) total: u64,
    pub(super) fps: String,
    pub(super) eta: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(super) struct DashboardHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) counts: Vec<(String, usize)>,
    pub(super) saved: String,
    pub(super) running: Vec<RunningRow>,
    pub(super) hosts: Vec<mediaforce::hosts::HostRow>,
    pub(super) failures: Vec<(i64, String)>,
    pub(super) last_event: i64,
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
    pub(super) after: Option<i64>,
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
pub(super) struct JobRowView {
    pub(super) id: i64,
    pub(super) state: &'static str,
    pub(super) what: String,
    pub(super) priority: i64,
    pub(super) attempts: String,
    pub(super) worker: String,
    pub(super) error: String,
    pub(super) actions: Vec<(&'static str, &'static str)>,
    /// A queued job's priority can be set.
    pub(super) reorder: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub(super) struct QueueHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) states: Vec<&'static str>,
    pub(super) state: String,
    pub(super) jobs: Vec<JobRowView>,
    pub(super) message: Option<String>,
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
pub(super) struct HostView {
    pub(super) name: String,
    pub(super) state: &'static str,
    pub(super) live: &'static str,
    pub(super) seen: String,
    pub(super) cores: u64,
    pub(super) encoders: String,
    pub(super) max_jobs: u64,
    pub(super) schedule: String,
    pub(super) priority: String,
    pub(super) nice: i32,
    pub(super) ionice: String,
}

#[derive(Template)]
#[template(path = "hosts.html")]
pub(super) struct HostsHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) hosts: Vec<HostView>,
    pub(super) message: Option<String>,
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
