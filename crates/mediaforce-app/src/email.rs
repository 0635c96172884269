//! The email channel: a notification sent over SMTP (lettre). The channel's address says how:
//!
//! - `smtp://[user@]host[:port]?from=A&to=B[,C]`: STARTTLS, required (port 587 by default);
//! - `smtps://...`: TLS from the first byte (port 465 by default);
//! - `smtp+insecure://...`: no TLS at all, for a relay on this machine or a trusted network
//!   (port 25 by default).
//!
//! The password is the channel's secret (`--secret`), never part of the address.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

/// An email channel's address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAddress {
    /// `starttls`, `tls` or `insecure`.
    pub security: &'static str,
    /// The user to sign in as (empty: none).
    pub user: String,
    /// The server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// Read an email channel's address; `Err` names what is wrong.
pub fn parse(url: &str) -> Result<SmtpAddress, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("url {url}: expected smtp://, smtps:// or smtp+insecure://"))?;
    let (security, default_port) = match scheme {
        "smtp" => ("starttls", 587),
        "smtps" => ("tls", 465),
        "smtp+insecure" => ("insecure", 25),
        _ => {
            return Err(format!(
                "url {url}: expected smtp://, smtps:// or smtp+insecure://"
            ))
        }
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err("url: put the password in --secret, not in the address".into());
            }
            (u.to_string(), h)
        }
        None => (String::new(), authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse()
                .map_err(|_| format!("url: port {p:?} is not a number"))?,
        ),
        None => (hostport.to_string(), default_port),
    };
    if host.is_empty() {
        return Err("url: no server".into());
    }
    let mut from = String::new();
    let mut to = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("from", v)) => from = v.to_string(),
            Some(("to", v)) => {
                to.extend(v.split(',').filter(|t| !t.is_empty()).map(str::to_string))
            }
            _ => return Err(format!("url: unknown parameter {kv:?} (from, to)")),
        }
    }
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(format!("url: from={from:?} is not an email address"));
    }
    if to.is_empty() {
        return Err("url: no recipient (to=)".into());
    }
    if let Some(bad) = to
        .iter()
        .find(|t| t.parse::<lettre::message::Mailbox>().is_err())
    {
        return Err(format!("url: to={bad:?} is not an email address"));
    }
    Ok(SmtpAddress {
        security,
        user,
        host,
        port,
        from,
        to,
    })
}

/// Send a message (`title` as its subject) by email: the server's reply code, or why it
/// failed.
pub fn send(url: &str, password: &str, title: &str, body: &str) -> Result<u16, String> {
    let a = parse(url)?;
    let mut m = Message::builder()
        .from(a.from.parse().map_err(|e| format!("from: {e}"))?)
        .subject(title)
        .header(ContentType::TEXT_PLAIN);
    for t in &a.to {
        m = m.to(t.parse().map_err(|e| format!("to: {e}"))?);
    }
    let message = m.body(body.to_string()).map_err(|e| e.to_string())?;
    let builder = match a.security {
        "starttls" => SmtpTransport::starttls_relay(&a.host).map_err(|e| e.to_string())?,
        "tls" => SmtpTransport::relay(&a.host).map_err(|e| e.to_string())?,
        _ => SmtpTransport::builder_dangerous(&a.host),
    };
    let mut builder = builder.port(a.port).timeout(Some(Duration::from_secs(15)));
    if !a.user.is_empty() {
        builder = builder.credentials(Credentials::new(a.user.clone(), password.to_string()));
    }
    builder
        .build()
        .send(&message)
        .map(|r| r.code().into())
        .map_err(|e| format!("{}:{}: {e}", a.host, a.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_and_bad_ones_refused_naming_the_part() {
        let a = parse("smtp://me@mail.lan?from=mf@lan&to=a@lan,b@lan").unwrap();
        assert_eq!(
            (a.security, a.user.as_str(), a.host.as_str(), a.port),
            ("starttls", "me", "mail.lan", 587)
        );
        assert_eq!(a.to, ["a@lan", "b@lan"]);
        let a = parse("smtps://mail.lan:2465?from=mf@lan&to=a@lan").unwrap();
        assert_eq!((a.security, a.port), ("tls", 2465));
        let a = parse("smtp+insecure://127.0.0.1:2525?from=mf@lan&to=a@lan").unwrap();
        assert_eq!(
            (a.security, a.port, a.user.as_str()),
            ("insecure", 2525, "")
        );
        for (url, why) in [
            ("http://x", "url http://x: expected"),
            (
                "smtp://me:pw@h?from=a@b&to=c@d",
                "url: put the password in --secret",
            ),
            (
                "smtp://h:x?from=a@b&to=c@d",
                "url: port \"x\" is not a number",
            ),
            ("smtp://h?to=c@d", "url: from=\"\" is not an email address"),
            ("smtp://h?from=a@b", "url: no recipient"),
            (
                "smtp://h?from=a@b&to=nope",
                "url: to=\"nope\" is not an email address",
            ),
            ("smtp://h?from=a@b&to=c@d&cc=e@f", "url: unknown parameter"),
        ] {
            let e = parse(url).unwrap_err();
            assert!(e.starts_with(why), "{url}: {e}");
        }
    }
}
