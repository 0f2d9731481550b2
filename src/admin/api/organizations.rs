//! `/admin/realms/{realm}/organizations…`: organizations and their members, as Keycloak 26's
//! admin API shows them, with Gatehouse's `policy` and members' `organizationRoles` added.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin::{self, OrgRecord};
use crate::orgs::OrgInput;
use crate::state::AppState;
use crate::store::entity::{organization_member, user};

/// An organization (Keycloak's `OrganizationRepresentation`), with Gatehouse's `policy`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationRepresentation {
    /// Set by the server; ignored on input.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// Unique in the realm: a-z, 0-9, `-`, `_`, `.` (made from the name when left out).
    /// Realm files name an app's organization by it.
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Where people go after joining through an invite.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Keycloak's free-form attributes: not kept by Gatehouse, so only an empty map is taken.
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub domains: Vec<DomainRepresentation>,
    /// Left out of a change: the stored policy stays (Keycloak's clients do not send it).
    #[serde(default)]
    pub policy: Option<PolicyRepresentation>,
}

fn yes() -> bool {
    true
}

/// One of an organization's email domains.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRepresentation {
    pub name: String,
    #[serde(default)]
    pub verified: bool,
}

/// What an organization enforces on its members (Gatehouse's).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRepresentation {
    /// Members must have a second factor to sign in to the organization's apps.
    #[serde(default)]
    pub require_second_factor: bool,
    /// Address ranges (CIDRs, or single addresses) its apps may be used from; empty: any.
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    /// Longest session in seconds for its apps, at most the realm's.
    #[serde(default)]
    pub session_max: Option<i64>,
}

impl From<OrgRecord> for OrganizationRepresentation {
    fn from(r: OrgRecord) -> Self {
        OrganizationRepresentation {
            id: Some(r.org.id),
            name: r.org.name,
            alias: Some(r.org.alias),
            enabled: r.org.enabled,
            description: r.org.description,
            redirect_url: r.org.redirect_url,
            attributes: BTreeMap::new(),
            domains: r
                .domains
                .into_iter()
                .map(|d| DomainRepresentation {
                    name: d.domain,
                    verified: d.verified,
                })
                .collect(),
            policy: Some(PolicyRepresentation {
                require_second_factor: r.org.require_second_factor,
                ip_allowlist: r.org.ip_allowlist.split_ascii_whitespace().map(String::from).collect(),
                session_max: r.org.session_max_secs,
            }),
        }
    }
}

impl OrganizationRepresentation {
    /// What to create, or to change `current` to: on a change, a missing alias or policy keeps
    /// the stored one, and the alias cannot change (realm files name the organization by it).
    fn into_input(self, current: Option<&OrgRecord>) -> Result<OrgInput, ApiError> {
        if !self.attributes.is_empty() {
            return Err(ApiError::BadRequest(
                "attributes are not kept for organizations; send an empty map or leave it out".into(),
            ));
        }
        let alias = match (current, self.alias) {
            (Some(c), Some(a)) if a != c.org.alias => {
                return Err(ApiError::BadRequest(format!(
                    "the alias of an organization cannot change (realm files name it by '{}'); create another organization instead",
                    c.org.alias
                )));
            }
            (Some(c), _) => Some(c.org.alias.clone()),
            (None, a) => a,
        };
        let policy = match (self.policy, current) {
            (Some(p), _) => p,
            (None, Some(c)) => PolicyRepresentation {
                require_second_factor: c.org.require_second_factor,
                ip_allowlist: c.org.ip_allowlist.split_ascii_whitespace().map(String::from).collect(),
                session_max: c.org.session_max_secs,
            },
            (None, None) => PolicyRepresentation::default(),
        };
        Ok(OrgInput {
            name: self.name,
            alias,
            description: self.description,
            redirect_url: self.redirect_url,
            enabled: self.enabled,
            domains: self.domains.into_iter().map(|d| (d.name, d.verified)).collect(),
            require_second_factor: policy.require_second_factor,
            ip_allowlist: policy.ip_allowlist,
            session_max_secs: policy.session_max,
        })
    }
}

/// A member (Keycloak's `MemberRepresentation`: the user, how they are a member), with their
/// organization roles.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRepresentation {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    /// Milliseconds since the Unix epoch.
    pub created_timestamp: i64,
    /// Always `UNMANAGED` (Keycloak's `MANAGED` is for members brokered from the
    /// organization's own identity provider).
    pub membership_type: &'static str,
    pub organization_roles: Vec<String>,
    /// When they joined, milliseconds since the Unix epoch.
    pub joined_timestamp: i64,
}

