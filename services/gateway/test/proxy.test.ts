// End to end through the real gateway process: a private nats-server holds the config bucket, upstreams
// are node:http servers in this process, requests go through real sockets with undici.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, configBucketName, entityKey, type EntityKind } from '@turnpike/common';
import { freePort, startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const MiB = 1024 * 1024;
const now = new Date().toISOString();
const stamps = { created_at: now, updated_at: now };

interface Node {
  proc: ChildProcess;
  proxyPort: number;
  statusPort: number;
  stdout: string[];
}

class Harness {
  nats!: PrivateNats;
  nc: NatsConnection | null = null;
  bus!: NatsKvConfigBus;
  cluster = `gwtest_${randomUUID().slice(0, 8)}`;
  dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-'));
  revision = 0;
  node: Node | null = null;
  proxyPort = 0;
  statusPort = 0;

  async openBus(): Promise<void> {
    this.nc = await connect({ servers: this.nats.url });
    this.bus = await NatsKvConfigBus.open(this.nc, configBucketName(this.cluster));
  }

  async put(kind: EntityKind, data: Record<string, unknown>): Promise<number> {
    const revision = ++this.revision;
    await this.bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { ...stamps, tags: [], ...data } }));
    return revision;
  }

  async startNode(): Promise<Node> {
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        TP_NATS_URL: this.nats.url,
        TP_CLUSTER: this.cluster,
        TP_NODE_ID: 'gw-test',
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(this.proxyPort),
        TP_STATUS_PORT: String(this.statusPort),
        TP_DATA_DIR: this.dataDir,
        TP_MAX_BODY_BYTES: String(32 * MiB),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    let buf = '';
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          stdout.push(line);
          if (process.env.TP_TEST_GATEWAY_LOG) process.stderr.write(`[gw] ${line}\n`);
          try {
            const j = JSON.parse(line) as Record<string, unknown>;
            if (j.event === 'ready') resolve(j);
          } catch {
            // not JSON
          }
        }
      });
      proc.stderr!.on('data', (d: Buffer) => {
        stdout.push(d.toString());
        if (process.env.TP_TEST_GATEWAY_LOG) process.stderr.write(`[gw!] ${d.toString()}`);
      });
      proc.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stdout.join('\n')}`)));
    });
    const r = await Promise.race([ready, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('gateway not ready in 15 s')), 15_000))]);
    assert.equal(r.proxy_port, this.proxyPort);
    const node: Node = { proc, proxyPort: this.proxyPort, statusPort: this.statusPort, stdout };
    // An exit nobody asked for is a crash: show what the node said.
    proc.once('exit', (code, signal) => {
      if (this.node === node) console.log(`# gateway exited unexpectedly (${code ?? signal}):\n${stdout.slice(-20).join('\n')}`);
    });
    this.node = node;
    return node;
  }

  async stopNode(): Promise<number | null> {
    const n = this.node;
    this.node = null;
    if (!n || n.proc.exitCode !== null) return n?.proc.exitCode ?? null;
    return await new Promise((resolve) => {
      n.proc.once('exit', (code) => resolve(code));
      n.proc.kill('SIGTERM');
    });
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.proxyPort}${path}`;
  }

  async readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await request(`http://127.0.0.1:${this.statusPort}/readyz`);
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
  }

  async waitRevision(rev: number): Promise<void> {
    await waitFor(`config revision ${rev}`, async () => {
      const r = await this.readyz();
      return r.status === 200 && (r.body.revision as number) >= rev;
    });
  }
}

