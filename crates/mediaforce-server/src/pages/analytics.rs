//! The Analytics page (what was saved over time, encoding work, quality delivered, the mix now
//! and before, roots and folders with their backlog and health, the forecast and the best
//! opportunities with a button that queues them), its JSON and CSV exports, the health report,
//! and `GET /metrics` in the Prometheus text format.

use super::common::*;
use super::library::csv_field;
use crate::{blocking, charts, Server};
use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use mediaforce_app::human_bytes;
use mediaforce_app::stats::{Share, StatsView, RANGES};

/// `?range=30d&message=...`.
#[derive(Debug, serde::Deserialize)]
pub struct RangeQuery {
    #[serde(default = "default_range")]
    pub(super) range: String,
    pub(super) message: Option<String>,
}

fn default_range() -> String {
    "30d".into()
}

/// Bytes, signed.
fn bytes(n: i64) -> String {
    if n < 0 {
        format!("-{}", human_bytes(n.unsigned_abs()))
    } else {
        human_bytes(n as u64)
    }
}

/// A mix table's row: name, share of files and bytes now, share of bytes before.
pub(super) struct MixRow {
    pub(super) name: String,
    pub(super) files: i64,
    pub(super) bytes: String,
    pub(super) share: String,
    pub(super) before: String,
}

#[derive(Template)]
#[template(path = "analytics.html")]
pub(super) struct AnalyticsHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) message: Option<String>,
    pub(super) range: String,
    pub(super) ranges: Vec<&'static str>,
    pub(super) v: StatsView,
    pub(super) saved_total: String,
    pub(super) saved_range: String,
    pub(super) forecast: (String, String, String),
    pub(super) daily: String,
    pub(super) hours: String,
    pub(super) saved_svg: String,
    pub(super) encodes_svg: String,
    pub(super) quality_svg: String,
    /// (month, promoted, rolled back, saved, in all by its end).
    pub(super) months: Vec<[String; 5]>,
    /// (dimension, rows).
    pub(super) mix: Vec<(&'static str, Vec<MixRow>)>,
    /// (root, files, size, promoted, saved, waiting items, expected, by confidence, backlog,
    /// health, parts).
    pub(super) roots: Vec<[String; 11]>,
    /// (folder, files, size, saved, health, parts).
    pub(super) folders: Vec<[String; 6]>,
    /// (path, size, expected, percent, bucket, confidence).
    pub(super) opportunities: Vec<[String; 6]>,
}

fn mix_rows(now: &[Share], before: &[Share]) -> Vec<MixRow> {
    let total = |v: &[Share]| v.iter().map(|s| s.bytes).sum::<i64>().max(1) as f64;
    let (t_now, t_before) = (total(now), total(before));
    let mut names: Vec<&str> = now.iter().map(|s| s.name.as_str()).collect();
    for s in before {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let n = now.iter().find(|s| s.name == name);
            let b = before.iter().find(|s| s.name == name);
            MixRow {
                name: name.to_string(),
                files: n.map_or(0, |s| s.files),
                bytes: bytes(n.map_or(0, |s| s.bytes)),
                share: format!("{:.1}%", 100.0 * n.map_or(0, |s| s.bytes) as f64 / t_now),
                before: format!(
                    "{:.1}% ({})",
                    100.0 * b.map_or(0, |s| s.bytes) as f64 / t_before,
                    bytes(b.map_or(0, |s| s.bytes))
                ),
            }
        })
        .collect()
}

/// A health score's parts in words.
fn parts_text(p: &mediaforce::catalog::HealthParts) -> String {
    format!(
        "codec {:.0}, bit rate {:.0}, container {:.0}, audio {:.0}",
        p.codec,
        p.bit_rate.min(100.0),
        p.container,
        p.audio
    )
}

