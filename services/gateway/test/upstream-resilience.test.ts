// Upstream resilience through the real proxy port of an embedded gateway, against real node:http upstreams
// that misbehave on demand: balancer distributions, active health checks, passive ejection, the circuit
// breaker's transitions, retries only when safe (and within the retry budget), canary/weighted splits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { InProcessConfigBus, entityKey, type EntityKind, type LogSink } from '@turnpike/common';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();

/** A real upstream whose answers the test changes while it runs. */
interface Upstream {
  name: string;
  port: number;
  /** Status for proxied requests and for /health. */
  status: number;
  health: number;
  /** Delay (ms) before answering proxied requests. */
  delay: number;
  /** Requests seen (health probes excluded). */
  hits: number;
  server: Server;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

describe('upstream resilience through the proxy', { timeout: 120_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-res-'));
  const ups = new Map<string, Upstream>();
  let deadPort = 0;
  let gw: Gateway;
  let rev = 0;
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  const up = (name: string): Upstream => ups.get(name)!;
  const target = (name: string) => ({ host: '127.0.0.1', port: up(name).port });
  const dead = () => ({ host: '127.0.0.1', port: deadPort });

  /** An upstream entity (returned id) plus a service and a route at `/<path>` for it. */
  const expose = async (path: string, upstream: Record<string, unknown>, service: Record<string, unknown> = {}): Promise<{ upstreamId: string; serviceId: string }> => {
    const upstreamId = randomUUID();
    const serviceId = randomUUID();
    await put('upstreams', { id: upstreamId, name: `up-${path}`, ...upstream });
    await put('services', { id: serviceId, name: `svc-${path}`, upstream_id: upstreamId, ...service });
    await put('routes', { id: randomUUID(), name: `r-${path}`, service_id: serviceId, paths: [`/${path}`] });
    return { upstreamId, serviceId };
  };

  const call = async (path: string, o: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; dispatcher?: Agent } = {}) => {
    const r = await request(url(path), { method: o.method ?? 'GET', headers: o.headers, body: o.body, dispatcher: o.dispatcher });
    const text = await r.body.text();
    let code = '';
    if (r.headers['content-type'] === 'application/json') code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
    return { status: r.statusCode, text, code };
  };
  /** Who served each of `n` sequential requests: upstream name, or `<status> <code>` for a gateway error. */
  const tally = async (path: string, n: number, o: Parameters<typeof call>[1] = {}): Promise<Map<string, number>> => {
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await call(path, o);
      const k = r.code !== '' ? `${r.status} ${r.code}` : r.status === 200 ? r.text.split(' ')[0]! : `${r.status} ${r.text.split(' ')[0]}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return counts;
  };
  const metrics = async (): Promise<string> => (await (await request(`http://127.0.0.1:${gw.statusPort}/metrics`)).body.text());
  const resetHits = () => {
    for (const u of ups.values()) u.hits = 0;
  };

  before(async () => {
    for (const name of ['a', 'b', 'c', 'd']) {
      const u: Upstream = { name, port: 0, status: 200, health: 200, delay: 0, hits: 0, server: null as unknown as Server };
      u.server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.url === '/health') {
            res.statusCode = u.health;
            res.end();
            return;
          }
          u.hits++;
          const delay = req.url?.includes('slow') ? 1_500 : u.delay;
          setTimeout(() => {
            res.statusCode = u.status;
            // Who answered, and the request body (a retried POST must arrive whole).
            res.end(`${name} ${Buffer.concat(chunks).toString()}`);
          }, delay);
        });
      });
      await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', () => r()));
      u.port = (u.server.address() as AddressInfo).port;
      ups.set(name, u);
    }
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    gw = await startGateway({ nodeId: 'res-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0 });
  });

  after(async () => {
    await gw?.close();
    for (const u of ups.values()) {
      u.server.closeAllConnections();
      await new Promise((r) => u.server.close(r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('balancing: each algorithm’s distribution, measured', () => {
    test('round-robin follows the weights exactly (3:1 over 40 requests)', async () => {
      await expose('rr', { targets: [{ ...target('a'), weight: 300 }, { ...target('b'), weight: 100 }] });
      await until(async () => (await call('/rr')).status === 200, 'route live');
      // One pick went to the readiness probe above; with it, 40 picks are 10 whole cycles (a a b a).
      const counts = await tally('/rr', 39);
      assert.deepEqual(Object.fromEntries(counts), { a: 29, b: 10 });
    });

    test('random spreads by weight within tolerance over 400 requests', async () => {
      await expose('random', { algorithm: 'random', targets: [{ ...target('a'), weight: 100 }, { ...target('b'), weight: 100 }] });
      await until(async () => (await call('/random')).status === 200, 'route live');
      const counts = await tally('/random', 400);
      const a = (counts.get('a') ?? 0) / 400;
      assert.equal((counts.get('a') ?? 0) + (counts.get('b') ?? 0), 400);
      // Binomial(400, 0.5): sd 2.5 %; ±12.5 % is five sd.
      assert.ok(a > 0.375 && a < 0.625, `a got ${a}`);
    });

    test('least-connections prefers the idle target while the other holds a slow request', async () => {
      await expose('lc', { algorithm: 'least-connections', targets: [target('a'), target('b')] });
      await until(async () => (await call('/lc')).status === 200, 'route live');
      const slow = call('/lc/slow');
      await sleep(200);
      const during = await tally('/lc', 10);
      const busy = (await slow).text.split(' ')[0]!;
      assert.equal(during.size, 1, JSON.stringify(Object.fromEntries(during)));
      assert.equal(during.get(busy), undefined, 'the busy target got none');
    });

    test('consistent hashing is sticky per header, per cookie and per client IP, and uses both targets', async () => {
      await expose('ch-h', { algorithm: 'consistent-hash', hash_on: { source: 'header', name: 'X-User' }, targets: [target('a'), target('b')] });
      await expose('ch-c', { algorithm: 'consistent-hash', hash_on: { source: 'cookie', name: 'session' }, targets: [target('a'), target('b')] });
      await expose('ch-ip', { algorithm: 'consistent-hash', hash_on: { source: 'client-ip' }, targets: [target('a'), target('b')] });
      await until(async () => (await call('/ch-ip')).status === 200, 'routes live');
      const sticky = async (path: string, keyed: (i: number) => Parameters<typeof call>[1]): Promise<void> => {
        const used = new Set<string>();
        for (let i = 0; i < 16; i++) {
          const seen = await tally(path, 4, keyed(i));
          assert.equal(seen.size, 1, `${path} key ${i}: ${JSON.stringify(Object.fromEntries(seen))}`);
          used.add([...seen.keys()][0]!);
        }
        assert.deepEqual([...used].sort(), ['a', 'b'], `${path} used both targets`);
      };
      await sticky('/ch-h', (i) => ({ headers: { 'x-user': `user-${i}` } }));
      await sticky('/ch-c', (i) => ({ headers: { cookie: `theme=dark; session=s-${i}; lang=en` } }));
      // Client addresses 127.0.0.1 .. 127.0.0.16 (all loopback on Linux).
      const agents = Array.from({ length: 16 }, (_, i) => new Agent({ localAddress: `127.0.0.${i + 1}` }));
      try {
        await sticky('/ch-ip', (i) => ({ dispatcher: agents[i] }));
      } finally {
        await Promise.all(agents.map((a) => a.close()));
      }
    });
  });

  describe('health', () => {
    test('active health checks take a target out when /health fails and bring it back when it recovers', async () => {
      const active = { path: '/health', interval_ms: 1_000, timeout_ms: 500, healthy: { successes: 1 }, unhealthy: { failures: 1, timeouts: 1 } };
      await expose('active', { targets: [target('c'), target('d')], health_checks: { active } });
      await until(async () => (await call('/active')).status === 200, 'route live');
      try {
        up('c').health = 503;
        await until(async () => {
          const t = await tally('/active', 6);
          return t.get('d') === 6;
        }, 'all traffic on d once c fails its checks');
        const m = await metrics();
        assert.match(m, new RegExp(`turnpike_upstream_target_healthy\\{upstream="[^"]+",target="http://127.0.0.1:${up('c').port}"\\} 0`));
        // A recompile (another entity changes) keeps the checker and its verdict: c stays out at once.
        await expose('unrelated', { targets: [target('a')] });
        await until(async () => (await call('/unrelated')).status === 200, 'recompiled');
        assert.deepEqual(Object.fromEntries(await tally('/active', 6)), { d: 6 });
        up('c').health = 200;
        await until(async () => (await tally('/active', 6)).get('c') === 3, 'c back in rotation');
      } finally {
        up('c').health = 200;
      }
    });

    test('passive ejection: failures within window_ms eject a target for ejection_ms; it comes back after', async () => {
      const passive = { unhealthy: { failures: 2, window_ms: 10_000 }, ejection_ms: 1_000 };
      await expose('passive', { targets: [target('c'), target('d')], health_checks: { passive } });
      await until(async () => (await call('/passive')).status === 200, 'route live');
      try {
        up('c').status = 500;
        const counts = await tally('/passive', 12);
        // c answered 500 twice (round-robin), then left rotation: d served the rest.
        assert.equal(counts.get('500 c'), 2, JSON.stringify(Object.fromEntries(counts)));
        assert.equal(counts.get('d'), 10);
        assert.match(await metrics(), /turnpike_upstream_ejections_total\{upstream="[^"]+"\} [1-9]/);
        up('c').status = 200;
        await sleep(1_100);
        assert.ok(((await tally('/passive', 4)).get('c') ?? 0) >= 1, 'c is back after ejection_ms');
      } finally {
        up('c').status = 200;
      }
    });

    test('circuit breaker: closed → open (503 TP_ERR_UPSTREAM_CIRCUIT_OPEN) → half-open → open again → half-open → closed', async () => {
      const { upstreamId } = await expose('breaker', {
        targets: [target('c')],
        circuit_breaker: { failure_threshold: 2, window_ms: 10_000, open_ms: 1_000, half_open_requests: 1 },
      });
      await until(async () => (await call('/breaker')).status === 200, 'route live');
      const state = async (): Promise<string> => {
        const m = /circuit_breaker_state\{upstream="([^"]+)",target="[^"]+",state="([a-z-]+)"\} 1/g;
        for (const x of (await metrics()).matchAll(m)) if (x[1] === upstreamId) return x[2]!;
        return 'none';
      };
      try {
        assert.equal(await state(), 'closed');
        up('c').status = 500;
        resetHits();
        assert.equal((await call('/breaker')).status, 500);
        assert.equal((await call('/breaker')).status, 500);
        assert.equal(await state(), 'open');
        const refused = await call('/breaker');
        assert.equal(refused.status, 503);
        assert.equal(refused.code, 'TP_ERR_UPSTREAM_CIRCUIT_OPEN');
        assert.equal(up('c').hits, 2, 'nothing reached the upstream while open');
        await sleep(1_100);
        assert.equal(await state(), 'half-open');
        // The trial fails: open again.
        assert.equal((await call('/breaker')).status, 500);
        assert.equal(await state(), 'open');
        assert.equal((await call('/breaker')).code, 'TP_ERR_UPSTREAM_CIRCUIT_OPEN');
        up('c').status = 200;
        await sleep(1_100);
        assert.equal(await state(), 'half-open');
        assert.equal((await call('/breaker')).status, 200, 'the trial succeeds');
        assert.equal(await state(), 'closed');
        assert.deepEqual(Object.fromEntries(await tally('/breaker', 5)), { c: 5 });
        assert.match(await metrics(), new RegExp(`turnpike_upstream_circuit_breaker_opens_total\\{upstream="${upstreamId}"\\} 2`));
      } finally {
        up('c').status = 200;
      }
    });

    test('an open breaker routes around its target while another target is up', async () => {
      await expose('breaker2', { targets: [target('c'), target('d')], circuit_breaker: { failure_threshold: 1, window_ms: 10_000, open_ms: 60_000, half_open_requests: 1 } });
      await until(async () => (await call('/breaker2')).status === 200, 'route live');
      try {
        up('c').status = 503;
        const counts = await tally('/breaker2', 10);
        assert.equal(counts.get('503 c'), 1, JSON.stringify(Object.fromEntries(counts)));
        assert.equal(counts.get('d'), 9);
      } finally {
        up('c').status = 200;
      }
    });
  });

  describe('retries, only when safe', () => {
    test('GET is retried on another target after a connect failure', async () => {
      await expose('retry-connect', { targets: [dead(), target('a')], retries: { attempts: 1, on: ['connect-failure'], budget_percent: 100 } });
      await expose('no-retry-connect', { targets: [dead(), target('a')] });
      await until(async () => (await call('/retry-connect')).status === 200, 'route live');
      assert.deepEqual(Object.fromEntries(await tally('/retry-connect', 10)), { a: 10 });
      // The same upstream without retries: the dead target's turns fail.
      const without = await tally('/no-retry-connect', 10);
      assert.equal(without.get('502 TP_ERR_UPSTREAM_UNAVAILABLE'), 5, JSON.stringify(Object.fromEntries(without)));
    });

    test('POST is retried after a connect failure (the request never left), its body replayed whole', async () => {
      await expose('retry-post-connect', { targets: [dead(), target('a')], retries: { attempts: 1, on: ['connect-failure'], budget_percent: 100 } });
      await until(async () => (await call('/retry-post-connect')).status === 200, 'route live');
      for (let i = 0; i < 6; i++) {
        const r = await call('/retry-post-connect', { method: 'POST', body: `payload-${i}`, headers: { 'content-type': 'text/plain' } });
        assert.equal(r.status, 200);
        assert.equal(r.text, `a payload-${i}`);
      }
    });

    test('a streamed request body (over 64 KiB) is never replayed, even after a connect failure', async () => {
      const big = 'x'.repeat(100 * 1024);
      const counts = await tally('/retry-post-connect', 4, { method: 'POST', body: big });
      assert.equal(counts.get('502 TP_ERR_UPSTREAM_UNAVAILABLE'), 2, JSON.stringify(Object.fromEntries([...counts].map(([k, v]) => [k.slice(0, 40), v]))));
    });

    test('GET is retried on another target after a 5xx; POST is not', async () => {
      await expose('retry-5xx', { targets: [target('b'), target('c')], retries: { attempts: 1, on: ['5xx'], budget_percent: 100 } });
      await until(async () => (await call('/retry-5xx')).status === 200, 'route live');
      try {
        up('b').status = 503;
        resetHits();
        assert.deepEqual(Object.fromEntries(await tally('/retry-5xx', 10)), { c: 10 });
        // Round-robin sends about every other first try to b (a retry takes a turn too): b was tried, and
        // none of its 503s reached the client.
        assert.ok(up('b').hits >= 5, `b saw ${up('b').hits}`);
        const posts = await tally('/retry-5xx', 10, { method: 'POST', body: 'x' });
        assert.equal(posts.get('503 b'), 5, JSON.stringify(Object.fromEntries(posts)));
        assert.equal(posts.get('c'), 5);
      } finally {
        up('b').status = 200;
      }
    });

    test('a read timeout is retried on another target for GET, not for POST', async () => {
      await expose('retry-timeout', { targets: [target('c'), target('d')], read_timeout_ms: 300, retries: { attempts: 1, on: ['timeout'], budget_percent: 100 } });
      await until(async () => (await call('/retry-timeout')).status === 200, 'route live');
      try {
        up('c').delay = 1_000;
        assert.deepEqual(Object.fromEntries(await tally('/retry-timeout', 4)), { d: 4 });
        const posts = await tally('/retry-timeout', 4, { method: 'POST', body: 'x' });
        assert.equal(posts.get('504 TP_ERR_UPSTREAM_TIMEOUT'), 2, JSON.stringify(Object.fromEntries(posts)));
        assert.equal(posts.get('d'), 2);
      } finally {
        up('c').delay = 0;
      }
    });

    test('the retry budget caps retries at budget_percent of requests', async () => {
      const { upstreamId } = await expose('retry-budget', { targets: [target('b'), target('c')], retries: { attempts: 3, on: ['5xx'], budget_percent: 10 } });
      await until(async () => (await call('/retry-budget')).status === 200, 'route live');
      try {
        up('b').status = 500;
        up('c').status = 500;
        resetHits();
        const counts = await tally('/retry-budget', 40);
        assert.equal((counts.get('500 b') ?? 0) + (counts.get('500 c') ?? 0), 40);
        const retries = up('b').hits + up('c').hits - 40;
        // 10 % of 41 requests (the one that went live first included) plus the reserve token: at most 5.
        assert.ok(retries >= 1 && retries <= 5, `retries ${retries}`);
        const m = await metrics();
        assert.match(m, new RegExp(`turnpike_upstream_retries_total\\{upstream="${upstreamId}"\\} ${retries}`));
        assert.match(m, new RegExp(`turnpike_upstream_retries_refused_total\\{upstream="${upstreamId}"\\} [1-9]`));
      } finally {
        up('b').status = 200;
        up('c').status = 200;
      }
    });

    test('no retry once the response head went to the client: an upstream reset mid-body cuts the client', async () => {
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.destroy(), 50);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as AddressInfo).port;
      try {
        await expose('retry-head', { targets: [{ host: '127.0.0.1', port }, target('a')], retries: { attempts: 2, on: ['reset', '5xx', 'timeout'], budget_percent: 100 } });
        await until(async () => (await call('/retry-head').catch(() => ({ status: 0 }))).status === 200, 'route live');
        resetHits();
        let cut = 0;
        for (let i = 0; i < 4; i++) {
          try {
            const r = await call('/retry-head');
            assert.equal(r.text.startsWith('a '), true, 'only whole answers from a');
          } catch {
            cut++;
          }
        }
        assert.equal(cut, 2, 'the resetting target’s turns were cut, not retried');
        assert.equal(up('a').hits, 2);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  });

  describe('splits', () => {
    test('canary by percentage and by header; an upstream change recompiles the service that splits to it', async () => {
      const upC = randomUUID();
      const upD = randomUUID();
      await put('upstreams', { id: upC, name: 'split-c', targets: [target('c')] });
      await put('upstreams', { id: upD, name: 'split-d', targets: [target('d')] });
      await expose('split', { targets: [target('a')] }, {
        splits: [
          { upstream_id: upC, weight: 20 },
          { upstream_id: upD, weight: 0, header: { name: 'X-Canary', value: 'yes' } },
        ],
      });
      await until(async () => (await call('/split')).status === 200, 'route live');
      // Whole cycles of 5 (a a a a c, smoothly interleaved) from here: 100 requests after 4 more.
      await tally('/split', 4);
      assert.deepEqual(Object.fromEntries(await tally('/split', 100)), { a: 80, c: 20 });
      assert.deepEqual(Object.fromEntries(await tally('/split', 10, { headers: { 'x-canary': 'yes' } })), { d: 10 });
      assert.equal(((await tally("/split", 5, { headers: { "x-canary": "no" } })).get("d") ?? 0), 0, "another value of the header does not select the split");
      // The split's upstream now points at b: the service follows without being touched.
      await put('upstreams', { id: upD, name: 'split-d', targets: [target('b')] });
      await until(async () => (await call('/split', { headers: { 'x-canary': 'yes' } })).text.startsWith('b '), 'split follows its upstream');
    });

    test('a service whose splits add up to more than 100 or name a missing upstream is rejected, not served', async () => {
      const upC = randomUUID();
      await put('upstreams', { id: upC, name: 'split-bad-c', targets: [target('c')] });
      await expose('split-over', { targets: [target('a')] }, { splits: [{ upstream_id: upC, weight: 60 }, { upstream_id: upC, weight: 50 }] });
      await expose('split-missing', { targets: [target('a')] }, { splits: [{ upstream_id: randomUUID(), weight: 10 }] });
      await until(async () => (await call('/split-missing')).status === 404, 'compiled');
      assert.equal((await call('/split-over')).code, 'TP_ERR_ROUTE_NOT_FOUND');
    });
  });
});
