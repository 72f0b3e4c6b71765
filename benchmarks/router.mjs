#!/usr/bin/env node
// `pnpm bench:router`: the route lookup's cost with 10 routes against 10,000 routes of the same mix (static
// paths, `{param}` paths, catch-alls, exact and wildcard hosts, regex paths, header matchers), in one process.
// Budget (issue 5): 10,000 routes within 10 % of 10 routes. Needs `pnpm build` (imports the built router).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROUTER = fileURLToPath(new URL('../services/gateway/dist/src/router/index.js', import.meta.url));
if (!existsSync(ROUTER)) {
  console.error('services/gateway is not built: run pnpm build first');
  process.exit(1);
}
/** @type {typeof import('../services/gateway/dist/src/router/index.js')} */
const { Router } = await import(ROUTER);

const BUDGET = 1.1;
const HELP = `usage: pnpm bench:router [-- options]   (node benchmarks/router.mjs [options])
  --sizes <a,b>     route counts to compare            [10,10000]
  --lookups <n>     lookups per timed round            [200000]
  --rounds <n>      timed rounds per size (interleaved); the median is reported   [15]
  --json <file>     also write the results as JSON`;

const argv = process.argv.slice(2);
if (argv[0] === '--') argv.shift();
const { values } = parseArgs({
  args: argv,
  options: {
    sizes: { type: 'string', default: '10,10000' },
    lookups: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '15' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const sizes = values.sizes.split(',').map(Number);
const LOOKUPS = Number(values.lookups);
const ROUNDS = Number(values.rounds);

/**
 * A deterministic PRNG (mulberry32): both sizes and every run see the same routes and requests.
 * @param {number} seed
 */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The mix, by route index i (10 consecutive indexes cover every kind, so 10 routes hold one of each):
 *  0 static `/svc<i>/items`, 1 param `/svc<i>/users/{id}`, 2 catch-all `/svc<i>/files/{rest*}`, 3 prefix
 *  `/svc<i>` (GET/POST), 4 exact host `h<i>.example.com` + param, 5 wildcard host `*.t<i>.example.com`,
 *  6 regex `~/re<i>/(?<n>[0-9]+)$`, 7 header matcher `x-version: v<i>`, 8 two params, 9 static, deeper.
 * Each route returns the request that should hit it.
 * @param {number} i
 * @returns {{ spec: import('../services/gateway/dist/src/router/index.js').RouteSpec<string>, req: { method: string, host: string, path: string, headers: Record<string, string> } }}
 */
function routeAt(i) {
  const base = { id: `r${i}`, hosts: /** @type {string[]} */ ([]), methods: /** @type {string[]} */ ([]), priority: 0, value: `r${i}` };
  const req = { method: 'GET', host: 'api.example.com', path: '', headers: /** @type {Record<string, string>} */ ({}) };
  switch (i % 10) {
    case 0:
      return { spec: { ...base, paths: [`/svc${i}/items`] }, req: { ...req, path: `/svc${i}/items` } };
    case 1:
      return { spec: { ...base, paths: [`/svc${i}/users/{id}`] }, req: { ...req, path: `/svc${i}/users/12345` } };
    case 2:
      return { spec: { ...base, paths: [`/svc${i}/files/{rest*}`] }, req: { ...req, path: `/svc${i}/files/a/b/c.txt` } };
    case 3:
      return { spec: { ...base, methods: ['GET', 'POST'], paths: [`/svc${i}`] }, req: { ...req, method: 'POST', path: `/svc${i}/orders/7/lines` } };
    case 4:
      return { spec: { ...base, hosts: [`h${i}.example.com`], paths: [`/v1/{tenant}/things`] }, req: { ...req, host: `h${i}.example.com`, path: '/v1/acme/things' } };
    case 5:
      return { spec: { ...base, hosts: [`*.t${i}.example.com`], paths: ['/api'] }, req: { ...req, host: `eu.t${i}.example.com`, path: '/api/x' } };
    case 6:
      return { spec: { ...base, paths: [`~/re${i}/(?<n>[0-9]+)$`] }, req: { ...req, path: `/re${i}/8080` } };
    case 7:
      return {
        spec: { ...base, paths: [`/svc${i}/feature`], headers: [{ name: 'x-version', match: 'exact', value: `v${i}` }] },
        req: { ...req, path: `/svc${i}/feature`, headers: { 'x-version': `v${i}` } },
      };
    case 8:
      return { spec: { ...base, paths: [`/svc${i}/{org}/repos/{repo}`] }, req: { ...req, path: `/svc${i}/acme/repos/gateway` } };
    default:
      return { spec: { ...base, paths: [`/svc${i}/a/b/c/d`] }, req: { ...req, path: `/svc${i}/a/b/c/d` } };
  }
}

/** Request view over a plain header object (what the proxy's uWS view does, minus the native call). */
class View {
  /** @type {Record<string, string>} */
  headers = {};
  /** @param {string} name */
  header(name) {
    return this.headers[name];
  }
  queryParam() {
    return undefined;
  }
}

const REQUESTS = 4096;
/**
 * @param {number} n
 * @param {'same' | 'spread'} mode  same: one request per kind, for the last 10 routes of the table (the same
 *   work for every size: does the lookup depend on the number of routes?); spread: requests over every route
 *   of the table, as traffic would be (adds the memory hierarchy: 10,000 routes' tries do not fit in cache)
 */
function setup(n, mode) {
  const routes = Array.from({ length: n }, (_, i) => routeAt(i));
  const router = new Router(routes.map((r) => r.spec));
  // Every kind in the same proportion for both sizes, in a fixed random order.
  const rnd = prng(42);
  const reqs = Array.from({ length: REQUESTS }, (_, k) => {
    const kind = k % 10;
    const slot = mode === 'same' ? n / 10 - 1 : Math.floor(rnd() * (n / 10));
    return routes[slot * 10 + kind].req;
  });
  for (let k = reqs.length - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [reqs[k], reqs[j]] = [reqs[j], reqs[k]];
  }
  const view = new View();
  // Check once that every request finds the route it was made for.
  for (const r of reqs) {
    view.headers = r.headers;
    const m = router.match(r.method, r.host, r.path, view);
    const want = routes.find((x) => x.req === r)?.spec.id;
    if (!m || m.routeId !== want) throw new Error(`router bench: ${r.method} ${r.host}${r.path} matched ${m?.routeId} not ${want}`);
  }
  return { router, reqs, view };
}

/** @param {ReturnType<typeof setup>} s */
function round(s) {
  const { router, reqs, view } = s;
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) {
    const r = reqs[i & (REQUESTS - 1)];
    view.headers = r.headers;
    if (router.match(r.method, r.host, r.path, view) !== null) hits++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / LOOKUPS;
  if (hits !== LOOKUPS) throw new Error('router bench: a lookup missed');
  return ns;
}

const MODES = /** @type {const} */ (['same', 'spread']);
const setups = MODES.flatMap((mode) => sizes.map((n) => ({ n, mode, s: setup(n, mode), ns: /** @type {number[]} */ ([]) })));
// Warm-up (JIT) on every size, then rounds interleaved so that other load on the machine hits both alike.
for (const x of setups) for (let k = 0; k < 3; k++) round(x.s);
for (let k = 0; k < ROUNDS; k++) for (const x of setups) x.ns.push(round(x.s));
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
const results = setups.map((x) => ({ mode: x.mode, routes: x.n, ns_per_lookup_median: median(x.ns), ns_per_lookup_min: Math.min(...x.ns), rounds: x.ns }));

console.log(`router lookup  ${new Date().toISOString()}  node ${process.version}; ${LOOKUPS} lookups x ${ROUNDS} rounds per size, median (min)`);
/** @type {Record<string, number>} */
const ratios = {};
for (const mode of MODES) {
  const rs = results.filter((r) => r.mode === mode);
  console.log(`${mode === 'same' ? 'same 10 requests for every size' : 'requests spread over every route of the table'}:`);
  for (const r of rs) console.log(`  ${String(r.routes).padStart(6)} routes: ${r.ns_per_lookup_median.toFixed(1)} ns/lookup (min ${r.ns_per_lookup_min.toFixed(1)})`);
  const first = rs[0];
  const last = rs[rs.length - 1];
  if (first && last && first !== last) {
    const ratio = last.ns_per_lookup_median / first.ns_per_lookup_median;
    ratios[mode] = ratio;
    const ratioMin = last.ns_per_lookup_min / first.ns_per_lookup_min;
    console.log(`  ${last.routes} / ${first.routes} routes: ${ratio.toFixed(3)}x (by min: ${ratioMin.toFixed(3)}x)  ` +
      (ratio <= BUDGET ? `PASS: within ${((BUDGET - 1) * 100).toFixed(0)} %` : `OVER: more than ${((BUDGET - 1) * 100).toFixed(0)} % slower`));
  }
}
if (values.json) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, lookups: LOOKUPS, results, ratios }, null, 2)}\n`);
}
