//! The relying party against software authenticators (`webauthn-authenticator-rs`): the tests
//! play the browser, carrying our options (JSON) to an authenticator and its answers back.
//!
//! Neither `SoftPasskey` nor `SoftToken` keeps a discoverable credential: both refuse a request
//! for a resident key and sign only for a credential the options name, and neither returns a
//! user handle. The browser of these tests makes up for it: it drops the resident-key request,
//! names the registered credential in a discoverable sign-in, and adds the user handle a
//! discoverable authenticator would return (the handle is not signed, so this changes nothing
//! the relying party checks). Both authenticators count signatures: 0 at registration, then
//! 1, 2, ... (one counter per authenticator). `SoftToken` states an AAGUID
//! ([`softtoken::AAGUID`]), `SoftPasskey` the nil one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::{self, SoftToken};
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, Uuid};

use super::*;

const PUBLIC_URL: &str = "https://id.example.com";
const EVIL: &str = "https://evil.example.com";
const TIMEOUT_MS: u32 = 60_000;

fn realm() -> Realm {
    crate::realm::load_str("t.yaml", "realm: t\nwebauthn: { rp_name: Test }\n", &|_| None).unwrap()
}

fn rp() -> RelyingParty {
    RelyingParty::new(PUBLIC_URL, &realm()).unwrap()
}

/// A user as Gatehouse makes them: a random id, its handle.
struct Person {
    id: String,
    handle: Uuid,
}

fn person() -> Person {
    let id = crate::crypto::new_id();
    let handle = user_handle(&id).expect("a new id is a handle");
    Person { id, handle }
}

fn who(p: &Person) -> User<'_> {
    User {
        handle: p.handle,
        name: "alice",
        display_name: "Alice Liddell",
    }
}

fn url(origin: &str) -> Url {
    Url::parse(origin).unwrap()
}

/// The creation options an authenticator gets: ours, less the resident-key request the
/// software authenticators refuse.
fn creation(options: &str) -> CreationChallengeResponse {
    let mut options: Value = serde_json::from_str(options).expect("the options are JSON");
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["requireResidentKey"] = Value::Bool(false);
        selection["residentKey"] = Value::from("discouraged");
    }
    serde_json::from_value(options).expect("the options are WebAuthn creation options")
}

/// The request options an authenticator gets: ours, naming only `cred` (the credential the
/// user picks; none is named in a discoverable sign-in).
fn request(options: &str, cred: &str) -> RequestChallengeResponse {
    let mut options: Value = serde_json::from_str(options).expect("the options are JSON");
    options["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": cred }]);
    serde_json::from_value(options).expect("the options are WebAuthn request options")
}

/// A browser at our origin registers a credential on `key`; its answer (JSON).
fn create(key: &mut impl AuthenticatorBackend, options: &str) -> String {
    let answer = key
        .do_registration(url(PUBLIC_URL), creation(options))
        .expect("the authenticator registers");
    serde_json::to_string(&answer).unwrap()
}

/// A client that says it is at `origin` (whatever the RP ID) registers a credential on `key`.
fn create_at(key: &mut impl AuthenticatorBackend, origin: &str, options: &str) -> String {
    let answer = key
        .perform_register(url(origin), creation(options).public_key, TIMEOUT_MS)
        .expect("the authenticator registers");
    serde_json::to_string(&answer).unwrap()
}

/// A browser at our origin signs in with credential `cred` of `key`, returning `handle` as a
/// discoverable authenticator does.
fn get(key: &mut impl AuthenticatorBackend, options: &str, cred: &str, handle: Option<Uuid>) -> String {
    let answer = key
        .do_authentication(url(PUBLIC_URL), request(options, cred))
        .expect("the authenticator signs");
    with_handle(serde_json::to_value(&answer).unwrap(), handle)
}

/// The same from a client that says it is at `origin` (whatever the RP ID).
fn get_at(
    key: &mut impl AuthenticatorBackend,
    origin: &str,
    options: &str,
    cred: &str,
    handle: Option<Uuid>,
) -> String {
    let answer = key
        .perform_auth(url(origin), request(options, cred).public_key, TIMEOUT_MS)
        .expect("the authenticator signs");
    with_handle(serde_json::to_value(&answer).unwrap(), handle)
}

