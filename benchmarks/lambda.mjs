#!/usr/bin/env node
// `pnpm bench:lambda`: what a `lambda` integration costs the gateway next to plain HTTP proxying (issue 10:
// function integration overhead ≤ 1.3× plain HTTP proxying per request, against a local emulator). One gateway
// node (production wiring: NATS config, call log on) serves two routes answering the same small JSON: `/fn`, a
// lambda integration (payload format 2.0) invoking the Invoke API stand-in (benchmarks/lib/fake-lambda.mjs, its
// own process, verifying every signature), and `/http`, a plain http service proxying to a node:http upstream
// in that same process. Interleaved runs at the same concurrency and the same paced request rate (CPU per
// request depends on load: at different rates the busier route would amortize its event-loop turns and
// syscalls over more requests), or unpaced with --rate 0; reported per route: requests/s, the gateway process's
// CPU per request (µs, /proc utime+stime), latency p50/p99, and the CPU ratio lambda/http.
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { freePorts } from './lib/ports.mjs';
import { cpuSnapshot, cpuSpent } from './lib/cpu.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { checkBuilt, publishEntries, startGateway, startNats } from './lib/turnpike.mjs';

const FAKE = fileURLToPath(new URL('./lib/fake-lambda.mjs', import.meta.url));
const GOAL_RATIO = 1.3;
const REGION = 'us-east-1';
const ACCESS_KEY = 'AKIABENCHLAMBDA00001';
const SECRET = 'bench-lambda-secret';
const EXPECTED = '{"message":"hello from the function"}';

const HELP = `usage: pnpm bench:lambda [-- options]   (node benchmarks/lambda.mjs [options])
  --runs <n>         interleaved runs of each route                          [3]
  --seconds <s>      measured seconds per run (after 1 s warm-up)            [5]
  --connections <n>  concurrent callers (closed loop)                        [16]
  --rate <n>         requests/s for both routes; 0: as fast as each goes      [2000]
  --workers <n>      gateway proxy threads (TP_WORKERS)                      [1]
  --only <route>     measure one route only (http | lambda), e.g. to profile it with BENCH_CPU_PROF_DIR
  --no-pin           do not pin with taskset (default with 2+ CPUs: the gateway on the last CPU; this load
                     generator, the emulator and nats-server on the others, as \`pnpm bench\` does)
  --json <file>      also write the results as JSON`;

function options() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' },
      rate: { type: 'string', default: '2000' },
      workers: { type: 'string', default: '1' },
      only: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const ncpu = cpus().length;
  const pin = !values['no-pin'] && process.env.BENCH_PIN !== '0' && ncpu >= 2;
  return { pin, gatewayCpu: pin ? String(ncpu - 1) : null, loadCpu: pin ? (ncpu === 2 ? '0' : `0-${ncpu - 2}`) : null, runs: Number(values.runs), seconds: Number(values.seconds), connections: Number(values.connections), rate: Number(values.rate), workers: Number(values.workers), only: values.only === 'http' || values.only === 'lambda' ? values.only : null, json: values.json ?? null };
}

/**
 * One GET; resolves with its time (ms) once the body is read, rejects on anything but 200 with the expected body.
 * @param {Agent} agent
 * @param {URL} url
 * @returns {Promise<number>}
 */
