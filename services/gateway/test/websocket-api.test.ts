// WebSocket APIs (integration `websocket-api`) through the real proxy ports of two gateway nodes sharing one
// in-process config bus and the real NATS of infra/local: key-auth at the upgrade (401), $connect's backend
// deciding the upgrade (403), messages routed by `$request.body.action` to an HTTP backend (a node:http server
// checking every event field), to a Lambda function (the SigV4-verifying fake Invoke API) and to $default,
// answers relayed to the client, AWS's error frames (no route, throttled), $disconnect on close, the message
// size limit (1009), the per-connection rate limit, the idle timeout (1001), and the connection management
// API across nodes: a connection opened on node A is posted to, read and closed through node B; then 410.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import WebSocket from 'ws';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { InProcessConfigBus, entityKey, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { testEnv, waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { NatsWsApiChannel } from '../src/websocket-api/cluster.js';
import { newConnectionId } from '../src/websocket-api/connection-id.js';
import { startFakeLambda, type FakeLambda } from './fixtures/fake-lambda.js';

const now = new Date().toISOString();
const KEY = 'ws-api-key-0123456789abcdef';
const REGION = 'us-east-1';
const T = { timeout: 20_000 };
const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));

type Event = {
  headers?: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: Record<string, unknown> & { routeKey: string; eventType: string; connectionId: string; identity: { sourceIp: string } };
  body?: string;
  isBase64Encoded: boolean;
};

