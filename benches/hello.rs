//! The ceiling: a bare axum hello-world on the same tokio runtime settings as Gatehouse
//! (multi-threaded, one worker per core). No endpoint of any server on this machine can beat it,
//! so `Gatehouse / ceiling` says how much of the machine an endpoint leaves on the table.
//!
//! Run by benches/run.py: `hello [ADDR]` (default 127.0.0.1:8092). Not a criterion bench
//! (`harness = false`); `cargo bench` runs it only when asked for by name.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; any other argument is the listen address.
    let addr = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "127.0.0.1:8092".to_string());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("hello listening on http://{addr}");
    axum::serve(listener, app).await.expect("server failed");
}