fn with_handle(mut answer: Value, handle: Option<Uuid>) -> String {
    if let Some(handle) = handle {
        answer["response"]["userHandle"] = Value::from(URL_SAFE_NO_PAD.encode(handle.as_bytes()));
    }
    answer.to_string()
}

/// The credential id (base64url) of a registration answer.
fn cred_of(answer: &str) -> String {
    let answer: Value = serde_json::from_str(answer).unwrap();
    answer["id"].as_str().expect("the answer has an id").to_string()
}

/// The signature counter a stored credential keeps.
fn counter(key: &StoredKey) -> u64 {
    key.key["cred"]["counter"]
        .as_u64()
        .expect("a stored credential keeps its counter")
}

/// A credential registered on `key` with `rp`: its id and what is stored.
fn register(
    rp: &RelyingParty,
    kind: &str,
    key: &mut impl AuthenticatorBackend,
    person: &Person,
) -> (String, StoredKey) {
    let (options, state) = rp.start_registration(kind, &who(person), &[]).unwrap();
    let answer = create(key, &options);
    let new = rp.finish_registration(kind, &answer, &state, &[]).unwrap();
    (cred_of(&answer), stored(&new.data).expect("what is stored parses"))
}

/// A whole passkey sign-in; the stored credential after it when it succeeds.
fn sign_in(
    rp: &RelyingParty,
    key: &mut impl AuthenticatorBackend,
    cred: &str,
    person: &Person,
    stored_key: &StoredKey,
) -> Result<SignedIn, PasskeyError> {
    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let answer = get(key, &options, cred, Some(person.handle));
    rp.finish_passkey_sign_in(&answer, &state, vec![("row".into(), stored_key.clone())])
}

#[test]
fn passkey_options_ask_for_a_discoverable_verified_credential_of_our_rp() {
    let rp = rp();
    let alice = person();
    let (options, _) = rp.start_registration(PASSKEY, &who(&alice), &[]).unwrap();
    let options: Value = serde_json::from_str(&options).unwrap();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "id.example.com");
    assert_eq!(public_key["rp"]["name"], "Test");
    assert_eq!(
        public_key["user"]["id"],
        URL_SAFE_NO_PAD.encode(alice.handle.as_bytes())
    );
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["user"]["displayName"], "Alice Liddell");
    let selection = &public_key["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");

    let (options, _) = rp.start_registration(SECURITY_KEY, &who(&alice), &[]).unwrap();
    let options: Value = serde_json::from_str(&options).unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_ne!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], false);
}

