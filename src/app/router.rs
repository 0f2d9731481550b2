//! The router: every area's handlers under one roof, with the security headers, body and
//! time limits, panic handling and request tracking around them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;
use crate::web::pages::{self, PageError};
use crate::web::{BODY_LIMIT, CSP, templates};

pub fn router(state: Arc<AppState>) -> Router {
    with_layers(routes(&state), state)
}

/// Every route the server answers.
fn routes(state: &AppState) -> Router<Arc<AppState>> {
    let (admin, openapi) = crate::admin::api::router();
    let openapi = crate::admin::api::openapi_json(&openapi);
    let mut router = Router::new()
        .merge(admin)
        .route(
            "/admin/openapi.json",
            get(move || {
                let body = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .merge(crate::oidc::routes::routes())
        .merge(crate::login::routes::routes())
        .merge(crate::account::routes::routes())
        .route("/resources/{theme}/style.css", get(style))
        .route("/health/live", get(super::health::live))
        .route("/health/ready", get(super::health::ready));
    // Public by default, like the health checks; an operator who exposes the listen address
    // to the internet and does not want to publish traffic figures turns it off.
    if state.settings.metrics_enabled {
        router = router.route("/metrics", get(super::metrics::scrape));
    }
    router
}

/// `X-Frame-Options: DENY` on every answer but the few whose CSP names who may frame them (the
/// session-check frames): browsers that know `frame-ancestors` ignore the header, older ones
/// would block those frames.
async fn deny_framing(mut response: axum::response::Response) -> axum::response::Response {
    let framable = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|csp| {
            csp.split(';')
                .map(str::trim)
                .any(|d| d.starts_with("frame-ancestors") && d != "frame-ancestors 'none'")
        });
    if !framable && !response.headers().contains_key(header::X_FRAME_OPTIONS) {
        response
            .headers_mut()
            .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// The layers every answer passes: page errors rendered, security headers, limits, panics
/// answered, and the request tracked.
fn with_layers(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    // Behind https, browsers must never fall back to plain http (HSTS).
    let hsts = state
        .settings
        .is_https()
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), render_page_errors))
        // Outside the page errors, so that refusals carry CORS headers too.
        .layer(axum::middleware::from_fn_with_state(state.clone(), super::cors::cors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(axum::middleware::map_response(deny_framing))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Outside the limit, so that admin API callers get its JSON error instead.
        .layer(axum::middleware::from_fn(crate::admin::api::refuse_large_bodies))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.settings.request_timeout_secs),
        ))
        .layer(panics_answered_500(state.metrics.clone()))
        // Outermost, so that its request span covers everything and it sees every status.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            super::request::track,
        ))
        .with_state(state)
}

/// A panic in any handler (or layer inside this one) becomes a logged, counted 500 instead of
/// a dropped connection. Inside the request tracking, so the 500 is in the access log and the
/// request metrics, and the panic's log line carries the request id.
fn panics_answered_500(
    metrics: Arc<crate::ops::metrics::Metrics>,
) -> CatchPanicLayer<impl Fn(Box<dyn std::any::Any + Send + 'static>) -> Response + Clone> {
    CatchPanicLayer::custom(move |panic| super::request::panicked(&metrics, panic))
}

/// A theme's stylesheet (its own `style.css`, or the default one). A name that is not a
/// theme's (bad characters, too long, or no such theme) is a 404, decided before anything is
/// logged: the name is whatever the client put in the path.
async fn style(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    axum::extract::Path(theme): axum::extract::Path<String>,
) -> Response {
    if !templates::is_theme_name(&theme) || !state.templates.has_theme(&theme) {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.templates.stylesheet(&theme),
    )
        .into_response()
}

/// Renders the `PageError`s handlers answer with: `error.html` in the theme of the realm the
/// path names (`/realms/{realm}/…`), in the language the error or the browser asks for. The
/// handler's status and headers (cookies, `Retry-After`) stay.
async fn render_page_errors(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let realm_name = realm_in_path(request.uri().path()).map(str::to_string);
    let headers = request.headers().clone();
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<PageError>() else {
        return response;
    };
    let rt = realm_name.and_then(|name| app.realm(&name));
    let realm = rt.as_ref().map(|rt| &rt.realm);
    let lang = error
        .lang
        .clone()
        .unwrap_or_else(|| pages::lang(&app.templates, realm, None, &headers));
    let (page, body) = error.render(&app.templates, realm, &lang).into_parts();
    let (mut parts, _) = response.into_parts();
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(value) = page.headers.get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    Response::from_parts(parts, body)
}

/// The realm a path under `/realms/{realm}/` names.
fn realm_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/realms/")?
        .split('/')
        .next()
        .filter(|name| !name.is_empty())
}

/// No route: the admin API answers in its JSON error shape, everything else in plain text.
async fn not_found(uri: Uri) -> Response {
    if crate::admin::api::is_admin_path(uri.path()) {
        return crate::admin::api::no_such_endpoint(uri.path()).into_response();
    }
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

/// A route without this method (the router adds the `Allow` header).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    if crate::admin::api::is_admin_path(uri.path()) {
        return crate::admin::api::method_not_allowed(&method, uri.path()).into_response();
    }
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::ops::metrics::{Metrics, Snapshot};

    /// The server's panic layer on a router made only for this test (no production route
    /// panics on purpose): the request gets a 500 and the panic is counted.
    #[tokio::test]
    async fn a_panicking_handler_gets_a_500_and_is_counted() {
        let metrics = Metrics::new();
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let n: u64 = u64::MAX;
                    let as_i64: i64 = i64::try_from(n).expect("a client's number fits");
                    as_i64.to_string()
                }),
            )
            .route("/fine", get(|| async { "ok" }))
            .layer(panics_answered_500(metrics.clone()));
        let boom = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(boom.headers()[header::CACHE_CONTROL], "no-store");
        let fine = app
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(fine.status(), StatusCode::OK);
        let text = metrics.render(&Snapshot::default());
        assert!(text.contains("gatehouse_http_panics_total 1\n"), "{text}");
    }
}
