#!/usr/bin/env node
// `node benchmarks/ab.mjs --base <checkout>`: a hot-path change measured against its baseline in one run. Two
// gateway nodes — the baseline's build (another checkout of the repository, built) and this tree's — each in
// a cluster of its own on one nats-server (same config: an nginx upstream, one route with the `--auth`
// variant, call logs on), pinned to the same CPU, loaded in turn at the same fixed request rate with the
// open-model generator (lib/openload.c). At one rate the CPU per request of the two is comparable run by run
// (closed-loop wrk would let a faster build run at a higher rate, where every request costs less); the figure
// is the median of the per-run ratios this/base. Needs `pnpm build` here and in the baseline checkout, e.g.
//   git worktree add /tmp/tp-base HEAD~1 && (cd /tmp/tp-base && pnpm install --offline && pnpm build)
//   node benchmarks/ab.mjs --base /tmp/tp-base --runs 9
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startNginx, upstreamConf } from './lib/nginx.mjs';
import { buildOpenLoad, cpuPerRequestAtRate, openLoad } from './lib/openload.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, stopAll } from './lib/processes.mjs';
import { cpuPerRequestUnderWrk } from './lib/wrk.mjs';
import { API_KEY_HEADER, AUTH_VARIANTS, checkBuilt, newApiKey, publishConfig, startGateway, startNats } from './lib/turnpike.mjs';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    base: { type: 'string' },
    auth: { type: 'string', default: 'key-auth' },
    'base-auth': { type: 'string' },
    rate: { type: 'string', default: '20000' },
    closed: { type: 'boolean', default: false },
    runs: { type: 'string', default: '9' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    'node-args': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.base) {
  console.log(`node benchmarks/ab.mjs --base <checkout> [--auth ${AUTH_VARIANTS.filter((a) => a !== 'jwt').join('|')}] [--base-auth <variant>] [--rate n | --closed] [--runs n] [--duration s] [--warmup s] [--connections n] [--node-args="<flags>"]
  CPU per request of this tree's gateway against a baseline checkout's, interleaved at one request rate.
  --closed: closed loop instead (wrk, each side at its own maximum, as \`pnpm bench\` measures; --rate ignored).
  wrk's connections fall into step with the proxy's batches, which open-model traffic does not: check a
  closed-loop gain at fixed rates as well (docs/benchmarks.md, "Upstream writes batched per turn").
  --base . compares this tree with itself; with --node-args (node/V8 flags for this side only) that measures a flag,
  with --base-auth (the baseline's route variant; default --auth) what a feature costs, e.g.
  --base . --base-auth key-auth --auth key-auth+rate-limit: the rate limit's cost per request.`);
  process.exit(values.help ? 0 : 2);
}
const auth = /** @type {import('./lib/turnpike.mjs').AuthVariant} */ (values.auth);
const baseAuth = /** @type {import('./lib/turnpike.mjs').AuthVariant} */ (values['base-auth'] ?? values.auth);
for (const [flag, v] of [['--auth', auth], ['--base-auth', baseAuth]]) {
  if (!AUTH_VARIANTS.includes(/** @type {import('./lib/turnpike.mjs').AuthVariant} */ (v)) || v === 'jwt') throw new Error(`${flag}: one of ${AUTH_VARIANTS.filter((a) => a !== 'jwt').join(', ')}`);
}
const baseMain = join(resolve(values.base), 'services/gateway/dist/src/main.js');
if (!existsSync(baseMain)) throw new Error(`${baseMain} is missing: build the baseline checkout first`);
const here = fileURLToPath(new URL('../services/gateway/dist/src/main.js', import.meta.url));
const o = { rate: Number(values.rate), runs: Number(values.runs), duration: Number(values.duration), warmup: Number(values.warmup), connections: Number(values.connections) };
const ncpu = availableParallelism();
const proxyCpu = ncpu >= 2 ? String(ncpu - 1) : null;
const loadCpu = ncpu >= 2 ? (ncpu > 2 ? `0-${ncpu - 2}` : '0') : null;
const log = (/** @type {string} */ m) => process.stderr.write(`[ab] ${m}\n`);

