#!/usr/bin/env node
// `node benchmarks/cache.mjs`: what a proxy-cache hit costs against nginx serving the same static response.
// One nginx (`return 200` of the 100-byte body, one worker) is both the baseline and the gateway's upstream;
// one gateway node (one proxy thread) has a global proxy-cache instance, so after the first request every
// request is answered from its store. Each target gets the same wrk load in turn; the figure is CPU time
// of the target's process tree per request, and the budget is gateway ≤ 1.2 × nginx. Needs `pnpm build`,
// nginx, nats-server and wrk (see benchmarks/README.md).
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summariseProfile } from './lib/cpu-profile.mjs';
import { startNginx, upstreamConf, UPSTREAM_BODY } from './lib/nginx.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { checkBuilt, newApiKey, publishConfig, startGateway, startNats } from './lib/turnpike.mjs';
import { cpuPerRequestUnderWrk } from './lib/wrk.mjs';

const BUDGET = 1.2;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '1' },
    'no-pin': { type: 'boolean', default: false },
    'proxy-cpu': { type: 'string' },
    'load-cpu': { type: 'string' },
    'cpu-prof': { type: 'string' },
    floor: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`node benchmarks/cache.mjs [--duration s] [--warmup s] [--connections n] [--threads n] [--runs n] [--no-pin] [--proxy-cpu c] [--load-cpu cs] [--floor]
  Measures CPU per request of a gateway proxy-cache hit against nginx serving the same 100-byte response.
  --floor also measures bare uWebSockets.js answering the same response (benchmarks/lib/uws-static.mjs):
  the stack's floor, below which no gateway built on it can go.`);
  process.exit(0);
}
const ncpu = availableParallelism();
const pin = !values['no-pin'];
const proxyCpu = pin ? (values['proxy-cpu'] ?? process.env.BENCH_PROXY_CPU ?? String(ncpu - 1)) : null;
const loadCpu = pin ? (values['load-cpu'] ?? process.env.BENCH_LOAD_CPU ?? (ncpu > 2 ? `0-${ncpu - 2}` : '0')) : null;
const o = { duration: Number(values.duration), warmup: Number(values.warmup), connections: Number(values.connections), threads: Number(values.threads), runs: Number(values.runs) };
const log = (/** @type {string} */ m) => process.stderr.write(`[cache-bench] ${m}\n`);
/** --cpu-prof <dir>: the gateway runs under node --cpu-prof (slower); where its CPU went is printed at the end. */
const profDir = values['cpu-prof'] ? resolve(values['cpu-prof']) : null;
if (profDir) mkdirSync(profDir, { recursive: true });

/**
 * Adds a global proxy-cache instance (TTL far beyond the run) to the cluster's config bucket, as the
 * control plane's publisher would, at revision 2.
 * @param {string} natsUrl @param {string} cluster
 */
async function publishCachePlugin(natsUrl, cluster) {
  /** @type {typeof import('../services/common/dist/src/index.js')} */
  const common = await import(pathToFileURL(join(ROOT, 'services/common/dist/src/index.js')).href);
  /** @type {typeof import('../services/common/node_modules/@nats-io/transport-node/lib/mod.js')} */
  const nats = createRequire(join(ROOT, 'services/common/package.json'))('@nats-io/transport-node');
  const now = new Date().toISOString();
  const id = randomUUID();
  const data = { id, type: 'proxy-cache', enabled: true, scope: {}, config: { ttl_s: 86_400 }, tags: [], created_at: now, updated_at: now };
  const nc = await nats.connect({ servers: natsUrl });
  try {
    const bus = await common.NatsKvConfigBus.open(nc, common.configBucketName(cluster));
    await bus.put(common.entityKey('plugins', id), JSON.stringify({ kind: 'plugins', revision: 2, data }));
    await bus.put(common.META_REVISION_KEY, JSON.stringify({ revision: 2 }));
    await bus.close();
  } finally {
    await nc.close();
  }
}

/** The X-Cache a GET of `url` answers with, after checking the body is the upstream's. @param {string} url */
async function xCache(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  if (res.status !== 200 || text !== UPSTREAM_BODY) throw new Error(`${url} answered ${res.status} ${text.slice(0, 200)}`);
  return res.headers.get('x-cache');
}

/**
 * CPU µs per request of `pids`' trees under one wrk run (after a warm-up run), and the requests per second.
 * @param {string} url @param {number[]} pids
 */
async function measure(url, pids) {
  const wrk = { url, connections: o.connections, threads: o.threads, headers: {}, cpu: loadCpu };
  const { usPerReq, result: r } = await cpuPerRequestUnderWrk(wrk, pids, o.warmup, o.duration);
  return { usPerReq, rps: r.requests / (r.duration_us / 1e6), p99: r.latency_us.p99 };
}

