#!/usr/bin/env node
// `node benchmarks/call-log-cost.mjs`: what shipping call logs costs the gateway per request (issue 8: call
// logging ≤ 10 % of proxy CPU per request). Two gateway nodes of one cluster, wired as `pnpm bench` wires
// them (NATS config, key-auth route to an nginx upstream, call logs to JetStream), one of them with
// benchmarks/lib/drop-call-logs.mjs preloaded: its sink drops each batch instead of encoding and publishing
// it. The same wrk load goes to each in turn, interleaved; the figure is each gateway's CPU (utime + stime,
// /proc) per request, and the cost is (with − without) / with. Both pinned to the same CPU (only one is
// under load at a time), wrk, nginx and nats-server on the others.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSnapshot, cpuSpent } from './lib/cpu.mjs';
import { startNginx, upstreamConf } from './lib/nginx.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, stopAll } from './lib/processes.mjs';
import { API_KEY_HEADER, checkBuilt, gatewayMetrics, newApiKey, publishConfig, startGateway, startNats } from './lib/turnpike.mjs';
import { runWrk } from './lib/wrk.mjs';
import { buildOpenLoad, cpuPerRequestAtRate, openLoad } from './lib/openload.mjs';

const BUDGET = 0.1;
const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    runs: { type: 'string', default: '5' },
    'no-pin': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    rate: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`node benchmarks/call-log-cost.mjs [--runs n] [--duration s] [--warmup s] [--connections n] [--no-pin] [--cpu-prof dir] [--rate n]
  CPU per request of a gateway with call logs shipped to JetStream against the same gateway whose sink drops them.
  --rate n: both at n requests/s (open model, benchmarks/lib/openload.c) instead of wrk's closed loop, where
  each gateway runs at its own maximum.`);
  process.exit(0);
}
const ncpu = availableParallelism();
const pin = !values['no-pin'] && ncpu >= 2;
const proxyCpu = pin ? String(ncpu - 1) : null;
const loadCpu = pin ? (ncpu > 2 ? `0-${ncpu - 2}` : '0') : null;
const o = { duration: Number(values.duration), warmup: Number(values.warmup), connections: Number(values.connections), runs: Number(values.runs), rate: values.rate ? Number(values.rate) : 0 };
/** The open-model generator's binary, when --rate is given. */
let openloadBin = '';
const log = (/** @type {string} */ m) => process.stderr.write(`[call-log-cost] ${m}\n`);
const DROP = fileURLToPath(new URL('./lib/drop-call-logs.mjs', import.meta.url));

/**
 * CPU µs per request of `pid` under one wrk run (after a warm-up run), and the call-log records it sent.
 * @param {string} url @param {number} pid @param {Record<string, string>} headers @param {number} statusPort
 */
async function measure(url, pid, headers, statusPort) {
  if (o.rate > 0) return measurePaced(url, pid, headers, statusPort);
  const wrk = { url, connections: o.connections, threads: 1, headers, cpu: loadCpu };
  if (o.warmup > 0) await runWrk({ ...wrk, seconds: o.warmup });
  const sent0 = (await gatewayMetrics(statusPort)).get('turnpike_gateway_call_log_sent_total') ?? 0;
  const before = cpuSnapshot([pid]);
  const r = await runWrk({ ...wrk, seconds: o.duration });
  // A batch flushed after the last response belongs to this run.
  await new Promise((res) => setTimeout(res, 500));
  const spent = cpuSpent(before, cpuSnapshot([pid]));
  const sent = ((await gatewayMetrics(statusPort)).get('turnpike_gateway_call_log_sent_total') ?? 0) - sent0;
  const errors = r.errors.connect + r.errors.read + r.errors.write + r.errors.status + r.errors.timeout;
  if (errors > 0) throw new Error(`${url}: ${errors} wrk errors ${JSON.stringify(r.errors)}`);
  return { usPerReq: (spent.total * 1e6) / r.requests, rps: r.requests / (r.duration_us / 1e6), requests: r.requests, sent };
}

/**
 * The same at a fixed rate (--rate): a warm-up run, then the measured one; its CPU over the requests it sent.
 * @param {string} url @param {number} pid @param {Record<string, string>} headers @param {number} statusPort
 */