checkBuilt();
const dir = mkdtempSync(join(tmpdir(), 'turnpike-ab-'));
installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
let failed = false;
try {
  const bin = buildOpenLoad(dir);
  const [upstreamPort, natsPort, aPort, aStatus, bPort, bStatus] = /** @type {number[]} */ (await freePorts(6));
  await startNginx({ name: 'nginx upstream', dir: join(dir, 'nginx'), conf: upstreamConf(join(dir, 'nginx'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/bench`, cpu: loadCpu });
  const nats = await startNats({ dir, port: natsPort, cpu: loadCpu });
  const key = newApiKey();
  // A cluster each: a cluster rate limit would otherwise have the two nodes exchange counters.
  await publishConfig({ natsUrl: nats.url, cluster: 'ab-base', upstreamPort, key, auth: baseAuth });
  await publishConfig({ natsUrl: nats.url, cluster: 'ab-this', upstreamPort, key, auth });
  const common = { dir, natsUrl: nats.url, key, cpu: proxyCpu, cpuProfDir: null, env: { TP_HTTPS_PORT: '-1' } };
  const base = await startGateway({ ...common, cluster: 'ab-base', name: 'gateway-base', proxyPort: aPort, statusPort: aStatus, main: baseMain });
  const nodeArgs = values['node-args'].split(' ').filter((a) => a !== '');
  const mine = await startGateway({ ...common, cluster: 'ab-this', name: 'gateway-this', proxyPort: bPort, statusPort: bStatus, main: here, nodeArgs });
  // Both sides get the same request bytes (a route without auth passes the key header on).
  /** @type {Record<string, string>} */
  const headers = auth === 'none' && baseAuth === 'none' ? {} : { [API_KEY_HEADER]: key };
  /** @param {number} port @param {number} pid */
  const measure = async (port, pid) => {
    if (values.closed) {
      const wrk = { url: `http://127.0.0.1:${port}/bench`, connections: o.connections, threads: 1, headers, cpu: loadCpu };
      const { usPerReq, result } = await cpuPerRequestUnderWrk(wrk, [pid], o.warmup, o.duration);
      return { us: usPerReq, p99: result.latency_us.p99 / 1000 };
    }
    const load = { port, rate: o.rate, connections: o.connections, headers, cpu: loadCpu, warmup: 0 };
    if (o.warmup > 0) await openLoad(bin, { ...load, seconds: o.warmup });
    const { usPerReq, result } = await cpuPerRequestAtRate(bin, { ...load, seconds: o.duration }, [pid]);
    return { us: usPerReq, p99: result.latency_us.p99 / 1000 };
  };
  log(`base ${baseMain} (${baseAuth}); this ${here}${nodeArgs.length ? ` with ${nodeArgs.join(' ')}` : ''} (${auth}); ${values.closed ? `closed loop (wrk -c${o.connections})` : `${o.rate} req/s`}; ${o.runs} × ${o.duration} s each, interleaved (order alternates)`);
  const rows = [];
  for (let run = 1; run <= o.runs; run++) {
    // Alternate which goes first, so that a drift over the run does not favour one side.
    const first = run % 2 === 1;
    const a = first ? await measure(aPort, /** @type {number} */ (base.pid)) : null;
    const b = await measure(bPort, /** @type {number} */ (mine.pid));
    const a2 = a ?? (await measure(aPort, /** @type {number} */ (base.pid)));
    rows.push({ run, base: a2, mine: b, ratio: b.us / a2.us });
  }
  console.log(`node ${process.version}; gateway CPU per request (utime + stime) ${values.closed ? `in a closed loop (wrk -c${o.connections})` : `at ${o.rate} req/s`}, ${baseAuth === auth ? auth : `base ${baseAuth}, this ${auth}`}; p99 of the load generator`);
  console.log('run   base µs/req (p99 ms)   this µs/req (p99 ms)   this/base');
  for (const r of rows) console.log(`${String(r.run).padStart(3)}   ${r.base.us.toFixed(2).padStart(8)} (${r.base.p99.toFixed(2).padStart(6)})   ${r.mine.us.toFixed(2).padStart(8)} (${r.mine.p99.toFixed(2).padStart(6)})   ${r.ratio.toFixed(3)}`);
  const med = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(`median: base ${med(rows.map((r) => r.base.us)).toFixed(2)} µs, this ${med(rows.map((r) => r.mine.us)).toFixed(2)} µs; median of per-run ratios ${med(rows.map((r) => r.ratio)).toFixed(3)} (${((med(rows.map((r) => r.ratio)) - 1) * 100).toFixed(1)} %)`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
