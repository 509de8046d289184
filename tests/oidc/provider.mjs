// A real OpenID Provider for the single sign-on tests: the certified `oidc-provider` package
// (package.json devDependencies), one confidential client, people with groups.
//
//   node tests/oidc/provider.mjs
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the one client (authorization code + PKCE only)
//   OIDC_REDIRECT_URIS                   its redirect URIs, comma-separated
//   OIDC_ACCOUNTS_FILE                   optional JSON {"<login>": {"email", "name", "groups"}};
//                                        read again at every sign-in, so a test can change a
//                                        person's groups between two sign-ins
//   OIDC_PORT                            optional; 0 (the default) picks a free port
//   OIDC_CLAIMS_AT_USERINFO              "1": the scopes' claims (groups, e-mail, name) only
//                                        at the userinfo endpoint, not in the ID token (as
//                                        many IdPs do)
//
// Listens on 127.0.0.1 and prints one JSON line, {"issuer": "http://127.0.0.1:<port>"}, once
// it answers. Stops on SIGTERM / SIGINT or when its stdin closes (the test process is gone).
// The sign-in page is the package's development interaction (any password); consent is
// skipped for the one first-party client.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

// Without OIDC_ACCOUNTS_FILE (trying the demo by hand): one person in a group the demo's
// sso_groups mapping gives ops_manager (demo/sso.py), one in a group it does not map.
const DEFAULT_ACCOUNTS = {
  'olivia.ops': {
    email: 'olivia.ops@bank.example', name: 'Olivia Ops', groups: ['backoffice-ops-managers'],
  },
  'una.unmapped': { email: 'una@contractor.example', name: 'Una Unmapped', groups: ['contractors'] },
};

function accounts() {
  const file = process.env.OIDC_ACCOUNTS_FILE;
  return file ? JSON.parse(readFileSync(file, 'utf8')) : DEFAULT_ACCOUNTS;
}

async function findAccount(ctx, id) {
  const person = accounts()[id];
  if (!person) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: person.email,
        email_verified: true,
        name: person.name,
        preferred_username: id,
        groups: person.groups ?? [],
      };
    },
  };
}

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUris = required('OIDC_REDIRECT_URIS').split(',').map((u) => u.trim()).filter(Boolean);
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = http.createServer();
server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...signingKey, kid: 'test-signing-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    findAccount,
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // By default the requested scopes' claims go into the ID token itself; conforming to the
    // spec they are only at the userinfo endpoint (an access token is issued with the code).
    conformIdTokenClaims: process.env.OIDC_CLAIMS_AT_USERINFO === '1',
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
