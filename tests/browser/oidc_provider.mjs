// A real OpenID Connect provider for the sign-in tests: node-oidc-provider (certified),
// configured from a JSON file named on the command line:
//   {"issuer", "port", "client": {client_id, client_secret, redirect_uris},
//    "jwk": <private RS256 JWK>, "accounts_file": path}
// Accounts are read from accounts_file at every lookup ({login: {claims...}}), so a test
// can change someone's e-mail or groups between sign-ins. The login name is the subject.
// Sign-in uses the provider's built-in development login and consent pages.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function account(id) {
  const accounts = JSON.parse(readFileSync(config.accounts_file, 'utf8'));
  return accounts[id];
}

const provider = new Provider(config.issuer, {
  clients: [
    {
      ...config.client,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [config.jwk] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'groups'],
  },
  // Put the scopes' claims in the ID token itself (what coursehub reads).
  conformIdTokenClaims: false,
  pkce: { required: () => false },
  cookies: { keys: ['coursehub-tests-only'] },
  async findAccount(ctx, id) {
    const claims = account(id);
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ ...claims, sub: id }) };
  },
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider ${config.issuer} listening`);
});
