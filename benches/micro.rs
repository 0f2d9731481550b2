//! Criterion micro-benchmarks of the hot paths, through the library's public API:
//! token signing (RS256, ES256, EdDSA), the TOTP check, one flow step evaluation (the browser
//! flow deciding to show the login form), and the SSO session lookup on SQLite.
//!
//! `cargo bench --bench micro` (add `-- --quick` for a short run). Figures go in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::crypto::{Algorithm, SigningKey, new_id, random_token, sha256_hex, totp};
use gatehouse::flow::{FlowContext, FlowState, Outcome, SignInRequest};
use gatehouse::realm::OtpPolicy;
use gatehouse::store::{NewAuthCode, NewSsoSession, NewUser, Store};
use gatehouse::tooling::sandbox::Sandbox;
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn signing(c: &mut Criterion) {
    let claims = json!({
        "iss": "http://127.0.0.1:8090/realms/bench", "sub": "bench-service", "aud": "bench-service",
        "client_id": "bench-service", "iat": 1_800_000_000u64, "exp": 1_800_000_300u64,
        "jti": new_id(), "scope": "openid",
    });
    let mut group = c.benchmark_group("sign_access_token");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (key, _) = SigningKey::generate("bench".into(), alg).expect("key");
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| key.sign_jwt("at+jwt", black_box(&claims)).expect("sign"))
        });
    }
    group.finish();
}

fn totp_check(c: &mut Criterion) {
    let policy = OtpPolicy::default();
    let secret = totp::new_secret(&policy);
    let now = 1_800_000_000u64;
    let code = totp::code_at(&policy, &secret, now).expect("code");
    c.bench_function("totp_check", |b| {
        b.iter(|| totp::matching_step(&policy, &secret, black_box(&code), now).expect("matches"))
    });
}

fn flow_step(c: &mut Criterion) {
    let rt = runtime();
    let flow_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/browser.yaml");
    let sandbox = rt
        .block_on(Sandbox::new(&flow_file, "browser", "bench-app", &[]))
        .expect("sandbox");
    let flow = sandbox.app.flows.get("browser").expect("browser flow");
    let request = SignInRequest {
        client_id: "bench-app".into(),
        ..SignInRequest::default()
    };
    // A browser without a session: the engine walks the tree and stops at the login form.
    c.bench_function("flow_step_to_login_form", |b| {
        b.to_async(&rt).iter(|| async {
            let mut state = FlowState {
                flow: "browser".into(),
                ..Default::default()
            };
            let mut ctx = FlowContext {
                services: sandbox.app.flow_services(),
                realm: &sandbox.realm.realm,
                request: &request,
                flow: &mut state,
                sso_session: None,
                ip: None,
                user_agent: None,
                step_config: serde_json::Value::Null,
                siblings: vec![],
                credentials: None,
                auth_session_id: None,
                lang: None,
                device_cookie: None,
            };
            let outcome = gatehouse::flow::run(&flow, &mut ctx, None).await.expect("engine");
            assert!(matches!(outcome, Outcome::Challenge(_)));
        })
    });
}

fn session_lookup(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", new_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let (store, hashes) = rt.block_on(async {
        let store = Store::open(&url).await.expect("store");
        let user = store
            .create_user(NewUser {
                realm: "bench".into(),
                username: "alice".into(),
                ..Default::default()
            })
            .await
            .expect("user");
        // 1,000 live sessions, so the lookup goes through the index, not a one-row table.
        let mut hashes = Vec::new();
        for _ in 0..1000 {
            let (sid, hash) = (new_id(), sha256_hex(random_token().as_bytes()));
            let session = NewSsoSession {
                id: sid.clone(),
                token_hash: hash.clone(),
                realm: "bench".into(),
                user_id: user.id.clone(),
                auth_time: 1,
                amr: vec!["pwd".into()],
                acr: Some("1".into()),
                max_lifetime_secs: 36_000,
                ip: None,
                user_agent: None,
            };
            let code = NewAuthCode {
                code_hash: sha256_hex(random_token().as_bytes()),
                realm: "bench".into(),
                client_id: "bench-app".into(),
                user_id: user.id.clone(),
                session_id: sid,
                redirect_uri: "http://127.0.0.1:9/callback".into(),
                data: "{}".into(),
                ttl_secs: 60,
            };
            store.complete_sign_in(Some(session), code).await.expect("session");
            hashes.push(hash);
        }
        (store, hashes)
    });
    let mut i = 0usize;
    c.bench_function("sso_session_lookup_sqlite", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % hashes.len();
            let (store, hash) = (&store, &hashes[i]);
            async move {
                let found = store.active_sso_session("bench", hash, 36_000).await.expect("lookup");
                assert!(found.is_some());
            }
        })
    });
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, signing, totp_check, flow_step, session_lookup);
criterion_main!(benches);
