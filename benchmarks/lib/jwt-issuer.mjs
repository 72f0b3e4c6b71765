// A JWT issuer for the jwt-auth variant of `pnpm bench`: an RSA key pair, its public half as a JWKS on a
// loopback node:http server (the gateway fetches it once when the credential arrives and caches it for
// the max-age below, longer than any run), and one RS256 token signed with jose, which wrk sends on every
// request. The server lives in the harness process: it answers one request per gateway start and none
// while a run is measured (`fetches` lets the harness check that).
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

// jose is a dependency of the gateway, resolved from there (the root has none), as benchmarks/jwt.mjs does.
/** @type {typeof import('../../services/gateway/node_modules/jose/dist/types/index.js')} */
const jose = await import(pathToFileURL(createRequire(new URL('../../services/gateway/package.json', import.meta.url)).resolve('jose')).href);

const KID = 'bench-k1';
/** The JWKS's Cache-Control max-age (the gateway honours up to 24 h): no refetch within a run. */
const JWKS_MAX_AGE_S = 6 * 3600;

/**
 * @typedef {object} JwtIssuer
 * @property {string} issuer     the `iss` claim, which selects the consumer's jwt credential
 * @property {string} jwksUri
 * @property {string} token      RS256, `kid` in its header, valid for `validForS` from its creation
 * @property {() => number} fetches  JWKS requests served so far
 * @property {() => Promise<void>} close
 */

/**
 * @param {{ validForS: number }} o  how long the token stays valid (longer than the whole run)
 * @returns {Promise<JwtIssuer>}
 */
export async function startJwtIssuer(o) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  let fetches = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': `max-age=${JWKS_MAX_AGE_S}` });
    res.end(body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  const issuer = 'https://bench-idp.turnpike.test';
  const now = Math.floor(Date.now() / 1000);
  const token = await new jose.SignJWT({ sub: 'bench-user' })
    .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
    .setIssuer(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + o.validForS)
    .sign(privateKey);
  return {
    issuer,
    jwksUri: `http://127.0.0.1:${port}/jwks.json`,
    token,
    fetches: () => fetches,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}
