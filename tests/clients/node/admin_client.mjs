// Keycloak's admin client against Gatehouse, as an admin script would use it: signs in as
// the master realm's administrator through admin-cli's password grant, then manages users of
// the realm REALM. Prints what it saw as one JSON object; tests/it/keycloak_clients.rs checks
// it and the server's state. Any failure exits non-zero with the library's error.
import KcAdminClient from '@keycloak/keycloak-admin-client'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const kc = new KcAdminClient({ baseUrl: env('GATEHOUSE_URL'), realmName: 'master' })
await kc.auth({
  username: env('ADMIN_USERNAME'),
  password: env('ADMIN_PASSWORD'),
  grantType: 'password',
  clientId: 'admin-cli'
})
kc.setConfig({ realmName: env('REALM') })

const out = {}
out.realms = (await kc.realms.find()).map((r) => r.realm).sort()
out.countBefore = await kc.users.count()
const created = await kc.users.create({
  username: 'dora',
  email: 'dora@example.com',
  emailVerified: true,
  enabled: true,
  attributes: { department: ['maps'] },
  requiredActions: ['CONFIGURE_TOTP']
})
const id = created.id
out.created = (await kc.users.findOne({ id }))
out.count = await kc.users.count()
await kc.users.update({ id }, { firstName: 'Dora', lastName: 'Explorer' })
out.updated = await kc.users.findOne({ id })
await kc.users.resetPassword({ id, credential: { type: 'password', value: 'Dora-Password-123!', temporary: false } })
await kc.users.addRealmRoleMappings({ id, roles: [{ name: 'auditor' }] })
out.roleMappings = await kc.users.listRoleMappings({ id })
out.realmRoles = (await kc.users.listRealmRoleMappings({ id })).map((r) => r.name)
// A client role, found and granted as admin scripts do it.
const [web] = await kc.clients.find({ clientId: 'web' })
const editor = await kc.clients.findRole({ id: web.id, roleName: 'editor' })
await kc.users.addClientRoleMappings({ id, clientUniqueId: web.id, roles: [{ id: editor.id, name: editor.name }] })
out.clientRoles = (await kc.users.listClientRoleMappings({ id, clientUniqueId: web.id })).map((r) => r.name)
out.clientMappings = (await kc.users.listRoleMappings({ id })).clientMappings

// Alice is signed in (the test did it): her sessions, then her logout everywhere.
const [alice] = await kc.users.find({ username: 'alice', exact: true })
out.aliceSessions = (await kc.users.listSessions({ id: alice.id })).length
await kc.users.logout({ id: alice.id })
out.aliceSessionsAfter = (await kc.users.listSessions({ id: alice.id })).length

await kc.users.del({ id })
out.countAfter = await kc.users.count()
console.log(JSON.stringify(out))
