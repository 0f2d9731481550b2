//! The relying party: the real `openidconnect` crate (v4, without its own reqwest) driven over
//! reqwest 0.13 through a small `AsyncHttpClient` adapter.

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AsyncHttpClient, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpClientError, HttpRequest, HttpResponse, IntrospectionUrl, IssuerUrl, ProviderMetadata, RedirectUrl,
    RevocationUrl,
};
use serde::{Deserialize, Serialize};

/// `openidconnect`'s HTTP client interface over a reqwest 0.13 client.
#[derive(Clone)]
pub struct RpHttp(pub reqwest::Client);

impl RpHttp {
    /// Redirects are not followed (as `openidconnect` recommends against SSRF).
    pub fn new() -> RpHttp {
        RpHttp(super::oauth::backchannel())
    }
}

impl<'c> AsyncHttpClient<'c> for RpHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut builder = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers);
            if !body.is_empty() {
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(Box::new)?;
            let mut out = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?.to_vec();
            out.body(body).map_err(HttpClientError::Http)
        })
    }
}

/// Discovery fields beyond OIDC Core that the relying party needs (RP-initiated logout,
/// RFC 7009 revocation, RFC 7662 introspection, RFC 7636 PKCE). Required here, so that
/// discovery fails if the provider leaves one out.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExtraMetadata {
    pub end_session_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub code_challenge_methods_supported: Vec<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A `CoreClient` from discovery with redirect, introspection and revocation URLs set.
pub type RpClient = CoreClient<
    EndpointSet,      // authorization
    EndpointNotSet,   // device authorization
    EndpointSet,      // introspection
    EndpointSet,      // revocation
    EndpointMaybeSet, // token
    EndpointMaybeSet, // userinfo
>;

/// Runs OIDC discovery (document and JWKS) against `issuer`.
pub async fn discover(http: &RpHttp, issuer: &str) -> Metadata {
    let issuer = IssuerUrl::new(issuer.to_string()).expect("issuer URL");
    Metadata::discover_async(issuer, http)
        .await
        .unwrap_or_else(|e| panic!("discovery failed: {}", chain(&e)))
}

/// A client for `client_id` built from discovery.
pub fn client(metadata: &Metadata, client_id: &str, secret: Option<&str>, redirect_uri: &str) -> RpClient {
    let extra = metadata.additional_metadata().clone();
    CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).expect("redirect URI"))
    .set_introspection_url(IntrospectionUrl::new(extra.introspection_endpoint).expect("introspection URL"))
    .set_revocation_url(RevocationUrl::new(extra.revocation_endpoint).expect("revocation URL"))
}

/// An error with its causes, for assertion messages.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
