#!/usr/bin/env node
// `pnpm bench:upstream-client`: CPU per request of the gateway's upstream side alone: undici's Pool.dispatch
// (what the gateway uses) against the node:net HTTP/1.1 client (services/gateway/src/upstream/h1-client.ts),
// same handler shape, same keep-alive nginx upstream (100-byte body), same concurrency, in one process
// pinned to one CPU (the upstream on the other). Needs `pnpm build` and nginx.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startNginx, upstreamConf } from './lib/nginx.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, stopAll } from './lib/processes.mjs';

const requireFromGateway = createRequire(fileURLToPath(new URL('../services/gateway/package.json', import.meta.url)));
/** @type {typeof import('../services/gateway/node_modules/undici/index.js')} */
const { Pool } = requireFromGateway('undici');
const { H1Pool } = await import(fileURLToPath(new URL('../services/gateway/dist/src/upstream/h1-client.js', import.meta.url)));

const argv = process.argv.slice(2);
if (argv[0] === '--') argv.shift();
const { values } = parseArgs({
  args: argv,
  options: { requests: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' } },
});
const N = Number(values.requests);
const C = Number(values.concurrency);
const RUNS = Number(values.runs);

// The gateway's request: the headers it sends upstream for a key-auth route (pnpm bench's request).
const HEADERS = [
  'user-agent', 'wrk', 'accept', '*/*',
  'x-consumer-id', '7f1c2a52-3b0e-4a8e-9f55-7d0d1c7b9c11', 'x-consumer-username', 'bench',
  'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', '127.0.0.1:8000', 'x-forwarded-port', '8000',
  'x-request-id', '0b5f7c1e-6a2d-4d8e-8f1a-2c3d4e5f6a7b',
];

/** Runs N requests, C at a time; resolves with [cpu µs per request, req/s]. */
function load(/** @type {{ dispatch(o: object, h: object): unknown }} */ pool, /** @type {number} */ n) {
  return new Promise((resolve, reject) => {
    let started = 0;
    let done = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const handler = {
      onConnect() {},
      onHeaders() {
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        done++;
        if (started < n) next();
        else if (done === n) {
          const cpu = process.cpuUsage(cpu0);
          resolve([(cpu.user + cpu.system) / n, (n * 1000) / (performance.now() - t0)]);
        }
      },
      onError: reject,
    };
    const opts = { method: 'GET', path: '/bench', headers: HEADERS, body: null, headersTimeout: 60_000, bodyTimeout: 60_000 };
    const next = () => {
      started++;
      pool.dispatch(opts, handler);
    };
    for (let i = 0; i < C && i < n; i++) next();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'turnpike-client-bench-'));
installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
try {
  const [port] = /** @type {number[]} */ (await freePorts(1));
  const ncpu = cpus().length;
  await startNginx({ name: 'nginx upstream', dir: join(dir, 'up'), conf: upstreamConf(join(dir, 'up'), port), url: `http://127.0.0.1:${port}/`, cpu: ncpu >= 2 ? '0' : null });
  const origin = `http://127.0.0.1:${port}`;
  const clients = {
    undici: new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000, maxHeaderSize: 64 * 1024 }),
    h1: new H1Pool(origin, { connections: 256, keepAliveTimeout: 30_000, connectTimeout: 5_000 }),
  };
  /** @type {Record<string, number[][]>} */
  const res = { undici: [], h1: [] };
  for (const [, p] of Object.entries(clients)) await load(p, 20_000); // warm-up (JIT, connections)
  for (let r = 0; r < RUNS; r++) {
    for (const [name, p] of Object.entries(clients)) {
      const x = /** @type {number[]} */ (await load(p, N));
      res[name]?.push(x);
      process.stderr.write(`${name} run ${r + 1}: ${x[0]?.toFixed(2)} CPU µs/req, ${x[1]?.toFixed(0)} req/s\n`);
    }
  }
  const med = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
  console.log(`upstream client  ${new Date().toISOString()}  node ${process.version}; ${N} requests x ${RUNS} runs, ${C} concurrent, median`);
  const u = med((res.undici ?? []).map((x) => x[0] ?? 0));
  const h = med((res.h1 ?? []).map((x) => x[0] ?? 0));
  console.log(`  undici Pool.dispatch: ${u.toFixed(2)} CPU µs/req, ${med((res.undici ?? []).map((x) => x[1] ?? 0)).toFixed(0)} req/s`);
  console.log(`  h1-client H1Pool:     ${h.toFixed(2)} CPU µs/req, ${med((res.h1 ?? []).map((x) => x[1] ?? 0)).toFixed(0)} req/s`);
  console.log(`  h1 / undici CPU per request: ${(h / u).toFixed(2)}x (saves ${(u - h).toFixed(2)} µs/req)`);
  await clients.undici.close();
  await clients.h1.close();
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
