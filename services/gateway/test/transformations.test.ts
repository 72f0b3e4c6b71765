// Transformations through the real proxy port, configured as the control plane publishes them (an in-process
// config bus): what the upstream gets from request-transformer (headers, query, path, method, a mapped JSON
// body), what the client gets from response-transformer (headers, status, a mapped JSON body), and mock
// answers that never reach the upstream — each after the route's access checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const KEY = 'dave-key-0123456789abcdef';
const LIST = { items: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }], meta: { count: 2 } };

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('transformations through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-transform-'));
  let upstream: Server;
  let seen: Seen[] = [];
  let gw: Gateway;
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), dave: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const route = async (path: string) => {
    const rid = id();
    await put('routes', { id: rid, name: `r${rid.slice(0, 8)}`, service_id: ids.svc, paths: [path] });
    return rid;
  };
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  async function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    const r = await request(`http://127.0.0.1:${gw.proxyPort}${path}`, {
      method: (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')) as 'GET',
      headers: opts.headers ?? {},
      body: opts.body,
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }
  const until = (what: string, check: () => Promise<boolean>) => waitFor(what, async () => ((await check()) ? true : null), 5_000);
  const lastSeen = () => seen[seen.length - 1]!;

  before(async () => {
    upstream = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const url = new URL(req.url!, 'http://upstream');
        if (url.pathname.includes('/resp/json')) {
          res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'application/json', server: 'upstream/1', 'x-upstream-id': 'u-1' });
          res.end(JSON.stringify(LIST));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain', server: 'upstream/1', 'x-upstream-id': 'u-2' });
          res.end(`plain ${req.method} ${req.url}`);
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('consumers', { id: ids.dave, username: 'dave' });
    await put('keys', { id: id(), consumer_id: ids.dave, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    gw = await startGateway({ nodeId: 'transform-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, maxBodyBytes: 4 * 1024 * 1024 });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => upstream.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('request-transformer: the upstream gets the rewritten path, method, query and headers, after authentication', async () => {
    const r = await route('/rt');
    await plugin('key-auth', { route_id: r }, {});
    await plugin('request-transformer', { route_id: r }, {
      path: { pattern: '^/rt/(?<kind>[a-z]+)/(\\d+)$', replacement: '/internal/$<kind>/item-$2' },
      method: 'PUT',
      headers: { remove: ['x-drop'], rename: { 'x-old': 'x-new' }, replace: { 'x-keep': 'replaced' }, add: { 'x-user': '{{ consumer.username }}', 'x-kind': '{{ path.kind | upper }}' } },
      query: { remove: ['drop'], rename: { a: 'b' }, add: { id: '{{ path.2 }}' } },
    });
    await until('request-transformer applied', async () => {
      const s = await call('/rt/orders/42', { headers: { apikey: KEY } });
      return s.status === 200 && lastSeen().url.startsWith('/internal/');
    });
    // Access checks come first: no key, no transformed request upstream.
    seen = [];
    assert.equal((await call('/rt/orders/42')).status, 401);
    assert.equal(seen.length, 0);

    const res = await call('/rt/orders/42?keep=a%2Fb&drop=1&a=2', { headers: { apikey: KEY, 'x-drop': 'gone', 'x-old': 'moved', 'x-keep': 'original', 'x-user': 'forged' } });
    assert.equal(res.status, 200, res.text);
    const s = lastSeen();
    assert.equal(s.method, 'PUT');
    assert.equal(s.url, '/internal/orders/item-42?keep=a%2Fb&b=2&id=42');
    assert.equal(s.headers['x-drop'], undefined);
    assert.equal(s.headers['x-old'], undefined);
    assert.equal(s.headers['x-new'], 'moved');
    assert.equal(s.headers['x-keep'], 'replaced');
    // add only when absent: the client's own x-user stays (remove it first to force a value).
    assert.equal(s.headers['x-user'], 'forged');
    assert.equal(s.headers['x-kind'], 'ORDERS');
    // A path the pattern does not match is forwarded as routed.
    await call('/rt/other', { headers: { apikey: KEY } });
    assert.equal(lastSeen().url.split('?')[0], '/rt/other');
    assert.equal(lastSeen().method, 'PUT');
  });

  test('request-transformer: a JSON body mapped by the template; a non-JSON body passes unchanged; no body renders from the query', async () => {
    const r = await route('/rb');
    await plugin('request-transformer', { route_id: r }, {
      body_template: { order: { id: '{{ body.id | number }}', lines: '{{ body.lines }}', note: 'by {{ header.x-user | default("anonymous") }}' }, source: 'gateway', q: '{{ query.q }}' },
    });
    await until('body template applied', async () => {
      await call('/rb', { body: '{"id":"1"}', headers: { 'content-type': 'application/json' } });
      return lastSeen().body.includes('"source":"gateway"');
    });
    await call('/rb', { body: '{"id":"7","lines":[{"sku":"x"}],"secret":"dropped"}', headers: { 'content-type': 'application/json', 'x-user': 'ann' } });
    const s = lastSeen();
    assert.deepEqual(JSON.parse(s.body), { order: { id: 7, lines: [{ sku: 'x' }], note: 'by ann' }, source: 'gateway', q: null });
    assert.equal(Number(s.headers['content-length']), Buffer.byteLength(s.body));
    assert.equal(s.headers['content-type'], 'application/json');

    await call('/rb', { body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(lastSeen().body, 'a=1&b=2');
    assert.equal(lastSeen().headers['content-type'], 'application/x-www-form-urlencoded');

    await call('/rb?q=hello', { method: 'POST' });
    assert.deepEqual(JSON.parse(lastSeen().body), { order: { id: null, lines: null, note: 'by anonymous' }, source: 'gateway', q: 'hello' });
    assert.equal(lastSeen().headers['content-type'], 'application/json');
  });

  test('response-transformer: the client gets mapped headers, status and JSON body; other bodies pass unchanged', async () => {
    const r = await route('/resp');
    await plugin('response-transformer', { route_id: r }, {
      headers: { remove: ['server'], rename: { 'x-upstream-id': 'x-id' }, add: { 'x-upstream-status': '{{ response.status }}', 'x-page': '{{ query.page | default("1") }}' } },
      status: { '404': 200, '500-599': 502 },
      body_template: { data: '{{ body.items }}', total: '{{ body.meta.count }}', first: '{{ body.items[0].name | upper }}', upstream_status: '{{ response.status }}' },
    });
    await until('response-transformer applied', async () => (await call('/resp/json')).headers['x-id'] === 'u-1');

    const ok = await call('/resp/json?status=404&page=3', { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.server, undefined);
    assert.equal(ok.headers['x-upstream-id'], undefined);
    assert.equal(ok.headers['x-id'], 'u-1');
    assert.equal(ok.headers['x-upstream-status'], '404');
    assert.equal(ok.headers['x-page'], '3');
    assert.deepEqual(JSON.parse(ok.text), { data: LIST.items, total: 2, first: 'A', upstream_status: 404 });
    assert.equal(Number(ok.headers['content-length']), Buffer.byteLength(ok.text));
    // The upstream was asked for an identity body: a compressed one could not be mapped.
    assert.equal(lastSeen().headers['accept-encoding'], undefined);

    const err = await call('/resp/json?status=503');
    assert.equal(err.status, 502);
    assert.equal(JSON.parse(err.text).upstream_status, 503);

    // HEAD: the head is mapped, and no body is waited for.
    const head = await call('/resp/json?status=404', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-id'], 'u-1');
    assert.equal(head.text, '');

    const plain = await call('/resp/text');
    assert.equal(plain.status, 200);
    assert.equal(plain.text, 'plain GET /resp/text');
    assert.equal(plain.headers['x-id'], 'u-2');
  });

  test('mock: matching requests are answered by the gateway without an upstream call, after access checks', async () => {
    const r = await route('/mock');
    await plugin('key-auth', { route_id: r }, {});
    await plugin('mock', { route_id: r }, { status: 201, headers: { 'x-mocked': 'yes' }, json: { id: 'm-1', ok: true }, methods: ['GET'], paths: ['^/mock/pets/\\d+$'] });
    await until('mock applied', async () => (await call('/mock/pets/1', { headers: { apikey: KEY } })).status === 201);
    seen = [];
    const m = await call('/mock/pets/7', { headers: { apikey: KEY } });
    assert.equal(m.status, 201);
    assert.equal(m.headers['x-mocked'], 'yes');
    assert.equal(m.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(m.text), { id: 'm-1', ok: true });
    assert.equal(seen.length, 0, 'the upstream is not called for a mocked request');
    // Not mocked: another method or path goes upstream; no key is refused before the mock.
    assert.equal((await call('/mock/pets/7', { method: 'DELETE', headers: { apikey: KEY } })).text, 'plain DELETE /mock/pets/7');
    assert.equal((await call('/mock/pets/cat', { headers: { apikey: KEY } })).text, 'plain GET /mock/pets/cat');
    assert.equal(seen.length, 2);
    assert.equal((await call('/mock/pets/7')).status, 401);

    // A text mock, and HEAD gets the head only.
    const t = await route('/mock-text');
    await plugin('mock', { route_id: t }, { status: 503, text: 'down for maintenance', headers: { 'retry-after': '120' } });
    await until('text mock applied', async () => (await call('/mock-text')).status === 503);
    const txt = await call('/mock-text/x', { method: 'POST', body: 'ignored' });
    assert.equal(txt.text, 'down for maintenance');
    assert.equal(txt.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(txt.headers['retry-after'], '120');
    const head = await call('/mock-text', { method: 'HEAD' });
    assert.equal(head.status, 503);
    assert.equal(head.text, '');
    assert.equal(seen.length, 2);
  });

  test('proxy-cache with a response-transformer body template: a hit serves the body the client got on the miss', async () => {
    const r = await route('/cached');
    await plugin('proxy-cache', { route_id: r }, {});
    await plugin('response-transformer', { route_id: r }, { headers: { add: { 'x-mapped': 'yes' } }, body_template: { total: '{{ body.meta.count }}' } });
    await until('cache + transformer applied', async () => (await call('/cached/resp/json?probe=1')).headers['x-mapped'] === 'yes');
    seen = [];
    const miss = await call('/cached/resp/json?n=1');
    const hit = await call('/cached/resp/json?n=1');
    assert.equal(seen.length, 1, 'the second request is a cache hit');
    assert.equal(miss.text, '{"total":2}');
    assert.equal(hit.text, miss.text);
    assert.equal(hit.headers['x-mapped'], 'yes');
  });

  test('a mock, a response-transformer and a request-transformer on one route: the mock answers first, untransformed', async () => {
    const r = await route('/combo');
    await plugin('mock', { route_id: r }, { json: { mocked: true }, paths: ['^/combo/mocked$'] });
    await plugin('response-transformer', { route_id: r }, { headers: { add: { 'x-transformed': 'yes' } } });
    await plugin('request-transformer', { route_id: r }, { headers: { add: { 'x-req': 'yes' } } });
    await until('combo applied', async () => (await call('/combo/x')).headers['x-transformed'] === 'yes');
    seen = [];
    const m = await call('/combo/mocked');
    assert.deepEqual(JSON.parse(m.text), { mocked: true });
    assert.equal(m.headers['x-transformed'], undefined);
    assert.equal(seen.length, 0);
    const p = await call('/combo/y');
    assert.equal(p.headers['x-transformed'], 'yes');
    assert.equal(lastSeen().headers['x-req'], 'yes');
  });
});
