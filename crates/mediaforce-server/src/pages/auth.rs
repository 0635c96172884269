//! Signing in and out.

use super::common::*;
use crate::{blocking, Failure, Server};
use askama::Template;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use mediaforce_app::ErrorKind;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) signed_in: bool,
    pub(super) csrf: String,
    pub(super) password_set: bool,
    pub(super) error: Option<String>,
}

/// `GET /login`.
pub async fn login_page(State(server): State<Server>) -> Response {
    let app = server.app.clone();
    let password_set = blocking(move || app.web_password_set())
        .await
        .unwrap_or(false);
    render(&LoginPage {
        signed_in: false,
        csrf: String::new(),
        password_set,
        error: None,
    })
}

/// The sign-in form.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    pub(super) password: String,
}

/// `POST /login`: a session cookie and on to the library, or the form again with the cause.
pub async fn login(State(server): State<Server>, Form(form): Form<LoginForm>) -> Response {
    let app = server.app.clone();
    match blocking(move || app.web_login(&form.password)).await {
        Ok(s) => {
            let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", s.token);
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, "/library".to_string()),
                ],
            )
                .into_response()
        }
        Err(Failure(e)) => {
            let status = if e.kind == ErrorKind::Unauthenticated {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let mut resp = render(&LoginPage {
                signed_in: false,
                csrf: String::new(),
                password_set: true,
                error: Some(e.message),
            });
            *resp.status_mut() = status;
            resp
        }
    }
}

/// `POST /logout`.
pub async fn logout(
    State(server): State<Server>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Ok((token, csrf)) = session(&server, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if form.csrf != csrf {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    let app = server.app.clone();
    let _ = blocking(move || app.web_logout(&token)).await;
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}
