//! The raw signing rate of each algorithm on this machine: the physical limit of a token
//! endpoint that signs one JWT per request. Uses Gatehouse's own `SigningKey::sign_jwt` with
//! claims shaped like an access token, on one thread and then on every core at once (the
//! token endpoint uses every core too).
//!
//! Run by benches/run.py: `signing_rate [SECONDS]` (default 2) prints one JSON object:
//! `{"cores": N, "RS256": {"one_core": ops/s, "all_cores": ops/s}, …}`.

use std::time::{Duration, Instant};

use gatehouse::crypto::{Algorithm, SigningKey, new_id};
use serde_json::json;

fn claims() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "iss": "http://127.0.0.1:8090/realms/bench",
        "sub": "bench-service",
        "aud": "bench-service",
        "client_id": "bench-service",
        "iat": now,
        "exp": now + 300,
        "jti": new_id(),
        "scope": "openid",
    })
}

/// Signs for `time` on the calling thread; returns signatures per second.
fn rate(key: &SigningKey, time: Duration) -> f64 {
    let claims = claims();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        for _ in 0..16 {
            key.sign_jwt("at+jwt", &claims).expect("signing failed");
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    let time = Duration::from_secs_f64(seconds);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut out = serde_json::Map::new();
    out.insert("cores".into(), json!(cores));
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (key, _) = SigningKey::generate("bench".into(), alg).expect("key generation failed");
        rate(&key, Duration::from_millis(200)); // warm-up
        let one = rate(&key, time);
        let all: f64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..cores).map(|_| s.spawn(|| rate(&key, time))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("signing thread panicked"))
                .sum()
        });
        out.insert(
            alg.as_str().into(),
            json!({ "one_core": one.round(), "all_cores": all.round() }),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}