interface Echo {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bytes: number;
  sha256: string;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** Upstream: echoes the request; `/slow` answers late, `/download?bytes=N` streams N bytes, `/hop` sends hop-by-hop headers. */
function echoServer(): Server {
  return createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname.endsWith('/slow')) {
      setTimeout(() => res.end('late'), 3_000).unref();
      return;
    }
    if (u.pathname.endsWith('/download')) {
      const total = Number(u.searchParams.get('bytes'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const n = Math.min(64 * 1024, total - sent);
          const chunk = patternBytes(sent, n);
          sent += n;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    const h = createHash('sha256');
    let bytes = 0;
    req.on('data', (d: Buffer) => {
      bytes += d.length;
      h.update(d);
    });
    req.on('end', () => {
      const body: Echo = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha256: h.digest('hex') };
      const extra: Record<string, string> = u.pathname.endsWith('/hop')
        ? { connection: 'x-up-secret', 'x-up-secret': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'x-up-kept': 'yes' }
        : {};
      const json = Buffer.from(JSON.stringify(body));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(json.length), ...extra });
      res.end(json);
    });
  });
}

/** Byte i of a download is i % 251: a lost, repeated or misplaced chunk changes the hash. */
function patternBytes(offset: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (offset + i) % 251;
  return b;
}

/** Sends a raw HTTP/1.1 request (for headers undici refuses to send) and returns the raw response head+body. */
async function raw(port: number, text: string): Promise<{ status: number; head: string; body: string }> {
  return await new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => {
      data += d.toString();
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = data.slice(0, end);
      const m = /content-length: (\d+)/i.exec(head);
      const complete = m ? data.length - end - 4 >= Number(m[1]) : data.endsWith('0\r\n\r\n');
      if (complete) {
        s.destroy();
        resolve({ status: Number(head.split(' ')[1]), head, body: data.slice(end + 4) });
      }
    });
    s.on('error', reject);
    s.write(text);
  });
}

