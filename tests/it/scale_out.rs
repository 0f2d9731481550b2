//! Scale-out: two `gatehouse serve` processes on one PostgreSQL database, behind one public
//! URL as behind a load balancer, share everything that matters: a sign-in started on A ends
//! on B, a code from A is redeemed on B, a revocation on B is seen by A, a key rotated from
//! the command line reaches both, and one refresh token presented to both at once is
//! accepted exactly once, after which its family is revoked.

use crate::support;
use std::time::Duration;

use crate::support::browser::{self, query};
use crate::support::oauth::{self, ClientAuth, JsonResponse};
use crate::support::process::{ServerProcess, arg, eventually, free_port, gatehouse, run, text};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

struct Cluster {
    a: ServerProcess,
    b: ServerProcess,
    /// The public URL both nodes answer for (A's address).
    public: String,
    database_url: String,
    dir: TempDir,
}

impl Cluster {
    async fn start(database_url: String) -> Cluster {
        let dir = TempDir::new();
        let realms = dir.path().join("realms");
        std::fs::create_dir_all(&realms).unwrap();
        std::fs::write(realms.join("test.yaml"), REALM).unwrap();
        // Short refresh intervals so that the test does not wait long for a rotated key.
        std::fs::write(
            dir.path().join("gatehouse.yaml"),
            "key_refresh_interval_secs: 1\nrealm_refresh_interval_secs: 1\n",
        )
        .unwrap();
        let port_a = free_port();
        let public = format!("http://127.0.0.1:{port_a}");
        let node = |dir: &TempDir| {
            let mut cmd = gatehouse(&["serve", "--public-url", &public]);
            cmd.args(["--config", arg(&dir.path().join("gatehouse.yaml"))])
                .args(["--database-url", &database_url])
                .args(["--realms-dir", arg(&dir.path().join("realms"))])
                .args(["--master-key-file", arg(&dir.path().join("master.key"))]);
            cmd
        };
        let a = ServerProcess::start_on(node(&dir), dir.path().join("a.log"), port_a).await;
        let b = ServerProcess::start(node(&dir), dir.path().join("b.log")).await;
        let cluster = Cluster {
            a,
            b,
            public,
            database_url,
            dir,
        };
        let out = run(
            cluster.cli(&["user", "add", "test", USERNAME, "--password-stdin"]),
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(out.status.success(), "{}", text(&out));
        cluster
    }

    fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = gatehouse(args);
        cmd.args(["--database-url", &self.database_url])
            .args(["--realms-dir", arg(&self.dir.path().join("realms"))])
            .args(["--master-key-file", arg(&self.dir.path().join("master.key"))]);
        cmd
    }

    fn issuer(&self) -> String {
        format!("{}/realms/test", self.public)
    }

    /// `path` of the realm's OIDC endpoints on `node`.
    fn endpoint(&self, node: &ServerProcess, path: &str) -> String {
        format!("{}/realms/test/protocol/openid-connect/{path}", node.base())
    }

    /// An authorization request URL on `node`, and its state and PKCE verifier.
    fn authorize_url(&self, node: &ServerProcess) -> (String, String, String) {
        let (verifier, challenge) = oauth::pkce_pair();
        let state = unique_name("state-");
        let mut url = Url::parse(&self.endpoint(node, "auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", WEB_CLIENT)
            .append_pair("redirect_uri", WEB_REDIRECT)
            .append_pair("scope", "openid profile")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        (url.to_string(), state, verifier)
    }

    fn code_from(&self, location: &Url, state: &str) -> String {
        assert_eq!(query(location, "state").as_deref(), Some(state), "{location}");
        assert_eq!(query(location, "iss"), Some(self.issuer()), "{location}");
        query(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }

    async fn exchange(&self, node: &ServerProcess, code: &str, verifier: &str) -> JsonResponse {
        let params = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_REDIRECT),
            ("code_verifier", verifier),
        ];
        oauth::post_form(&self.endpoint(node, "token"), web(), &params).await
    }

    async fn refresh(&self, node: &ServerProcess, refresh_token: &str) -> JsonResponse {
        let params = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        oauth::post_form(&self.endpoint(node, "token"), web(), &params).await
    }

    /// Signs in on `sign_in_node` and redeems the code on `token_node`.
    async fn tokens(&self, sign_in_node: &ServerProcess, token_node: &ServerProcess) -> JsonResponse {
        let (url, state, verifier) = self.authorize_url(sign_in_node);
        let location = browser::sign_in(&browser::new_browser(), &url, USERNAME, PASSWORD).await;
        let code = self.code_from(&location, &state);
        let tokens = self.exchange(token_node, &code, &verifier).await;
        tokens.assert_ok();
        tokens
    }

