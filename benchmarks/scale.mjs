// Scale benchmark (issue 4): a control plane holding many routes and consumers with keys, two gateway
// nodes on the same cluster. Measures `turnpike apply` throughput, the time the full config takes to reach
// both nodes, each node's compile time and RSS, and the latency of single-route changes made through the
// admin API until both nodes serve them. Method and figures: docs/benchmarks.md ("Scale").
//
//   pnpm build && bash infra/local/up.sh && pnpm bench:scale [options]
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { GATEWAY_MAIN, checkBuilt, startNats } from './lib/turnpike.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI_BIN = join(ROOT, 'services/cli/dist/src/bin.js');

const { values: opt } = parseArgs({
  options: {
    upstreams: { type: 'string', default: '100' },
    services: { type: 'string', default: '1000' },
    routes: { type: 'string', default: '10000' },
    consumers: { type: 'string', default: '100000' },
    'apply-consumers': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    changes: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '2' },
    seed: { type: 'string', default: 'api' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  process.stdout.write(`usage: node benchmarks/scale.mjs [--upstreams N] [--services N] [--routes N] [--consumers N]
  [--apply-consumers N] [--concurrency N] [--changes N] [--nodes N] [--seed api|kv] [--json FILE]

  --seed api (default): through the control plane, as below.
  --seed kv: no control plane; the envelopes are written straight into the cluster's KV bucket with
  NatsKvConfigBus (as the publisher writes them), and each change is one route envelope + meta.revision
  put there: node compile, RSS and KV propagation without the admin API.

  All upstreams, services and routes and the first --apply-consumers consumers (one key each) are created by
  \`turnpike apply -f --concurrency N\` (the CLI, N requests in flight within a dependency level; timed). The remaining consumers and their keys are
  created through the REST API with --concurrency requests in flight (also timed). Then --nodes gateways
  start, and --changes single-route PATCHes are timed until every node serves the new path.
`);
  process.exit(0);
}
const N = {
  upstreams: Number(opt.upstreams),
  services: Number(opt.services),
  routes: Number(opt.routes),
  consumers: Number(opt.consumers),
  applyConsumers: Math.min(Number(opt['apply-consumers']), Number(opt.consumers)),
  concurrency: Number(opt.concurrency),
  changes: Number(opt.changes),
  nodes: Number(opt.nodes),
  seed: opt.seed === 'kv' ? 'kv' : 'api',
};
const BUDGET = { compileMs: 1_000, rssMb: 300, changeP99Ms: 50 };

/** @param {string} msg */
const say = (msg) => process.stderr.write(`[scale ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

/** VmRSS and VmHWM (peak) of a process, in MB. @param {number} pid */
function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (/** @type {string} */ field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The shared PostgreSQL of infra/local (bash infra/local/up.sh writes .work/local/env). */
function localEnv() {
  /** @type {Record<string, string>} */
  const env = {};
  let text;
  try {
    text = readFileSync(join(ROOT, '.work/local/env'), 'utf8');
  } catch {
    throw new Error('no .work/local/env: run `bash infra/local/up.sh` first');
  }
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[/** @type {string} */ (m[1])] = /** @type {string} */ (m[2]);
  }
  if (!env.TP_TEST_PG_URL) throw new Error('.work/local/env has no TP_TEST_PG_URL');
  return env;
}

/** Creates a fresh database on the server of `adminUrl`; returns its URL and a drop function. @param {string} adminUrl */
async function createDatabase(adminUrl) {
  const requireFromCp = createRequire(join(ROOT, 'services/control-plane/package.json'));
  /** @type {typeof import('../services/control-plane/node_modules/postgres/types/index.js')} */
  const postgres = requireFromCp('postgres');
  const name = `tp_scale_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await a.end();
    },
  };
}