describe('gateway proxy (real process, private NATS)', { timeout: 180_000 }, () => {
  const h = new Harness();
  let upstream: Server;
  let upstreamPort = 0;
  const ids = {
    up: randomUUID(),
    upDown: randomUUID(),
    upSlow: randomUUID(),
    svc: randomUUID(),
    svcDown: randomUUID(),
    svcSlow: randomUUID(),
    echo: randomUUID(),
    secure: randomUUID(),
    down: randomUUID(),
    slow: randomUUID(),
    consumer: randomUUID(),
    key: randomUUID(),
    svcDraft: randomUUID(),
    svcRetired: randomUUID(),
    svcDeprecated: randomUUID(),
    svcLive: randomUUID(),
  };
  const apiKey = 'tp_integration-test-key-0123456789';

  before(async () => {
    h.nats = await startPrivateNats();
    await h.openBus();
    upstream = echoServer();
    upstreamPort = await listen(upstream);
    const deadPort = await freePort();
    h.proxyPort = await freePort();
    h.statusPort = await freePort();

    await h.put('upstreams', { id: ids.up, name: 'echo', scheme: 'http', targets: [{ host: '127.0.0.1', port: upstreamPort, weight: 100 }], connect_timeout_ms: 2000, read_timeout_ms: 10000 });
    await h.put('upstreams', { id: ids.upDown, name: 'down', scheme: 'http', targets: [{ host: '127.0.0.1', port: deadPort, weight: 100 }], connect_timeout_ms: 2000, read_timeout_ms: 10000 });
    await h.put('upstreams', { id: ids.upSlow, name: 'slow', scheme: 'http', targets: [{ host: '127.0.0.1', port: upstreamPort, weight: 100 }], connect_timeout_ms: 2000, read_timeout_ms: 300 });
    await h.put('services', { id: ids.svc, name: 'echo', upstream_id: ids.up, base_path: '/base' });
    await h.put('services', { id: ids.svcDown, name: 'down', upstream_id: ids.upDown, base_path: '' });
    await h.put('services', { id: ids.svcSlow, name: 'slow', upstream_id: ids.upSlow, base_path: '' });
    await h.put('routes', { id: ids.echo, name: 'echo', service_id: ids.svc, hosts: [], paths: ['/echo/{id}', '/plain'], methods: [], strip_path: true, priority: 0, plugins: {} });
    await h.put('routes', { id: ids.secure, name: 'secure', service_id: ids.svc, hosts: [], paths: ['/secure'], methods: [], strip_path: false, priority: 0, plugins: { 'key-auth': {} } });
    await h.put('routes', { id: ids.down, name: 'down', service_id: ids.svcDown, hosts: [], paths: ['/down'], methods: [], strip_path: false, priority: 0, plugins: {} });
    await h.put('routes', { id: ids.slow, name: 'slow', service_id: ids.svcSlow, hosts: [], paths: ['/timeout'], methods: [], strip_path: false, priority: 0, plugins: {} });
    await h.put('consumers', { id: ids.consumer, username: 'alice' });
    await h.put('keys', { id: ids.key, consumer_id: ids.consumer, key_sha256: createHash('sha256').update(apiKey).digest('hex') });
    // Lifecycle: draft and retired services do not route; deprecated ones add Deprecation/Sunset.
    const lifecycle: Array<[string, string, Record<string, unknown>]> = [
      [ids.svcDraft, 'draft', { lifecycle: 'draft' }],
      [ids.svcRetired, 'retired', { lifecycle: 'retired' }],
      [ids.svcDeprecated, 'deprecated', { lifecycle: 'deprecated', sunset_at: '2027-01-01T00:00:00.000Z' }],
      [ids.svcLive, 'live', { lifecycle: 'published' }],
    ];
    for (const [id, name, fields] of lifecycle) {
      await h.put('services', { id, name: `life-${name}`, upstream_id: ids.up, base_path: '', ...fields });
      await h.put('routes', { id: randomUUID(), name: `life-${name}`, service_id: id, paths: [`/life/${name}`], plugins: {} });
    }
    // A bad entity: rejected and reported, the rest still compiles.
    await h.put('routes', { id: randomUUID(), name: 'bad', service_id: randomUUID(), paths: ['no-slash'] });
    await h.startNode();
    await h.waitRevision(h.revision);
  });

  after(async () => {
    await h.stopNode();
    await h.nc?.close();
    await h.nats?.destroy();
    await new Promise((r) => upstream?.close(r));
    rmSync(h.dataDir, { recursive: true, force: true });
  });

  test('readyz reports the KV revision and the rejected entity; metrics report uWS native', { timeout: 30_000 }, async () => {
    const r = await h.readyz();
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'kv');
    assert.equal(r.body.nats_connected, true);
    assert.equal((r.body.rejected as unknown[]).length, 1);
    const m = await (await request(`http://127.0.0.1:${h.statusPort}/metrics`)).body.text();
    assert.match(m, /turnpike_gateway_uws_native 1/);
    assert.match(m, /turnpike_gateway_config_rejected_entities 1/);
  });

  test('routes with params, strip_path and base_path; query string preserved', { timeout: 30_000 }, async () => {
    const r = await request(h.url('/echo/7/items?q=1&r=a%20b'));
    assert.equal(r.statusCode, 200);
    const e = (await r.body.json()) as Echo;
    assert.equal(e.url, '/base/items?q=1&r=a%20b');
    const r2 = await request(h.url('/plain'));
    assert.equal(((await r2.body.json()) as Echo).url, '/base');
  });

  test('no route → 404 JSON with request id', { timeout: 30_000 }, async () => {
    const r = await request(h.url('/nothing/here'));
    assert.equal(r.statusCode, 404);
    assert.match(String(r.headers['content-type']), /application\/json/);
    const b = (await r.body.json()) as { error: { code: string; request_id: string } };
    assert.equal(b.error.code, 'TP_ERR_ROUTE_NOT_FOUND');
    assert.equal(b.error.request_id, r.headers['x-request-id']);
  });

  test('lifecycle: draft and retired → 404; deprecated → Deprecation and Sunset; published → neither; live retire', { timeout: 30_000 }, async () => {
    for (const name of ['draft', 'retired']) {
      const r = await request(h.url(`/life/${name}`));
      assert.equal(r.statusCode, 404, name);
      assert.equal(((await r.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_ROUTE_NOT_FOUND');
    }
    const dep = await request(h.url('/life/deprecated'));
    assert.equal(dep.statusCode, 200);
    await dep.body.dump();
    assert.equal(dep.headers['deprecation'], 'true');
    assert.equal(dep.headers['sunset'], 'Fri, 01 Jan 2027 00:00:00 GMT');
    const live = await request(h.url('/life/live'));
    assert.equal(live.statusCode, 200);
    await live.body.dump();
    assert.equal(live.headers['deprecation'], undefined);
    assert.equal(live.headers['sunset'], undefined);
    // Retiring a service stops its routes on the next config revision.
    await h.put('services', { id: ids.svcLive, name: 'life-live', upstream_id: ids.up, base_path: '', lifecycle: 'retired' });
    await h.waitRevision(h.revision);
    const gone = await request(h.url('/life/live'));
    assert.equal(gone.statusCode, 404);
    await gone.body.dump();
  });

  test('key-auth: 401 without or with a wrong key; 200 with the key, credential hidden, consumer forwarded', { timeout: 30_000 }, async () => {
    const none = await request(h.url('/secure'));
    assert.equal(none.statusCode, 401);
    assert.equal(((await none.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_AUTH_KEY_MISSING');
    const wrong = await request(h.url('/secure'), { headers: { apikey: 'nope-nope-nope-nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(((await wrong.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_AUTH_KEY_INVALID');
    const ok = await request(h.url('/secure'), { headers: { 'x-api-key': apiKey, 'x-consumer-id': 'spoofed' } });
    assert.equal(ok.statusCode, 200);
    const e = (await ok.body.json()) as Echo;
    assert.equal(e.headers['x-api-key'], undefined);
    assert.equal(e.headers['x-consumer-id'], ids.consumer);
    assert.equal(e.headers['x-consumer-username'], 'alice');
  });

  test('upstream down → 502, upstream too slow → 504', { timeout: 30_000 }, async () => {
    const down = await request(h.url('/down'));
    assert.equal(down.statusCode, 502);
    assert.equal(((await down.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_UPSTREAM_UNAVAILABLE');
    const t0 = Date.now();
    const slow = await request(h.url('/timeout/slow'));
    assert.equal(slow.statusCode, 504);
    assert.equal(((await slow.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t0 < 2_500, 'read timeout applied');
  });

  test('413 on a declared and on a streamed oversize body; 431 on oversize headers', { timeout: 30_000 }, async () => {
    const declared = await raw(h.proxyPort, `POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: ${40 * MiB}\r\n\r\n`);
    assert.equal(declared.status, 413);
    assert.equal((JSON.parse(declared.body) as { error: { code: string } }).error.code, 'TP_ERR_BODY_TOO_LARGE');
    const big = Buffer.alloc(MiB, 1);
    const streamed = await request(h.url('/plain'), {
      method: 'POST',
      body: Readable.from((function* () {
        for (let i = 0; i < 40; i++) yield big;
      })()),
    }).catch((e: unknown) => e as Error);
    // The gateway answers 413 and closes; depending on timing the client sees the 413 or a reset.
    if (!(streamed instanceof Error)) assert.equal(streamed.statusCode, 413);
    const hdr = await request(h.url('/plain'), { headers: { 'x-big': 'a'.repeat(20 * 1024) } });
    assert.equal(hdr.statusCode, 431);
    assert.equal(((await hdr.body.json()) as { error: { code: string } }).error.code, 'TP_ERR_HEADERS_TOO_LARGE');
  });

  test('streams a 20 MiB upload and a 24 MiB download to a slow reader intact', { timeout: 30_000 }, async () => {
    const chunk = Buffer.alloc(256 * 1024);
    const expect = createHash('sha256');
    const chunks: Buffer[] = [];
    for (let i = 0; i < 80; i++) {
      const c = Buffer.from(chunk.map((_, j) => (i * 31 + j) & 0xff));
      chunks.push(c);
      expect.update(c);
    }
    const up = await request(h.url('/plain'), { method: 'PUT', body: Readable.from(chunks) });
    assert.equal(up.statusCode, 200);
    const e = (await up.body.json()) as Echo;
    assert.equal(e.bytes, 20 * MiB);
    assert.equal(e.sha256, expect.digest('hex'));

    const total = 24 * MiB;
    const down = await request(h.url(`/plain/download?bytes=${total}`));
    assert.equal(down.statusCode, 200);
    assert.equal(down.headers['content-length'], String(total));
    let got = 0;
    let n = 0;
    const hash = createHash('sha256');
    for await (const c of down.body) {
      got += (c as Buffer).length;
      hash.update(c as Buffer);
      if (n++ < 40) await new Promise((r) => setTimeout(r, 10)); // slow reader: backpressure builds in the gateway
    }
    assert.equal(got, total);
    assert.equal(hash.digest('hex'), createHash('sha256').update(patternBytes(0, total)).digest('hex'));
  });

  test('hop-by-hop headers stripped both ways; x-forwarded-* and x-request-id set', { timeout: 30_000 }, async () => {
    const r = await raw(
      h.proxyPort,
      'GET /echo/1/hop HTTP/1.1\r\nHost: api.test:9999\r\nConnection: keep-alive, x-secret\r\nx-secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nx-request-id: req-abc-123\r\nx-forwarded-for: 10.0.0.1\r\n\r\n',
    );
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body) as Echo;
    for (const k of ['x-secret', 'keep-alive', 'te', 'proxy-connection']) assert.equal(e.headers[k], undefined, k);
    assert.equal(e.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers['x-forwarded-host'], 'api.test:9999');
    assert.equal(e.headers['x-forwarded-port'], String(h.proxyPort));
    assert.equal(e.headers['x-request-id'], 'req-abc-123');
    const head = r.head.toLowerCase();
    assert.match(head, /x-request-id: req-abc-123/);
    assert.match(head, /x-up-kept: yes/);
    assert.doesNotMatch(head, /x-up-secret|keep-alive: timeout|proxy-connection/);

    const gen = await request(h.url('/plain'), { headers: { 'x-request-id': 'bad id with spaces' } });
    const ge = (await gen.body.json()) as Echo;
    assert.notEqual(gen.headers['x-request-id'], 'bad id with spaces');
    assert.equal(ge.headers['x-request-id'], gen.headers['x-request-id']);
  });

  test('a route change in KV takes effect (propagation time printed)', { timeout: 30_000 }, async () => {
    const id = randomUUID();
    const t0 = performance.now();
    await h.put('routes', { id, name: 'fresh', service_id: ids.svc, paths: ['/fresh'], strip_path: true });
    await waitFor('new route', async () => (await request(h.url('/fresh'))).statusCode === 200, 5_000, 2);
    const ms = performance.now() - t0;
    console.log(`config propagation KV put → first 200: ${ms.toFixed(1)} ms`);
    await h.bus.delete(entityKey('routes', id));
    await waitFor('route removed', async () => (await request(h.url('/fresh'))).statusCode === 404, 5_000, 5);
  });

  test('fault: NATS down → keeps serving; restart while down → last-known-good; NATS back → changes apply', { timeout: 30_000 }, async () => {
    await h.nc?.close();
    h.nc = null;
    await h.nats.stop();
    await waitFor('node sees NATS down', async () => (await h.readyz()).body.nats_connected === false, 15_000, 100);
    assert.equal((await request(h.url('/plain'))).statusCode, 200);

    assert.equal(await h.stopNode(), 0, 'clean shutdown exits 0');
    await h.startNode();
    const r = await h.readyz();
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'lkg');
    const served = await request(h.url('/echo/1/x'));
    assert.equal(served.statusCode, 200);
    assert.equal(((await served.body.json()) as Echo).url, '/base/x');

    await h.nats.start();
    await h.openBus();
    await waitFor('node back on NATS', async () => (await h.readyz()).body.source === 'kv', 20_000, 100);
    const id = randomUUID();
    await h.put('routes', { id, name: 'after-outage', service_id: ids.svc, paths: ['/after'], strip_path: false });
    await waitFor('route added after the outage', async () => (await request(h.url('/after'))).statusCode === 200, 10_000, 20);
  });
});
