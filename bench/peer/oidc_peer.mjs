// The peer of bench/bench_provider.py: oidc-provider (panva) on 127.0.0.1, configured like
// authbridge for the measured grants: ES256 JWT access tokens, refresh tokens rotated at
// every use, client_credentials, client_secret_basic. Storage is oidc-provider's default
// in-memory adapter (it persists nothing; authbridge writes every rotation to its database).
//
//   node oidc_peer.mjs PORT SECRET FAMILIES   -> prints one JSON line {"refresh_tokens": [...]}
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';

const [port, secret, families] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4] || 64)];
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' };
const API = 'https://api.example';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: secret,
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    redirect_uris: ['https://rp.example/cb'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access', 'api'],
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  rotateRefreshToken: true,
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => API,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: API,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  ttl: { RefreshToken: 30 * 86400, Grant: 30 * 86400 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const client = await provider.Client.find('bench');
const tokens = [];
for (let i = 0; i < families; i += 1) {
  const grant = new provider.Grant({ accountId: `user-${i}`, clientId: 'bench' });
  grant.addOIDCScope('openid offline_access');
  grant.addResourceScope(API, 'api');
  const grantId = await grant.save();
  const refresh = new provider.RefreshToken({
    client,
    accountId: `user-${i}`,
    grantId,
    scope: 'openid offline_access api',
    resource: API,
    gty: 'authorization_code',
    iiat: Math.floor(Date.now() / 1000),
    rotations: 0,
  });
  tokens.push(await refresh.save());
}
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ refresh_tokens: tokens }) + '\n');
});
