//! Signing in through a form with any of the registry's identities (the admin user, users,
//! service principals, repository tokens), through the same throttled and audited sign-in as
//! the token endpoint, and signing out.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{
    CsrfForm, PageResult, PortalError, Session, base, cookie, home, layout, parse_form, read_form_bytes, same_origin,
    session_cookie,
};
use crate::api::auth::{self, Credentials, Origin, Via};
use crate::app::AppState;
use crate::oci::ErrorCode;

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// GET /signin
pub(super) async fn show_sign_in(State(app): State<AppState>) -> Response {
    sign_in_page(&base(&app), StatusCode::OK, None)
}

fn sign_in_page(base: &str, status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in to Berth" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action=(format!("{base}/signin")) {
            label for="username" { "User name" }
            input #username type="text" name="username" autocomplete="username" required autofocus;
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        p.muted { "The admin user, a user, a service principal or a repository token, with its password." }
    };
    (status, layout("Sign in", Some(base), None, None, body)).into_response()
}

/// POST /signin — on success a session cookie and the overview; else the form again, saying why.
pub(super) async fn sign_in(State(app): State<AppState>, req: Request) -> PageResult {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    let base = base(&app);
    if !same_origin(&parts.headers) {
        return Err(PortalError::Forbidden("sign-in from another site refused".into()));
    }
    let form: SignInForm = parse_form(&read_form_bytes(body).await?)?;
    if form.username.is_empty() || form.password.is_empty() {
        // Nothing to verify: no argon2 run, and no failure counted against this address.
        return Ok(sign_in_page(&base, StatusCode::UNAUTHORIZED, Some("Wrong user name or password.")));
    }
    let origin = Origin::of(&app, &parts.headers);
    let credentials = Credentials::Basic(form.username, form.password);
    let via = Via::TokenEndpoint("portal");
    match auth::sign_in_with(&app, &parts.headers, credentials, client, &origin.service, via).await {
        Ok(Some(caller)) => {
            let token = app.access.session_token(&caller, &origin.service)?;
            let cookie = session_cookie(&app, &parts.headers, &base, Some(&token));
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, home(&base)), (header::SET_COOKIE, cookie)]).into_response())
        }
        Ok(None) => Ok(sign_in_page(&base, StatusCode::UNAUTHORIZED, Some("Wrong user name or password."))),
        Err(e) => match e.code() {
            ErrorCode::Unauthorized => {
                Ok(sign_in_page(&base, StatusCode::UNAUTHORIZED, Some("Wrong user name or password.")))
            }
            ErrorCode::TooManyRequests => Ok(sign_in_page(
                &base,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many failed sign-ins: try again in a few minutes."),
            )),
            _ => Err(PortalError::Api(e)),
        },
    }
}

/// POST /signout — ends the session (on every node, not only its cookie), then the sign-in
/// page.
pub(super) async fn sign_out(State(app): State<AppState>, headers: HeaderMap, req: Request) -> PageResult {
    let base = base(&app);
    if !same_origin(&headers) {
        return Err(PortalError::Forbidden("sign-out from another site refused".into()));
    }
    match Session::of(&app, &headers).await {
        Ok(session) => {
            let form: CsrfForm = parse_form(&read_form_bytes(req.into_body()).await?)?;
            session.check_csrf(form.csrf.as_deref())?;
            if let Some(token) = cookie(&headers) {
                app.access.end_session(token, &Origin::of(&app, &headers).service).await?;
            }
        }
        // Without a session there is nothing to end (and no CSRF token to check).
        Err(PortalError::SignInRequired(_)) => {}
        Err(e) => return Err(e),
    }
    let cookie = session_cookie(&app, &headers, &base, None);
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, format!("{base}/signin")), (header::SET_COOKIE, cookie)])
        .into_response())
}
