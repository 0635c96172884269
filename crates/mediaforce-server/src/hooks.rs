//! `POST /hooks/arr`: Sonarr's and Radarr's webhooks. Authenticated by the hook's own token
//! (`?token=` in the URL, `Authorization: Bearer`, or the password of Basic authentication,
//! which their Webhook form's Username/Password fields send); not a browser request, so no
//! session, CSRF token or `Host` check applies. An unknown token is `401` and nothing is read;
//! a payload missing a field its event needs is `400` naming the field, and nothing is done.

use crate::{blocking, Failure, Server};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mediaforce_app::ErrorKind;
use std::collections::HashMap;

/// The token a request carries: the query's, a bearer token, or a Basic password.
fn token(query: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(t) = query.get("token") {
        return t.clone();
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return t.trim().to_string();
    }
    auth.strip_prefix("Basic ")
        .and_then(|b| decode_base64(b.trim()))
        .and_then(|pair| pair.split_once(':').map(|(_, pw)| pw.to_string()))
        .unwrap_or_default()
}

/// Standard base64 (with or without padding) to text.
fn decode_base64(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) async fn arr(
    State(server): State<Server>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = token(&query, &headers);
    let app = server.app.clone();
    match blocking(move || app.hook_receive(&token, &body)).await {
        Ok(outcome) => axum::Json(outcome).into_response(),
        Err(Failure(e)) if e.kind == ErrorKind::Invalid => {
            let body = serde_json::json!({"kind": "bad_request", "message": e.message});
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_credentials_decode() {
        // "sonarr:s3cret" and "a:b" (padded twice).
        assert_eq!(
            super::decode_base64("c29uYXJyOnMzY3JldA==").as_deref(),
            Some("sonarr:s3cret")
        );
        assert_eq!(super::decode_base64("YTpi").as_deref(), Some("a:b"));
        assert_eq!(super::decode_base64("!!"), None);
    }
}