/** Resolves with the process's first `{"event":"ready"}` line. @param {import('./lib/processes.mjs').Managed} proc @param {() => boolean} isReady */
async function waitReadyLine(proc, isReady, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!isReady()) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited before it was ready\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} printed no ready line in ${timeoutMs} ms\n${proc.output()}`);
    await sleep(20);
  }
}

/** The declarative file: every upstream, service and route, and the first `consumers` consumers with one key each. */
/** @param {number} consumers */
function declarativeFile(consumers) {
  const upstreams = Array.from({ length: N.upstreams }, (_, u) => ({ name: `up-${u}`, targets: [{ host: '127.0.0.1', port: 9 }] }));
  const services = Array.from({ length: N.services }, (_, s) => ({ name: `svc-${s}`, upstream: `up-${s % N.upstreams}` }));
  const routes = Array.from({ length: N.routes }, (_, r) => ({
    name: `route-${r}`,
    service: `svc-${r % N.services}`,
    paths: [`/s${r % N.services}/r${r}/{id}`],
    methods: ['GET'],
    plugins: { 'key-auth': {} },
  }));
  return {
    _format_version: '1',
    upstreams,
    services,
    routes,
    consumers: Array.from({ length: consumers }, (_, c) => consumerSpec(c)),
  };
}

/** @param {number} c */
function consumerSpec(c) {
  return { username: `consumer-${c}`, keys: [{ name: 'main', key: `tp_scale_${String(c).padStart(8, '0')}_key` }] };
}

/**
 * @param {string} base @param {string} token
 * @returns {(method: string, path: string, body?: unknown) => Promise<{ status: number, json: any }>}
 */
function restClient(base, token) {
  return async (method, path, body) => {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
}

/** Drops the database and removes the temp dir; set once they exist. @type {() => Promise<void>} */
let cleanup = async () => undefined;

async function main() {
  checkBuilt();
  const env = localEnv();
  const dir = mkdtempSync(join(tmpdir(), 'tp-scale-'));
  const db = await createDatabase(/** @type {string} */ (env.TP_TEST_PG_URL));
  cleanup = async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  installCleanup(cleanup);
  const [natsPort, adminPort, grpcPort, ...nodePorts] = await freePorts(3 + 2 * N.nodes);
  const cluster = 'scale';
  const token = `tpa_scale_${randomBytes(16).toString('hex')}`;
  /** @type {Record<string, unknown>} */
  const result = { options: N, budgets: BUDGET };

  const nats = await startNats({ dir, port: /** @type {number} */ (natsPort), cpu: null });
  say(`nats ${nats.url}, database ${db.url}`);
  const seeded =
    N.seed === 'kv' ? await seedKv(nats.url, cluster, result) : await seedApi({ db, nats, cluster, token, adminPort, grpcPort, dir, result });
  const { revision, change } = seeded;
  await measureNodes({ nats, cluster, dir, nodePorts, revision, change, result });
}

/**
 * @typedef {object} Seeded
 * @property {number} revision  the config revision the nodes must reach
 * @property {(k: number, pathPattern: string) => Promise<void>} change  moves one route to a new path
 */

/**
 * The whole config written straight into the KV bucket (no control plane).
 * @param {string} natsUrl @param {string} cluster @param {Record<string, unknown>} result
 * @returns {Promise<Seeded>}
 */
async function seedKv(natsUrl, cluster, result) {
  /** @type {typeof import('../services/common/dist/src/index.js')} */
  const common = await import(pathToFileURL(join(ROOT, 'services/common/dist/src/index.js')).href);
  const requireFromCommon = createRequire(join(ROOT, 'services/common/package.json'));
  /** @type {typeof import('../services/common/node_modules/@nats-io/transport-node/lib/mod.js')} */
  const nats = requireFromCommon('@nats-io/transport-node');
  const nc = await nats.connect({ servers: natsUrl });
  const bus = await common.NatsKvConfigBus.open(nc, common.configBucketName(cluster));
  const now = new Date().toISOString();
  const ts = { created_at: now, updated_at: now };
  let revision = 0;
  /** @type {Array<[string, string]>} */
  const puts = [];
  const add = (/** @type {string} */ kind, /** @type {Record<string, unknown> & { id: string }} */ data) => {
    revision++;
    puts.push([`${kind}.${data.id}`, JSON.stringify({ kind, revision, data })]);
  };
  const file = declarativeFile(N.consumers);
  const upIds = file.upstreams.map(() => randomUUID());
  const svcIds = file.services.map(() => randomUUID());
  file.upstreams.forEach((u, i) =>
    add('upstreams', { id: /** @type {string} */ (upIds[i]), name: u.name, scheme: 'http', targets: [{ ...u.targets[0], weight: 100 }], connect_timeout_ms: 5000, read_timeout_ms: 60000, tags: [], ...ts }),
  );
  file.services.forEach((sv, i) => add('services', { id: /** @type {string} */ (svcIds[i]), name: sv.name, upstream_id: upIds[i % N.upstreams], base_path: '', tags: [], ...ts }));
  /** @type {Array<Record<string, unknown> & { id: string }>} */
  const routes = [];
  file.routes.forEach((r, i) => {
    const data = { id: randomUUID(), name: r.name, service_id: svcIds[i % N.services], hosts: [], paths: r.paths, methods: r.methods, strip_path: false, priority: 0, plugins: { 'key-auth': {} }, tags: [], ...ts };
    routes.push(data);
    add('routes', data);
  });
  file.consumers.forEach((c) => {
    const id = randomUUID();
    add('consumers', { id, username: c.username, tags: [], group_ids: [], ...ts }); // as the control plane's toConsumer() writes it
    add('keys', { id: randomUUID(), consumer_id: id, key_sha256: createHash('sha256').update(/** @type {string} */ (c.keys[0]?.key)).digest('hex') });
  });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (;;) {
        const i = next++;
        const entry = puts[i];
        if (!entry) return;
        await bus.put(entry[0], entry[1]);
      }
    }),
  );
  await bus.put(common.META_REVISION_KEY, JSON.stringify({ revision }));
  const s = (performance.now() - t0) / 1000;
  result.kv_seed = { entities: puts.length, seconds: s, entities_per_s: puts.length / s };
  say(`KV seeding: ${puts.length} envelopes in ${s.toFixed(1)} s = ${(puts.length / s).toFixed(0)}/s`);
  return {
    revision,
    change: async (k, pathPattern) => {
      const route = /** @type {Record<string, unknown> & { id: string }} */ (routes[k % routes.length]);
      revision++;
      await bus.put(`routes.${route.id}`, JSON.stringify({ kind: 'routes', revision, data: { ...route, paths: [pathPattern], updated_at: new Date().toISOString() } }));
      await bus.put(common.META_REVISION_KEY, JSON.stringify({ revision }));
    },
  };
}

/**
 * Control plane process, `turnpike apply -f` for the route tree and the first consumers, concurrent REST for the rest.
 * @param {{ db: { url: string }, nats: { url: string }, cluster: string, token: string, adminPort: number | undefined, grpcPort: number | undefined, dir: string, result: Record<string, unknown> }} o
 * @returns {Promise<Seeded>}
 */
async function seedApi({ db, nats, cluster, token, adminPort, grpcPort, dir, result }) {
  let cpReady = false;
  const cp = startProcess('control plane', process.execPath, [CLI_BIN, 'control-plane'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TP_PG_URL: db.url,
      TP_NATS_URL: nats.url,
      TP_CLUSTER: cluster,
      TP_BOOTSTRAP_TOKEN: token,
      TP_ADMIN_PORT: String(adminPort),
      TP_GRPC_PORT: String(grpcPort),
    },
    onLine: (line) => {
      if (line.includes('"event":"ready"')) cpReady = true;
    },
  });
  await waitReadyLine(cp, () => cpReady);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const rest = restClient(adminUrl, token);

  // 1. `turnpike apply -f`: the whole route tree and the first consumers, through the real CLI.
  const file = join(dir, 'scale.json');
  writeFileSync(file, JSON.stringify(declarativeFile(N.applyConsumers)));
  const applyEntities = N.upstreams + N.services + N.routes + 2 * N.applyConsumers;
  say(`turnpike apply -f (${N.upstreams} upstreams, ${N.services} services, ${N.routes} routes, ${N.applyConsumers} consumers + keys = ${applyEntities} entities)`);
  let applyLines = 0;
  const applyStart = performance.now();
  const apply = startProcess('turnpike apply', process.execPath, [CLI_BIN, 'apply', '-f', file, '--url', adminUrl, '--token', token, '--concurrency', String(N.concurrency)], {
    cwd: ROOT,
    onLine: () => applyLines++,
  });
  const applyCode = await apply.exited;
  const applyS = (performance.now() - applyStart) / 1000;
  if (applyCode !== 0) throw new Error(`turnpike apply exited ${applyCode}\n${apply.output()}`);
  const applyRate = applyEntities / applyS;
  const fullEntities = N.upstreams + N.services + N.routes + 2 * N.consumers;
  result.apply = { entities: applyEntities, seconds: applyS, entities_per_s: applyRate, output_lines: applyLines, extrapolated_full_s: fullEntities / applyRate };
  say(`apply: ${applyEntities} entities in ${applyS.toFixed(1)} s = ${applyRate.toFixed(0)}/s; the full ${fullEntities} at that rate: ${(fullEntities / applyRate).toFixed(0)} s`);

  // 2. The remaining consumers and keys over REST, N requests in flight (not how the CLI works: a seeding path).
  const rest0 = performance.now();
  let next = N.applyConsumers;
  const worker = async () => {
    for (;;) {
      const c = next++;
      if (c >= N.consumers) return;
      const spec = consumerSpec(c);
      const created = await rest('POST', '/v1/consumers', { username: spec.username });
      if (created.status !== 201) throw new Error(`POST /v1/consumers: ${created.status} ${JSON.stringify(created.json)}`);
      const key = await rest('POST', `/v1/consumers/${created.json.id}/keys`, spec.keys[0]);
      if (key.status !== 201) throw new Error(`POST keys: ${key.status} ${JSON.stringify(key.json)}`);
      if (c % 10_000 === 0) say(`  consumer ${c}`);
    }
  };
  await Promise.all(Array.from({ length: N.concurrency }, worker));
  const seedN = 2 * (N.consumers - N.applyConsumers);
  const seedS = (performance.now() - rest0) / 1000;
  result.rest_seed = { entities: seedN, seconds: seedS, entities_per_s: seedN / seedS, concurrency: N.concurrency };
  say(`REST seeding: ${seedN} entities in ${seedS.toFixed(1)} s = ${(seedN / seedS).toFixed(0)}/s`);

  // 3. Wait until the publisher has put every revision into the KV bucket.
  /** @type {number} */
  let revision = 0;
  const pub0 = performance.now();
  for (;;) {
    const r = await rest('GET', '/v1/config/revision');
    revision = Number(r.json.revision);
    if (Number(r.json.published_revision) >= revision) break;
    await sleep(200);
  }
  say(`published revision ${revision} (publisher lag after the last write: ${((performance.now() - pub0) / 1000).toFixed(1)} s)`);
  const listed = await rest('GET', `/v1/routes?limit=${Math.min(100, N.routes)}`);
  /** @type {string[]} */
  const routeIds = listed.json.data.map((/** @type {{ id: string }} */ r) => r.id);
  return {
    revision,
    change: async (k, pathPattern) => {
      const res = await rest('PATCH', `/v1/routes/${routeIds[k % routeIds.length]}`, { paths: [pathPattern] });
      if (res.status !== 200) throw new Error(`PATCH route: ${res.status} ${JSON.stringify(res.json)}`);
    },
  };
}

/**
 * Starts the gateway nodes on the full bucket, then times single-route changes until every node serves them.
 * @param {{ nats: { url: string }, cluster: string, dir: string, nodePorts: number[], revision: number, change: Seeded['change'], result: Record<string, unknown> }} o
 */
async function measureNodes({ nats, cluster, dir, nodePorts, revision, change, result }) {

  // 4. The gateway nodes start on the full bucket: time to the first compile and to /readyz at that revision.
  /** @type {Array<{ proc: import('./lib/processes.mjs').Managed, proxy: number, status: number, applied: Array<Record<string, any>>, ready: boolean }>} */
  const nodes = [];
  const nodes0 = performance.now();
  for (let i = 0; i < N.nodes; i++) {
    const proxy = /** @type {number} */ (nodePorts[2 * i]);
    const status = /** @type {number} */ (nodePorts[2 * i + 1]);
    /** @type {Array<Record<string, any>>} */
    const applied = [];
    const node = { proc: /** @type {any} */ (null), proxy, status, applied, ready: false };
    node.proc = startProcess(`gateway ${i}`, process.execPath, [GATEWAY_MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        TP_NATS_URL: nats.url,
        TP_CLUSTER: cluster,
        TP_NODE_ID: `scale-node-${i}`,
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(proxy),
        TP_STATUS_PORT: String(status),
        TP_DATA_DIR: join(dir, `gateway-${i}`),
      },
      onLine: (line) => {
        if (!line.startsWith('{')) return;
        try {
          const ev = JSON.parse(line);
          if (ev.event === 'ready') node.ready = true;
          if (ev.event === 'config.applied') applied.push({ ...ev, at: performance.now() });
        } catch {
          // not JSON
        }
      },
    });
    nodes.push(node);
  }
  for (const n of nodes) await waitReadyLine(n.proc, () => n.ready, 120_000);
  const reachedAt = await Promise.all(
    nodes.map(async (n) => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${n.status}/readyz`);
          const body = /** @type {any} */ (await r.json());
          if (r.status === 200 && Number(body.revision) >= revision) return performance.now();
        } catch {
          // not yet listening
        }
        if (Date.now() > deadline) throw new Error(`${n.proc.name} did not reach revision ${revision}\n${n.proc.output()}`);
        await sleep(10);
      }
    }),
  );
  await sleep(2_000); // let start-up garbage be collected before reading RSS
  result.nodes = nodes.map((n, i) => {
    const first = n.applied.find((a) => a.source === 'kv');
    const mem = rssMb(n.proc.pid);
    return {
      node: i,
      full_config_ready_s: ((reachedAt[i] ?? NaN) - nodes0) / 1000,
      compile_ms: first?.compile_ms,
      parsed_ahead_ms: first?.parsed_ahead_ms ?? 0,
      counts: first ? { upstreams: first.upstreams, services: first.services, routes: first.routes, consumers: first.consumers, keys: first.keys } : null,
      rss_mb: mem.rss,
      peak_rss_mb: mem.peak,
    };
  });
  say(`nodes: ${JSON.stringify(result.nodes)}`);

  // 5. Incremental changes: move one route to a new path (PATCH through the admin API, or a KV put with
  //    --seed kv), then poll every node until the new path matches (key-auth answers 401 without a key;
  //    an unmatched path is 404).
  /** @type {number[]} */
  const latencies = [];
  const probe = async (/** @type {number} */ port, /** @type {string} */ path) => {
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      await r.arrayBuffer();
      if (r.status !== 404) return;
      await sleep(1);
    }
  };
  const runTag = randomBytes(3).toString('hex');
  // The hops of a change: the write returns (admin PATCH: committed with its outbox row; --seed kv: the
  // KV put acknowledged), the new route envelope is on the KV bucket (seen by a watch of our own), every
  // node serves it.
  const seen = await watchChangedPaths(nats.url, cluster, `/changed-${runTag}/`);
  /** @type {{ write: number[], kv: number[] }} */
  const hops = { write: [], kv: [] };
  for (let k = 0; k < N.changes; k++) {
    const path = `/changed-${runTag}/${k}`;
    const t0 = performance.now();
    await change(k, `${path}/{id}`);
    hops.write.push(performance.now() - t0);
    const [kvAt] = await Promise.all([seen.when(`${path}/{id}`), ...nodes.map((n) => probe(n.proxy, `${path}/1`))]);
    latencies.push(performance.now() - t0);
    hops.kv.push(kvAt - t0);
  }
  await seen.stop();
  const incCompile = nodes.flatMap((n) => n.applied.slice(1).map((a) => Number(a.compile_ms)));
  result.changes = {
    n: latencies.length,
    write_p50_ms: quantile(hops.write, 0.5),
    write_p99_ms: quantile(hops.write, 0.99),
    on_kv_p50_ms: quantile(hops.kv, 0.5),
    on_kv_p99_ms: quantile(hops.kv, 0.99),
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
    max_ms: Math.max(...latencies),
    node_recompile_p50_ms: quantile(incCompile, 0.5),
    node_recompile_p99_ms: quantile(incCompile, 0.99),
  };
  const after = nodes.map((n) => rssMb(n.proc.pid));

  // Report.
  const ns = /** @type {Array<any>} */ (result.nodes);
  const ch = /** @type {any} */ (result.changes);
  const worstCompile = Math.max(...ns.map((n) => Number(n.compile_ms)));
  const worstRss = Math.max(...ns.map((n) => n.rss_mb));
  const verdict = (/** @type {boolean} */ ok) => (ok ? 'PASS' : 'OVER');
  const ap = /** @type {any} */ (result.apply);
  const rs = /** @type {any} */ (result.rest_seed);
  const kv = /** @type {any} */ (result.kv_seed);
  const rows = [
    ...(ap
      ? [
          ['turnpike apply (CLI)', `${ap.entities} entities in ${ap.seconds.toFixed(1)} s = ${ap.entities_per_s.toFixed(0)}/s; all ${Math.round(ap.entities_per_s * ap.extrapolated_full_s)} ≈ ${(ap.extrapolated_full_s / 60).toFixed(1)} min`, ''],
          ['REST seeding (concurrent)', `${rs.entities} entities in ${rs.seconds.toFixed(1)} s = ${rs.entities_per_s.toFixed(0)}/s (${N.concurrency} in flight)`, ''],
        ]
      : [['KV seeding (direct)', `${kv.entities} envelopes in ${kv.seconds.toFixed(1)} s = ${kv.entities_per_s.toFixed(0)}/s`, '']]),
    ['full config reaches nodes', ns.map((n) => `${n.full_config_ready_s.toFixed(2)} s`).join(' / ') + ' (node start → /readyz at the revision)', ''],
    ['node compile, full config', ns.map((n) => `${Number(n.compile_ms).toFixed(0)} ms`).join(' / '), `${verdict(worstCompile < BUDGET.compileMs)} (< ${BUDGET.compileMs} ms)`],
    ['  + parsed during delivery', ns.map((n) => `${Number(n.parsed_ahead_ms ?? 0).toFixed(0)} ms`).join(' / ') + ' (entries parsed as the watch delivers them)', ''],
    ['node RSS after compile', ns.map((n) => `${n.rss_mb.toFixed(0)} MB (peak ${n.peak_rss_mb.toFixed(0)})`).join(' / '), `${verdict(worstRss < BUDGET.rssMb)} (< ${BUDGET.rssMb} MB)`],
    ['node RSS after the changes', after.map((m) => `${m.rss.toFixed(0)} MB (peak ${m.peak.toFixed(0)})`).join(' / '), `${verdict(Math.max(...after.map((m) => m.rss)) < BUDGET.rssMb)}`],
    [`route change (${N.seed === 'kv' ? 'KV put' : 'admin PATCH'}) → all ${N.nodes} nodes`, `p50 ${ch.p50_ms.toFixed(1)} ms, p99 ${ch.p99_ms.toFixed(1)} ms, max ${ch.max_ms.toFixed(1)} ms (n=${ch.n})`, `${verdict(ch.p99_ms < BUDGET.changeP99Ms)} (p99 < ${BUDGET.changeP99Ms} ms)`],
    ['  write returned', `p50 ${ch.write_p50_ms.toFixed(1)} ms, p99 ${ch.write_p99_ms.toFixed(1)} ms`, ''],
    ['  on the KV bucket', `p50 ${ch.on_kv_p50_ms.toFixed(1)} ms, p99 ${ch.on_kv_p99_ms.toFixed(1)} ms`, ''],
    ['  node recompile', `p50 ${ch.node_recompile_p50_ms.toFixed(1)} ms, p99 ${ch.node_recompile_p99_ms.toFixed(1)} ms`, ''],
  ];
  result.rss_after_changes_mb = after;
  const w0 = Math.max(...rows.map((r) => (r[0] ?? '').length));
  const w1 = Math.max(...rows.map((r) => (r[1] ?? '').length));
  process.stdout.write(
    `\nScale: ${N.upstreams} upstreams, ${N.services} services, ${N.routes} routes, ${N.consumers} consumers + ${N.consumers} keys, ${N.nodes} nodes\n\n` +
      rows.map((r) => `${(r[0] ?? '').padEnd(w0)}  ${(r[1] ?? '').padEnd(w1)}  ${r[2]}`).join('\n') +
      '\n',
  );
  if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2));
}