fn member_json((m, u): (organization_member::Model, user::Model)) -> MemberRepresentation {
    MemberRepresentation {
        organization_roles: m.role_list(),
        joined_timestamp: m.joined_at.saturating_mul(1000),
        id: u.id,
        username: u.username,
        email: u.email,
        email_verified: u.email_verified,
        first_name: u.first_name,
        last_name: u.last_name,
        enabled: u.enabled,
        created_timestamp: u.created_at.saturating_mul(1000),
        membership_type: "UNMANAGED",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RealmPath {
    /// Realm name
    realm: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// Realm name
    realm: String,
    /// Organization id
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct MemberPath {
    /// Realm name
    realm: String,
    /// Organization id
    id: String,
    /// The member's user id
    member_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct UserOrgsPath {
    /// Realm name
    realm: String,
    /// The user's id
    member_id: String,
}

/// Filters and paging of the organization list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// Part of the name or alias (any case)
    #[serde(default)]
    search: Option<String>,
    /// With `search`: the whole name or alias
    #[serde(default, deserialize_with = "super::lenient_bool")]
    #[param(value_type = Option<bool>)]
    exact: bool,
    /// Accepted for Keycloak's clients; the list is always brief and whole.
    #[serde(default, rename = "briefRepresentation", deserialize_with = "super::lenient_bool")]
    #[param(value_type = Option<bool>)]
    _brief: bool,
    #[serde(default)]
    first: u64,
    #[serde(default)]
    max: Option<u64>,
}

/// Paging of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default)]
    first: u64,
    #[serde(default)]
    max: Option<u64>,
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// List the realm's organizations, by name.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations",
    tag = "organizations",
    params(RealmPath, OrgQuery),
    responses(
        (status = 200, description = "The matching organizations", body = [OrganizationRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn list_orgs(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    q: Result<Query<OrgQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<OrganizationRepresentation>>, ApiError> {
    let q = query(q)?;
    let (first, max) = super::paging(q.first, q.max)?;
    let found = admin::orgs(&app, &realm, q.search.as_deref(), q.exact, first, max).await?;
    Ok(axum::Json(found.into_iter().map(Into::into).collect()))
}

/// Create an organization. The response's `Location` names it, as in Keycloak.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/organizations",
    tag = "organizations",
    params(RealmPath),
    request_body = OrganizationRepresentation,
    responses(
        (status = 201, description = "Created", body = OrganizationRepresentation, headers(("Location" = String, description = "The organization's URL"))),
        (status = 400, description = "Invalid JSON, an unknown field or an invalid value", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
        (status = 409, description = "The name, alias or a domain is taken in the realm", body = ErrorBody),
    )
)]
pub async fn create_org(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    AdminJson(body): AdminJson<OrganizationRepresentation>,
) -> Result<Response, ApiError> {
    let created = admin::create_org(&app, &admin.actor(), &realm, body.into_input(None)?).await?;
    let location = format!(
        "{}/admin/realms/{realm}/organizations/{}",
        app.settings.public_url, created.org.id
    );
    let body = OrganizationRepresentation::from(created);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(body)).into_response())
}

/// How many organizations match `search`.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/count",
    tag = "organizations",
    params(RealmPath, OrgQuery),
    responses(
        (status = 200, description = "How many organizations match", body = u64),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn count_orgs(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    q: Result<Query<OrgQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<usize>, ApiError> {
    let q = query(q)?;
    let found = admin::orgs(&app, &realm, q.search.as_deref(), q.exact, 0, u64::MAX).await?;
    Ok(axum::Json(found.len()))
}

/// Read an organization.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/{id}",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization", body = OrganizationRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
    )
)]
pub async fn get_org(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
) -> Result<axum::Json<OrganizationRepresentation>, ApiError> {
    Ok(axum::Json(admin::org(&app, &realm, &id).await?.into()))
}

/// Replace an organization's name, description, domains and (when sent) policy. The alias
/// stays: realm files name the organization by it.
#[utoipa::path(
    put,
    path = "/admin/realms/{realm}/organizations/{id}",
    tag = "organizations",
    params(OrgPath),
    request_body = OrganizationRepresentation,
    responses(
        (status = 204, description = "Updated"),
        (status = 400, description = "Invalid JSON, an unknown field, an invalid value or another alias", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
        (status = 409, description = "The name or a domain is taken in the realm", body = ErrorBody),
    )
)]
pub async fn update_org(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    AdminJson(body): AdminJson<OrganizationRepresentation>,
) -> Result<StatusCode, ApiError> {
    let current = admin::org(&app, &realm, &id).await?;
    admin::update_org(&app, &admin.actor(), &realm, &id, body.into_input(Some(&current))?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete an organization with its memberships and invites (the users stay).
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/organizations/{id}",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 204, description = "Deleted"),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
    )
)]
pub async fn delete_org(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
) -> Result<StatusCode, ApiError> {
    admin::delete_org(&app, &admin.actor(), &realm, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an organization's members, by username.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/{id}/members",
    tag = "organizations",
    params(OrgPath, PageQuery),
    responses(
        (status = 200, description = "The members", body = [MemberRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
    )
)]
pub async fn list_members(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<MemberRepresentation>>, ApiError> {
    let q = query(q)?;
    let (first, max) = super::paging(q.first, q.max)?;
    let members = admin::org_members(&app, &realm, &id, first, max).await?;
    Ok(axum::Json(members.into_iter().map(member_json).collect()))
}

/// Add a user of the realm as a member (role `member`). The body is the user's id as a JSON
/// string, as in Keycloak.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/organizations/{id}/members",
    tag = "organizations",
    params(OrgPath),
    request_body(content = String, description = "The user's id, as a JSON string"),
    responses(
        (status = 201, description = "Added"),
        (status = 400, description = "The body is not a JSON string", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm, organization or user", body = ErrorBody),
        (status = 409, description = "The user is a member already", body = ErrorBody),
    )
)]
pub async fn add_member(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    AdminJson(user_id): AdminJson<String>,
) -> Result<StatusCode, ApiError> {
    if admin::add_org_member(&app, &admin.actor(), &realm, &id, &user_id, &[]).await? {
        Ok(StatusCode::CREATED)
    } else {
        Err(ApiError::Conflict(format!("user '{user_id}' is a member already")))
    }
}

/// Read one member.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/{id}/members/{memberId}",
    tag = "organizations",
    params(MemberPath),
    responses(
        (status = 200, description = "The member", body = MemberRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm, organization or member", body = ErrorBody),
    )
)]
pub async fn get_member(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(MemberPath { realm, id, member_id }): Path<MemberPath>,
) -> Result<axum::Json<MemberRepresentation>, ApiError> {
    Ok(axum::Json(member_json(
        admin::org_member(&app, &realm, &id, &member_id).await?,
    )))
}

/// Remove a member (the user stays). The last owner cannot be removed.
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/organizations/{id}/members/{memberId}",
    tag = "organizations",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed"),
        CallerErrors,
        (status = 404, description = "No such realm, organization or member", body = ErrorBody),
        (status = 409, description = "The member is the last owner", body = ErrorBody),
    )
)]
pub async fn remove_member(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(MemberPath { realm, id, member_id }): Path<MemberPath>,
) -> Result<StatusCode, ApiError> {
    admin::remove_org_member(&app, &admin.actor(), &realm, &id, &member_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a member's organization roles (Gatehouse's): `owner`, `admin`, `member` and those
/// the realm file lists under `organization_roles`. The last owner keeps `owner`.
#[utoipa::path(
    put,
    path = "/admin/realms/{realm}/organizations/{id}/members/{memberId}/roles",
    tag = "organizations",
    params(MemberPath),
    request_body(content = [String], description = "The roles, by name"),
    responses(
        (status = 204, description = "Replaced"),
        (status = 400, description = "No role, or one the realm does not have", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm, organization or member", body = ErrorBody),
        (status = 409, description = "It would take the last owner's role away", body = ErrorBody),
    )
)]
pub async fn set_member_roles(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(MemberPath { realm, id, member_id }): Path<MemberPath>,
    AdminJson(roles): AdminJson<Vec<String>>,
) -> Result<StatusCode, ApiError> {
    admin::set_org_member_roles(&app, &admin.actor(), &realm, &id, &member_id, &roles).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organizations a user belongs to.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/members/{memberId}/organizations",
    tag = "organizations",
    params(UserOrgsPath),
    responses(
        (status = 200, description = "Their organizations, by alias", body = [OrganizationRepresentation]),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn member_orgs(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserOrgsPath { realm, member_id }): Path<UserOrgsPath>,
) -> Result<axum::Json<Vec<OrganizationRepresentation>>, ApiError> {
    let found = admin::user_orgs(&app, &realm, &member_id).await?;
    Ok(axum::Json(found.into_iter().map(|(r, _)| r.into()).collect()))
}
