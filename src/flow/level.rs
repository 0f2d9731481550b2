//! Levels of authentication (OIDC `acr`): what an authorization request asks for, through
//! `acr_values` or the `claims` parameter, and what a sign-in reached. Level 1 is one factor,
//! level 2 is two; a realm names levels in `acr.loa_map` (Keycloak's `acr.loa.map`), and the
//! bare `1` and `2` always mean themselves.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::realm::Realm;

/// The level an authorization request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// The lowest level any requested value needs (any of them will do).
    pub level: u8,
    /// The requested values the realm knows, in the request's order.
    pub values: Vec<String>,
    /// Asked as an essential `acr` claim: a sign-in that does not reach it is an error to
    /// the app (`unmet_authentication_requirements`) rather than a token with a lower `acr`.
    pub essential: bool,
}

/// The level a value names in `realm`, if any.
pub fn level_of(realm: &Realm, value: &str) -> Option<u8> {
    match value {
        "1" => Some(1),
        "2" => Some(2),
        name => realm.acr.loa_map.get(name).copied(),
    }
}

/// The level a sign-in with these RFC 8176 methods reached (after [`super::methods_and_level`]).
pub fn reached(amr: &[String]) -> u8 {
    if amr.iter().any(|m| m == "mfa") { 2 } else { 1 }
}

/// What a request asks for, from its `acr_values` and the `acr` member of its `claims`
/// (`id_token` or `userinfo`); `None` when it names no level the realm knows. An essential
/// `acr` claim naming no known level cannot be met: the error says so.
pub fn requested(
    realm: &Realm,
    acr_values: Option<&str>,
    claims: Option<&Value>,
) -> Result<Option<AcrRequest>, String> {
    let claim = claims.and_then(|c| {
        ["id_token", "userinfo"]
            .iter()
            .find_map(|member| c.get(member).and_then(|m| m.get("acr")))
    });
    let essential = claim.is_some_and(|c| c.get("essential") == Some(&Value::Bool(true)));
    let mut asked: Vec<&str> = Vec::new();
    if let Some(c) = claim {
        if let Some(v) = c.get("value").and_then(Value::as_str) {
            asked.push(v);
        }
        if let Some(vs) = c.get("values").and_then(Value::as_array) {
            asked.extend(vs.iter().filter_map(Value::as_str));
        }
    }
    // An essential claim decides alone; otherwise acr_values add voluntary choices.
    if !essential {
        asked.extend(acr_values.unwrap_or("").split_ascii_whitespace());
    }
    let mut values: Vec<String> = Vec::new();
    let mut level = u8::MAX;
    for value in asked {
        if let Some(l) = level_of(realm, value) {
            level = level.min(l);
            if !values.iter().any(|v| v == value) {
                values.push(value.to_string());
            }
        }
    }
    if values.is_empty() {
        return if essential {
            Err("none of the essential acr values is a level this realm offers".into())
        } else {
            Ok(None)
        };
    }
    Ok(Some(AcrRequest {
        level,
        values,
        essential,
    }))
}

/// The `acr` a token carries for a sign-in that reached `level`: the highest requested value
/// it satisfies, or the level itself when none was requested or none is satisfied.
pub fn claim(realm: &Realm, request: Option<&AcrRequest>, level: u8) -> String {
    request
        .into_iter()
        .flat_map(|r| r.values.iter())
        .filter_map(|v| level_of(realm, v).filter(|l| *l <= level).map(|l| (l, v)))
        .fold(None::<(u8, &String)>, |best, (l, v)| match best {
            Some((b, _)) if b >= l => best,
            _ => Some((l, v)),
        })
        .map_or_else(|| level.to_string(), |(_, v)| v.clone())
}

/// The request insisted (essential) on a level the sign-in did not reach.
pub fn unmet(request: Option<&AcrRequest>, level: u8) -> bool {
    request.is_some_and(|r| r.essential && level < r.level)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn realm() -> Realm {
        let text = "realm: t\nacr:\n  loa_map: { silver: 1, gold: 2 }\n";
        crate::realm::load_str("t.yaml", text, &|_| None).unwrap()
    }

    #[test]
    fn acr_values_are_voluntary_and_the_lowest_known_level_counts() {
        let r = realm();
        let asked = requested(&r, Some("bronze gold silver"), None).unwrap().unwrap();
        assert_eq!(asked.level, 1);
        assert_eq!(asked.values, ["gold", "silver"]);
        assert!(!asked.essential);
        assert_eq!(requested(&r, Some("bronze"), None).unwrap(), None);
        assert_eq!(requested(&r, Some("2"), None).unwrap().unwrap().level, 2);
    }

    #[test]
    fn an_essential_claim_decides_and_must_name_a_known_level() {
        let r = realm();
        let claims = json!({ "id_token": { "acr": { "essential": true, "values": ["gold"] } } });
        let asked = requested(&r, Some("silver"), Some(&claims)).unwrap().unwrap();
        assert_eq!((asked.level, asked.essential), (2, true));
        let unknown = json!({ "id_token": { "acr": { "essential": true, "value": "platinum" } } });
        assert!(requested(&r, None, Some(&unknown)).is_err());
        let voluntary = json!({ "userinfo": { "acr": { "value": "gold" } } });
        assert!(!requested(&r, None, Some(&voluntary)).unwrap().unwrap().essential);
    }

    #[test]
    fn the_token_names_the_highest_requested_level_reached() {
        let r = realm();
        let both = requested(&r, Some("silver gold"), None).unwrap();
        assert_eq!(claim(&r, both.as_ref(), 2), "gold");
        assert_eq!(claim(&r, both.as_ref(), 1), "silver");
        let gold = requested(&r, Some("gold"), None).unwrap();
        assert_eq!(claim(&r, gold.as_ref(), 1), "1");
        assert_eq!(claim(&r, None, 2), "2");
        assert!(!unmet(gold.as_ref(), 1), "acr_values are voluntary");
        let essential = json!({ "id_token": { "acr": { "essential": true, "value": "gold" } } });
        let insisted = requested(&r, None, Some(&essential)).unwrap();
        assert!(unmet(insisted.as_ref(), 1));
        assert!(!unmet(insisted.as_ref(), 2));
    }
}
