//! Notifications: channels stored in the store, each a kind of service (or email, sent over
//! SMTP by [`crate::email`]) with its address, its
//! secret and the events it wants; a notification is a job on the queue per channel (kind
//! `notify`), delivered by the service's delivery loop, retried with backoff, never blocking
//! an encode and never lost across a restart. Secrets are never shown: addresses are masked.
//!
//! The request each kind sends is a pure function ([`request`]), table-tested against the
//! format each service documents.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::hosts::now_ms;
use mediaforce::runner::{run_claims, ClaimLoop, Gate, Next, Until};
use mediaforce::store::connect::{self, ChannelRow};
use mediaforce::store::{JobStore, Lease, NewJob};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The kinds of channel.
pub const KINDS: [&str; 8] = [
    "webhook", "ntfy", "gotify", "discord", "slack", "telegram", "apprise", "email",
];

/// The events a channel can want.
pub const EVENTS: [&str; 6] = [
    "review",
    "failed",
    "promoted",
    "host_silent",
    "free_space",
    "digest",
];

/// The queue's job kind (and the capability only delivery loops have).
pub const JOB_KIND: &str = "notify";

/// Attempts before a delivery fails for good (backoff doubles from 2 s).
pub const ATTEMPTS: i64 = 5;

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// One of [`EVENTS`] (or `test`).
    pub event: String,
    /// One line.
    pub title: String,
    /// The message.
    pub body: String,
}

/// An HTTP request a channel sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Where.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

fn json_request(url: String, v: serde_json::Value, headers: Vec<(String, String)>) -> Request {
    let mut h = vec![("Content-Type".to_string(), "application/json".to_string())];
    h.extend(headers);
    Request {
        url,
        headers: h,
        body: serde_json::to_vec(&v).expect("JSON serialises"),
    }
}

/// HMAC-SHA256 of `body` under `key`, in hex.
pub fn signature(key: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The request channel `c` sends for `n`, as its service documents it.
pub fn request(c: &ChannelRow, n: &Notification) -> Request {
    let text = format!("{}\n{}", n.title, n.body);
    let base = c.url.trim_end_matches('/').to_string();
    match c.kind.as_str() {
        // Generic JSON, signed: X-Mediaforce-Signature: sha256=HMAC(secret, body).
        "webhook" => {
            let body = serde_json::json!({
                "event": n.event, "title": n.title, "body": n.body, "sent_ms": now_ms(),
            });
            let bytes = serde_json::to_vec(&body).expect("JSON serialises");
            let mut headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("X-Mediaforce-Event".to_string(), n.event.clone()),
            ];
            if !c.secret.is_empty() {
                headers.push((
                    "X-Mediaforce-Signature".to_string(),
                    format!("sha256={}", signature(&c.secret, &bytes)),
                ));
            }
            Request {
                url: c.url.clone(),
                headers,
                body: bytes,
            }
        }
        // ntfy: the message is the body, the title a header; a token when the topic needs one.
        "ntfy" => {
            let mut headers = vec![
                ("Title".to_string(), n.title.clone()),
                ("Tags".to_string(), format!("mediaforce,{}", n.event)),
            ];
            if !c.secret.is_empty() {
                headers.push(("Authorization".to_string(), format!("Bearer {}", c.secret)));
            }
            Request {
                url: c.url.clone(),
                headers,
                body: n.body.clone().into_bytes(),
            }
        }
        // Gotify: POST /message with the application token.
        "gotify" => json_request(
            format!("{base}/message"),
            serde_json::json!({"title": n.title, "message": n.body, "priority": 5}),
            vec![("X-Gotify-Key".to_string(), c.secret.clone())],
        ),
        // Discord webhooks take `content` (at most 2000 characters).
        "discord" => json_request(
            c.url.clone(),
            serde_json::json!({"content": truncate(&format!("**{}**\n{}", n.title, n.body), 2000)}),
            Vec::new(),
        ),
        // Slack incoming webhooks take `text`.
        "slack" => json_request(
            c.url.clone(),
            serde_json::json!({"text": format!("*{}*\n{}", n.title, n.body)}),
            Vec::new(),
        ),
        // Telegram: the bot token is the secret; the address carries `?chat_id=`.
        "telegram" => {
            let (api, chat) = split_query(&c.url, "chat_id");
            json_request(
                format!("{}/bot{}/sendMessage", api.trim_end_matches('/'), c.secret),
                serde_json::json!({"chat_id": chat, "text": truncate(&text, 4096)}),
                Vec::new(),
            )
        }
        // An Apprise API server's notify endpoint (stateless URLs or a stored key).
        _ => json_request(
            c.url.clone(),
            serde_json::json!({
                "title": n.title,
                "body": n.body,
                "type": if n.event == "failed" || n.event == "free_space" { "failure" } else { "info" },
            }),
            Vec::new(),
        ),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `url` without the query parameter `key`, and that parameter's value.
fn split_query(url: &str, key: &str) -> (String, String) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), String::new());
    };
    let mut value = String::new();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((k, v)) if k == key => {
                value = v.to_string();
                false
            }
            _ => true,
        })
        .collect();
    if rest.is_empty() {
        (base.to_string(), value)
    } else {
        (format!("{base}?{}", rest.join("&")), value)
    }
}

