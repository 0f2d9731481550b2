"""python-keycloak against Gatehouse, as a Keycloak user's scripts use it.

KeycloakOpenID: the password grant (with the user's one-time code in TOTP when it is set),
userinfo, introspection, refresh, the realm's public key, logout by refresh token, and
client_credentials with python-keycloak's default scope=openid. KeycloakAdmin, signed in as the
master realm's administrator through admin-cli: count, create with CONFIGURE_TOTP, update,
password, realm roles, sessions, logout, delete. Prints one JSON object for
tests/it/keycloak_clients.rs; any error exits non-zero with the library's exception.
"""

import json
import os

from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection

url = os.environ["GATEHOUSE_URL"]
realm = os.environ["REALM"]
out = {}

oidc = KeycloakOpenID(
    server_url=url, realm_name=realm, client_id=os.environ["CLIENT_ID"], client_secret_key=os.environ["CLIENT_SECRET"]
)
totp = os.environ.get("TOTP")
tokens = oidc.token(os.environ["USERNAME"], os.environ["PASSWORD"], totp=int(totp) if totp else None)
out["scope"] = tokens["scope"]
out["userinfo"] = oidc.userinfo(tokens["access_token"])
out["introspected"] = oidc.introspect(tokens["access_token"])["active"]
refreshed = oidc.refresh_token(tokens["refresh_token"])
out["refreshed"] = refreshed["access_token"] != tokens["access_token"]
out["public_key"] = len(oidc.public_key() or "") > 100
oidc.logout(refreshed["refresh_token"])
try:
    oidc.refresh_token(refreshed["refresh_token"])
    out["refresh_after_logout"] = "worked"
except Exception as e:  # the library raises KeycloakPostError for the 400
    out["refresh_after_logout"] = type(e).__name__
out["client_credentials"] = "access_token" in oidc.token(grant_type="client_credentials")

admin = KeycloakAdmin(
    connection=KeycloakOpenIDConnection(
        server_url=url,
        username=os.environ["ADMIN_USERNAME"],
        password=os.environ["ADMIN_PASSWORD"],
        realm_name=realm,
        user_realm_name="master",
        client_id="admin-cli",
    )
)
out["count_before"] = admin.users_count()
user_id = admin.create_user(
    {"username": "erin", "email": "erin@example.com", "enabled": True, "requiredActions": ["CONFIGURE_TOTP"]}
)
out["found_id"] = admin.get_user_id("erin") == user_id
admin.update_user(user_id, {"firstName": "Erin"})
out["first_name"] = admin.get_user(user_id)["firstName"]
admin.set_user_password(user_id, "Erin-Password-123!", temporary=True)
out["actions"] = sorted(admin.get_user(user_id)["requiredActions"])
admin.assign_realm_roles(user_id, [admin.get_realm_role("auditor")])
out["roles"] = [r["name"] for r in admin.get_realm_roles_of_user(user_id)]
out["sessions"] = len(admin.get_sessions(user_id))
admin.user_logout(user_id)
admin.delete_user(user_id)
out["count_after"] = admin.users_count()
print(json.dumps(out))