checkBuilt();
const dir = mkdtempSync(join(tmpdir(), 'turnpike-cache-bench-'));
installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
let failed = false;
try {
  const [upstreamPort, natsPort, proxyPort, statusPort, httpsPort, floorPort] = /** @type {number[]} */ (await freePorts(6));
  const nginx = await startNginx({ name: 'nginx', dir: join(dir, 'nginx'), conf: upstreamConf(join(dir, 'nginx'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/bench`, cpu: proxyCpu });
  const nats = await startNats({ dir, port: natsPort, cpu: loadCpu });
  const cluster = 'bench-cache';
  await publishConfig({ natsUrl: nats.url, cluster, upstreamPort, key: newApiKey(), auth: 'none' });
  await publishCachePlugin(nats.url, cluster);
  const gateway = await startGateway({ dir, name: 'gateway-cache', natsUrl: nats.url, cluster, proxyPort, statusPort, httpsPort, headers: {}, cpu: proxyCpu, cpuProfDir: profDir });
  const gwUrl = `http://127.0.0.1:${proxyPort}/bench`;
  // The route served during start-up may predate the plugin: wait until answers come from the cache.
  const deadline = Date.now() + 10_000;
  while ((await xCache(gwUrl)) !== 'HIT') {
    if (Date.now() > deadline) throw new Error('the gateway never answered X-Cache: HIT');
    await new Promise((r) => setTimeout(r, 100));
  }
  /** @type {number | null} */
  let floorPid = null;
  if (values.floor) {
    let ready = false;
    const floor = startProcess('uws-static', process.execPath, [fileURLToPath(new URL('./lib/uws-static.mjs', import.meta.url)), String(floorPort)], {
      cpu: proxyCpu,
      onLine: (line) => {
        if (line.includes('"ready"')) ready = true;
      },
    });
    for (let i = 0; !ready; i++) {
      if (i > 100) throw new Error('uws-static did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    floorPid = /** @type {number} */ (floor.pid);
  }
  log(`pinned: ${proxyCpu === null ? 'no' : `targets on CPU ${proxyCpu}, load on ${loadCpu}`}; ${o.duration} s per run, ${o.connections} connections`);
  const rows = [];
  for (let run = 1; run <= o.runs; run++) {
    const base = await measure(`http://127.0.0.1:${upstreamPort}/bench`, [nginx.pid]);
    const hit = await measure(gwUrl, [gateway.pid]);
    const floor = floorPid === null ? null : await measure(`http://127.0.0.1:${floorPort}/bench`, [floorPid]);
    if ((await xCache(gwUrl)) !== 'HIT') throw new Error('the gateway stopped answering from the cache during the run');
    rows.push({ run, nginx: base, gateway: hit, ratio: hit.usPerReq / base.usPerReq, floor });
  }
  console.log(`node ${process.version}; CPU per request of the target's process tree (lower is better); budget: cache hit ≤ ${BUDGET} × nginx static`);
  console.log(`run  nginx static µs/req (req/s)     gateway cache hit µs/req (req/s)   ratio${floorPid === null ? '' : '   bare uWS.js µs/req (req/s)   ratio'}`);
  for (const r of rows) {
    console.log(
      `${String(r.run).padStart(3)}  ${r.nginx.usPerReq.toFixed(2).padStart(8)} (${Math.round(r.nginx.rps).toString().padStart(7)})` +
        `          ${r.gateway.usPerReq.toFixed(2).padStart(8)} (${Math.round(r.gateway.rps).toString().padStart(7)})           ${r.ratio.toFixed(2)}` +
        (r.floor === null ? '' : `   ${r.floor.usPerReq.toFixed(2).padStart(8)} (${Math.round(r.floor.rps).toString().padStart(7)})       ${(r.floor.usPerReq / r.nginx.usPerReq).toFixed(2)}`),
    );
  }
  const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
  const median = /** @type {number} */ (ratios[Math.floor(ratios.length / 2)]);
  console.log(`median ratio ${median.toFixed(2)}: ${median <= BUDGET ? 'within' : 'OVER'} the ${BUDGET}× budget`);
  failed = median > BUDGET;
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
if (profDir) {
  for (const f of readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile'))) {
    const p = summariseProfile(join(profDir, f), 25);
    const pct = (/** @type {number} */ x) => `${(x * 100).toFixed(1).padStart(5)}%`;
    console.log(`\n${f} (${p.samples} samples, share of non-idle time; profiling overhead included)\nby area:`);
    for (const e of p.byArea) console.log(`  ${pct(e.share)}  ${e.name}`);
    console.log('by function (self time):');
    for (const e of p.byFunction) console.log(`  ${pct(e.share)}  ${e.name}  ${e.where}`);
  }
}
process.exit(failed ? 1 : 0);