    async fn userinfo(&self, node: &ServerProcess, access_token: &str) -> StatusCode {
        oauth::backchannel()
            .get(self.endpoint(node, "userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("userinfo")
            .status()
    }

    async fn kids(&self, node: &ServerProcess) -> Vec<String> {
        let body: Value = reqwest::get(self.endpoint(node, "certs"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str().map(String::from))
            .collect()
    }
}

fn web() -> ClientAuth<'static> {
    ClientAuth::Basic(WEB_CLIENT, WEB_SECRET)
}

fn token_kid(jwt: &str) -> String {
    let (header, _) = oauth::jwt_parts(jwt);
    header["kid"].as_str().expect("a kid").to_string()
}

async fn postgres_cluster() -> Option<(support::PgDatabase, Cluster)> {
    if !support::postgres_available().await {
        return None;
    }
    let (pg, url) = support::PgDatabase::create().await;
    Some((pg, Cluster::start(url).await))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_database_act_as_one_server() {
    let Some((_pg, c)) = postgres_cluster().await else {
        return;
    };
    let (a, b) = (&c.a, &c.b);

    // A sign-in on A, its code redeemed on B; B's tokens work on A.
    let tokens = c.tokens(a, b).await;
    let access = tokens.str("access_token").unwrap().to_string();
    assert_eq!(c.userinfo(a, &access).await, StatusCode::OK);

    // A sign-in started on A (the login page) is finished on B (the form posted there).
    let (url, state, verifier) = c.authorize_url(a);
    let browser = browser::new_browser();
    let (_, mut form) = browser::open_login_page(&browser, &url).await;
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    form.action = Url::parse(&form.action.as_str().replacen(&a.base(), &b.base(), 1)).unwrap();
    let done = form.submit(&browser).await;
    let location = done
        .location()
        .unwrap_or_else(|| panic!("B did not finish the sign-in: {}", done.describe()));
    let code = c.code_from(&location, &state);
    c.exchange(a, &code, &verifier).await.assert_ok();

    // A refresh on A, the new refresh token revoked on B: A's introspection says inactive.
    let refreshed = c.refresh(a, tokens.str("refresh_token").unwrap()).await;
    refreshed.assert_ok();
    let refresh = refreshed.str("refresh_token").unwrap().to_string();
    let new_access = refreshed.str("access_token").unwrap().to_string();
    oauth::post_form(&c.endpoint(b, "revoke"), web(), &[("token", &refresh)])
        .await
        .assert_ok();
    for token in [&refresh, &new_access] {
        let seen = oauth::post_form(&c.endpoint(a, "token/introspect"), web(), &[("token", token)]).await;
        seen.assert_ok();
        assert_eq!(seen.body["active"], false, "{}", seen.text);
    }
    assert_eq!(c.userinfo(a, &new_access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_presented_to_both_nodes_at_once_is_accepted_once_and_its_family_revoked() {
    let Some((_pg, c)) = postgres_cluster().await else {
        return;
    };
    let (a, b) = (&c.a, &c.b);
    for round in 0..3 {
        let tokens = c.tokens(a, a).await;
        let refresh = tokens.str("refresh_token").unwrap().to_string();
        let (on_a, on_b) = tokio::join!(c.refresh(a, &refresh), c.refresh(b, &refresh));
        let winners: Vec<&JsonResponse> = [&on_a, &on_b]
            .into_iter()
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: A {} / B {}", on_a.text, on_b.text);
        let loser = if on_a.status == StatusCode::OK { &on_b } else { &on_a };
        loser.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
        // Reuse was detected: the winner's new refresh token is revoked too.
        let next = winners[0].str("refresh_token").unwrap().to_string();
        c.refresh(a, &next)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
        c.refresh(b, &next)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_from_the_command_line_reaches_both_nodes() {
    let Some((_pg, c)) = postgres_cluster().await else {
        return;
    };
    let (a, b) = (&c.a, &c.b);
    let before = c.kids(a).await;
    assert_eq!(before, c.kids(b).await);

    let out = run(c.cli(&["keys", "rotate", "test"]), None);
    assert!(out.status.success(), "{}", text(&out));
    let new_kid = eventually(Duration::from_secs(15), "the new key in B's JWKS", || async {
        c.kids(b).await.into_iter().find(|k| !before.contains(k))
    })
    .await;
    // A signs with it once it has picked it up; B accepts those tokens.
    let access = eventually(Duration::from_secs(15), "A signing with the new key", || async {
        let tokens = c.tokens(a, a).await;
        let access = tokens.str("access_token").unwrap().to_string();
        (token_kid(&access) == new_kid).then_some(access)
    })
    .await;
    assert_eq!(c.userinfo(b, &access).await, StatusCode::OK);
    // The old key stays published until its tokens have expired.
    assert!(c.kids(b).await.iter().any(|k| before.contains(k)));
}
