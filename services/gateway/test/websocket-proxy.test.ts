// WebSocket proxying through the real proxy port of an embedded gateway, against real `ws` servers as
// upstreams: frames both ways, subprotocols, close codes, refusals, auth, limits, idle timeout and
// backpressure in both directions.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { InProcessConfigBus, entityKey, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const MiB = 1024 * 1024;
/** The test gateway's message limit (TP_WS_MAX_MESSAGE_BYTES). */
const MAX_MESSAGE = 8 * MiB;
/** Each test is bounded on its own: a hang fails that test, not the file. */
const T = { timeout: 30_000 };

/** What the upstream saw of one connection. */
interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  protocol: string;
  close: Promise<{ code: number; reason: string }>;
  sock: WebSocket;
  received: number;
}

/** Resolves with the next value pushed; a queue so no event is lost between awaits. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.#waiters.shift();
    if (w) w(v);
    else this.#items.push(v);
  }
  clear(): void {
    this.#items.length = 0;
  }
  next(ms = 10_000): Promise<T> {
    const v = this.#items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting')), ms);
      this.#waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }
}

describe('WebSocket proxying', { timeout: 180_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = {
    write: async (batch) => void calls.push(...batch),
    close: async () => undefined,
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-ws-'));
  const KEY = 'ws-test-key-' + randomUUID();
  const ids = { consumer: randomUUID(), key: randomUUID(), http: randomUUID(), wsint: randomUUID(), idle: randomUUID(), auth: randomUUID(), strip: randomUUID() };
  let gw: Gateway;
  let upstream: WebSocketServer;
  let upstreamPort = 0;
  let deadPort = 0;
  let mute: ReturnType<typeof createServer>;
  const seen = new Inbox<Seen>();
  let upstreamConnections = 0;
  /** Bytes the /flood upstream has handed to its socket so far. */
  let floodSent = 0;
  let rev = 0;
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const wsUrl = (p: string) => `ws://127.0.0.1:${gw.proxyPort}${p}`;

  /** Opens a client through the gateway; rejects with {status, body, headers} when the upgrade is answered otherwise. */
  const open = (path: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(path), protocols, { headers, perMessageDeflate: false, maxPayload: 64 * MiB });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body, headers: res.headers })));
      });
      ws.once('error', reject);
    });
  const refused = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; error: { code: string; message: string; request_id: string } }> => {
    try {
      const ws = await open(path, [], headers);
      ws.terminate();
    } catch (e) {
      const r = e as { status?: number; body?: string };
      if (r.status === undefined) throw e;
      return { status: r.status, error: (JSON.parse(r.body!) as { error: { code: string; message: string; request_id: string } }).error };
    }
    assert.fail(`${path}: the upgrade was accepted`);
  };
  const closed = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
    new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  const message = (ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> =>
    new Promise((r) => ws.once('message', (data, isBinary) => r({ data: data as Buffer, isBinary })));
  const metricsText = async (): Promise<string> => (await (await request(`http://127.0.0.1:${gw.statusPort}/metrics`)).body.text());
  const metric = (text: string, line: string): number => {
    const m = new RegExp(`^${line.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const waitFor = async <T>(what: string, fn: () => T | null | undefined | false, ms = 10_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  before(async () => {
    upstream = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: false,
      maxPayload: 64 * MiB,
      handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : offered.has('chat.v1') ? 'chat.v1' : false),
      verifyClient: ({ req }, cb) => {
        if (req.url?.includes('/slow-accept')) setTimeout(() => cb(true), 600);
        else if (req.url?.includes('/refuse-403')) cb(false, 403, 'Forbidden');
        else if (req.url?.includes('/refuse-503')) cb(false, 503, 'Service Unavailable');
        else cb(true);
      },
    });
    await new Promise<void>((r) => upstream.once('listening', () => r()));
    upstreamPort = (upstream.address() as AddressInfo).port;
    upstream.on('connection', (sock, req) => {
      upstreamConnections++;
      const s: Seen = {
        url: req.url ?? '',
        headers: req.headers,
        protocol: sock.protocol,
        sock,
        received: 0,
        close: new Promise((r) => sock.once('close', (code, reason) => r({ code, reason: reason.toString() }))),
      };
      seen.push(s);
      const url = s.url;
      if (url.includes('/flood')) return void flood(sock, Number(new URL(url, 'http://x').searchParams.get('mb')) * MiB);
      if (url.includes('/sink')) {
        // Reads nothing: what the client sends piles up in front of it.
        sock.pause();
        return;
      }
      sock.on('message', (data: Buffer, isBinary) => {
        s.received += data.length;
        const text = isBinary ? '' : data.toString();
        if (text.startsWith('close:')) {
          const [, code, reason] = text.split(':');
          sock.close(Number(code), reason);
        } else if (text === 'terminate') sock.terminate();
        else if (text.startsWith('big:')) sock.send(randomBytes(Number(text.slice(4))), { binary: true });
        else if (text === 'ping') sock.ping('from-upstream');
        else sock.send(data, { binary: isBinary });
      });
    });
    // Accepts connections and never answers.
    mute = createServer(() => undefined);
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    const muteUp = randomUUID();
    const muteSvc = randomUUID();
    await put('upstreams', { id: muteUp, name: 'mute-up', targets: [{ host: '127.0.0.1', port: (mute.address() as AddressInfo).port }], read_timeout_ms: 500 });
    await put('services', { id: muteSvc, name: 'mute-svc', upstream_id: muteUp });
    await put('routes', { id: randomUUID(), name: 'mute', service_id: muteSvc, paths: ['/mute'] });
    // A port nothing listens on.
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
    deadPort = (tmp.address() as AddressInfo).port;
    await new Promise((r) => tmp.close(r));

    const upId = randomUUID();
    const deadUp = randomUUID();
    await put('upstreams', { id: upId, name: 'ws-up', targets: [{ host: '127.0.0.1', port: upstreamPort }] });
    await put('upstreams', { id: deadUp, name: 'dead-up', targets: [{ host: '127.0.0.1', port: deadPort }] });
    const deadSvc = randomUUID();
    await put('services', { id: ids.http, name: 'http-svc', upstream_id: upId });
    await put('services', { id: ids.wsint, name: 'ws-svc', integration: { type: 'websocket', upstream_id: upId, subprotocols: ['chat.v1', 'chat.v2'], idle_timeout_ms: 60_000 } });
    await put('services', { id: ids.idle, name: 'idle-svc', integration: { type: 'websocket', upstream_id: upId, idle_timeout_ms: 1_000 } });
    await put('services', { id: ids.strip, name: 'strip-svc', upstream_id: upId, base_path: '/base' });
    await put('services', { id: deadSvc, name: 'dead-svc', upstream_id: deadUp });
    await put('routes', { id: randomUUID(), name: 'echo', service_id: ids.http, paths: ['/echo'] });
    await put('routes', { id: randomUUID(), name: 'wsint', service_id: ids.wsint, paths: ['/wsint'] });
    await put('routes', { id: randomUUID(), name: 'idle', service_id: ids.idle, paths: ['/idle'] });
    await put('routes', { id: randomUUID(), name: 'strip', service_id: ids.strip, paths: ['/strip'], strip_path: true });
    await put('routes', { id: randomUUID(), name: 'dead', service_id: deadSvc, paths: ['/dead'] });
    await put('routes', { id: ids.auth, name: 'auth', service_id: ids.http, paths: ['/auth'], plugins: { 'key-auth': { header_names: ['apikey'], hide_credentials: true } } });
    await put('consumers', { id: ids.consumer, username: 'carol' });
    await put('keys', { id: ids.key, consumer_id: ids.consumer, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    gw = await startGateway({ nodeId: 'ws-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, wsMaxMessageBytes: MAX_MESSAGE });
  });

  /** Sends `total` bytes in 64 KiB binary messages, each starting with its sequence number, as fast as its socket takes them. */
  function flood(sock: WebSocket, total: number): void {
    const CHUNK = 64 * 1024;
    let seq = 0;
    const pump = (): void => {
      // Keep at most 256 KiB in this server's own buffer: what piles up anywhere else is the gateway's doing.
      while (floodSent < total && sock.readyState === WebSocket.OPEN && sock.bufferedAmount < 256 * 1024) {
        const chunk = Buffer.alloc(CHUNK, seq & 0xff);
        chunk.writeUInt32BE(seq++, 0);
        floodSent += CHUNK;
        sock.send(chunk, { binary: true });
      }
      if (floodSent < total && sock.readyState === WebSocket.OPEN) setTimeout(pump, 2);
    };
    pump();
  }

  // Each test reads the upstream connections it opens itself.
  beforeEach(() => seen.clear());

  after(async () => {
    await gw?.close();
    for (const c of upstream?.clients ?? []) c.terminate();
    await new Promise((r) => upstream?.close(r));
    mute?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('text and binary messages are echoed through the proxy with their type kept', T, async () => {
    const ws = await open('/echo');
    ws.send('hello, upstream');
    const t = await message(ws);
    assert.equal(t.isBinary, false);
    assert.equal(t.data.toString(), 'hello, upstream');
    const bin = randomBytes(1000);
    ws.send(bin);
    const b = await message(ws);
    assert.equal(b.isBinary, true);
    assert.deepEqual(b.data, bin);
    ws.send('');
    assert.equal((await message(ws)).data.length, 0, 'an empty message is a message too');
    ws.close();
    await closed(ws);
  });

  test('messages of several MB pass whole both ways, byte for byte', T, async () => {
    const ws = await open('/echo');
    for (const size of [3 * MiB, 6 * MiB]) {
      const payload = randomBytes(size);
      ws.send(payload);
      const back = await message(ws);
      assert.equal(back.data.length, size);
      assert.equal(createHash('sha256').update(back.data).digest('hex'), createHash('sha256').update(payload).digest('hex'));
    }
    ws.send(`big:${5 * MiB}`);
    assert.equal((await message(ws)).data.length, 5 * MiB, 'a 5 MB message from the upstream');
    ws.close();
    await closed(ws);
  });

  test('the upgrade forwards path (strip_path + base_path), query, X-Forwarded-*, the request id and no hop-by-hop headers', T, async () => {
    // By hand: client libraries write Connection themselves.
    const sock = connect(gw.proxyPort, '127.0.0.1');
    sock.write(
      'GET /strip/room/7?user=ann HTTP/1.1\r\nHost: 127.0.0.1:' + gw.proxyPort + '\r\nUpgrade: websocket\r\nConnection: Upgrade, x-drop-me\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-request-id: ws-req-1\r\nx-custom: kept\r\n' +
        'x-forwarded-for: 10.0.0.9\r\nkeep-alive: timeout=5\r\nx-drop-me: 1\r\n\r\n',
    );
    let head = '';
    await new Promise<void>((r) =>
      sock.on('data', (c: Buffer) => {
        head += c.toString('latin1');
        if (head.includes('\r\n\r\n')) r();
      }),
    );
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.match(head, /\r\nx-request-id: ws-req-1\r\n/i);
    const s = await seen.next();
    assert.equal(s.url, '/base/room/7?user=ann');
    assert.equal(s.headers['x-request-id'], 'ws-req-1');
    assert.equal(s.headers['x-custom'], 'kept');
    assert.equal(s.headers['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
    assert.equal(s.headers['x-forwarded-proto'], 'http');
    assert.equal(s.headers['x-forwarded-host'], `127.0.0.1:${gw.proxyPort}`);
    assert.equal(s.headers['x-forwarded-port'], String(gw.proxyPort));
    assert.equal(s.headers.host, `127.0.0.1:${upstreamPort}`);
    assert.equal(s.headers['keep-alive'], undefined);
    assert.equal(s.headers['x-drop-me'], undefined, 'a header the client named in Connection is hop-by-hop');
    assert.match(String(s.headers.via), /turnpike/);
    const upClosed = s.close;
    sock.destroy();
    assert.equal((await upClosed).code, 1001);
  });

  test('the client receives the subprotocol the upstream chose', T, async () => {
    const ws = await open('/echo', ['chat.v1', 'chat.v2']);
    assert.equal(ws.protocol, 'chat.v2');
    const s = await seen.next();
    assert.equal(s.headers['sec-websocket-protocol'], 'chat.v1,chat.v2', 'an http service forwards every offered subprotocol');
    ws.close();
    await closed(ws);
  });

  test('a websocket integration forwards only the subprotocols its allow-list names', T, async () => {
    const ws = await open('/wsint', ['mqtt', 'chat.v1', 'graphql-ws']);
    const s = await seen.next();
    assert.equal(s.headers['sec-websocket-protocol'], 'chat.v1');
    assert.equal(ws.protocol, 'chat.v1');
    assert.equal(s.protocol, 'chat.v1');
    ws.close();
    await closed(ws);
    // None allowed: the client would fail a handshake without one, so it is told at once.
    const before = upstreamConnections;
    const none = await refused('/wsint', { 'sec-websocket-protocol': 'mqtt' });
    assert.equal(none.status, 400);
    assert.match(none.error.message, /subprotocol/);
    assert.equal(upstreamConnections, before);
    // Offering none is fine: the upstream is offered none.
    const ws2 = await open('/wsint');
    const s2 = await seen.next();
    assert.equal(s2.headers['sec-websocket-protocol'], undefined);
    ws2.close();
    await closed(ws2);
  });

  test('close codes and reasons cross both ways: client 4001 "bye" reaches the upstream, upstream 4002 reaches the client', T, async () => {
    const a = await open('/echo');
    const sa = await seen.next();
    const aClosed = closed(a);
    a.close(4001, 'bye');
    assert.deepEqual(await sa.close, { code: 4001, reason: 'bye' });
    assert.equal((await aClosed).code, 4001);

    const b = await open('/echo');
    const sb = await seen.next();
    const bClosed = closed(b);
    b.send('close:4002:app says bye');
    assert.deepEqual(await bClosed, { code: 4002, reason: 'app says bye' });
    assert.equal((await sb.close).code, 4002);

    const c = await open('/echo');
    const sc = await seen.next();
    const cClosed = closed(c);
    c.close(1000);
    assert.equal((await sc.close).code, 1000);
    await cClosed;
  });

  test('an upstream that drops the connection closes the client with 1011; a client that vanishes closes the upstream with 1001', T, async () => {
    const a = await open('/echo');
    await seen.next();
    const aClosed = closed(a);
    a.send('terminate');
    assert.deepEqual(await aClosed, { code: 1011, reason: 'upstream connection lost' });

    const b = await open('/echo');
    const sb = await seen.next();
    b.terminate();
    assert.deepEqual(await sb.close, { code: 1001, reason: 'client went away' });
  });

  test('pings are answered on each hop', T, async () => {
    const ws = await open('/echo');
    const s = await seen.next();
    const pong = new Promise<Buffer>((r) => ws.once('pong', r));
    ws.ping('from-client');
    assert.equal((await pong).toString(), 'from-client');
    const upstreamPong = new Promise<Buffer>((r) => s.sock.once('pong', r));
    ws.send('ping');
    assert.equal((await upstreamPong).toString(), 'from-upstream');
    ws.close();
    await closed(ws);
  });

  test('an upstream refusing the upgrade: its 4xx is passed on, anything else is 502; both as JSON errors', T, async () => {
    const r403 = await refused('/echo/refuse-403');
    assert.equal(r403.status, 403);
    assert.equal(r403.error.code, 'TP_ERR_UPSTREAM_UPGRADE_REFUSED');
    assert.match(r403.error.message, /403/);
    assert.ok(r403.error.request_id);
    const r503 = await refused('/echo/refuse-503');
    assert.equal(r503.status, 502);
    assert.equal(r503.error.code, 'TP_ERR_UPSTREAM_UPGRADE_REFUSED');
    assert.match(r503.error.message, /503/);
  });

  test('an upstream that is down gets 502; an unknown route 404 before any upstream is contacted', T, async () => {
    const down = await refused('/dead');
    assert.equal(down.status, 502);
    assert.equal(down.error.code, 'TP_ERR_UPSTREAM_UNAVAILABLE');
    const before = upstreamConnections;
    const nf = await refused('/nowhere');
    assert.equal(nf.status, 404);
    assert.equal(nf.error.code, 'TP_ERR_ROUTE_NOT_FOUND');
    assert.equal(upstreamConnections, before);
  });

  test('an upstream that does not answer the handshake within read_timeout_ms gets 504', async () => {
    const t0 = Date.now();
    const r = await refused('/mute');
    assert.equal(r.status, 504);
    assert.equal(r.error.code, 'TP_ERR_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t0 < 5_000);
  });

  test('a client that goes away during the upstream handshake aborts it; the call log says 499', async () => {
    const sock = connect(gw.proxyPort, '127.0.0.1');
    sock.write(
      'GET /echo/slow-accept HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-request-id: ws-abort-1\r\n\r\n',
    );
    await new Promise((r) => setTimeout(r, 150));
    const before = upstreamConnections;
    sock.destroy();
    const rec = await waitFor('the call record', () => calls.find((c) => c.request_id === 'ws-abort-1'));
    assert.equal(rec.status, 499);
    assert.equal(rec.error_code, 'TP_ERR_CLIENT_CLOSED');
    // The upstream would have accepted at 600 ms: the gateway's handshake was cut before.
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(upstreamConnections, before);
  });

  test('key-auth: 401 without a key or with a wrong one; with the key the upgrade goes through without the key and with the consumer', T, async () => {
    const before = upstreamConnections;
    const missing = await refused('/auth');
    assert.equal(missing.status, 401);
    assert.equal(missing.error.code, 'TP_ERR_AUTH_KEY_MISSING');
    const wrong = await refused('/auth', { apikey: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.error.code, 'TP_ERR_AUTH_KEY_INVALID');
    assert.equal(upstreamConnections, before, 'refused upgrades never reach the upstream');
    const ws = await open('/auth', [], { apikey: KEY });
    const s = await seen.next();
    assert.equal(s.headers.apikey, undefined);
    assert.equal(s.headers['x-consumer-username'], 'carol');
    ws.send('authed');
    assert.equal((await message(ws)).data.toString(), 'authed');
    ws.close();
    await closed(ws);
  });

  test('a plain HTTP request to a websocket integration gets 426', T, async () => {
    const r = await request(`http://127.0.0.1:${gw.proxyPort}/wsint`);
    assert.equal(r.statusCode, 426);
    assert.equal(r.headers.upgrade, 'websocket');
    const body = (await r.body.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'TP_ERR_UPGRADE_REQUIRED');
  });

  test('a message over the limit closes with 1009 both ways, whichever side sent it', T, async () => {
    const a = await open('/echo');
    const sa = await seen.next();
    const aClosed = closed(a);
    a.send(randomBytes(MAX_MESSAGE + 1));
    assert.equal((await aClosed).code, 1009);
    assert.equal((await sa.close).code, 1009);
    assert.equal(sa.received, 0, 'nothing of it reached the upstream');

    const b = await open('/echo');
    const sb = await seen.next();
    const bClosed = closed(b);
    b.send(`big:${MAX_MESSAGE + 1}`);
    assert.equal((await bClosed).code, 1009);
    assert.equal((await sb.close).code, 1009);
  });

  test('idle timeout: a silent connection is closed with 1001 both ways; traffic keeps one open', T, async () => {
    const busy = await open('/idle');
    const sBusy = await seen.next();
    let busyClosed = false;
    busy.once('close', () => (busyClosed = true));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 300));
      busy.send('tick');
      await message(busy);
    }
    assert.equal(busyClosed, false, '1.8 s of traffic every 300 ms outlived a 1 s idle timeout');

    const t0 = Date.now();
    const quiet = await open('/idle');
    const sQuiet = await seen.next();
    assert.deepEqual(await closed(quiet), { code: 1001, reason: 'idle timeout' });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 5_000, `closed after ${elapsed} ms`);
    assert.equal((await sQuiet.close).code, 1001);
    // The busy one goes idle too once its traffic stops.
    assert.equal((await sBusy.close).code, 1001);
  });

  test('backpressure upstream → client: a 50 MB flood to a slow reader arrives whole and in order, the gateway pausing its upstream', T, async () => {
    const TOTAL = 50 * MiB;
    floodSent = 0;
    const pausesBefore = metric(await metricsText(), 'turnpike_gateway_websocket_upstream_pauses_total');
    const ws = await open(`/echo/flood?mb=${TOTAL / MiB}`);
    let received = 0;
    let expected = 0;
    let maxInFlight = 0;
    let windowBytes = 0;
    // This process holds the gateway, the upstream and the client: its RSS bounds the gateway's from above.
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 20);
    // Reads about 16 MB/s: 512 KiB, then nothing until the next 32 ms tick.
    const tick = setInterval(() => {
      windowBytes = 0;
      if (ws.isPaused) ws.resume();
    }, 32);
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        const seq = data.readUInt32BE(0);
        if (seq !== expected) reject(new Error(`message ${seq} arrived where ${expected} was expected`));
        expected++;
        received += data.length;
        maxInFlight = Math.max(maxInFlight, floodSent - received);
        windowBytes += data.length;
        if (windowBytes >= 512 * 1024) ws.pause();
        if (received === TOTAL) resolve();
      });
      ws.once('close', () => reject(new Error('closed before the flood ended')));
    });
    try {
      await done;
    } finally {
      clearInterval(tick);
      clearInterval(sampler);
    }
    assert.equal(received, TOTAL);
    // Without backpressure the upstream writes all 50 MB into the gateway while the client has read a fifth of
    // it (measured: 43 MiB in flight, RSS +60 MiB); with it, only socket buffers (kernel) and the gateway's
    // bounded buffer hold data (measured: 11 MiB in flight, RSS +6 MiB).
    assert.ok(maxInFlight < 24 * MiB, `at most ${(maxInFlight / MiB).toFixed(1)} MiB between upstream and client`);
    assert.ok(rssPeak - rssBefore < 40 * MiB, `RSS grew by ${((rssPeak - rssBefore) / MiB).toFixed(1)} MiB`);
    const pausesAfter = metric(await metricsText(), 'turnpike_gateway_websocket_upstream_pauses_total');
    assert.ok(pausesAfter > pausesBefore, 'the gateway paused the upstream');
    ws.resume();
    ws.close();
    await closed(ws);
  });

  test('backpressure client → upstream: a client flooding an upstream that does not read is closed with 1013 after a bounded amount', T, async () => {
    const ws = await open('/echo/sink');
    const s = await seen.next();
    const wsClosed = closed(ws);
    let sent = 0;
    let isClosed = false;
    void wsClosed.then(() => (isClosed = true));
    const chunk = randomBytes(MiB);
    // The client honours its own socket's backpressure; the gateway cannot stop reading it (see websocket.ts).
    while (!isClosed && sent < 400 * MiB) {
      if (ws.bufferedAmount < 4 * MiB && ws.readyState === WebSocket.OPEN) {
        ws.send(chunk);
        sent += chunk.length;
      } else await new Promise((r) => setTimeout(r, 5));
    }
    const c = await wsClosed;
    assert.deepEqual(c, { code: 1013, reason: 'upstream backpressure limit' });
    assert.ok(sent < 200 * MiB, `closed after ${sent / MiB} MiB`);
    s.sock.terminate();
  });

  test('each connection leaves one call-log record (status 101, bytes both ways, duration) and counts in /metrics', T, async () => {
    const ws = await open('/wsint', [], { 'x-request-id': 'ws-call-1' });
    ws.send('12345');
    await message(ws);
    ws.send(Buffer.alloc(10));
    await message(ws);
    await new Promise((r) => setTimeout(r, 50));
    const m = await metricsText();
    assert.ok(metric(m, 'turnpike_gateway_websocket_connections') >= 1);
    ws.close(1000);
    await closed(ws);
    const rec = await waitFor('the call record', () => calls.find((c) => c.request_id === 'ws-call-1'));
    assert.equal(rec.status, 101);
    assert.equal(rec.method, 'GET');
    assert.equal(rec.path, '/wsint');
    assert.equal(rec.service_id, ids.wsint);
    assert.equal(rec.bytes_in, 15);
    assert.equal(rec.bytes_out, 15);
    assert.ok(rec.total_latency_ms >= 50, `duration ${rec.total_latency_ms} ms`);
    assert.equal(rec.error_code, '');
    const refusedRec = calls.find((c) => c.path === '/nowhere');
    assert.equal(refusedRec?.status, 404, 'a refused upgrade is logged like any request');
    const m2 = await metricsText();
    assert.ok(metric(m2, 'turnpike_gateway_websocket_connections_total') >= 10);
    assert.ok(metric(m2, 'turnpike_gateway_websocket_messages_total{direction="to_upstream"}') >= 2);
    assert.ok(metric(m2, 'turnpike_gateway_websocket_messages_total{direction="to_client"}') >= 2);
  });

  test('closing the gateway closes open WebSockets with 1001 on both sides', T, async () => {
    const ws = await open('/echo');
    const s = await seen.next();
    const c = closed(ws);
    await gw.close();
    assert.deepEqual(await c, { code: 1001, reason: 'gateway shutting down' });
    assert.equal((await s.close).code, 1001);
  });
});
