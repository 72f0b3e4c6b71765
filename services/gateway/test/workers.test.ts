// The gateway binary with TP_WORKERS=2 against the shared NATS of infra/local: both worker threads serve
// the one proxy port, config changes reach every worker, call logs of both arrive, a crashed worker is
// restarted, and SIGTERM drains (new connections refused, in-flight finished, call logs flushed, exit 0).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, get, request as httpRequest, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { InProcessConfigBus, NatsKvConfigBus, callsSubject, configBucketName, entityKey, type CallRecord, type EntityKind, type LogSink, decodeCallBatch } from '@turnpike/common';
import { freePort, testEnv, waitFor } from '@turnpike/common/testing';
import { startGateway } from '../src/index.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const now = new Date().toISOString();
const stamps = { created_at: now, updated_at: now };
const SLOW_MS = 1_500;
const API_KEY = 'tp_workers-test-key-0123456789';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a connection of its own (agent: false), so the kernel spreads them over the workers. */
function fresh(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Whether a TCP connection to the port is accepted (false: refused). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fresh(port, path);
  return { status: r.status, body: r.body };
}

function metricValue(text: string, line: string): number {
  const l = text.split('\n').find((x) => x.startsWith(line + ' '));
  return l === undefined ? NaN : Number(l.slice(line.length + 1));
}

class Node {
  readonly stdout: string[] = [];
  exit: Promise<{ code: number | null; signal: string | null }>;
  constructor(readonly proc: ChildProcess) {
    this.exit = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }
  log(): string {
    return this.stdout.slice(-40).join('\n');
  }
}

class Harness {
  nc!: NatsConnection;
  bus!: NatsKvConfigBus;
  cluster = `gwworkers_${randomUUID().slice(0, 8)}`;
  revision = 0;
  dataDirs: string[] = [];
  calls: CallRecord[] = [];
  subs: Subscription[] = [];

  async open(): Promise<void> {
    this.nc = await connect({ servers: testEnv().natsUrl });
    this.bus = await NatsKvConfigBus.open(this.nc, configBucketName(this.cluster));
  }

  async put(kind: EntityKind, data: Record<string, unknown>): Promise<number> {
    const revision = ++this.revision;
    await this.bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { ...stamps, tags: [], ...data } }));
    return revision;
  }

  /** Call records a node publishes (JetStream publishes reach core subscribers of the subject too). */
  collectCalls(nodeId: string): void {
    const sub = this.nc.subscribe(callsSubject(nodeId));
    this.subs.push(sub);
    void (async () => {
      for await (const m of sub) this.calls.push(...(decodeCallBatch(m.string()) as CallRecord[]));
    })();
  }

  async start(workers: number, nodeId: string): Promise<{ node: Node; proxyPort: number; statusPort: number }> {
    const proxyPort = await freePort();
    const statusPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-workers-'));
    this.dataDirs.push(dataDir);
    this.collectCalls(nodeId);
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        TP_NATS_URL: testEnv().natsUrl,
        TP_CLUSTER: this.cluster,
        TP_NODE_ID: nodeId,
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(proxyPort),
        TP_STATUS_PORT: String(statusPort),
        TP_DATA_DIR: dataDir,
        TP_WORKERS: String(workers),
        TP_DRAIN_TIMEOUT_MS: '10000',
        TP_TEST_HOOKS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new Node(proc);
    let buf = '';
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          node.stdout.push(line);
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
        node.stdout.push(d.toString());
        if (process.env.TP_TEST_GATEWAY_LOG) process.stderr.write(`[gw!] ${d.toString()}`);
      });
      void node.exit.then((e) => reject(new Error(`gateway exited with ${e.code ?? e.signal}: ${node.log()}`)));
    });
    const r = await Promise.race([ready, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`gateway not ready in 20 s: ${node.log()}`)), 20_000).unref())]);
    assert.equal(r.proxy_port, proxyPort);
    assert.equal(r.workers, workers);
    return { node, proxyPort, statusPort };
  }

  async readyz(statusPort: number): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await getText(statusPort, '/readyz');
    return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc?.close();
    for (const d of this.dataDirs) rmSync(d, { recursive: true, force: true });
  }
}