/// The channel kind an address says (`None`: say it with `--kind`).
pub fn infer_kind(url: &str) -> Option<&'static str> {
    if url.starts_with("smtp://")
        || url.starts_with("smtps://")
        || url.starts_with("smtp+insecure://")
    {
        return Some("email");
    }
    let host = url
        .split_once("://")
        .map(|(_, r)| r.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default();
    match host {
        h if h.ends_with("discord.com") || h.ends_with("discordapp.com") => Some("discord"),
        "hooks.slack.com" => Some("slack"),
        "api.telegram.org" => Some("telegram"),
        "ntfy.sh" => Some("ntfy"),
        _ => None,
    }
}

/// An address as shown: the password of `user:pass@` and every path segment or query value
/// that looks like a token (16 or more letters and digits) masked.
pub fn mask(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = match rest.split_once('@') {
        Some((userinfo, host)) if !userinfo.contains('/') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}")
        }
        _ => rest.to_string(),
    };
    let masked: String = rest
        .split_inclusive(['/', '?', '&', '='])
        .map(|part| {
            let core = part.trim_end_matches(['/', '?', '&', '=']);
            let looks_secret = core.len() >= 16
                && core
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c))
                && core.chars().any(|c| c.is_ascii_digit());
            if looks_secret {
                format!("***{}", &part[core.len()..])
            } else {
                part.to_string()
            }
        })
        .collect();
    if scheme.is_empty() {
        masked
    } else {
        format!("{scheme}://{masked}")
    }
}

/// Send `n` on channel `c` now: the HTTP status (or the SMTP reply code), or why it failed.
pub fn deliver(c: &ChannelRow, n: &Notification) -> std::result::Result<u16, String> {
    if c.kind == "email" {
        return crate::email::send(&c.url, &c.secret, &n.title, &n.body);
    }
    let r = request(c, n);
    let mut req = ureq::post(&r.url).timeout(Duration::from_secs(15));
    for (k, v) in &r.headers {
        req = req.set(k, v);
    }
    match req.send_bytes(&r.body) {
        Ok(resp) => Ok(resp.status()),
        Err(ureq::Error::Status(code, resp)) => {
            let said: String = resp
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            Err(format!("HTTP {code} {}", said.trim()))
        }
        Err(e) => Err(mask(&e.to_string())),
    }
}

/// A channel as shown: the address masked, never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its address, masked.
    pub url: String,
    /// The events it wants.
    pub events: Vec<String>,
    /// Whether a secret is stored.
    pub secret_set: bool,
    /// The newest attempts: (at ms, event, attempt, ok, detail).
    pub recent: Vec<connect::Attempt>,
}

fn wants(c: &ChannelRow, event: &str) -> bool {
    event == "test" || c.events.split(',').any(|e| e == "*" || e == event)
}

