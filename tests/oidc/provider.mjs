// A real OpenID Connect provider for the tests: the certified `oidc-provider` package, with a sign-in
// page of its own that checks the passwords in a JSON configuration file (tests/oidc/config.json).
//
//   node tests/oidc/provider.mjs CONFIG [PORT]     (PORT 0 or none: a free port)
//
// Listens on 127.0.0.1 and prints "ready <issuer>" once it answers. The configuration file is read
// again on every sign-in and every claims lookup, so a test that edits its copy (a group changed, a
// person removed) changes what the provider says from the next request on, without a restart.
//
// The tracker's client is registered as a "native" application only so that its loopback redirect
// URI may carry any port (RFC 8252, section 7.3): the test servers listen on free ports. It still
// authenticates with its client secret, and PKCE is required of every client.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [configPath, portArgument = '0'] = process.argv.slice(2);
if (!configPath) {
  console.error('usage: node tests/oidc/provider.mjs CONFIG [PORT]');
  process.exit(2);
}

const ACR_PASSWORD = 'urn:tracker-tests:acr:password';
const ACR_MULTI_FACTOR = 'urn:tracker-tests:acr:mfa';

function readConfig() {
  return JSON.parse(readFileSync(configPath, 'utf8'));
}

function userByName(username) {
  const user = readConfig().users[username];
  return user ? { username, ...user } : undefined;
}

function userBySubject(sub) {
  const entry = Object.entries(readConfig().users).find(([, user]) => user.sub === sub);
  return entry ? { username: entry[0], ...entry[1] } : undefined;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - Test identity provider</title></head>
<body><main>${body}</main></body>
</html>`;
}

function signInPage({ action, username = '', error = '', clientId }) {
  return page('Sign in', `<h1>Test identity provider</h1>
<p>Sign in to continue to ${escapeHtml(clientId)}.</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
  <p><label for="username">Username</label><br>
  <input id="username" name="username" autocomplete="username" required value="${escapeHtml(username)}"></p>
  <p><label for="password">Password</label><br>
  <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <p><button type="submit">Sign in</button></p>
</form>`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, uid } = details;

  if (prompt.name === 'consent') {
    // The tracker is the organisation's own application: what it asks for is granted without a
    // consent screen, as an enterprise provider does for applications an administrator approved.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const result = { consent: { grantId: await grant.save() } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }

  const action = `/interaction/${uid}`;
  if (req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') || '';
    const user = userByName(username);
    if (user && user.password === form.get('password')) {
      const amr = user.amr || ['pwd'];
      const login = { accountId: user.sub, amr, acr: amr.includes('mfa') ? ACR_MULTI_FACTOR : ACR_PASSWORD };
      return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(signInPage({
      action, username, clientId: params.client_id, error: 'Unknown username or wrong password.',
    }));
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  return res.end(signInPage({ action, clientId: params.client_id, username: params.login_hint || '' }));
}

const server = createServer();
server.listen(Number(portArgument), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'tracker-tests-1', use: 'sig', alg: 'RS256' };

  const provider = new Provider(issuer, {
    clients: readConfig().clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    acrValues: [ACR_PASSWORD, ACR_MULTI_FACTOR],
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      // How the person signed in travels in every ID token, as Entra ID sends `amr`.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      groups: ['groups'],
    },
    // Put the claims of the granted scopes in the ID token too, as Entra ID does with `groups`.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      const user = userBySubject(sub);
      if (!user) return undefined; // removed from the provider: no sign-in, no refresh, no claims
      return {
        accountId: sub,
        async claims() {
          const claims = {
            sub,
            preferred_username: user.username,
            name: `${user.given_name} ${user.family_name}`,
            given_name: user.given_name,
            family_name: user.family_name,
            email: user.email,
            email_verified: true,
          };
          if ('groups' in user) claims.groups = user.groups;
          return claims;
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      // The package's own pages load a web font from a CDN; these load nothing from anywhere.
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `<h1>Sign out</h1>
<p>Do you want to sign out of the test identity provider too?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out of the test identity provider.</p>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>Error</h1><p>${escapeHtml(out.error)}: ${escapeHtml(out.error_description || '')}</p>`);
    },
    interactions: { url: (ctx, details) => `/interaction/${details.uid}` },
    pkce: { required: () => true },
    // Refresh tokens as Entra ID issues them for offline_access: without a consent prompt, and kept
    // when the person signs out of the provider (they end when the account goes, or after a day).
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      Grant: 86400,
      IdToken: 300,
      Interaction: 600,
      RefreshToken: 86400,
      Session: 86400,
    },
  });

  provider.on('server_error', (ctx, error) => console.error('server_error', ctx.path, error));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (/^\/interaction\/[\w-]+$/.test(new URL(req.url, issuer).pathname)) {
      interaction(provider, req, res).catch((error) => {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`Sign-in failed: ${error.message}`);
      });
      return;
    }
    handle(req, res);
  });
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