/**
 * A watch of the cluster's bucket that records when a route envelope with a given path arrives.
 * @param {string} natsUrl @param {string} cluster @param {string} prefix
 */
async function watchChangedPaths(natsUrl, cluster, prefix) {
  /** @type {typeof import('../services/common/dist/src/index.js')} */
  const common = await import(pathToFileURL(join(ROOT, 'services/common/dist/src/index.js')).href);
  const requireFromCommon = createRequire(join(ROOT, 'services/common/package.json'));
  /** @type {typeof import('../services/common/node_modules/@nats-io/transport-node/lib/mod.js')} */
  const nats = requireFromCommon('@nats-io/transport-node');
  const nc = await nats.connect({ servers: natsUrl });
  const bus = await common.NatsKvConfigBus.open(nc, common.configBucketName(cluster));
  /** @type {Map<string, number>} */
  const arrived = new Map();
  /** @type {Map<string, (t: number) => void>} */
  const waiting = new Map();
  /** @type {() => void} */
  let initialDone = () => undefined;
  const initial = new Promise((/** @type {(v?: unknown) => void} */ r) => (initialDone = r));
  const w = await bus.watch({
    onEvent: (ev) => {
      if (ev.op !== 'put' || !ev.key.startsWith('routes.') || !ev.value.includes(prefix)) return;
      const t = performance.now();
      for (const p of /** @type {{ data: { paths: string[] } }} */ (JSON.parse(ev.value)).data.paths) {
        arrived.set(p, t);
        waiting.get(p)?.(t);
      }
    },
    onInitialDone: () => initialDone(),
  });
  await initial; // the bucket's current values first: not while the changes are timed
  return {
    /** @param {string} path @returns {Promise<number>} */
    when: (path) => {
      const t = arrived.get(path);
      return t !== undefined ? Promise.resolve(t) : new Promise((resolve) => waiting.set(path, resolve));
    },
    stop: async () => {
      await w.stop();
      await nc.close();
    },
  };
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  process.stderr.write(`scale benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
} finally {
  await stopAll();
  await cleanup();
}
process.exitCode = failed ? 1 : 0;
