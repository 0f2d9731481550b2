// The peer for the load harness: panva's oidc-provider (version pinned in benches/package.json),
// configured for the same work as Gatehouse's `bench` realm:
//   - a confidential client `bench-service` for client_credentials with client_secret_basic;
//   - access tokens as JWTs signed RS256 with a 2048-bit key (resourceIndicators with
//     accessTokenFormat 'jwt');
//   - discovery and JWKS at their usual paths.
// Usage: node benches/peer/server.mjs PORT      (started by benches/run.py; NODE_ENV=production)
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 8091);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:gatehouse-bench:api';

// A fresh 2048-bit RSA key per start, as Gatehouse makes its first key on an empty database.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench-service',
      client_secret: 'bench-service-secret-0123456789-abcdefgh',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every client_credentials token is for this one API, as a JWT signed RS256.
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: resource,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

// Exit cleanly on SIGTERM so the harness can stop it by pid.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
