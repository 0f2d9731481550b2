//! What pages need: themes and templates, message catalogs, cookies, and the security
//! headers of HTML responses. It knows no protocol and no handler; the router (in `app`)
//! puts the areas' handlers together.

pub mod agent;
pub mod cookies;
pub mod http;
pub mod i18n;
pub mod pages;
pub mod templates;

use axum::http::HeaderValue;

/// The most a request body may hold.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Pages may not be framed (clickjacking) and load nothing from elsewhere. Forms post only to the server itself (`form-action 'self'`); pages whose form leads on to a
/// client (sign-in, logout confirmation, form_post) add that client's origin with
/// [`csp_with_form_targets`].
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The one script of the console: the "Copy" button beside a secret shown once. The page works
/// without it (the secret is in a read-only field and the button stays hidden); the page's CSP
/// allows exactly this text, by its hash ([`csp_allowing_script`]).
pub const COPY_SCRIPT: &str = concat!(
    "(function(){var b=document.getElementById(\"copy-secret\"),f=document.getElementById(\"token-secret\");",
    "if(!b||!f)return;b.hidden=false;b.addEventListener(\"click\",function(){f.focus();f.select();",
    "var done=function(){b.textContent=b.getAttribute(\"data-done\")};",
    "if(navigator.clipboard){navigator.clipboard.writeText(f.value).then(done)}",
    "else if(document.execCommand(\"copy\")){done()}})})();"
);

/// The script of the passkey pages: it turns the ceremony options in the form's
/// `data-webauthn` attribute into a browser call (`navigator.credentials.get`, with autofill
/// when the browser has it, or `create`), and posts the answer in the form's `credential` field.
/// Without it the pages still offer the password (and say that passkeys need JavaScript).
pub const WEBAUTHN_SCRIPT: &str = concat!(
    "(function(){var f=document.querySelector(\"form[data-webauthn]\");",
    "if(!f||!window.PublicKeyCredential||!navigator.credentials)return;",
    "var o=JSON.parse(f.getAttribute(\"data-webauthn\")).publicKey,m=f.getAttribute(\"data-webauthn-mode\"),",
    "b=document.getElementById(\"passkey-button\"),out=f.querySelector(\"input[name=credential]\"),",
    "err=document.getElementById(\"webauthn-error\"),ac=null;",
    "function dec(s){s=s.replace(/-/g,\"+\").replace(/_/g,\"/\");while(s.length%4)s+=\"=\";",
    "var r=atob(s),a=new Uint8Array(r.length);for(var i=0;i<r.length;i++)a[i]=r.charCodeAt(i);return a.buffer}",
    "function enc(x){var a=new Uint8Array(x),s=\"\";for(var i=0;i<a.length;i++)s+=String.fromCharCode(a[i]);",
    "return btoa(s).replace(/\\+/g,\"-\").replace(/\\//g,\"_\").replace(/=+$/,\"\")}",
    "function send(c){var r=c.response,j={id:c.id,rawId:enc(c.rawId),type:c.type,extensions:{},",
    "response:{clientDataJSON:enc(r.clientDataJSON)}};",
    "if(r.attestationObject){j.response.attestationObject=enc(r.attestationObject);",
    "if(r.getTransports)j.response.transports=r.getTransports()}",
    "else{j.response.authenticatorData=enc(r.authenticatorData);j.response.signature=enc(r.signature);",
    "j.response.userHandle=r.userHandle?enc(r.userHandle):null}",
    "out.value=JSON.stringify(j);f.submit()}",
    "function fail(e){if(e&&e.name===\"AbortError\")return;if(err)err.hidden=false}",
    "o.challenge=dec(o.challenge);",
    "(o.allowCredentials||[]).forEach(function(c){c.id=dec(c.id)});",
    "(o.excludeCredentials||[]).forEach(function(c){c.id=dec(c.id)});",
    "if(o.user)o.user.id=dec(o.user.id);",
    "if(b){b.hidden=false;b.addEventListener(\"click\",function(){if(ac)ac.abort();",
    "if(m===\"create\")navigator.credentials.create({publicKey:o}).then(send,fail);",
    "else navigator.credentials.get({publicKey:o}).then(send,fail)})}",
    "if(m===\"get\"&&f.querySelector(\"input[autocomplete~=webauthn]\")&&PublicKeyCredential.isConditionalMediationAvailable)",
    "PublicKeyCredential.isConditionalMediationAvailable().then(function(ok){if(!ok)return;ac=new AbortController();",
    "navigator.credentials.get({publicKey:o,mediation:\"conditional\",signal:ac.signal}).then(send,fail)})})();"
);

/// [`CSP`] that also runs `script`, an inline script of exactly that text.
pub fn csp_allowing_script(script: &str) -> HeaderValue {
    // CSP hashes are standard base64 with padding (43 characters and one `=` for SHA-256).
    let hash = crate::crypto::sha256_b64(script.as_bytes())
        .replace('-', "+")
        .replace('_', "/")
        + "=";
    let value = CSP.replacen(
        "default-src 'none';",
        &format!("default-src 'none'; script-src 'sha256-{hash}';"),
        1,
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(CSP))
}

/// The CSP source that lets a form lead to `uri`: its origin (`https://app.example:8443`), or
/// `scheme:` for a native app's private-use scheme. `None` when it cannot be written safely.
pub fn form_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let safe = source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b));
    safe.then_some(source)
}

/// `policy` with `form-action 'self'` widened to the origins of `targets` (the redirect URIs
/// a form on the page, or the redirect that answers it, sends the browser to: browsers apply
/// `form-action` to those redirects too).
/// `policy` without `form-action`, for the sign-in's pages: browsers hold every redirect after
/// a form's submission to it, and a sign-in's answer may lead through several origins (the app's
/// redirect URI, and from there on when the app is itself a broker whose upstream this realm is).
pub fn csp_for_sign_in(policy: &str) -> HeaderValue {
    let kept: Vec<&str> = policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.starts_with("form-action"))
        .collect();
    HeaderValue::from_str(&kept.join("; ")).unwrap_or_else(|_| HeaderValue::from_static(CSP))
}

pub fn csp_with_form_targets(policy: &str, targets: &[&str]) -> HeaderValue {
    let mut sources = vec!["'self'".to_string()];
    for source in targets.iter().filter_map(|t| form_source(t)) {
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let base: Vec<&str> = policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.starts_with("form-action"))
        .collect();
    let value = format!("{}; form-action {}", base.join("; "), sources.join(" "));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(CSP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_allows_self_and_the_targets_origins() {
        assert!(CSP.contains("form-action 'self'"));
        let csp = csp_with_form_targets(
            CSP,
            &[
                "https://app.example:8443/cb?x=1",
                "com.example.app:/cb",
                "http://127.0.0.1:9000/callback",
            ],
        );
        let csp = csp.to_str().unwrap();
        assert!(
            csp.ends_with("; form-action 'self' https://app.example:8443 com.example.app: http://127.0.0.1:9000"),
            "{csp}"
        );
        assert_eq!(csp.matches("form-action").count(), 1, "{csp}");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert_eq!(form_source("not a url"), None);
    }

    #[test]
    fn a_script_is_allowed_by_its_standard_base64_hash() {
        // sha256("alert(1)") in standard base64, as a browser computes it.
        let csp = csp_allowing_script("alert(1)");
        let csp = csp.to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=';"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }
}