#[test]
fn registering_again_excludes_the_keys_the_user_has() {
    let rp = rp();
    let alice = person();
    for kind in [PASSKEY, SECURITY_KEY] {
        let (mut token, _) = SoftToken::new(true).unwrap();
        let (cred, stored_key) = register(&rp, kind, &mut token, &alice);
        let (options, _) = rp.start_registration(kind, &who(&alice), &[stored_key]).unwrap();
        let options: Value = serde_json::from_str(&options).unwrap();
        let excluded: Vec<_> = options["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap_or_else(|| panic!("{kind}: no excludeCredentials in {options}"))
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(excluded, [cred], "{kind}");
    }
}

#[test]
fn a_passkey_registers_then_signs_in_on_its_own() {
    let rp = rp();
    let alice = person();
    let mut key = SoftPasskey::new(true);
    let (options, state) = rp.start_registration(PASSKEY, &who(&alice), &[]).unwrap();
    let answer = create(&mut key, &options);
    let cred = cred_of(&answer);
    let new = rp.finish_registration(PASSKEY, &answer, &state, &[]).unwrap();
    assert_eq!(new.aaguid, Uuid::nil().hyphenated().to_string());
    let registered = stored(&new.data).unwrap();
    assert_eq!(registered.aaguid, new.aaguid);
    assert_eq!(counter(&registered), 0);
    // Its id, as the browser sent it, is what a second registration of it is looked up by.
    assert_eq!(new.cred_id, cred);
    assert_eq!(stored_cred_id(&new.data).as_deref(), Some(cred.as_str()));
    assert!(
        new.data.contains(&cred),
        "the stored form holds the id as text: {}",
        new.data
    );

    // Another passkey of hers, on another authenticator.
    let mut other = SoftPasskey::new(true);
    let (_, other_stored) = register(&rp, PASSKEY, &mut other, &alice);

    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let request: Value = serde_json::from_str(&options).unwrap();
    assert_eq!(request["publicKey"]["rpId"], "id.example.com");
    assert_eq!(request["publicKey"]["userVerification"], "required");
    let answer = get(&mut key, &options, &cred, Some(alice.handle));
    let handle = rp.identify(&answer).unwrap();
    assert_eq!(handle, alice.handle);
    assert!(user_ids_of(handle).contains(&alice.id));

    let keys = vec![
        ("row-other".to_string(), other_stored.clone()),
        ("row-1".to_string(), registered.clone()),
    ];
    let done = rp.finish_passkey_sign_in(&answer, &state, keys).unwrap();
    assert_eq!(done.handle, alice.handle);
    assert_eq!(done.credential_id, "row-1");
    // The authenticator counted 1 > 0: the stored passkey is to be updated.
    let updated = stored(done.updated.as_deref().expect("the counter moved")).unwrap();
    assert_eq!(counter(&updated), 1);
    assert_eq!(updated.aaguid, registered.aaguid);
    assert_eq!(updated.key["cred"]["cred_id"], registered.key["cred"]["cred_id"]);

    // The next sign-in against what was stored moves it on again.
    let done = sign_in(&rp, &mut key, &cred, &alice, &updated).unwrap();
    assert_eq!(counter(&stored(&done.updated.unwrap()).unwrap()), 2);

    // Her other passkey signs in as her too.
    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let other_cred = other_stored.key["cred"]["cred_id"].as_str().unwrap().to_string();
    let answer = get(&mut other, &options, &other_cred, Some(alice.handle));
    let keys = vec![("row-1".to_string(), updated), ("row-other".to_string(), other_stored)];
    assert_eq!(
        rp.finish_passkey_sign_in(&answer, &state, keys).unwrap().credential_id,
        "row-other"
    );
}

#[test]
fn a_passkey_not_among_the_users_keys_is_refused() {
    let rp = rp();
    let (alice, mallory) = (person(), person());
    let mut alices = SoftPasskey::new(true);
    let (_, alice_key) = register(&rp, PASSKEY, &mut alices, &alice);
    let mut mallorys = SoftPasskey::new(true);
    let (cred, _) = register(&rp, PASSKEY, &mut mallorys, &mallory);

    // Mallory's authenticator claims to be Alice's: the handle is not signed, so it names her,
    // but her keys do not include it.
    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let answer = get(&mut mallorys, &options, &cred, Some(alice.handle));
    assert_eq!(rp.identify(&answer).unwrap(), alice.handle);
    let result = rp.finish_passkey_sign_in(&answer, &state, vec![("a".into(), alice_key)]);
    assert!(matches!(result, Err(PasskeyError::Refused(_))), "{result:?}");

    // No user handle at all: nobody to check it against.
    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let answer = get(&mut mallorys, &options, &cred, None);
    assert!(matches!(rp.identify(&answer), Err(PasskeyError::Refused(_))));
    assert!(matches!(
        rp.finish_passkey_sign_in(&answer, &state, vec![]),
        Err(PasskeyError::Refused(_))
    ));
}

#[test]
fn a_replayed_assertion_is_refused() {
    let rp = rp();
    let alice = person();
    let mut key = SoftPasskey::new(true);
    let (cred, registered) = register(&rp, PASSKEY, &mut key, &alice);

    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let answer = get(&mut key, &options, &cred, Some(alice.handle));
    let done = rp
        .finish_passkey_sign_in(&answer, &state, vec![("row".into(), registered)])
        .unwrap();
    let updated = stored(&done.updated.unwrap()).unwrap();

    // To a fresh ceremony: the challenge differs.
    let (_, fresh) = rp.start_passkey_sign_in().unwrap();
    let result = rp.finish_passkey_sign_in(&answer, &fresh, vec![("row".into(), updated.clone())]);
    assert!(matches!(result, Err(PasskeyError::Refused(_))), "{result:?}");

    // To the same ceremony again, against what the first sign-in stored: the counter did not
    // move on.
    let result = rp.finish_passkey_sign_in(&answer, &state, vec![("row".into(), updated.clone())]);
    assert!(matches!(result, Err(PasskeyError::PossibleClone)), "{result:?}");

    // A security key's answer, likewise.
    let (mut token, _) = SoftToken::new(false).unwrap();
    let (cred, registered) = register(&rp, SECURITY_KEY, &mut token, &alice);
    let (options, state) = rp.start_key_check(std::slice::from_ref(&registered)).unwrap();
    let answer = get(&mut token, &options, &cred, None);
    rp.finish_key_check(&answer, &state, vec![("sk".into(), registered.clone())])
        .unwrap();
    let (_, fresh) = rp.start_key_check(std::slice::from_ref(&registered)).unwrap();
    let result = rp.finish_key_check(&answer, &fresh, vec![("sk".into(), registered)]);
    assert!(matches!(result, Err(PasskeyError::Refused(_))), "{result:?}");
}

#[test]
fn a_registration_for_another_origin_is_refused() {
    let rp = rp();
    let alice = person();
    for (kind, origin) in [
        (PASSKEY, EVIL),
        (SECURITY_KEY, EVIL),
        (PASSKEY, "https://login.id.example.com"),
        (PASSKEY, "http://id.example.com"),
        (PASSKEY, "https://id.example.com:8443"),
    ] {
        let mut key = SoftPasskey::new(true);
        let (options, state) = rp.start_registration(kind, &who(&alice), &[]).unwrap();
        let answer = create_at(&mut key, origin, &options);
        let result = rp.finish_registration(kind, &answer, &state, &[]);
        assert!(
            matches!(result, Err(PasskeyError::Refused(_))),
            "{kind} at {origin}: {:?}",
            result.map(|k| k.data)
        );
        // The same from our origin would have done, by either path.
        let answer = create_at(&mut key, PUBLIC_URL, &options);
        assert!(rp.finish_registration(kind, &answer, &state, &[]).is_ok(), "{kind}");
        let answer = create(&mut key, &options);
        assert!(rp.finish_registration(kind, &answer, &state, &[]).is_ok(), "{kind}");
    }
}

#[test]
fn a_sign_in_for_another_origin_is_refused() {
    let rp = rp();
    let alice = person();
    let mut key = SoftPasskey::new(true);
    let (cred, registered) = register(&rp, PASSKEY, &mut key, &alice);
    for origin in [EVIL, "https://login.id.example.com", "http://id.example.com"] {
        let (options, state) = rp.start_passkey_sign_in().unwrap();
        let answer = get_at(&mut key, origin, &options, &cred, Some(alice.handle));
        let result = rp.finish_passkey_sign_in(&answer, &state, vec![("row".into(), registered.clone())]);
        assert!(matches!(result, Err(PasskeyError::Refused(_))), "{origin}: {result:?}");
    }
    // By the same path from our origin: signed in (the counter moved on meanwhile).
    let (options, state) = rp.start_passkey_sign_in().unwrap();
    let answer = get_at(&mut key, PUBLIC_URL, &options, &cred, Some(alice.handle));
    assert!(
        rp.finish_passkey_sign_in(&answer, &state, vec![("row".into(), registered)])
            .is_ok()
    );

    let (mut token, _) = SoftToken::new(false).unwrap();
    let (cred, registered) = register(&rp, SECURITY_KEY, &mut token, &alice);
    let (options, state) = rp.start_key_check(std::slice::from_ref(&registered)).unwrap();
    let answer = get_at(&mut token, EVIL, &options, &cred, None);
    let result = rp.finish_key_check(&answer, &state, vec![("sk".into(), registered.clone())]);
    assert!(matches!(result, Err(PasskeyError::Refused(_))), "{result:?}");
    let answer = get_at(&mut token, PUBLIC_URL, &options, &cred, None);
    assert!(
        rp.finish_key_check(&answer, &state, vec![("sk".into(), registered)])
            .is_ok()
    );
}

#[test]
fn a_cloned_authenticator_is_told_apart_by_its_counter() {
    let rp = rp();
    let alice = person();
    let (mut token, _) = SoftToken::new(true).unwrap();
    let (cred, registered) = register(&rp, PASSKEY, &mut token, &alice);
    // A copy of the authenticator, private keys and counter (0) included.
    let mut copy = SoftToken::from_cbor(&token.to_cbor().unwrap()).unwrap();

    let first = sign_in(&rp, &mut token, &cred, &alice, &registered).unwrap();
    let first = stored(&first.updated.unwrap()).unwrap();
    let second = sign_in(&rp, &mut token, &cred, &alice, &first).unwrap();
    let second = stored(&second.updated.unwrap()).unwrap();
    assert_eq!(counter(&second), 2);

    // The copy signs with counter 1, then 2: neither is past the stored 2.
    let result = sign_in(&rp, &mut copy, &cred, &alice, &second);
    assert!(matches!(result, Err(PasskeyError::PossibleClone)), "{result:?}");
    let result = sign_in(&rp, &mut copy, &cred, &alice, &second);
    assert!(matches!(result, Err(PasskeyError::PossibleClone)), "{result:?}");
    // It counts 3 now, past what was stored: no longer told apart.
    assert!(sign_in(&rp, &mut copy, &cred, &alice, &second).is_ok());

    // An older answer held back and submitted late, likewise.
    let (options, held_state) = rp.start_passkey_sign_in().unwrap();
    let held = get(&mut token, &options, &cred, Some(alice.handle));
    let later = sign_in(&rp, &mut token, &cred, &alice, &second).unwrap();
    let later = stored(&later.updated.unwrap()).unwrap();
    let result = rp.finish_passkey_sign_in(&held, &held_state, vec![("row".into(), later)]);
    assert!(matches!(result, Err(PasskeyError::PossibleClone)), "{result:?}");
}

#[test]
fn a_security_key_registers_then_is_checked() {
    let rp = rp();
    let alice = person();
    let (mut token, _) = SoftToken::new(false).unwrap();
    let (options, state) = rp.start_registration(SECURITY_KEY, &who(&alice), &[]).unwrap();
    let answer = create(&mut token, &options);
    let cred = cred_of(&answer);
    let new = rp.finish_registration(SECURITY_KEY, &answer, &state, &[]).unwrap();
    assert_eq!(new.aaguid, softtoken::AAGUID.hyphenated().to_string());
    let registered = stored(&new.data).unwrap();
    assert_eq!(registered.aaguid, new.aaguid);
    assert_eq!(counter(&registered), 0);
    // A second key of hers (SoftPasskey registers as a security key too).
    let mut spare = SoftPasskey::new(false);
    let (_, spare_key) = register(&rp, SECURITY_KEY, &mut spare, &alice);

    let keys = [spare_key.clone(), registered.clone()];
    let (options, state) = rp.start_key_check(&keys).unwrap();
    let request: Value = serde_json::from_str(&options).unwrap();
    let allowed: Vec<_> = request["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(allowed.contains(&cred), "{allowed:?}");
    assert_eq!(allowed.len(), 2);

    let answer = get(&mut token, &options, &cred, None);
    let rows = vec![
        ("sk-spare".to_string(), spare_key.clone()),
        ("sk-1".to_string(), registered.clone()),
    ];
    let done = rp.finish_key_check(&answer, &state, rows).unwrap();
    assert_eq!(done.handle, Uuid::nil());
    assert_eq!(done.credential_id, "sk-1");
    let updated = stored(done.updated.as_deref().expect("the counter moved")).unwrap();
    assert_eq!(counter(&updated), 1);
    assert_eq!(updated.aaguid, registered.aaguid);

    // A key the user does not have (here: not among the rows given) is refused.
    let (options, state) = rp.start_key_check(&keys).unwrap();
    let answer = get(&mut token, &options, &cred, None);
    let result = rp.finish_key_check(&answer, &state, vec![("sk-spare".into(), spare_key.clone())]);
    assert!(matches!(result, Err(PasskeyError::Refused(_))), "{result:?}");

    // A key the ceremony did not ask for is refused.
    let (options, state) = rp.start_key_check(std::slice::from_ref(&spare_key)).unwrap();
    let answer = get(&mut token, &options, &cred, None);
    let result = rp.finish_key_check(&answer, &state, vec![("sk-1".into(), updated)]);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn an_authenticator_model_not_allowed_is_refused() {
    let rp = rp();
    let alice = person();
    let other_model = "cb69481e-8ff7-4039-93ec-0a2729a154a8".to_string();
    let token_model = softtoken::AAGUID.hyphenated().to_string();
    for kind in [PASSKEY, SECURITY_KEY] {
        let (mut token, _) = SoftToken::new(true).unwrap();
        let (options, state) = rp.start_registration(kind, &who(&alice), &[]).unwrap();
        let answer = create(&mut token, &options);
        let result = rp.finish_registration(kind, &answer, &state, std::slice::from_ref(&other_model));
        assert!(
            matches!(result, Err(PasskeyError::AuthenticatorNotAllowed)),
            "{kind}: {:?}",
            result.map(|k| k.aaguid)
        );
        // Listed (in capitals): allowed.
        let allowed = [other_model.clone(), token_model.to_uppercase()];
        let new = rp.finish_registration(kind, &answer, &state, &allowed).unwrap();
        assert_eq!(new.aaguid, token_model);
    }

    // An authenticator that states no model (nil AAGUID) is not in a list of models...
    let mut key = SoftPasskey::new(true);
    let (options, state) = rp.start_registration(PASSKEY, &who(&alice), &[]).unwrap();
    let answer = create(&mut key, &options);
    let result = rp.finish_registration(PASSKEY, &answer, &state, std::slice::from_ref(&token_model));
    assert!(matches!(result, Err(PasskeyError::AuthenticatorNotAllowed)));
    // ...but is with no list.
    let new = rp.finish_registration(PASSKEY, &answer, &state, &[]).unwrap();
    assert_eq!(new.aaguid, Uuid::nil().hyphenated().to_string());
}

/// A software token and its maker's root certificate, as a realm file holds it (PEM).
fn attested_token() -> (SoftToken, String) {
    let (token, root) = SoftToken::new(true).unwrap();
    let mut list = AttestationCaListBuilder::new();
    list.insert_device_x509(root, softtoken::AAGUID, "soft token".into(), Default::default())
        .unwrap();
    let list = serde_json::to_value(list.build()).unwrap();
    let der = list["cas"]
        .as_object()
        .and_then(|cas| cas.values().next())
        .and_then(|ca| ca["ca"].as_str())
        .expect("the list holds the root");
    let der = URL_SAFE_NO_PAD.decode(der).unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    (token, pem)
}

/// A relying party under `attestation: direct` trusting `roots` (and only `models`, if any).
fn attested_rp(roots: &[&str], models: &[String]) -> RelyingParty {
    let mut yaml = "realm: t\nwebauthn:\n  attestation: direct\n  attestation_roots:\n".to_string();
    for root in roots {
        yaml.push_str("    - |\n");
        for line in root.lines() {
            yaml.push_str(&format!("      {line}\n"));
        }
    }
    if !models.is_empty() {
        yaml.push_str(&format!("  allowed_aaguids: [{}]\n", models.join(", ")));
    }
    let realm = crate::realm::load_str("t.yaml", &yaml, &|_| None).unwrap();
    RelyingParty::new(PUBLIC_URL, &realm).unwrap()
}

#[test]
fn direct_attestation_admits_only_authenticators_a_trusted_maker_vouches_for() {
    let alice = person();
    let (mut token, root) = attested_token();
    let rp = attested_rp(&[&root], &[]);
    let (options, _) = rp.start_registration(SECURITY_KEY, &who(&alice), &[]).unwrap();
    let options: Value = serde_json::from_str(&options).unwrap();
    assert_eq!(options["publicKey"]["attestation"], "direct");

    // The maker's token registers both kinds; the passkey then signs in on its own.
    let (_, key) = register(&rp, SECURITY_KEY, &mut token, &alice);
    assert_eq!(key.aaguid, softtoken::AAGUID.hyphenated().to_string());
    let (cred, passkey) = register(&rp, PASSKEY, &mut token, &alice);
    let signed_in = sign_in(&rp, &mut token, &cred, &alice, &passkey).unwrap();
    assert_eq!(signed_in.handle, alice.handle);

    // Another maker's token, or one that proves nothing, is refused.
    let (mut stranger, _) = SoftToken::new(true).unwrap();
    let mut unattested = SoftPasskey::new(true);
    for kind in [PASSKEY, SECURITY_KEY] {
        let (options, state) = rp.start_registration(kind, &who(&alice), &[]).unwrap();
        let answer = create(&mut stranger, &options);
        let result = rp.finish_registration(kind, &answer, &state, &[]);
        assert!(
            matches!(result, Err(PasskeyError::AuthenticatorNotAllowed)),
            "{kind}: {result:?}"
        );
        let (options, state) = rp.start_registration(kind, &who(&alice), &[]).unwrap();
        let answer = create(&mut unattested, &options);
        let result = rp.finish_registration(kind, &answer, &state, &[]);
        assert!(
            matches!(result, Err(PasskeyError::AuthenticatorNotAllowed)),
            "{kind}: {result:?}"
        );
    }

    // The maker is trusted only for the listed models.
    let rp = attested_rp(&[&root], &["cb69481e-8ff7-4039-93ec-0a2729a154a8".to_string()]);
    let (options, state) = rp.start_registration(SECURITY_KEY, &who(&alice), &[]).unwrap();
    let answer = create(&mut token, &options);
    let result = rp.finish_registration(SECURITY_KEY, &answer, &state, &[]);
    assert!(
        matches!(result, Err(PasskeyError::AuthenticatorNotAllowed)),
        "{result:?}"
    );
}

#[test]
fn security_keys_follow_the_resident_key_policy_and_passkeys_are_always_discoverable() {
    let alice = person();
    for (policy, required) in [("discouraged", false), ("preferred", false), ("required", true)] {
        let yaml = format!("realm: t\nwebauthn: {{ resident_key: {policy} }}\n");
        let realm = crate::realm::load_str("t.yaml", &yaml, &|_| None).unwrap();
        let rp = RelyingParty::new(PUBLIC_URL, &realm).unwrap();
        let (options, _) = rp.start_registration(SECURITY_KEY, &who(&alice), &[]).unwrap();
        let options: Value = serde_json::from_str(&options).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], policy);
        assert_eq!(selection["requireResidentKey"], required);
        let (options, _) = rp.start_registration(PASSKEY, &who(&alice), &[]).unwrap();
        let options: Value = serde_json::from_str(&options).unwrap();
        assert_eq!(
            options["publicKey"]["authenticatorSelection"]["residentKey"],
            "required"
        );
    }
}

#[test]
fn user_handles_round_trip() {
    for _ in 0..20 {
        let id = crate::crypto::new_id();
        let handle = user_handle(&id).expect("a new id is a handle");
        let ids = user_ids_of(handle);
        assert_eq!(ids[0], id);
        assert_eq!(ids[1], handle.hyphenated().to_string());
        assert_eq!(user_handle(&ids[1]), Some(handle));
    }

    let imported = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let handle = user_handle(imported).expect("a UUID is a handle");
    assert_eq!(handle, Uuid::parse_str(imported).unwrap());
    let ids = user_ids_of(handle);
    assert_eq!(ids[1], imported);
    assert_eq!(user_handle(&ids[0]), Some(handle));
    assert_ne!(ids[0], ids[1]);

    for other in ["", "alice", "not-a-uuid-at-all", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"] {
        assert_eq!(user_handle(other), None, "{other:?}");
    }
}

#[test]
fn bad_input_is_told_apart() {
    assert!(matches!(
        RelyingParty::new("https://192.0.2.1", &realm()),
        Err(PasskeyError::Configuration(_))
    ));
    assert!(matches!(
        RelyingParty::new("not a URL", &realm()),
        Err(PasskeyError::Configuration(_))
    ));
    assert!(stored("not JSON").is_none());
    assert!(stored("{}").is_none());

    let rp = rp();
    let alice = person();
    let mut key = SoftPasskey::new(true);
    let (options, state) = rp.start_registration(PASSKEY, &who(&alice), &[]).unwrap();
    let answer = create(&mut key, &options);
    assert!(matches!(
        rp.finish_registration(PASSKEY, "{}", &state, &[]),
        Err(PasskeyError::Malformed)
    ));
    assert!(matches!(
        rp.finish_registration(PASSKEY, &answer, "", &[]),
        Err(PasskeyError::NoCeremony)
    ));
    let (_, sign_in_state) = rp.start_passkey_sign_in().unwrap();
    assert!(matches!(rp.identify("null"), Err(PasskeyError::Malformed)));
    assert!(matches!(
        rp.finish_passkey_sign_in("[]", &sign_in_state, vec![]),
        Err(PasskeyError::Malformed)
    ));
    // A registration's state is no sign-in's.
    let (options, _) = rp.start_passkey_sign_in().unwrap();
    let registered = stored(&rp.finish_registration(PASSKEY, &answer, &state, &[]).unwrap().data).unwrap();
    let sign_in_answer = get(&mut key, &options, &cred_of(&answer), Some(alice.handle));
    assert!(matches!(
        rp.finish_passkey_sign_in(&sign_in_answer, &state, vec![("row".into(), registered)]),
        Err(PasskeyError::NoCeremony)
    ));
}