describe('WebSocket APIs on two gateway nodes', { timeout: 180_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const cluster = `wsapi${Date.now().toString(36)}`;
  const dirs: string[] = [];
  const conns: NatsConnection[] = [];
  let a: Gateway;
  let b: Gateway;
  let backend: Server;
  let lambda: FakeLambda;
  /** Every event the HTTP backend received, with the path it was POSTed to. */
  const events: { path: string; event: Event; requestId: string }[] = [];
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), chat: id(), strict: id(), idle: id(), dave: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));

  const open = (gw: Gateway, path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; messages: string[] } | { status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.proxyPort}${path}`, { headers: { 'user-agent': 'ws-api-test', ...headers }, perMessageDeflate: false });
      const messages: string[] = [];
      ws.on('message', (d: Buffer) => messages.push(d.toString()));
      ws.once('open', () => resolve({ ws, messages }));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      ws.once('error', reject);
    });
  const opened = async (gw: Gateway, path: string, headers: Record<string, string> = { apikey: KEY }) => {
    const r = await open(gw, path, headers);
    if (!('ws' in r)) assert.fail(`${path}: refused ${r.status} ${r.body}`);
    return r;
  };
  /** Sends `text` and waits for the next message the client receives. */
  const ask = async (c: { ws: WebSocket; messages: string[] }, text: string | Buffer): Promise<string> => {
    const n = c.messages.length;
    c.ws.send(text);
    return await waitFor('an answer', () => (c.messages.length > n ? c.messages[n]! : null), 5_000);
  };
  const manage = async (gw: Gateway, method: 'POST' | 'GET' | 'DELETE', path: string, body?: string, headers: Record<string, string> = { apikey: KEY }) => {
    const res = await request(`http://127.0.0.1:${gw.proxyPort}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: text !== '' && String(res.headers['content-type']).includes('json') ? (JSON.parse(text) as Record<string, any>) : null };
  };
  /** The client's own connection id, as the `whoami` route tells it. */
  const whoami = async (c: { ws: WebSocket; messages: string[] }) => (JSON.parse(await ask(c, JSON.stringify({ action: 'whoami' }))) as { connectionId: string }).connectionId;

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDWSAPITEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'ws-api-test-secret';
    delete process.env.AWS_SESSION_TOKEN;
    lambda = await startFakeLambda({ region: REGION, keys: { AKIDWSAPITEST: 'ws-api-test-secret' } });
    lambda.functions.set('ws-fn', {
      handler: (event) => {
        const e = event as Event;
        return { statusCode: 200, body: JSON.stringify({ lambda: true, routeKey: e.requestContext.routeKey, eventType: e.requestContext.eventType, body: e.body }) };
      },
    });
    backend = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString()) as Event;
        events.push({ path: req.url ?? '', event, requestId: String(req.headers['x-request-id'] ?? '') });
        const send = (status: number, body = '') => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
        switch (req.url) {
          case '/connect':
            return event.queryStringParameters?.deny ? send(403, '{"denied":true}') : send(200);
          case '/whoami':
            return send(200, JSON.stringify({ connectionId: event.requestContext.connectionId }));
          case '/echo':
            return send(200, JSON.stringify({ echo: (JSON.parse(event.body!) as { text: string }).text, routeKey: event.requestContext.routeKey }));
          case '/default':
            return send(200, `default:${event.isBase64Encoded ? 'b64:' : ''}${event.body}`);
          case '/fail':
            return send(500);
          default:
            return send(200);
        }
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const http = (path: string) => ({ type: 'http', upstream_id: ids.up, path });
    await put('upstreams', { id: ids.up, name: 'ws-api-backend', targets: [{ host: '127.0.0.1', port: (backend.address() as AddressInfo).port }] });
    await put('services', {
      id: ids.chat,
      name: 'chat',
      upstream_id: null,
      integration: {
        type: 'websocket-api',
        route_selection_expression: '$request.body.action',
        routes: {
          $connect: http('/connect'),
          $disconnect: http('/disconnect'),
          $default: http('/default'),
          whoami: http('/whoami'),
          echo: http('/echo'),
          fail: http('/fail'),
          fn: { type: 'lambda', function_name: 'ws-fn', region: REGION, endpoint_url: lambda.url, timeout_ms: 5_000 },
        },
        idle_timeout_ms: 60_000,
        max_message_bytes: 1024,
      },
    });
    await put('services', {
      id: ids.strict,
      name: 'strict',
      upstream_id: null,
      integration: { type: 'websocket-api', route_selection_expression: '$request.body.meta.kind', routes: { whoami: http('/whoami') }, message_rate_limit: 2 },
    });
    await put('services', {
      id: ids.idle,
      name: 'idle',
      upstream_id: null,
      integration: { type: 'websocket-api', route_selection_expression: '$default', routes: { $default: http('/default') }, idle_timeout_ms: 1_000 },
    });
    const chatRoute = id();
    await put('routes', { id: chatRoute, name: 'chat', service_id: ids.chat, paths: ['/chat'] });
    await put('plugins', { id: id(), type: 'key-auth', enabled: true, scope: { route_id: chatRoute }, config: {} });
    await put('routes', { id: id(), name: 'strict', service_id: ids.strict, paths: ['/strict'] });
    await put('routes', { id: id(), name: 'idle', service_id: ids.idle, paths: ['/idle'] });
    await put('consumers', { id: ids.dave, username: 'dave' });
    await put('keys', { id: id(), consumer_id: ids.dave, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    for (const name of ['a', 'b']) {
      const nc = await connect({ servers: testEnv().natsUrl });
      conns.push(nc);
      const dataDir = mkdtempSync(join(tmpdir(), `tp-gw-wsapi-${name}-`));
      dirs.push(dataDir);
      const gw = await startGateway({
        nodeId: `${cluster}-${name}`,
        cluster,
        bus,
        logSink: sink,
        dataDir,
        host: '127.0.0.1',
        proxyPort: 0,
        statusPort: 0,
        heartbeatIntervalMs: 0,
        wsApiChannel: new NatsWsApiChannel(() => nc, cluster),
      });
      if (name === 'a') a = gw;
      else b = gw;
    }
  });

  after(async () => {
    await a?.close();
    await b?.close();
    for (const nc of conns) if (!nc.isClosed()) await nc.close();
    await new Promise((r) => backend?.close(r));
    await lambda?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('$connect: key-auth refuses an upgrade without a key (401), the backend refuses with its status (403), and accepts with an AWS CONNECT event', T, async () => {
    const noKey = await open(a, '/chat');
    assert.ok(!('ws' in noKey));
    assert.equal(noKey.status, 401);
    assert.equal((JSON.parse(noKey.body) as { error: { code: string } }).error.code, 'TP_ERR_AUTH_KEY_MISSING');
    const before = events.length;
    const denied = await open(a, '/chat?deny=1', { apikey: KEY });
    assert.ok(!('ws' in denied));
    assert.equal(denied.status, 403);
    assert.equal((JSON.parse(denied.body) as { error: { code: string } }).error.code, 'TP_ERR_WS_CONNECT_REFUSED');
    assert.equal(events.length, before + 1, 'the refused upgrade ran $connect once and nothing else');

    const c = await opened(a, '/chat?room=blue');
    const connect = events.filter((e) => e.path === '/connect').at(-1)!.event;
    const rc = connect.requestContext;
    assert.equal(rc.routeKey, '$connect');
    assert.equal(rc.eventType, 'CONNECT');
    assert.equal(rc.messageDirection, 'IN');
    assert.equal(rc.identity.sourceIp, '127.0.0.1');
    assert.equal((rc.identity as { userAgent?: string }).userAgent, 'ws-api-test');
    assert.equal(rc.apiId, ids.chat);
    assert.equal(rc.domainName, '127.0.0.1');
    assert.equal(typeof rc.connectedAt, 'number');
    assert.equal(typeof rc.requestTimeEpoch, 'number');
    assert.match(String(rc.requestTime), /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    assert.deepEqual(rc.authorizer, { principalId: ids.dave, consumerId: ids.dave, credentialId: (rc.authorizer as { credentialId: string }).credentialId });
    assert.deepEqual(connect.queryStringParameters, { room: 'blue' });
    assert.equal(connect.headers?.['user-agent'], 'ws-api-test');
    assert.equal(connect.isBase64Encoded, false);
    assert.equal(rc.connectionId, await whoami(c), 'every event of a connection names the same id');
    c.ws.close();
  });

  test('messages: routed by $request.body.action to custom routes, the Lambda route and $default; answers reach the client', T, async () => {
    const c = await opened(a, '/chat');
    const id = await whoami(c);
    assert.deepEqual(JSON.parse(await ask(c, JSON.stringify({ action: 'echo', text: 'hi' }))), { echo: 'hi', routeKey: 'echo' });
    const msg = events.filter((e) => e.path === '/echo').at(-1)!;
    const rc = msg.event.requestContext;
    assert.equal(rc.eventType, 'MESSAGE');
    assert.equal(rc.connectionId, id);
    assert.equal(typeof rc.messageId, 'string');
    assert.equal(rc.requestId, msg.requestId, 'the backend call carries the event requestId as X-Request-Id');
    assert.equal(msg.event.body, JSON.stringify({ action: 'echo', text: 'hi' }));
    assert.equal(msg.event.headers, undefined, 'MESSAGE events carry no headers (as AWS)');

    const fromLambda = JSON.parse(await ask(c, JSON.stringify({ action: 'fn', n: 1 }))) as Record<string, unknown>;
    assert.deepEqual(fromLambda, { lambda: true, routeKey: 'fn', eventType: 'MESSAGE', body: JSON.stringify({ action: 'fn', n: 1 }) });
    assert.equal(lambda.badSignatures, 0);

    assert.equal(await ask(c, JSON.stringify({ action: 'nope' })), `default:${JSON.stringify({ action: 'nope' })}`, 'an unknown key goes to $default');
    assert.equal(await ask(c, 'not json'), 'default:not json', 'non-JSON goes to $default');
    assert.equal(await ask(c, Buffer.from([1, 2, 3])), `default:b64:${Buffer.from([1, 2, 3]).toString('base64')}`, 'binary arrives base64-encoded');
    const failed = JSON.parse(await ask(c, JSON.stringify({ action: 'fail' }))) as Record<string, string>;
    assert.equal(failed.message, 'Internal server error');
    assert.equal(failed.connectionId, id);
    const done = closed(c.ws);
    c.ws.close(1000, 'bye');
    await done;
    const disconnect = await waitFor('$disconnect', () => events.find((e) => e.path === '/disconnect' && e.event.requestContext.connectionId === id), 5_000);
    assert.equal(disconnect.event.requestContext.eventType, 'DISCONNECT');
    assert.equal(disconnect.event.requestContext.routeKey, '$disconnect');
    assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1000);
    // The connection's call record counts its messages' bytes, like a proxied WebSocket's.
    const rec = await waitFor('the call record', () => calls.find((r) => r.status === 101 && r.route_id !== '' && r.bytes_in > 0 && r.service_id === ids.chat), 10_000);
    assert.ok(rec.bytes_out > 0);
  });

  test('no route and no $default: AWS\'s Forbidden frame; over message_rate_limit: a throttled frame, the connection stays open; dotted selection paths', T, async () => {
    const c = await opened(b, '/strict', {});
    const id = await waitFor('whoami', async () => {
      const r = JSON.parse(await ask(c, JSON.stringify({ meta: { kind: 'whoami' } }))) as Record<string, string>;
      return r.connectionId;
    });
    await new Promise((r) => setTimeout(r, 1_100)); // the bucket refills (2 per second)
    const frame = JSON.parse(await ask(c, JSON.stringify({ meta: { kind: 'other' } }))) as Record<string, string>;
    assert.equal(frame.message, 'Forbidden');
    assert.equal(frame.connectionId, id);
    assert.equal(typeof frame.requestId, 'string');
    await new Promise((r) => setTimeout(r, 1_100));
    const n = c.messages.length;
    for (let i = 0; i < 5; i++) c.ws.send(JSON.stringify({ meta: { kind: 'whoami' } }));
    await waitFor('five answers', () => c.messages.length >= n + 5 || null, 5_000);
    const answers = c.messages.slice(n).map((m) => JSON.parse(m) as Record<string, string>);
    assert.equal(answers.filter((m) => m.message === 'Too Many Requests').length, 3, JSON.stringify(answers));
    assert.equal(answers.filter((m) => m.connectionId === id && m.message === undefined).length, 2);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    c.ws.close();
  });

  test('a message over max_message_bytes closes with 1009; an idle connection closes with 1001', T, async () => {
    const c = await opened(a, '/chat');
    const big = closed(c.ws);
    c.ws.send('x'.repeat(2_000));
    assert.equal((await big).code, 1009);
    const idle = await opened(b, '/idle', {});
    const t0 = Date.now();
    const gone = await closed(idle.ws);
    assert.equal(gone.code, 1001);
    assert.ok(Date.now() - t0 >= 900, 'not before the idle timeout');
  });

  test('@connections across nodes: opened on A, posted to, read and closed through B; then 410', T, async () => {
    const c = await opened(a, '/chat');
    const id = await whoami(c);
    const path = `/chat/@connections/${encodeURIComponent(id)}`;
    assert.equal((await manage(b, 'POST', path, 'hello', {})).status, 401, 'the route\'s key-auth guards the management API');
    const n = c.messages.length;
    assert.equal((await manage(b, 'POST', path, '{"from":"b"}')).status, 200);
    assert.equal(await waitFor('the posted message', () => c.messages[n], 5_000), '{"from":"b"}');
    const info = await manage(b, 'GET', path);
    assert.equal(info.status, 200);
    assert.equal(info.json!.identity.sourceIp, '127.0.0.1');
    assert.ok(Date.parse(info.json!.connectedAt) <= Date.parse(info.json!.lastActiveAt));
    assert.equal((await manage(a, 'GET', path)).status, 200, 'the owning node answers too');
    const gone = closed(c.ws);
    assert.equal((await manage(b, 'DELETE', path)).status, 204);
    assert.equal((await gone).code, 1000);
    for (const gw of [a, b]) {
      const r = await manage(gw, 'POST', path, 'late');
      assert.equal(r.status, 410);
      assert.equal(r.json!.error.code, 'TP_ERR_WS_CONNECTION_GONE');
      assert.equal((await manage(gw, 'GET', path)).status, 410);
    }
    assert.equal((await manage(b, 'GET', `/chat/@connections/${newConnectionId(`${cluster}-ghost`, 0)}`)).status, 410, 'a node that is not there holds nothing');
    assert.equal((await manage(b, 'GET', '/chat/@connections/not-an-id')).status, 410);
  });
});

