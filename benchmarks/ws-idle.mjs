#!/usr/bin/env node
// `pnpm bench:ws-idle`: idle WebSocket connections one gateway node holds, and what they cost in memory
// (issue 10: 50,000 on one node, memory reported). A gateway node (production wiring: NATS config, call
// log on) serves a WebSocket API (`websocket-api` integration: the gateway terminates each connection, no
// upstream socket per client); client processes open the connections from several loopback addresses and
// keep them idle. Reported: connections open, the node's RSS before and after (and per connection), and its
// V8 heap from the status port's process metrics. Method and figures: docs/benchmarks.md.
//
// A process may hold at most RLIMIT_NOFILE descriptors: the node needs one per connection. Where the limit is
// below the target (this VM: 20,000, not raisable without CAP_SYS_RESOURCE), the run opens what fits and says so.
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { checkBuilt, publishEntries, startGateway, startNats } from './lib/turnpike.mjs';

const CLIENT = fileURLToPath(new URL('./lib/ws-idle-client.mjs', import.meta.url));
/** Connections per client process (each holds one descriptor per connection, below its own limit). */
const PER_CLIENT = 15_000;

const HELP = `usage: pnpm bench:ws-idle [-- options]   (node benchmarks/ws-idle.mjs [options])
  --connections <n>  idle connections to open                       [50000]
  --hold <s>         seconds to hold them before measuring           [10]
  --json <file>      also write the results as JSON`;

function options() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      connections: { type: 'string', default: '50000' },
      hold: { type: 'string', default: '10' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  return { connections: Number(values.connections), holdS: Number(values.hold), json: values.json ?? null };
}

/** This process's open-files limit (children inherit it). */
function openFilesLimit() {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : Infinity;
}

/** @param {number} pid */
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** @param {number} statusPort */
async function heapMiB(statusPort) {
  const text = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  const m = /^nodejs_heap_used_bytes (\S+)/m.exec(text) ?? /^process_heap_used_bytes (\S+)/m.exec(text);
  return m ? Number(m[1]) / (1024 * 1024) : null;
}

async function main() {
  const o = options();
  checkBuilt();
  const limit = openFilesLimit();
  // The node keeps ~200 descriptors of its own (NATS, pools, files, listeners).
  const fits = Math.max(0, limit - 500);
  const target = Math.min(o.connections, fits);
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-ws-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  // A backend for the routes (never called by idle connections: there is no $connect route).
  const backend = createServer((_req, res) => res.end('{}'));
  await new Promise((r) => backend.listen(0, '127.0.0.1', () => r(undefined)));
  try {
    const [natsPort, proxyPort, statusPort, httpsPort] = await freePorts(4);
    const nats = await startNats({ dir, port: /** @type {number} */ (natsPort), cpu: null });
    const backendPort = /** @type {import('node:net').AddressInfo} */ (backend.address()).port;
    await publishWsApi({ natsUrl: nats.url, cluster: 'bench', backendPort });
    const gateway = await startGateway({
      dir,
      natsUrl: nats.url,
      cluster: 'bench',
      proxyPort: /** @type {number} */ (proxyPort),
      statusPort: /** @type {number} */ (statusPort),
      httpsPort: /** @type {number} */ (httpsPort),
      cpu: null,
      cpuProfDir: null,
      env: { TP_WORKERS: process.env.TP_WORKERS ?? '1' },
      // A WebSocket API answers a plain GET 426 (upgrade required): the route is served.
      probe: { path: '/ws', status: 426 },
    });
    const pid = gateway.pid;
    const before = rssMiB(pid);
    const heapBefore = await heapMiB(/** @type {number} */ (statusPort));
    const url = `ws://127.0.0.1:${proxyPort}/ws`;
    const clients = Math.ceil(target / PER_CLIENT);
    /** @type {{ open: number, failed: number, done: boolean }[]} */
    const progress = Array.from({ length: clients }, () => ({ open: 0, failed: 0, done: false }));
    const t0 = Date.now();
    for (let i = 0; i < clients; i++) {
      const count = Math.min(PER_CLIENT, target - i * PER_CLIENT);
      startProcess(`ws client ${i}`, process.execPath, [CLIENT, url, String(count), `127.0.0.${i + 2}`, '200'], {
        onLine: (line) => {
          if (line.startsWith('{"open"')) progress[i] = JSON.parse(line);
        },
      });
    }
    while (!progress.every((p) => p.done)) {
      if (Date.now() - t0 > 600_000) throw new Error('connections still opening after 10 minutes');
      await new Promise((r) => setTimeout(r, 500));
    }
    const openedInS = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, o.holdS * 1000));
    const open = progress.reduce((a, p) => a + p.open, 0);
    const failed = progress.reduce((a, p) => a + p.failed, 0);
    const after = rssMiB(pid);
    const heapAfter = await heapMiB(/** @type {number} */ (statusPort));
    const results = {
      target: o.connections,
      openFilesLimit: limit,
      attempted: target,
      open,
      failed,
      openedInS,
      rssBeforeMiB: before,
      rssAfterMiB: after,
      rssPerConnectionKiB: open > 0 ? ((after - before) * 1024) / open : null,
      heapBeforeMiB: heapBefore,
      heapAfterMiB: heapAfter,
    };
    console.log(`idle WebSocket connections on one node (TP_WORKERS=${process.env.TP_WORKERS ?? '1'}), held ${o.holdS} s`);
    if (target < o.connections) console.log(`  the open-files limit here is ${limit}: ${target} attempted instead of ${o.connections}`);
    console.log(`  open ${open}, failed ${failed}, opened in ${openedInS.toFixed(1)} s`);
    console.log(`  gateway RSS ${before.toFixed(1)} MiB → ${after.toFixed(1)} MiB (${results.rssPerConnectionKiB?.toFixed(2)} KiB per connection)`);
    if (heapBefore !== null && heapAfter !== null) console.log(`  V8 heap used ${heapBefore.toFixed(1)} MiB → ${heapAfter.toFixed(1)} MiB`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  } finally {
    await stopAll();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A WebSocket API service at `/ws` (route selection on `$request.body.action`, a $default route to a local
 * backend) as the control plane publishes it.
 * @param {{ natsUrl: string, cluster: string, backendPort: number }} o
 */
async function publishWsApi(o) {
  const now = new Date().toISOString();
  const ts = { created_at: now, updated_at: now, tags: [] };
  const ids = { upstream: randomUUID(), service: randomUUID(), route: randomUUID() };
  /** @type {Array<[import('../services/common/dist/src/index.js').EntityKind, Record<string, unknown>]>} */
  const entries = [
    ['upstreams', { id: ids.upstream, name: 'ws-backend', scheme: 'http', targets: [{ host: '127.0.0.1', port: o.backendPort, weight: 100 }], connect_timeout_ms: 5_000, read_timeout_ms: 60_000, ...ts }],
    [
      'services',
      {
        id: ids.service,
        name: 'ws-api',
        base_path: '',
        upstream_id: null,
        integration: { type: 'websocket-api', route_selection_expression: '$request.body.action', routes: { $default: { type: 'http', upstream_id: ids.upstream } }, idle_timeout_ms: 3_600_000 },
        ...ts,
      },
    ],
    ['routes', { id: ids.route, name: 'ws-api', service_id: ids.service, hosts: [], paths: ['/ws'], methods: [], strip_path: false, priority: 0, plugins: {}, headers: [], query: [], stage: null, ...ts }],
  ];
  await publishEntries({ natsUrl: o.natsUrl, cluster: o.cluster, entries });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
