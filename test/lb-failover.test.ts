// Three gateway nodes (the real `turnpike gateway` processes, config from NATS KV) behind haproxy
// (infra/lb/haproxy.cfg.tmpl: health checks on /readyz, L7 retries) under steady load, one fault at a time,
// not one request failing: a node SIGKILLed (haproxy retries what it did not answer; a replacement
// bootstraps from NATS alone — no control plane runs here — and takes traffic again), a node SIGTERMed (it
// drains and exits 0), NATS stopped (nodes serve from their compiled config; after it is back a config
// change reaches every node).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { connect } from '@nats-io/transport-node';
import { META_REVISION_KEY, NatsKvConfigBus, configBucketName, entityKey, type EntityKind } from '@turnpike/common';
import { freePort, startPrivateNats, uniqueName, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startProcess, type Running } from './support/process.js';
import { startEchoUpstream, type EchoUpstream } from './support/upstream.js';
import { startHaproxy, type GatewayBackend, type Haproxy } from './support/haproxy.js';
import { startNginxLb } from './support/nginx-lb.js';

interface Node extends GatewayBackend {
  run: Running;
  dataDir: string;
}

describe('three gateway nodes behind a load balancer (haproxy, then nginx): faults under load', { timeout: 150_000 }, () => {
  const cluster = uniqueName('lb');
  const dir = mkdtempSync(join(tmpdir(), 'tp-lb-'));
  let nats: PrivateNats;
  let upstream: EchoUpstream;
  let lb: Haproxy;
  const nodes: Node[] = [];

  let serviceId = '';
  /** Config entries put into the cluster's bucket as the control plane's publisher does. */
  const publish = async (entries: Array<[EntityKind, Record<string, unknown>]>, revision: number): Promise<void> => {
    const nc = await connect({ servers: nats.url });
    const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    for (const [kind, data] of entries) await bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data }));
    await bus.put(META_REVISION_KEY, JSON.stringify({ revision }));
    await bus.close();
    await nc.close();
  };

  const startNode = async (name: string, ports?: { proxyPort: number; statusPort: number }): Promise<Node> => {
    const { proxyPort, statusPort } = ports ?? { proxyPort: await freePort(), statusPort: await freePort() };
    const dataDir = join(dir, name);
    const run = await startProcess(['gateway'], {
      TP_NATS_URL: nats.url,
      TP_CLUSTER: cluster,
      TP_NODE_ID: name,
      TP_PROXY_HOST: '127.0.0.1',
      TP_PROXY_PORT: String(proxyPort),
      TP_STATUS_PORT: String(statusPort),
      TP_HTTPS_PORT: '-1',
      TP_DATA_DIR: dataDir,
      TP_WORKERS: '1',
    });
    return { name, proxyPort, statusPort, run, dataDir };
  };

  before(async () => {
    [nats, upstream] = await Promise.all([startPrivateNats(), startEchoUpstream('lb-echo')]);
    // The config as the control plane publishes it; the control plane itself is not needed by the nodes.
    const now = new Date().toISOString();
    const ts = { created_at: now, updated_at: now, tags: [] };
    const ids = { up: randomUUID(), svc: randomUUID(), route: randomUUID() };
    const entries: Array<[EntityKind, Record<string, unknown>]> = [
      ['upstreams', { id: ids.up, name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port, weight: 100 }], ...ts }],
      ['services', { id: ids.svc, name: 'echo', upstream_id: ids.up, base_path: '', ...ts }],
      ['routes', { id: ids.route, name: 'echo', service_id: ids.svc, paths: ['/echo'], ...ts }],
    ];
    await publish(entries, 1);
    serviceId = ids.svc;
    nodes.push(...(await Promise.all(['lb-a', 'lb-b', 'lb-c'].map((name) => startNode(name)))));
    for (const n of nodes) await waitFor(`${n.name} ready`, async () => ((await fetch(`http://127.0.0.1:${n.statusPort}/readyz`)).status === 200 ? true : null), 15_000);
    lb = await startHaproxy(dir, await freePort(), nodes);
    await waitFor('haproxy routes to a node', async () => ((await fetch(`http://127.0.0.1:${lb.port}/echo`)).status === 200 ? true : null), 10_000);
  });

  after(async () => {
    await lb?.stop();
    await Promise.all(nodes.map((n) => n.run.stop('SIGTERM', 5_000).catch(() => undefined)));
    await upstream?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** 16 closed-loop clients through haproxy for `ms`; `during` runs at `atMs` (a fault), its name goes in the log line. */
  const steadyLoad = async (ms: number, atMs: number, what: string, during: () => void, port = lb.port): Promise<{ ok: number; failures: string[] }> => {
    const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
    const url = `http://127.0.0.1:${port}/echo`;
    let ok = 0;
    const failures: string[] = [];
    let slowest = 0;
    const t0 = Date.now();
    const until = t0 + ms;
    const worker = async (): Promise<void> => {
      while (Date.now() < until) {
        const s = performance.now();
        try {
          const r = await request(url, { dispatcher: agent });
          const text = await r.body.text();
          if (r.statusCode === 200 && text.includes('"upstream":"lb-echo"')) ok++;
          else failures.push(`${r.statusCode} ${text.slice(0, 120)}`);
        } catch (e) {
          failures.push(String(e));
        }
        slowest = Math.max(slowest, performance.now() - s);
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    await new Promise((r) => setTimeout(r, atMs));
    during();
    await load;
    await agent.close();
    const seconds = (Date.now() - t0) / 1000;
    console.log(`lb ${what}: ${ok} requests in ${seconds.toFixed(1)} s (${(ok / seconds).toFixed(0)}/s) through ${port === lb.port ? 'haproxy' : 'nginx'}, fault at ${atMs} ms, ${failures.length} failed, slowest ${slowest.toFixed(0)} ms`);
    // haproxy logs failed requests (option log-separate-errors): their termination state says which side cut them.
    if (failures.length > 0 && port === lb.port) {
      const cut = lb.output().split('\n').filter((l) => !l.includes(' ---- ') && l.trim() !== '');
      console.log(`haproxy's log, all but completed requests (last 40):\n${cut.slice(-40).join('\n')}`);
    }
    return { ok, failures };
  };
  const url = (): string => `http://127.0.0.1:${lb.port}/echo`;

  test('SIGKILL of one node under 8 s of steady load: 0 failed requests; a new node bootstraps from NATS and serves', async () => {
    const victim = nodes[1]!;
    const { ok, failures } = await steadyLoad(8_000, 3_000, `failover (SIGKILL ${victim.name})`, () => victim.run.proc.kill('SIGKILL'));
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
    assert.ok(ok > 500, `steady load: ${ok} requests`);

    // A replacement on the dead node's ports: config from NATS alone (no control plane runs here); once its
    // /readyz answers, haproxy's health check brings it back and it takes its share of the traffic.
    const replacement = await startNode('lb-b2', { proxyPort: victim.proxyPort, statusPort: victim.statusPort });
    nodes[1] = replacement;
    const served = async (): Promise<number> => {
      const m = /turnpike_gateway_requests_total\{status_class="2xx"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${replacement.statusPort}/metrics`)).text());
      return m ? Number(m[1]) : 0;
    };
    await waitFor(
      'haproxy sends the replacement traffic',
      async () => {
        for (let i = 0; i < 12; i++) await (await request(url())).body.dump();
        return (await served()) > 0 ? true : null;
      },
      15_000,
    );
  });

  test('SIGTERM of one node under load: it drains (/readyz 503, in-flight requests finish) and exits 0; 0 failed requests', async () => {
    const victim = nodes[2]!;
    let exit: Promise<number | null> = Promise.resolve(null);
    // 12 responses that stream for 3 s, asked for 1 s before the SIGTERM: about a third come from the victim
    // and are still streaming when haproxy takes it out (two failed /readyz checks, 0.5–1 s later); their head
    // is out, so nothing could retry them elsewhere. They must arrive whole.
    const slowAgent = new Agent({ connections: 12 });
    const slow = new Promise<void>((r) => setTimeout(r, 1_000)).then(() =>
      Promise.all(
        Array.from({ length: 12 }, async () => {
          try {
            const r = await request(`http://127.0.0.1:${lb.port}/echo?trickle_ms=3000`, { dispatcher: slowAgent });
            const text = await r.body.text();
            return r.statusCode === 200 && text.includes('"upstream":"lb-echo"') ? 'ok' : `${r.statusCode} ${text.slice(0, 120)}`;
          } catch (e) {
            return String(e);
          }
        }),
      ),
    );
    const { ok, failures } = await steadyLoad(6_000, 2_000, `drain (SIGTERM ${victim.name})`, () => {
      exit = victim.run.stop('SIGTERM', 20_000);
    });
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
    assert.ok(ok > 300, `steady load: ${ok} requests`);
    assert.deepEqual((await slow).filter((s) => s !== 'ok'), [], 'requests in flight on the draining node are answered');
    await slowAgent.close();
    assert.equal(await exit, 0, 'the drained node exits 0');
  });

  test('NATS stopped under load: the nodes keep serving; once it is back, a config change reaches every node', async () => {
    let down: Promise<void> = Promise.resolve();
    const { ok, failures } = await steadyLoad(6_000, 1_500, 'NATS down', () => {
      down = nats.stop();
    });
    await down;
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
    assert.ok(ok > 300, `steady load: ${ok} requests`);
    await nats.start();
    const now = new Date().toISOString();
    await publish([['routes', { id: randomUUID(), name: 'echo2', service_id: serviceId, paths: ['/echo2'], created_at: now, updated_at: now, tags: [] }]], 2);
    for (const n of nodes.filter((x) => x.run.proc.exitCode === null)) {
      await waitFor(`${n.name} serves the route added after the outage`, async () => {
        const r = await request(`http://127.0.0.1:${n.proxyPort}/echo2`);
        await r.body.dump();
        return r.statusCode === 200 ? true : null;
      }, 20_000);
    }
  });

  test('a node restarted while a config change of 200 routes lands: 0 failed requests, every node ends on the new config', async () => {
    const victim = nodes[0]!;
    const now = new Date().toISOString();
    const routes: Array<[EntityKind, Record<string, unknown>]> = Array.from({ length: 200 }, (_, i) => [
      'routes',
      { id: randomUUID(), name: `bulk-${i}`, service_id: serviceId, paths: [`/bulk/${i}`], created_at: now, updated_at: now, tags: [] },
    ]);
    let restarted: Promise<void> = Promise.resolve();
    const { ok, failures } = await steadyLoad(8_000, 1_500, `restart during a config change (${victim.name})`, () => {
      restarted = (async () => {
        const stopping = victim.run.stop('SIGTERM', 20_000);
        // The change lands while the node drains and restarts: it must pick it up from the bucket, not from a message it missed.
        await publish(routes, 3);
        await stopping;
        nodes[0] = await startNode(`${victim.name}-again`, { proxyPort: victim.proxyPort, statusPort: victim.statusPort });
      })();
    });
    await restarted;
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
    assert.ok(ok > 300, `steady load: ${ok} requests`);
    for (const n of nodes.filter((x) => x.run.proc.exitCode === null)) {
      await waitFor(`${n.name} serves all 200 new routes`, async () => {
        for (const i of [0, 99, 199]) {
          const r = await request(`http://127.0.0.1:${n.proxyPort}/bulk/${i}`);
          await r.body.dump();
          if (r.statusCode !== 200) return null;
        }
        return true;
      }, 20_000);
    }
  });

  test('nginx as the load balancer (infra/lb/nginx.conf.tmpl): SIGKILL of a node under load, 0 failed requests', async () => {
    const live = nodes.filter((n) => n.run.proc.exitCode === null);
    assert.ok(live.length >= 2, 'two nodes left to balance over');
    const nginx = await startNginxLb(dir, await freePort(), live);
    try {
      const victim = live[0]!;
      const { ok, failures } = await steadyLoad(6_000, 2_000, `failover (SIGKILL ${victim.name})`, () => victim.run.proc.kill('SIGKILL'), nginx.port);
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
      assert.ok(ok > 300, `steady load: ${ok} requests`);
    } finally {
      await nginx.stop();
    }
  });
});