/// The page's view of `v`.
fn page(v: StatsView, csrf: String, message: Option<String>) -> AnalyticsHtml {
    // Every day of the range, so the x axis is time: the running total carried over days
    // without promotions, and days without encodes at zero.
    let span: Vec<i64> = (v.first_day..=v.today).collect();
    let labels: Vec<String> = span
        .iter()
        .map(|d| mediaforce::manifest::utc_timestamp(d * 86_400)[..10].to_string())
        .collect();
    let before = v.saved.total_bytes - v.saved.range_bytes;
    let mut running = before;
    let cumulative: Vec<f64> = span
        .iter()
        .map(|d| {
            if let Some(p) = v.saved.days.iter().find(|p| p.day == *d) {
                running = p.cumulative_bytes;
            }
            running as f64
        })
        .collect();
    let saved_svg = charts::line(
        "Saved in all, by the end of each day",
        &labels,
        &cumulative,
        &|y| human_bytes(y.max(0.0) as u64),
    );
    let encodes_svg = charts::bars(
        "Encodes per day",
        &labels,
        &span
            .iter()
            .map(|d| {
                v.encoding
                    .days
                    .iter()
                    .find(|e| e.day == *d)
                    .map_or(0.0, |e| e.encodes as f64)
            })
            .collect::<Vec<_>>(),
    );
    let band_names = [
        ("below", "> 1 below"),
        ("under_1", "0-1 below"),
        ("0_to_1", "+0-1"),
        ("1_to_2", "+1-2"),
        ("2_to_3", "+2-3"),
        ("over_3", "> +3"),
    ];
    let quality_svg = charts::bars(
        "Encodes by measured VMAF against the target (points)",
        &band_names
            .iter()
            .map(|(_, l)| l.to_string())
            .collect::<Vec<_>>(),
        &band_names
            .iter()
            .map(|(k, _)| {
                v.quality
                    .bands
                    .iter()
                    .find(|b| b.band == *k)
                    .map_or(0.0, |b| b.encodes as f64)
            })
            .collect::<Vec<_>>(),
    );
    let mix = v
        .mix
        .dimensions()
        .into_iter()
        .map(|(name, now, before)| (name, mix_rows(now, before)))
        .collect();
    let roots = v
        .roots
        .iter()
        .map(|r| {
            let p = &r.health.parts;
            [
                r.root.display().to_string(),
                r.files.to_string(),
                bytes(r.bytes),
                r.promoted.to_string(),
                bytes(r.saved_bytes),
                r.candidates.to_string(),
                bytes(r.expected_saving_bytes),
                format!(
                    "high {}, medium {}, low {}",
                    bytes(r.expected_by_confidence.high),
                    bytes(r.expected_by_confidence.medium),
                    bytes(r.expected_by_confidence.low)
                ),
                r.backlog_days
                    .map_or_else(|| "-".into(), |d| format!("{d:.1} days")),
                format!("{:.0}", r.health.score),
                parts_text(p),
            ]
        })
        .collect();
    let folders = v
        .folders
        .iter()
        .map(|f| {
            [
                f.folder.display().to_string(),
                f.files.to_string(),
                bytes(f.bytes),
                bytes(f.saved_bytes),
                format!("{:.0}", f.health.score),
                parts_text(&f.health.parts),
            ]
        })
        .collect();
    let opportunities = v
        .opportunities
        .iter()
        .map(|o| {
            [
                o.path.display().to_string(),
                human_bytes(o.bytes),
                human_bytes(o.expected_saving_bytes),
                format!("{:.0}%", o.expected_saving_percent),
                o.bucket.clone(),
                o.confidence.clone(),
            ]
        })
        .collect();
    AnalyticsHtml {
        signed_in: true,
        csrf,
        message,
        range: v.range.clone(),
        ranges: RANGES.iter().map(|(n, _)| *n).collect(),
        saved_total: bytes(v.saved.total_bytes),
        saved_range: bytes(v.saved.range_bytes),
        forecast: (
            bytes(v.forecast.in_30_days),
            bytes(v.forecast.in_90_days),
            bytes(v.forecast.in_365_days),
        ),
        daily: bytes(v.forecast.daily_bytes.round() as i64),
        hours: format!("{:.1}", v.encoding.hours),
        months: v
            .saved
            .months
            .iter()
            .map(|m| {
                [
                    m.start.clone(),
                    m.promoted.to_string(),
                    m.rolled_back.to_string(),
                    bytes(m.saved_bytes),
                    bytes(m.cumulative_bytes),
                ]
            })
            .collect(),
        saved_svg,
        encodes_svg,
        quality_svg,
        mix,
        roots,
        folders,
        opportunities,
        v,
    }
}