describe('WebSocket APIs on a node with worker threads', { timeout: 120_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-wsapi-w-'));
  let gw: Gateway;
  let backend: Server;
  let rev = 0;
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));

  before(async () => {
    backend = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString()) as Event;
        res.writeHead(200, { 'content-type': 'application/json' }).end(event.requestContext.eventType === 'MESSAGE' ? JSON.stringify({ connectionId: event.requestContext.connectionId }) : '');
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const up = randomUUID();
    const svc = randomUUID();
    await put('upstreams', { id: up, name: 'wsw-backend', targets: [{ host: '127.0.0.1', port: (backend.address() as AddressInfo).port }] });
    await put('services', { id: svc, name: 'wsw', upstream_id: null, integration: { type: 'websocket-api', route_selection_expression: '$default', routes: { $default: { type: 'http', upstream_id: up } } } });
    await put('routes', { id: randomUUID(), name: 'wsw', service_id: svc, paths: ['/w'] });
    gw = await startGateway({ nodeId: 'wsapi-workers', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, heartbeatIntervalMs: 0, workers: 2 });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => backend?.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('management calls reach connections held by either worker (through the primary); closed ones answer 410', T, async () => {
    const clients: { ws: WebSocket; messages: string[]; id: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.proxyPort}/w`, { perMessageDeflate: false });
      const messages: string[] = [];
      ws.on('message', (d: Buffer) => messages.push(d.toString()));
      await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
      ws.send('who');
      const id = await waitFor('its id', () => (messages.length > 0 ? (JSON.parse(messages[0]!) as { connectionId: string }).connectionId : null), 5_000);
      clients.push({ ws, messages, id });
    }
    const workers = new Set(clients.map((c) => Buffer.from(c.id, 'base64url').readUInt8(10)));
    assert.equal(workers.size, 2, 'the kernel spread the connections over both workers');
    for (const c of clients) {
      // A new TCP connection per call: the call lands on either worker.
      const res = await request(`http://127.0.0.1:${gw.proxyPort}/w/@connections/${c.id}`, { method: 'POST', body: `to ${c.id}`, reset: true });
      await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.equal(await waitFor('the posted message', () => c.messages[1], 5_000), `to ${c.id}`);
    }
    for (const c of clients) {
      const gone = closed(c.ws);
      const res = await request(`http://127.0.0.1:${gw.proxyPort}/w/@connections/${c.id}`, { method: 'DELETE', reset: true });
      await res.body.text();
      assert.equal(res.statusCode, 204);
      await gone;
      const again = await request(`http://127.0.0.1:${gw.proxyPort}/w/@connections/${c.id}`, { method: 'GET', reset: true });
      await again.body.text();
      assert.equal(again.statusCode, 410);
    }
  });
});