impl App {
    /// Add (or replace) a channel. `kind` may be left out for addresses that say it
    /// (discord.com, hooks.slack.com, api.telegram.org, ntfy.sh); `events` empty: all.
    pub fn notify_add(
        &self,
        name: &str,
        url: &str,
        kind: Option<&str>,
        events: &[String],
        secret: Option<&str>,
    ) -> Result<ChannelView> {
        let invalid = |m: String| AppError::new(ErrorKind::Invalid, m);
        crate::check_name("name", name)?;
        let kind = match kind.or_else(|| infer_kind(url)) {
            Some(k) if KINDS.contains(&k) => k,
            Some(k) => {
                return Err(invalid(format!(
                    "kind {k}: expected one of {}",
                    KINDS.join(", ")
                )))
            }
            None => "webhook",
        };
        if kind == "email" {
            crate::email::parse(url).map_err(invalid)?;
        } else if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(format!(
                "url {}: expected an http:// or https:// address (smtp:// for email)",
                mask(url)
            )));
        }
        for e in events {
            if e != "*" && !EVENTS.contains(&e.as_str()) {
                return Err(invalid(format!(
                    "events: {e} is not one of {}",
                    EVENTS.join(", ")
                )));
            }
        }
        let secret = secret.unwrap_or_default();
        if (kind == "gotify" || kind == "telegram") && secret.is_empty() {
            return Err(invalid(format!(
                "secret: a {kind} channel needs its {} (--secret)",
                if kind == "gotify" {
                    "application token"
                } else {
                    "bot token"
                }
            )));
        }
        if kind == "telegram" && split_query(url, "chat_id").1.is_empty() {
            return Err(invalid(
                "url: a telegram channel's address carries ?chat_id=ID".into(),
            ));
        }
        let row = ChannelRow {
            name: name.to_string(),
            kind: kind.to_string(),
            url: url.to_string(),
            secret: secret.to_string(),
            events: if events.is_empty() {
                "*".to_string()
            } else {
                events.join(",")
            },
            created_ms: now_ms(),
        };
        self.with_connect_db(|db| Ok(connect::put_channel(db, &row)?))?;
        Ok(view(row, Vec::new()))
    }

    /// The channels, with their newest attempts.
    pub fn notify_list(&self) -> Result<Vec<ChannelView>> {
        self.with_connect_db(|db| {
            let mut out = Vec::new();
            for row in connect::channels(db)? {
                let recent = connect::attempts(db, &row.name, 20)?;
                out.push(view(row, recent));
            }
            Ok(out)
        })
    }

    /// Remove a channel.
    pub fn notify_remove(&self, name: &str) -> Result<()> {
        match self.with_connect_db(|db| Ok(connect::remove_channel(db, name)?))? {
            0 => Err(AppError::new(
                ErrorKind::NotFound,
                format!("no channel named {name}"),
            )),
            _ => Ok(()),
        }
    }

    /// Send a test message on channel `name` now (not through the queue); what it answered.
    pub fn notify_test(&self, name: &str) -> Result<String> {
        let c = self
            .with_connect_db(|db| Ok(connect::channel(db, name)?))?
            .ok_or_else(|| {
                AppError::new(ErrorKind::NotFound, format!("no channel named {name}"))
            })?;
        let n = Notification {
            event: "test".into(),
            title: "mediaforce: test".into(),
            body: format!("A test message for channel {name}."),
        };
        let r = deliver(&c, &n);
        let (ok, detail) = match &r {
            Ok(status) => (true, format!("HTTP {status}")),
            Err(e) => (false, e.clone()),
        };
        self.with_connect_db(|db| {
            Ok(connect::record_attempt(
                db,
                name,
                "test",
                now_ms(),
                1,
                ok,
                &detail,
            )?)
        })?;
        r.map(|s| format!("{name}: delivered (HTTP {s})"))
            .map_err(|e| AppError::new(ErrorKind::Unavailable, format!("{name}: {e}")))
    }

    /// Queue `n` for every channel that wants its event; how many deliveries were queued.
    pub fn notify(&self, n: &Notification) -> Result<usize> {
        let channels = self.with_connect_db(|db| Ok(connect::channels(db)?))?;
        let wanted: Vec<&ChannelRow> = channels.iter().filter(|c| wants(c, &n.event)).collect();
        self.with_queue(|q| {
            for c in &wanted {
                let mut job = NewJob::new(
                    JOB_KIND,
                    serde_json::json!({"channel": c.name, "notification": n}),
                );
                job.requires = Some(JOB_KIND.into());
                job.max_attempts = ATTEMPTS;
                q.enqueue(&job).map_err(AppError::from)?;
            }
            Ok(wanted.len())
        })
    }

    /// Deliver queued notifications until `cancel` (or, with `idle`, until none has been
    /// waiting for that long): each attempt recorded on its channel, a failure retried with
    /// backoff by the queue.
    pub fn run_deliveries(
        &self,
        worker: &str,
        cancel: &AtomicBool,
        idle: Option<Duration>,
    ) -> Result<()> {
        let mut store = self.queue()?;
        let spec = ClaimLoop {
            worker: worker.to_string(),
            kinds: vec![JOB_KIND.into()],
            capabilities: Some(vec![JOB_KIND.into()]),
            until: Until::Idle(idle),
            cancel,
            poll: Duration::from_millis(1000),
        };
        run_claims(
            store.as_mut(),
            &spec,
            &mut |_: &mut dyn JobStore| {
                Ok::<_, AppError>(Gate::Claim {
                    min_priority: None,
                    held: false,
                })
            },
            &mut |store: &mut dyn JobStore, lease: Lease| {
                self.deliver_job(store, &lease)?;
                Ok(Next::Continue)
            },
        )
    }

    fn deliver_job(&self, store: &mut dyn JobStore, lease: &Lease) -> Result<()> {
        let se = AppError::from;
        let name = lease.payload["channel"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let n: Option<Notification> =
            serde_json::from_value(lease.payload["notification"].clone()).ok();
        let channel = self.with_connect_db(|db| Ok(connect::channel(db, &name)?))?;
        let (Some(c), Some(n)) = (channel, n) else {
            // The channel was removed meanwhile (or a payload of a newer build): nothing to do.
            store
                .complete(lease, &serde_json::json!({"skipped": "no such channel"}))
                .map_err(se)?;
            return Ok(());
        };
        let r = deliver(&c, &n);
        let (ok, detail) = match &r {
            Ok(status) => (true, format!("HTTP {status}")),
            Err(e) => (false, e.clone()),
        };
        self.with_connect_db(|db| {
            Ok(connect::record_attempt(
                db,
                &name,
                &n.event,
                now_ms(),
                lease.attempt,
                ok,
                &detail,
            )?)
        })?;
        if ok {
            store
                .complete(lease, &serde_json::json!({"delivered": detail}))
                .map_err(se)?;
        } else {
            store.fail(lease, &detail).map_err(se)?;
        }
        Ok(())
    }
}