function call(agent, url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { agent }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (/** @type {Buffer} */ c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200 || text !== EXPECTED) return reject(new Error(`${url.href}: ${res.statusCode} ${text.slice(0, 200)}`));
        resolve(performance.now() - t0);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Closed loop: `connections` callers for `seconds` after 1 s unmeasured, each call starting no earlier than its
 * slot in a schedule of `rate` calls/s (rate 0: no schedule); the gateway's CPU over the measured part.
 * @param {URL} url
 * @param {number} gatewayPid
 * @param {{ seconds: number, connections: number, rate: number }} o
 */
async function measure(url, gatewayPid, o) {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  /** @type {number[]} */ const times = [];
  const warmEnd = performance.now() + 1_000;
  const end = warmEnd + o.seconds * 1_000;
  /** @type {Map<number, import('./lib/cpu.mjs').CpuTimes> | null} */
  let cpu0 = null;
  let t0 = 0;
  const start = performance.now();
  let slot = 0;
  const worker = async () => {
    while (performance.now() < end) {
      if (o.rate > 0) {
        const due = start + (slot++ * 1_000) / o.rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      const ms = await call(agent, url);
      const now = performance.now();
      if (now < warmEnd) continue;
      if (cpu0 === null) {
        cpu0 = cpuSnapshot([gatewayPid]);
        t0 = now;
        continue;
      }
      times.push(ms);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const cpu = cpuSpent(/** @type {Map<number, import('./lib/cpu.mjs').CpuTimes>} */ (/** @type {unknown} */ (cpu0)), cpuSnapshot([gatewayPid]));
  const elapsed = (performance.now() - t0) / 1_000;
  agent.destroy();
  return { requests: times.length, elapsed, cpu: cpu.total, sys: cpu.sys, times };
}

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return /** @type {number} */ (s[Math.min(s.length - 1, Math.floor(q * s.length))]);
}

/** @param {number} x @param {number} [d] */
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function main() {
  const o = options();
  checkBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-lambda-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  // The load generator (this process) never competes with the gateway for its core; what it starts inherits it.
  if (o.loadCpu !== null) execFileSync('taskset', ['-a', '-p', '-c', o.loadCpu, String(process.pid)], { stdio: 'ignore' });
  try {
    const [natsPort, proxyPort, statusPort] = await freePorts(3);
    const nats = await startNats({ dir, port: /** @type {number} */ (natsPort), cpu: null });
    /** @type {{ lambdaUrl: string, upstreamUrl: string } | null} */
    let ends = null;
    startProcess('fake lambda', process.execPath, [FAKE, REGION, ACCESS_KEY, SECRET], {
      onLine: (line) => {
        if (line.startsWith('{"lambdaUrl"')) ends = JSON.parse(line);
      },
    });
    for (let i = 0; ends === null; i++) {
      if (i > 200) throw new Error('the fake Lambda did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const { lambdaUrl, upstreamUrl } = /** @type {{ lambdaUrl: string, upstreamUrl: string }} */ (/** @type {unknown} */ (ends));
    await publishConfig({ natsUrl: nats.url, cluster: 'bench', lambdaUrl, upstreamUrl });
    const gateway = await startGateway({
      dir,
      natsUrl: nats.url,
      cluster: 'bench',
      proxyPort: /** @type {number} */ (proxyPort),
      statusPort: /** @type {number} */ (statusPort),
      cpu: o.gatewayCpu,
      cpuProfDir: process.env.BENCH_CPU_PROF_DIR ?? null,
      env: { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET, TP_WORKERS: String(o.workers) },
      probe: { path: '/fn', body: EXPECTED },
    });
    const routes = { http: new URL(`http://127.0.0.1:${proxyPort}/http`), lambda: new URL(`http://127.0.0.1:${proxyPort}/fn`) };
    /** @type {Record<'http' | 'lambda', { requests: number, elapsed: number, cpu: number, times: number[] }>} */
    const all = { http: { requests: 0, elapsed: 0, cpu: 0, times: [] }, lambda: { requests: 0, elapsed: 0, cpu: 0, times: [] } };
    for (let run = 1; run <= o.runs; run++) {
      for (const name of /** @type {const} */ (['http', 'lambda'])) {
        if (o.only !== null && o.only !== name) continue;
        const r = await measure(routes[name], gateway.pid, o);
        const acc = all[name];
        acc.requests += r.requests;
        acc.elapsed += r.elapsed;
        acc.cpu += r.cpu;
        acc.times.push(...r.times);
        console.error(`run ${run} ${name}: ${r.requests} requests, ${fmt(r.requests / r.elapsed, 0)} req/s, ${fmt((r.cpu / r.requests) * 1e6)} µs CPU/request (${fmt((r.sys / r.requests) * 1e6)} in the kernel)`);
      }
    }
    /** @type {Record<string, { rps: number, cpuUsPerRequest: number, p50: number, p99: number }>} */
    const results = {};
    const lines = ['| route | requests | req/s | gateway CPU µs/request | p50 ms | p99 ms |', '|---|---:|---:|---:|---:|---:|'];
    for (const name of /** @type {const} */ (['http', 'lambda'])) {
      const a = all[name];
      if (a.requests === 0) continue;
      const r = { rps: a.requests / a.elapsed, cpuUsPerRequest: (a.cpu / a.requests) * 1e6, p50: quantile(a.times, 0.5), p99: quantile(a.times, 0.99) };
      results[name] = r;
      lines.push(`| ${name === 'http' ? 'plain HTTP proxy' : 'lambda (2.0)'} | ${a.requests} | ${fmt(r.rps, 0)} | ${fmt(r.cpuUsPerRequest)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} |`);
    }
    const ratio = results.lambda && results.http ? results.lambda.cpuUsPerRequest / results.http.cpuUsPerRequest : NaN;
    console.log(`Lambda integration vs plain HTTP proxying: ${o.connections} concurrent callers, ${o.rate > 0 ? `${o.rate} req/s paced` : 'unpaced'}, TP_WORKERS=${o.workers}, ${o.pin ? `gateway pinned to CPU ${o.gatewayCpu}, load + emulator on CPU ${o.loadCpu}` : 'not pinned'}, ${o.runs} x ${o.seconds} s per route`);
    console.log(lines.join('\n'));
    console.log(`CPU per request, lambda / http: ${fmt(ratio, 2)} (goal ≤ ${GOAL_RATIO})`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results, ratio }, null, 2));
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The two routes as the control plane publishes them: `/http` (an upstream and a plain service) and `/fn` (a
 * service with a lambda integration, payload format 2.0, at the stand-in's endpoint).
 * @param {{ natsUrl: string, cluster: string, lambdaUrl: string, upstreamUrl: string }} o
 */
async function publishConfig(o) {
  const now = new Date().toISOString();
  const ts = { created_at: now, updated_at: now, tags: [] };
  const ids = { upstream: randomUUID(), http: randomUUID(), fn: randomUUID(), httpRoute: randomUUID(), fnRoute: randomUUID() };
  const up = new URL(o.upstreamUrl);
  const route = { hosts: [], methods: [], strip_path: false, priority: 0, plugins: {}, headers: [], query: [], stage: null, ...ts };
  /** @type {Array<[import('../services/common/dist/src/index.js').EntityKind, Record<string, unknown>]>} */
  const entries = [
    ['upstreams', { id: ids.upstream, name: 'bench-http', scheme: 'http', targets: [{ host: up.hostname, port: Number(up.port), weight: 100 }], connect_timeout_ms: 5_000, read_timeout_ms: 60_000, ...ts }],
    ['services', { id: ids.http, name: 'bench-http', base_path: '', upstream_id: ids.upstream, ...ts }],
    [
      'services',
      {
        id: ids.fn,
        name: 'bench-fn',
        base_path: '',
        integration: { type: 'lambda', function_name: 'bench', region: REGION, endpoint_url: o.lambdaUrl, payload_format: '2.0', invocation_type: 'RequestResponse', timeout_ms: 10_000 },
        ...ts,
      },
    ],
    ['routes', { id: ids.httpRoute, name: 'bench-http', service_id: ids.http, paths: ['/http'], ...route }],
    ['routes', { id: ids.fnRoute, name: 'bench-fn', service_id: ids.fn, paths: ['/fn'], ...route }],
  ];
  await publishEntries({ natsUrl: o.natsUrl, cluster: o.cluster, entries });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