async function measurePaced(url, pid, headers, statusPort) {
  const u = new URL(url);
  const load = { port: Number(u.port), path: u.pathname, rate: o.rate, connections: o.connections, headers, cpu: loadCpu, warmup: 0 };
  if (o.warmup > 0) await openLoad(openloadBin, { ...load, seconds: o.warmup });
  const sent0 = (await gatewayMetrics(statusPort)).get('turnpike_gateway_call_log_sent_total') ?? 0;
  // A batch flushed after the last response belongs to this run.
  const { usPerReq, result } = await cpuPerRequestAtRate(openloadBin, { ...load, seconds: o.duration }, [pid], 500);
  const sent = ((await gatewayMetrics(statusPort)).get('turnpike_gateway_call_log_sent_total') ?? 0) - sent0;
  return { usPerReq, rps: result.requests / o.duration, requests: result.requests, sent };
}

checkBuilt();
const dir = mkdtempSync(join(tmpdir(), 'turnpike-call-log-cost-'));
installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
let failed = false;
try {
  if (o.rate > 0) openloadBin = buildOpenLoad(dir);
  const [upstreamPort, natsPort, onPort, onStatus, offPort, offStatus] = /** @type {number[]} */ (await freePorts(6));
  await startNginx({ name: 'nginx upstream', dir: join(dir, 'nginx'), conf: upstreamConf(join(dir, 'nginx'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/bench`, cpu: loadCpu });
  const nats = await startNats({ dir, port: natsPort, cpu: loadCpu });
  const cluster = 'bench-call-log';
  const key = newApiKey();
  await publishConfig({ natsUrl: nats.url, cluster, upstreamPort, key, auth: 'key-auth' });
  const headers = { [API_KEY_HEADER]: key };
  // --cpu-prof <dir>: each gateway under node --cpu-prof, in <dir>/shipped and <dir>/dropped (slower; compare the two).
  const prof = values['cpu-prof'] ? resolve(values['cpu-prof']) : null;
  const common = { dir, natsUrl: nats.url, cluster, key, cpu: proxyCpu, env: { TP_HTTPS_PORT: '-1' } };
  const on = await startGateway({ ...common, cpuProfDir: prof && join(prof, 'shipped'), name: 'gateway-call-log-on', proxyPort: onPort, statusPort: onStatus });
  const off = await startGateway({ ...common, cpuProfDir: prof && join(prof, 'dropped'), name: 'gateway-call-log-dropped', proxyPort: offPort, statusPort: offStatus, nodeArgs: [`--import=${DROP}`] });
  log(`pinned: ${proxyCpu === null ? 'no' : `gateways on CPU ${proxyCpu}, wrk + upstream + nats on ${loadCpu}`}; ${o.runs} × ${o.duration} s each, interleaved`);
  const rows = [];
  for (let run = 1; run <= o.runs; run++) {
    const a = await measure(`http://127.0.0.1:${onPort}/bench`, /** @type {number} */ (on.pid), headers, onStatus);
    const b = await measure(`http://127.0.0.1:${offPort}/bench`, /** @type {number} */ (off.pid), headers, offStatus);
    rows.push({ run, on: a, off: b, share: (a.usPerReq - b.usPerReq) / a.usPerReq });
  }
  console.log(`node ${process.version}; gateway CPU per request (utime + stime), key-auth route, ${o.rate > 0 ? `${o.rate} req/s open model, ${o.connections} connections` : `wrk -t1 -c${o.connections}`}; budget: call logging ≤ ${BUDGET * 100} % of it`);
  console.log('run  call logs shipped µs/req (req/s, records)   sink dropping µs/req (req/s)   call log share');
  for (const r of rows) {
    console.log(
      `${String(r.run).padStart(3)}  ${r.on.usPerReq.toFixed(2).padStart(8)} (${Math.round(r.on.rps).toString().padStart(6)}, ${String(r.on.sent).padStart(7)})` +
        `        ${r.off.usPerReq.toFixed(2).padStart(8)} (${Math.round(r.off.rps).toString().padStart(6)})              ${(r.share * 100).toFixed(1).padStart(5)} %`,
    );
  }
  const med = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  const onMed = med(rows.map((r) => r.on.usPerReq));
  const offMed = med(rows.map((r) => r.off.usPerReq));
  const share = (onMed - offMed) / onMed;
  console.log(`medians: ${onMed.toFixed(2)} µs shipped, ${offMed.toFixed(2)} µs dropped → call log shipping ${(share * 100).toFixed(1)} % of the gateway's CPU per request (median of per-run shares ${(med(rows.map((r) => r.share)) * 100).toFixed(1)} %): ${share <= BUDGET ? 'within' : 'OVER'} the ${BUDGET * 100} % budget`);
  if (rows.some((r) => r.on.sent < r.on.requests * 0.9)) throw new Error('the shipping gateway sent fewer call logs than it answered requests');
  failed = share > BUDGET;
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
