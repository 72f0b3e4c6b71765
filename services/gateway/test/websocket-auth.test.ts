// The request pipeline on WebSocket upgrades, through the real proxy port of an embedded gateway: JWT (the
// first upgrade waits for the issuer's JWKS, held by the test IdP), Basic (scrypt, asynchronous), IP lists,
// ACLs, CORS headers on a refusal, request validation's field list, and a client that leaves while a step
// waits. Each refusal is checked as the client sees it (status, JSON error code, WWW-Authenticate), against
// the call log, and against the upstream: a refused or abandoned upgrade never opens an upstream connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { SignJWT } from 'jose';
import { InProcessConfigBus, entityKey, generateSecretKey, hashPassword, keyringOf, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const BASIC_PW = 'correct horse battery staple';
const KEY = 'ws-auth-key-0123456789abcdef';
/** Each test is bounded on its own: a hang fails that test, not the file. */
const T = { timeout: 20_000 };

interface Refusal {
  status: number;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  error: { code: string; message: string; request_id: string; fields?: { path: string; message: string }[] };
}
type Attempt = { status: 101; ws: WebSocket; headers: IncomingMessage['headers'] } | Refusal;

describe('WebSocket upgrades through the access pipeline', { timeout: 120_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-ws-auth-'));
  let gw: Gateway;
  let upstream: WebSocketServer;
  let idp: Server;
  let idpPort = 0;
  /** Upstream upgrades accepted so far, and the request headers of each. */
  let upstreamConnections = 0;
  const seen: IncomingMessage['headers'][] = [];
  /** JWKS answers held per issuer name (null: answered at once), and fetches served per name. */
  const held = new Map<string, (() => void)[] | null>();
  const served = new Map<string, number>();
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), alice: id(), bob: id(), dave: id(), admins: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const route = async (path: string, extra: Record<string, unknown> = {}) => {
    const rid = id();
    await put('routes', { id: rid, name: `r${rid.slice(0, 8)}`, service_id: ids.svc, paths: [path], ...extra });
    return rid;
  };
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  /** A JWT issuer whose JWKS the IdP holds until `release(name)`; the node starts fetching it when it arrives. */
  const heldIssuer = async (name: string, consumerId: string) => {
    held.set(name, []);
    await put('credentials', {
      id: id(),
      type: 'jwt',
      consumer_id: consumerId,
      issuer: `https://${name}.idp.test`,
      algorithms: ['RS256'],
      jwks_uri: `http://127.0.0.1:${idpPort}/jwks/${name}`,
      audiences: [],
      clock_skew_s: 30,
      claims_to_headers: { sub: 'x-jwt-sub' },
    });
  };
  const release = (name: string) => {
    const waiting = held.get(name) ?? [];
    held.set(name, null);
    for (const answer of waiting) answer();
  };
  const jwt = (issuer: string, claims: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(`https://${issuer}.idp.test`).setIssuedAt().setExpirationTime('5m').sign(rsa.privateKey);
  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

  /** Opens an upgrade; resolves with the open socket and the 101's headers, or with the refusal as answered. */
  const attempt = (path: string, headers: Record<string, string> = {}): Promise<Attempt> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.proxyPort}${path}`, { headers, perMessageDeflate: false });
      let upgradeHeaders: IncomingMessage['headers'] = {};
      ws.once('upgrade', (res) => (upgradeHeaders = res.headers));
      ws.once('open', () => resolve({ status: 101, ws, headers: upgradeHeaders }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          try {
            const error = (JSON.parse(body) as { error: Refusal['error'] }).error;
            resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, error });
          } catch {
            reject(new Error(`refused ${res.statusCode} without a JSON error: ${JSON.stringify(body)}`));
          }
        });
      });
      ws.once('error', reject);
    });
  const refused = async (path: string, headers: Record<string, string> = {}): Promise<Refusal> => {
    const r = await attempt(path, headers);
    if ('ws' in r) {
      r.ws.terminate();
      assert.fail(`${path}: the upgrade was accepted`);
    }
    return r;
  };
  const opened = async (path: string, headers: Record<string, string> = {}) => {
    const r = await attempt(path, headers);
    if (!('ws' in r)) assert.fail(`${path}: refused ${r.status} ${JSON.stringify(r.error)}`);
    return r;
  };
  /** Sends one text message and returns the upstream's echo of it. */
  const echo = (ws: WebSocket, text: string): Promise<string> =>
    new Promise((resolve) => {
      ws.once('message', (data) => resolve((data as Buffer).toString()));
      ws.send(text);
    });
  const close = (ws: WebSocket) => new Promise<void>((r) => (ws.once('close', () => r()), ws.close()));
  const waitFor = async <V>(what: string, fn: () => V | null | undefined | false | Promise<V | null | undefined | false>, ms = 5_000): Promise<V> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /** Polls until the route's plugins are applied: an upgrade without credentials gets `status`. */
  const applied = (path: string, status: number) => waitFor(`${path} answering ${status}`, async () => {
    const r = await attempt(path);
    if ('ws' in r) r.ws.terminate();
    return r.status === status;
  });
  const logged = (requestId: string) => waitFor(`call ${requestId} logged`, () => calls.find((c) => c.request_id === requestId));

  before(async () => {
    upstream = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((r) => upstream.once('listening', () => r()));
    upstream.on('connection', (sock, req) => {
      upstreamConnections++;
      seen.push(req.headers);
      sock.on('message', (data: Buffer, isBinary) => sock.send(data, { binary: isBinary }));
    });
    const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
    idp = createServer((req, res) => {
      const m = /^\/jwks\/([a-z0-9-]+)$/.exec(req.url ?? '');
      if (m === null) return void res.writeHead(404).end();
      const name = m[1]!;
      const answer = () => {
        served.set(name, (served.get(name) ?? 0) + 1);
        res.setHeader('content-type', 'application/json');
        res.setHeader('cache-control', 'max-age=300');
        res.end(JSON.stringify({ keys: [jwk] }));
      };
      const queue = held.get(name);
      if (queue) queue.push(answer);
      else answer();
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    idpPort = (idp.address() as AddressInfo).port;

    await put('upstreams', { id: ids.up, name: 'ws-up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'ws-svc', upstream_id: ids.up });
    await put('consumer_groups', { id: ids.admins, name: 'admins' });
    await put('consumers', { id: ids.alice, username: 'alice', group_ids: [ids.admins] });
    await put('consumers', { id: ids.bob, username: 'bob' });
    await put('consumers', { id: ids.dave, username: 'dave' });
    await put('credentials', { id: id(), type: 'basic', consumer_id: ids.bob, username: 'bob', password_hash: hashPassword(BASIC_PW) });
    await put('keys', { id: id(), consumer_id: ids.dave, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    gw = await startGateway({
      nodeId: 'ws-auth-1',
      bus,
      logSink: sink,
      dataDir,
      host: '127.0.0.1',
      proxyPort: 0,
      statusPort: 0,
      keyring: keyringOf(generateSecretKey()),
      trustedProxies: ['127.0.0.1'],
    });
  });

  after(async () => {
    for (const name of held.keys()) release(name);
    await gw?.close();
    for (const c of upstream?.clients ?? []) c.terminate();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => idp.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('jwt-auth: the first upgrade waits for the JWKS, then opens with the consumer and claim headers; missing or bad tokens get 401 with a Bearer challenge', T, async () => {
    await heldIssuer('a', ids.alice);
    const r = await route('/jwt');
    await plugin('jwt-auth', { route_id: r }, {});
    await applied('/jwt', 401);
    const before = upstreamConnections;

    const missing = await refused('/jwt');
    assert.equal(missing.status, 401);
    assert.equal(missing.error.code, 'TP_ERR_AUTH_TOKEN_MISSING');
    assert.match(String(missing.headers['www-authenticate']), /^Bearer\b/);
    assert.equal(missing.headers['content-type'], 'application/json');
    assert.equal(missing.error.request_id, missing.headers['x-request-id']);
    assert.equal((await logged(missing.error.request_id)).error_code, 'TP_ERR_AUTH_TOKEN_MISSING');

    // The issuer's keys are still being fetched (the IdP holds them): the upgrade waits, nothing is forwarded.
    const token = await jwt('a', { sub: 'alice-sub' });
    let settled = false;
    const pending = attempt('/jwt', { authorization: `Bearer ${token}`, 'x-jwt-sub': 'forged', 'x-consumer-id': 'forged' }).finally(() => (settled = true));
    await new Promise((res) => setTimeout(res, 250));
    assert.equal(settled, false, 'the upgrade waits for the key');
    assert.equal(upstreamConnections, before, 'no upstream connection before the key is known');
    release('a');
    const ok = await pending;
    if (!('ws' in ok)) assert.fail(`refused ${ok.status} ${JSON.stringify(ok.error)}`);
    assert.equal(await echo(ok.ws, 'hello after the wait'), 'hello after the wait');
    const h = seen.at(-1)!;
    assert.equal(h['x-consumer-id'], ids.alice);
    assert.equal(h['x-consumer-username'], 'alice');
    assert.equal(h['x-jwt-sub'], 'alice-sub', 'the claim, not the client-sent header');
    assert.equal(h.authorization, undefined, 'hide_credentials defaults on');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    await close(ok.ws);
    const requestId = String(ok.headers['x-request-id']);
    const rec = await logged(requestId);
    assert.equal(rec.status, 101);
    assert.equal(rec.consumer_id, ids.alice);

    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = await refused('/jwt', { authorization: `Bearer ${tampered}` });
    assert.equal(bad.status, 401);
    assert.equal(bad.error.code, 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal((await logged(bad.error.request_id)).error_code, 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal(served.get('a'), 1, 'keys are cached');
    assert.equal(upstreamConnections, before + 1, 'only the admitted upgrade reached the upstream');
  });

  test('a client that leaves while the JWKS is held: the pipeline stops, no upstream connection, one 499 record', T, async () => {
    await heldIssuer('b', ids.alice);
    const r = await route('/jwt-gone');
    await plugin('jwt-auth', { route_id: r }, {});
    await applied('/jwt-gone', 401);
    const token = await jwt('b', { sub: 'leaver' });
    const before = upstreamConnections;
    const sock = connect(gw.proxyPort, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write(
      'GET /jwt-gone HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\nx-request-id: ws-gone-1\r\n\r\n`,
    );
    await waitFor('the JWKS fetch to be held', () => (held.get('b')?.length ?? 0) > 0);
    await new Promise((res) => setTimeout(res, 150));
    sock.destroy();
    const rec = await logged('ws-gone-1');
    assert.equal(rec.status, 499);
    assert.equal(rec.error_code, 'TP_ERR_CLIENT_CLOSED');
    release('b');
    await waitFor('the JWKS served', () => served.get('b') === 1);
    // Time for a resumed pipeline to (wrongly) open the upstream's upgrade.
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(upstreamConnections, before, 'no upstream connection for an abandoned upgrade');
    // One record: the connection was finished (and so left the proxy's set) once, when the client left.
    assert.equal(calls.filter((c) => c.request_id === 'ws-gone-1').length, 1);
    const ok = await opened('/jwt-gone', { authorization: `Bearer ${token}` });
    assert.equal(await echo(ok.ws, 'still works'), 'still works');
    await close(ok.ws);
  });

  test('basic-auth (scrypt, asynchronous): the right password upgrades as the consumer; a wrong one is 401 with a Basic challenge', T, async () => {
    const r = await route('/basic');
    await plugin('basic-auth', { route_id: r }, { cache_ttl_s: 0 });
    await applied('/basic', 401);
    const before = upstreamConnections;
    const wrong = await refused('/basic', { authorization: basic('bob', 'nope') });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.error.code, 'TP_ERR_AUTH_BASIC_INVALID');
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="turnpike", charset="UTF-8"');
    assert.equal(upstreamConnections, before);
    const ok = await opened('/basic', { authorization: basic('bob', BASIC_PW) });
    assert.equal(await echo(ok.ws, 'bob here'), 'bob here');
    const h = seen.at(-1)!;
    assert.equal(h['x-consumer-username'], 'bob');
    assert.equal(h['x-consumer-id'], ids.bob);
    assert.equal(h.authorization, undefined);
    await close(ok.ws);
    assert.equal((await logged(String(ok.headers['x-request-id']))).consumer_id, ids.bob);
  });

  test('ip-restriction: 403 for a client outside the allow list, the upgrade opens for one a trusted proxy forwards for', T, async () => {
    const r = await route('/ip');
    await plugin('ip-restriction', { route_id: r }, { allow: ['203.0.113.0/24'] });
    await applied('/ip', 403);
    const before = upstreamConnections;
    const denied = await refused('/ip', { 'x-forwarded-for': '198.51.100.1' });
    assert.equal(denied.status, 403);
    assert.equal(denied.error.code, 'TP_ERR_IP_FORBIDDEN');
    assert.equal((await logged(denied.error.request_id)).error_code, 'TP_ERR_IP_FORBIDDEN');
    assert.equal(upstreamConnections, before);
    const ok = await opened('/ip', { 'x-forwarded-for': '203.0.113.7' });
    assert.equal(await echo(ok.ws, 'from afar'), 'from afar');
    assert.equal(seen.at(-1)!['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    await close(ok.ws);
  });

  test('acl after any-of auth: an admin opens, a non-member is 403; no credentials is 401 naming both schemes', T, async () => {
    const r = await route('/acl');
    await plugin('jwt-auth', { route_id: r }, {});
    await plugin('basic-auth', { route_id: r }, { cache_ttl_s: 0 });
    await plugin('acl', { route_id: r }, { allow: [ids.admins] });
    await applied('/acl', 401);
    const before = upstreamConnections;
    const none = await refused('/acl');
    assert.equal(none.status, 401);
    assert.deepEqual(wwwAuthenticate(none.rawHeaders).map((c) => c.split(' ')[0]).sort(), ['Basic', 'Bearer']);
    const bob = await refused('/acl', { authorization: basic('bob', BASIC_PW) });
    assert.equal(bob.status, 403);
    assert.equal(bob.error.code, 'TP_ERR_ACL_FORBIDDEN');
    const rec = await logged(bob.error.request_id);
    assert.equal(rec.error_code, 'TP_ERR_ACL_FORBIDDEN');
    assert.equal(rec.consumer_id, ids.bob, 'the refused caller is known');
    assert.equal(upstreamConnections, before);
    release('a'); // issuer "a" (the first test's): its keys are at hand
    const ok = await opened('/acl', { authorization: `Bearer ${await jwt('a', { sub: 'admin' })}` });
    assert.equal(await echo(ok.ws, 'admin'), 'admin');
    await close(ok.ws);
  });

  test('cors + key-auth: a refused upgrade carries the CORS headers; the key is checked in the pipeline', T, async () => {
    const r = await route('/cors');
    await plugin('cors', { route_id: r }, { origins: ['https://app.example'] });
    await plugin('key-auth', { route_id: r }, { hide_credentials: true });
    await applied('/cors', 401);
    const unauth = await refused('/cors', { origin: 'https://app.example' });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.error.code, 'TP_ERR_AUTH_KEY_MISSING');
    assert.equal(unauth.headers['access-control-allow-origin'], 'https://app.example', 'a browser can read the 401');
    assert.match(String(unauth.headers['www-authenticate']), /^ApiKey\b/);
    const ok = await opened('/cors', { origin: 'https://app.example', apikey: KEY });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    const h = seen.at(-1)!;
    assert.equal(h.apikey, undefined);
    assert.equal(h['x-consumer-username'], 'dave');
    await close(ok.ws);
  });

  test('inline key-auth (the fast path without a pipeline) answers 401 with the ApiKey challenge', T, async () => {
    await route('/inline-key', { plugins: { 'key-auth': { header_names: ['apikey'], hide_credentials: true } } });
    await applied('/inline-key', 401);
    const missing = await refused('/inline-key');
    assert.equal(missing.error.code, 'TP_ERR_AUTH_KEY_MISSING');
    assert.match(String(missing.headers['www-authenticate']), /^ApiKey\b/);
    const ok = await opened('/inline-key', { apikey: KEY });
    assert.equal(seen.at(-1)!['x-consumer-username'], 'dave');
    await close(ok.ws);
  });

  test('request-validation: an upgrade with an invalid query is 400 listing the field', T, async () => {
    const r = await route('/validated');
    await plugin('request-validation', { route_id: r }, { source: 'schemas', query_schema: { type: 'object', properties: { limit: { type: 'integer', maximum: 100 } } } });
    await applied('/validated?limit=500', 400);
    const bad = await refused('/validated?limit=500');
    assert.equal(bad.error.code, 'TP_ERR_REQUEST_INVALID');
    assert.deepEqual(bad.error.fields?.map((f) => f.path), ['/query/limit']);
    const ok = await opened('/validated?limit=5');
    assert.equal(await echo(ok.ws, 'valid'), 'valid');
    await close(ok.ws);
  });
});

/** The WWW-Authenticate fields of a response, one per challenge (raw headers keep repeated fields apart). */
function wwwAuthenticate(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'www-authenticate') out.push(raw[i + 1]!);
  return out;
}
