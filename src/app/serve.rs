//! The HTTP/1.1 accept loop. Gatehouse runs its own rather than `axum::serve` for one reason:
//! to bound how long a client may take to send a request head. axum's loop sets no timer, so
//! a client that trickles header bytes (slowloris) holds a connection and its task forever;
//! here hyper closes such a connection after `header_timeout`. Bodies and handlers are bounded
//! by the router's own body-size and request-timeout layers.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its in-flight request (idle keep-alive connections close at once), and
/// returns when all are done. Handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, app: Router, header_timeout: Duration, shutdown: impl Future<Output = ()>) {
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: a busy loop would not help.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Collect the tasks of connections that have ended, so the set does not grow.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let service = tower::ServiceExt::map_request(app.clone(), move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            trim_admin_trailing_slash(&mut req);
            req
        });
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = closing_started(&mut closing) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // Timed-out heads, resets and malformed requests: the client's problem.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// Completes once the server starts closing.
async fn closing_started(closing: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once the server is closing.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Admin API paths answer with or without a trailing slash (`/admin/realms/r/users/`), as
/// Keycloak's do and its admin clients send them. Before routing, so every route gets it.
fn trim_admin_trailing_slash<B>(req: &mut axum::http::Request<B>) {
    let path = req.uri().path();
    if !(path.starts_with("/admin/") && path.len() > "/admin/".len() && path.ends_with('/')) {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let rebuilt = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    if let Ok(uri) = rebuilt.parse() {
        *req.uri_mut() = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::trim_admin_trailing_slash;

    fn trimmed(uri: &str) -> String {
        let mut req = axum::http::Request::builder().uri(uri).body(()).expect("a request");
        trim_admin_trailing_slash(&mut req);
        req.uri().to_string()
    }

    #[test]
    fn admin_collections_answer_with_a_trailing_slash_and_nothing_else_changes() {
        assert_eq!(trimmed("/admin/realms/r/users/"), "/admin/realms/r/users");
        assert_eq!(
            trimmed("/admin/realms/r/users/?first=0&max=5"),
            "/admin/realms/r/users?first=0&max=5"
        );
        assert_eq!(trimmed("/admin/realms/r/users"), "/admin/realms/r/users");
        assert_eq!(trimmed("/admin/"), "/admin/");
        assert_eq!(trimmed("/realms/r/account/"), "/realms/r/account/");
    }
}