/// `GET /analytics?range=30d`.
pub async fn analytics(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    let range = q.range.clone();
    match page_data(&server, &headers, move |app| app.stats(&range)).await {
        Ok((csrf, v)) => render(&page(v, csrf, q.message)),
        Err(r) => r,
    }
}

/// `GET /api/stats?range=30d`: the same figures as JSON.
pub async fn stats_json(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    api(&server, &headers, move |app| app.stats(&q.range)).await
}

async fn stats_for_export(
    server: &Server,
    headers: &HeaderMap,
    range: String,
) -> Result<StatsView, Response> {
    session(server, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let app = server.app.clone();
    blocking(move || app.stats(&range))
        .await
        .map_err(IntoResponse::into_response)
}

fn csv(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /analytics.csv?range=30d`: savings and encodes per day.
pub async fn analytics_csv(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    let v = match stats_for_export(&server, &headers, q.range).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut days: std::collections::BTreeMap<String, [String; 6]> = Default::default();
    for d in &v.saved.days {
        let e = days.entry(d.start.clone()).or_default();
        e[0] = d.promoted.to_string();
        e[1] = d.rolled_back.to_string();
        e[2] = d.saved_bytes.to_string();
        e[3] = d.cumulative_bytes.to_string();
    }
    for d in &v.encoding.days {
        let e = days.entry(d.start.clone()).or_default();
        e[4] = d.encodes.to_string();
        e[5] = format!("{:.3}", d.hours);
    }
    let mut out = String::from(
        "day,promoted,rolled_back,saved_bytes,cumulative_saved_bytes,encodes,encode_hours\n",
    );
    for (day, cols) in days {
        let cols = cols.map(|c| if c.is_empty() { "0".to_string() } else { c });
        out.push_str(&format!("{day},{}\n", cols.join(",")));
    }
    csv(&format!("mediaforce-{}.csv", v.range), out)
}

/// `GET /analytics/health.csv`: the health report (per root: score and parts; then counts and
/// failed jobs by cause).
pub async fn health_csv(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    let v = match stats_for_export(&server, &headers, q.range).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut out = String::from("section,name,value,detail\n");
    let mut row = |section: &str, name: &str, value: String, detail: &str| {
        out.push_str(&format!(
            "{section},{},{value},{}\n",
            csv_field(name),
            csv_field(detail)
        ));
    };
    row("library", "score", format!("{:.1}", v.health.score), "");
    for r in &v.roots {
        let root = r.root.display().to_string();
        let p = &r.health.parts;
        row("root", &root, format!("{:.1}", r.health.score), "score");
        for (part, x) in [
            ("codec", p.codec),
            ("bit_rate", p.bit_rate.min(100.0)),
            ("container", p.container),
            ("audio", p.audio),
        ] {
            row("root", &root, format!("{x:.1}"), part);
        }
    }
    let c = &v.health.counts;
    for (name, n) in [
        ("failed_validations", c.failed_validations),
        ("damaged_sources", c.damaged_sources),
        ("unreadable_files", c.unreadable_files),
        ("no_result", c.no_result),
        ("failed_items", c.failed_items),
    ] {
        row("count", name, n.to_string(), "");
    }
    for j in &v.health.failed_jobs {
        row(
            "failed_jobs",
            &format!("{} on {}", j.kind, j.worker),
            j.jobs.to_string(),
            &j.cause,
        );
    }
    csv("mediaforce-health.csv", out)
}

/// The queue form: the CSRF token and how many to queue.
#[derive(Debug, serde::Deserialize)]
pub struct QueueForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) count: String,
}

/// `POST /analytics/queue`: plan the N best opportunities and queue them.
pub async fn analytics_queue(
    State(server): State<Server>,
    headers: HeaderMap,
    Form(form): Form<QueueForm>,
) -> Response {
    if let Err(r) = changing(&server, &headers, &form.csrf).await {
        return r;
    }
    let count: usize = match form.count.trim().parse() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => {
            return back(
                "/analytics",
                &format!(
                    "count {:?}: a whole number from 1 to 1000; nothing was queued",
                    form.count
                ),
            )
        }
    };
    let app = server.app.clone();
    match blocking(move || app.queue_opportunities(count)).await {
        Ok(ids) if ids.is_empty() => back("/analytics", "nothing worth encoding to queue"),
        Ok(ids) => back(
            "/analytics",
            &format!("queued {} encode(s): jobs {}", ids.len(), join_ids(&ids)),
        ),
        Err(f) => back("/analytics", &f.0.message),
    }
}

fn join_ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /metrics`: the Prometheus text format (OpenMetrics when the `Accept` header asks for
/// it, the classic 0.0.4 format otherwise). From loopback it is open; from elsewhere it
/// needs an API token (`Authorization: Bearer`, read scope is enough) or a session.
pub async fn metrics(
    State(server): State<Server>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
) -> Response {
    let loopback = peer.is_some_and(|axum::Extension(ConnectInfo(a))| a.ip().is_loopback());
    match api_scope(&server, &headers).await {
        Some(Ok(_)) => {}
        Some(Err(f)) => return f.into_response(),
        None if loopback => {}
        None => {
            if session(&server, &headers).await.is_err() {
                return (
                    StatusCode::UNAUTHORIZED,
                    "metrics: an API token is needed from outside this host",
                )
                    .into_response();
            }
        }
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let app = server.app.clone();
    match blocking(move || app.metrics()).await {
        Ok(m) if openmetrics => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            crate::metrics::encode(&m),
        )
            .into_response(),
        Ok(m) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::metrics::classic_text(&crate::metrics::encode(&m)),
        )
            .into_response(),
        Err(f) => f.into_response(),
    }
}

#[derive(Template)]
#[template(path = "findings.html")]
pub(super) struct FindingsHtml {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    /// (keep, others, reclaimable, confirmed, detail).
    pub(super) duplicates: Vec<(String, Vec<String>, String, bool, String)>,
    /// (file, resolution, its rate, median, percent).
    pub(super) gaps: Vec<[String; 5]>,
    /// (folder, files, codec, resolution, size).
    pub(super) batches: Vec<[String; 5]>,
    /// (file, cause).
    pub(super) unreadable: Vec<(String, String)>,
}

/// `GET /analytics/findings`: what the analyzers found (nothing is changed by looking).
pub async fn findings(State(server): State<Server>, headers: HeaderMap) -> Response {
    let (csrf, v) = match page_data(&server, &headers, |app| app.analyze()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mbps = |b: i64| format!("{:.2} Mb/s", b as f64 / 1e6);
    render(&FindingsHtml {
        signed_in: true,
        csrf,
        duplicates: v
            .duplicates
            .iter()
            .map(|d| {
                (
                    d.keep.display().to_string(),
                    d.files
                        .iter()
                        .filter(|(p, _)| *p != d.keep)
                        .map(|(p, n)| format!("{} ({})", p.display(), human_bytes(*n)))
                        .collect(),
                    human_bytes(d.reclaimable_bytes),
                    d.confirmed,
                    d.detail.clone(),
                )
            })
            .collect(),
        gaps: v
            .quality_gaps
            .iter()
            .map(|g| {
                [
                    g.path.display().to_string(),
                    g.resolution.clone(),
                    mbps(g.bit_rate),
                    mbps(g.folder_median),
                    format!("{:.0}%", g.ratio * 100.0),
                ]
            })
            .collect(),
        batches: v
            .batches
            .iter()
            .map(|b| {
                [
                    b.folder.display().to_string(),
                    b.files.to_string(),
                    b.codec.clone(),
                    b.resolution.clone(),
                    bytes(b.bytes),
                ]
            })
            .collect(),
        unreadable: v
            .unreadable
            .iter()
            .map(|(p, e)| (p.display().to_string(), e.clone()))
            .collect(),
    })
}

/// `GET /api/findings`: the same as JSON (as `mediaforce analyze --json`).
pub async fn findings_json(State(server): State<Server>, headers: HeaderMap) -> Response {
    api(&server, &headers, |app| app.analyze()).await
}