describe('gateway worker threads and graceful drain (real process, shared NATS)', { timeout: 180_000 }, () => {
  const h = new Harness();
  let upstream: Server;
  const ids = {
    up: randomUUID(),
    svc: randomUUID(),
    echo: randomUUID(),
    slow: randomUUID(),
    secure: randomUUID(),
    consumer: randomUUID(),
    key: randomUUID(),
    later: randomUUID(),
    afterCrash: randomUUID(),
  };

  before(async () => {
    await h.open();
    upstream = createServer((req, res) => {
      const send = (): void => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`ok ${req.url}`);
      };
      if (req.url?.startsWith('/slow')) setTimeout(send, SLOW_MS).unref();
      else send();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    await h.put('upstreams', { id: ids.up, name: 'echo', scheme: 'http', targets: [{ host: '127.0.0.1', port: upstreamPort, weight: 100 }], connect_timeout_ms: 2000, read_timeout_ms: 10000 });
    await h.put('services', { id: ids.svc, name: 'echo', upstream_id: ids.up, base_path: '' });
    await h.put('routes', { id: ids.echo, name: 'echo', service_id: ids.svc, hosts: [], paths: ['/echo'], methods: [], strip_path: false, priority: 0, plugins: {} });
    await h.put('routes', { id: ids.slow, name: 'slow', service_id: ids.svc, hosts: [], paths: ['/slow'], methods: [], strip_path: false, priority: 0, plugins: {} });
    await h.put('routes', { id: ids.secure, name: 'secure', service_id: ids.svc, hosts: [], paths: ['/secure'], methods: [], strip_path: false, priority: 0, plugins: { 'key-auth': {} } });
    await h.put('consumers', { id: ids.consumer, username: 'worker-test', group_ids: [] });
    await h.put('keys', { id: ids.key, consumer_id: ids.consumer, key_sha256: createHash('sha256').update(API_KEY).digest('hex') });
  });

  after(async () => {
    upstream?.closeAllConnections();
    upstream?.close();
    await h.close();
  });

  describe('TP_WORKERS=2', () => {
    const nodeId = `gw-workers-${randomUUID().slice(0, 8)}`;
    let node: Node;
    let proxyPort = 0;
    let statusPort = 0;

    before(async () => {
      ({ node, proxyPort, statusPort } = await h.start(2, nodeId));
      await waitFor('both workers ready', async () => (await h.readyz(statusPort)).status === 200);
    });

    after(async () => {
      if (node.proc.exitCode === null) {
        node.proc.kill('SIGTERM');
        await node.exit;
      }
    });

    test('requests on separate connections are served by both workers, counted per worker in /metrics', async () => {
      const ready = await h.readyz(statusPort);
      const workers = ready.body.workers as { id: number; ready: boolean; revision: number }[];
      assert.equal(workers.length, 2);
      assert.ok(workers.every((w) => w.ready && w.revision === h.revision), JSON.stringify(workers));

      const requestIds: string[] = [];
      for (let i = 0; i < 40; i++) {
        const id = `wk-${randomUUID()}`;
        requestIds.push(id);
        const r = await fresh(proxyPort, `/echo?i=${i}`, { 'x-request-id': id });
        assert.equal(r.status, 200);
        assert.equal(r.body, `ok /echo?i=${i}`);
      }
      const metrics = (await getText(statusPort, '/metrics')).body;
      const w0 = metricValue(metrics, 'turnpike_gateway_worker_requests_total{worker="0"}');
      const w1 = metricValue(metrics, 'turnpike_gateway_worker_requests_total{worker="1"}');
      // Each of 40 connections lands on a worker by the kernel's SO_REUSEPORT hash: all on one is 2^-39.
      assert.ok(w0 > 0 && w1 > 0, `per-worker requests: ${w0}, ${w1}`);
      assert.equal(w0 + w1, 40);
      // The node-wide counters are the sum of the workers'.
      assert.equal(metricValue(metrics, 'turnpike_gateway_requests_total{status_class="2xx"}'), 40);

      // Call records from both workers reach the primary's batcher and the calls stream.
      await waitFor('all 40 call records', () => requestIds.every((id) => h.calls.some((c) => c.request_id === id)), 10_000);
      const mine = h.calls.filter((c) => requestIds.includes(c.request_id));
      assert.ok(mine.every((c) => c.status === 200 && c.node_id === nodeId && c.route_id === ids.echo));
    });

    test('a config change reaches every worker (same revision in each, new route served on every connection)', async () => {
      const rev = await h.put('routes', { id: ids.later, name: 'later', service_id: ids.svc, hosts: [], paths: ['/later'], methods: [], strip_path: false, priority: 0, plugins: {} });
      await waitFor(`revision ${rev} in both workers`, async () => {
        const r = await h.readyz(statusPort);
        return r.status === 200 && (r.body.workers as { revision: number }[]).every((w) => w.revision === rev) && r.body.revision === rev;
      });
      for (let i = 0; i < 20; i++) assert.equal((await fresh(proxyPort, '/later')).status, 200);
      const metrics = (await getText(statusPort, '/metrics')).body;
      assert.equal(metricValue(metrics, 'turnpike_gateway_worker_config_revision{worker="0"}'), rev);
      assert.equal(metricValue(metrics, 'turnpike_gateway_worker_config_revision{worker="1"}'), rev);
    });

    test('a crashed worker is restarted by the primary with the current config; the other keeps serving', async () => {
      node.proc.kill('SIGUSR2'); // TP_TEST_HOOKS: worker 0 throws an uncaught error
      await waitFor('worker 0 restarted and ready', async () => {
        const r = await h.readyz(statusPort);
        const w0 = (r.body.workers as { id: number; ready: boolean; restarts: number }[])[0]!;
        return r.status === 200 && w0.restarts === 1 && w0.ready;
      });
      assert.equal(node.proc.exitCode, null, 'the process survived the worker crash');
      assert.ok(node.stdout.some((l) => l.includes('"worker.exited"')), 'the crash is logged');
      const r0 = await h.readyz(statusPort);
      assert.equal((r0.body.workers as { revision: number }[])[0]!.revision, h.revision, 'replayed the current revision');

      // Live changes reach the restarted worker too; both workers serve them.
      const rev = await h.put('routes', { id: ids.afterCrash, name: 'after-crash', service_id: ids.svc, hosts: [], paths: ['/after-crash'], methods: [], strip_path: false, priority: 0, plugins: {} });
      await waitFor(`revision ${rev} in both workers`, async () => (await h.readyz(statusPort)).body.revision === rev);
      for (let i = 0; i < 40; i++) {
        // Consumers and keys too: the replay carries them in last-known-good's reduced form.
        const path = ['/after-crash', '/later', '/secure'][i % 3]!;
        const r = await fresh(proxyPort, path, { apikey: API_KEY });
        assert.equal(r.status, 200, `${path}: ${r.body}`);
      }
      assert.equal((await fresh(proxyPort, '/secure', { apikey: 'tp_wrong-key-0123456789' })).status, 401);
      const metrics = (await getText(statusPort, '/metrics')).body;
      // Worker 0's counters restarted from zero with its thread: it served some of these 40.
      const w0 = metricValue(metrics, 'turnpike_gateway_worker_requests_total{worker="0"}');
      assert.ok(w0 > 0 && w0 < 40, `restarted worker served ${w0} of 40`);
      assert.equal(metricValue(metrics, 'turnpike_gateway_worker_restarts_total{worker="0"}'), 1);
    });
  });

  test('startGateway({ workers: 2 }) as a library: port 0 shared by both workers, in-process bus fanned out, call records to the sink, close() ends the threads', async () => {
    const bus = new InProcessConfigBus();
    const records: CallRecord[] = [];
    const sink: LogSink = { write: async (batch) => void records.push(...batch), close: async () => undefined };
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-workers-lib-'));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    let rev = 0;
    const put = (kind: EntityKind, data: Record<string, unknown>): Promise<void> =>
      bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { ...stamps, tags: [], ...data } }));
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: upstreamPort }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('routes', { id: ids.echo, name: 'r', service_id: ids.svc, paths: ['/lib'] });
    const gw = await startGateway({ nodeId: 'lib-workers', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, workers: 2 });
    try {
      assert.equal(gw.workers, 2);
      assert.ok(gw.proxyPort > 0);
      await waitFor('both workers at the revision', async () => (await h.readyz(gw.statusPort)).status === 200 && gw.snapshot().revision === rev);
      await put('routes', { id: ids.later, name: 'l', service_id: ids.svc, paths: ['/lib-later'] });
      await waitFor('live change in both workers', () => gw.snapshot().revision === rev);
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) {
        const id = `lib-${randomUUID()}`;
        sent.push(id);
        assert.equal((await fresh(gw.proxyPort, i % 2 ? '/lib' : '/lib-later', { 'x-request-id': id })).status, 200);
      }
      const metrics = (await getText(gw.statusPort, '/metrics')).body;
      const w0 = metricValue(metrics, 'turnpike_gateway_worker_requests_total{worker="0"}');
      const w1 = metricValue(metrics, 'turnpike_gateway_worker_requests_total{worker="1"}');
      assert.ok(w0 > 0 && w1 > 0 && w0 + w1 === 30, `per-worker requests: ${w0}, ${w1}`);
      await waitFor('every call record in the sink', () => sent.every((id) => records.some((r) => r.request_id === id)), 5_000);
    } finally {
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    // Both threads ended with close(): the port is free (nothing accepts on it any more).
    assert.equal(await accepts(gw.proxyPort), false);
  });

  test('a second SIGTERM stops at once (TP_WORKERS=2): exit 1 without waiting for the in-flight request, no abort', async () => {
    const { node, proxyPort, statusPort } = await h.start(2, `gw-hard-${randomUUID().slice(0, 8)}`);
    await waitFor('ready', async () => (await h.readyz(statusPort)).status === 200);
    const slow = fresh(proxyPort, '/slow').then(
      (r) => r.status,
      () => 'cut',
    );
    await waitFor('slow request in flight', async () => metricValue((await getText(statusPort, '/metrics')).body, 'turnpike_gateway_in_flight_requests') >= 1);
    const t0 = Date.now();
    node.proc.kill('SIGTERM');
    await waitFor('draining', async () => (await h.readyz(statusPort)).status === 503, 2_000);
    node.proc.kill('SIGTERM');
    const exit = await Promise.race([node.exit, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit: ${node.log()}`)), 5_000).unref())]);
    // 1, not a signal or 134: the worker threads closed their uWS sockets before the process ended.
    assert.deepEqual(exit, { code: 1, signal: null }, node.log());
    assert.ok(Date.now() - t0 < SLOW_MS, 'did not wait for the in-flight request');
    assert.equal(await slow, 'cut');
  });

  for (const workers of [2, 1]) {
    test(`SIGTERM drains (TP_WORKERS=${workers}): unready, new connections refused, in-flight request finishes with Connection: close, call log flushed, exit 0`, async () => {
      const nodeId = `gw-drain${workers}-${randomUUID().slice(0, 8)}`;
      const { node, proxyPort, statusPort } = await h.start(workers, nodeId);
      await waitFor('ready', async () => (await h.readyz(statusPort)).status === 200);
      assert.equal((await fresh(proxyPort, '/echo')).status, 200);

      const slowId = `slow-${randomUUID()}`;
      const started = Date.now();
      const slow = fresh(proxyPort, '/slow', { 'x-request-id': slowId });
      // The request is in flight at the upstream before the signal.
      await waitFor('slow request in flight', async () => {
        const m = (await getText(statusPort, '/metrics')).body;
        return metricValue(m, 'turnpike_gateway_in_flight_requests') >= 1;
      });
      node.proc.kill('SIGTERM');

      // Unready at once; the status server stays up for the drain.
      await waitFor('readyz 503 while draining', async () => {
        const r = await h.readyz(statusPort);
        return r.status === 503 && r.body.draining === true;
      }, 2_000);
      // New connections are refused (every worker closed its listen socket) well before the slow one ends.
      await waitFor('proxy port refuses connections', async () => !(await accepts(proxyPort)), 1_000);
      assert.ok(Date.now() - started < SLOW_MS, 'refused while the slow request was still in flight');

      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ok /slow');
      assert.equal(r.headers.connection, 'close', 'responses finished during the drain close the connection');

      const exit = await Promise.race([node.exit, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit in 10 s: ${node.log()}`)), 10_000).unref())]);
      assert.deepEqual(exit, { code: 0, signal: null }, node.log());
      assert.ok(Date.now() - started < SLOW_MS + 5_000, 'exited soon after the last request');
      // The call record of the drained request was flushed before the exit.
      await waitFor('call record of the drained request', () => h.calls.find((c) => c.request_id === slowId), 5_000);
      assert.equal(h.calls.find((c) => c.request_id === slowId)!.status, 200);
    });
  }
});