fn view(row: ChannelRow, recent: Vec<connect::Attempt>) -> ChannelView {
    ChannelView {
        url: mask(&row.url),
        events: row.events.split(',').map(str::to_string).collect(),
        secret_set: !row.secret.is_empty(),
        name: row.name,
        kind: row.kind,
        recent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(kind: &str, url: &str, secret: &str) -> ChannelRow {
        ChannelRow {
            name: "c".into(),
            kind: kind.into(),
            url: url.into(),
            secret: secret.into(),
            events: "*".into(),
            created_ms: 0,
        }
    }

    fn n() -> Notification {
        Notification {
            event: "promoted".into(),
            title: "Promoted film.mkv".into(),
            body: "saved 1.2 GB".into(),
        }
    }

    fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_kind_sends_what_its_service_documents() {
        let r = request(&channel("ntfy", "https://ntfy.sh/films", ""), &n());
        assert_eq!(r.url, "https://ntfy.sh/films");
        assert_eq!(r.body, b"saved 1.2 GB");
        assert_eq!(header(&r, "Title"), Some("Promoted film.mkv"));
        assert_eq!(header(&r, "Authorization"), None);

        let r = request(&channel("gotify", "http://g.lan/", "AppTok"), &n());
        assert_eq!(r.url, "http://g.lan/message");
        assert_eq!(header(&r, "X-Gotify-Key"), Some("AppTok"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"title": "Promoted film.mkv", "message": "saved 1.2 GB", "priority": 5})
        );

        let r = request(
            &channel("discord", "https://discord.com/api/webhooks/1/x", ""),
            &n(),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"content": "**Promoted film.mkv**\nsaved 1.2 GB"})
        );

        let r = request(
            &channel("slack", "https://hooks.slack.com/services/T/B/X", ""),
            &n(),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"text": "*Promoted film.mkv*\nsaved 1.2 GB"})
        );

        let r = request(
            &channel(
                "telegram",
                "https://api.telegram.org?chat_id=-100",
                "123:ABC",
            ),
            &n(),
        );
        assert_eq!(r.url, "https://api.telegram.org/bot123:ABC/sendMessage");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"chat_id": "-100", "text": "Promoted film.mkv\nsaved 1.2 GB"})
        );

        let r = request(
            &channel("apprise", "http://apprise:8000/notify/key", ""),
            &n(),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"title": "Promoted film.mkv", "body": "saved 1.2 GB", "type": "info"})
        );
    }

    #[test]
    fn the_generic_webhook_is_signed_over_its_exact_body() {
        let r = request(&channel("webhook", "http://h/x", "k3y"), &n());
        let sig = header(&r, "X-Mediaforce-Signature").unwrap();
        assert_eq!(sig, format!("sha256={}", signature("k3y", &r.body)));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["event"], "promoted");
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_in_addresses_are_masked_and_kinds_inferred() {
        let table = [
            (
                "https://discord.com/api/webhooks/1234567/abcDEF0123456789xyz",
                "https://discord.com/api/webhooks/1234567/***",
            ),
            ("http://user:pa55@h.lan/hook", "http://user:***@h.lan/hook"),
            (
                "http://g.lan/message?token=Aabc1234567890def",
                "http://g.lan/message?token=***",
            ),
            ("https://ntfy.sh/films", "https://ntfy.sh/films"),
        ];
        for (url, shown) in table {
            assert_eq!(mask(url), shown, "{url}");
        }
        assert_eq!(
            infer_kind("https://discord.com/api/webhooks/1/x"),
            Some("discord")
        );
        assert_eq!(
            infer_kind("https://hooks.slack.com/services/x"),
            Some("slack")
        );
        assert_eq!(infer_kind("http://127.0.0.1:9/x"), None);
    }
}
