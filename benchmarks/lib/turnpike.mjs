// A Turnpike gateway node wired as in production: a private nats-server with JetStream, the config pushed
// into the cluster's KV bucket through @turnpike/common's NatsKvConfigBus (as the control plane's
// publisher does), call logs on (batched by the node to JetStream on that server), one process.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitForHttp } from './http-check.mjs';
import { UPSTREAM_BODY } from './nginx.mjs';
import { startProcess } from './processes.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GATEWAY_MAIN = join(ROOT, 'services/gateway/dist/src/main.js');
const COMMON_MAIN = join(ROOT, 'services/common/dist/src/index.js');
export const NATS_BIN = process.env.BENCH_NATS_BIN ?? process.env.TP_NATS_SERVER_BIN ?? 'nats-server';

/** The header the route's key-auth plugin checks (its default header names include `apikey`). */
export const API_KEY_HEADER = 'apikey';

/** A key in the control plane's format (`tp_` + 32 random bytes, base64url). */
export function newApiKey() {
  return `tp_${randomBytes(32).toString('base64url')}`;
}

/** Fails early, with the fix, when the product has not been built. */
export function checkBuilt() {
  const missing = [COMMON_MAIN, GATEWAY_MAIN].filter((p) => !existsSync(p));
  if (missing.length) throw new Error(`not built: ${missing.join(', ')}\nrun \`pnpm build\` first`);
}

async function loadDeps() {
  /** @type {typeof import('../../services/common/dist/src/index.js')} */
  const common = await import(pathToFileURL(COMMON_MAIN).href);
  // The NATS client is a dependency of @turnpike/common, resolved from there (the root has none).
  const requireFromCommon = createRequire(join(ROOT, 'services/common/package.json'));
  /** @type {typeof import('../../services/common/node_modules/@nats-io/transport-node/lib/mod.js')} */
  const nats = requireFromCommon('@nats-io/transport-node');
  return { common, nats };
}

/**
 * @param {{ dir: string, port: number, cpu: string | null }} o
 */
export async function startNats(o) {
  const storeDir = join(o.dir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  const proc = startProcess('nats-server', NATS_BIN, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(o.port)], { cpu: o.cpu });
  const { nats } = await loadDeps();
  const url = `nats://127.0.0.1:${o.port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`nats-server exited\n${proc.output()}`);
    try {
      const nc = await nats.connect({ servers: url, timeout: 1_000 });
      await nc.close();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`nats-server on ${o.port} not reachable: ${String(e)}\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { proc, url };
}

/** How the benchmark route authenticates: no plugin, its inline key-auth, or a route-scoped jwt-auth instance. */
export const AUTH_VARIANTS = /** @type {const} */ (['none', 'key-auth', 'jwt', 'key-auth+rate-limit']);
/** @typedef {typeof AUTH_VARIANTS[number]} AuthVariant */

/**
 * Puts one upstream, service, route, consumer and API key into the cluster's config bucket, then
 * `meta.revision`, exactly as the control plane's publisher leaves them; the key travels as its SHA-256
 * only. `auth` (default `key-auth`) is the one difference between variants: `none` leaves the route without
 * plugins, `key-auth` sets its inline `plugins: {'key-auth': {}}`, `jwt` adds the consumer's jwt credential
 * (RS256, keys from `jwt.jwksUri`) and a `jwt-auth` plugin instance scoped to the route.
 * @param {{ natsUrl: string, cluster: string, upstreamPort: number, key: string, auth?: AuthVariant, jwt?: { issuer: string, jwksUri: string } }} o
 */
export async function publishConfig(o) {
  const { common, nats } = await loadDeps();
  const auth = o.auth ?? 'key-auth';
  const now = new Date().toISOString();
  const ts = { created_at: now, updated_at: now };
  const ids = {
    upstream: randomUUID(),
    service: randomUUID(),
    route: randomUUID(),
    consumer: randomUUID(),
    key: randomUUID(),
    credential: randomUUID(),
    plugin: randomUUID(),
  };
  const revision = 1;
  /** @type {{ [K in import('../../services/common/dist/src/index.js').EntityKind]?: import('../../services/common/dist/src/index.js').EntityByKind[K][] }} */
  const entities = {
    upstreams: [
      {
        id: ids.upstream,
        name: 'bench-upstream',
        scheme: 'http',
        targets: [{ host: '127.0.0.1', port: o.upstreamPort, weight: 100 }],
        connect_timeout_ms: 5_000,
        read_timeout_ms: 60_000,
        tags: [],
        ...ts,
      },
    ],
    services: [{ id: ids.service, name: 'bench', upstream_id: ids.upstream, base_path: '', tags: [], ...ts }],
    routes: [
      {
        id: ids.route,
        name: 'bench',
        service_id: ids.service,
        hosts: [],
        paths: ['/'],
        methods: [],
        strip_path: false,
        priority: 0,
        plugins: auth === 'key-auth' || auth === 'key-auth+rate-limit' ? { 'key-auth': {} } : {},
        tags: [],
        headers: [],
        query: [],
        stage: null,
        ...ts,
      },
    ],
    consumers: [{ id: ids.consumer, username: 'bench', tags: [], group_ids: [], ...ts }],
    keys: [{ id: ids.key, consumer_id: ids.consumer, key_sha256: createHash('sha256').update(o.key).digest('hex') }],
  };
  if (auth === 'jwt') {
    if (!o.jwt) throw new Error('publishConfig: auth jwt needs the issuer and its JWKS URI');
    // As the control plane stores a jwt credential (schemas/credential.ts, JwtCredential) and a plugin
    // instance (schemas/plugin.ts, Plugin) with their defaults filled in.
    entities.credentials = [
      {
        id: ids.credential,
        consumer_id: ids.consumer,
        type: 'jwt',
        issuer: o.jwt.issuer,
        algorithms: ['RS256'],
        jwks_uri: o.jwt.jwksUri,
        audiences: [],
        clock_skew_s: 60,
        claims_to_headers: {},
        secret_set: false,
        tags: [],
        ...ts,
      },
    ];
    entities.plugins = [{ id: ids.plugin, type: 'jwt-auth', enabled: true, scope: { route_id: ids.route }, config: {}, tags: [], ...ts }];
  }
  if (auth === 'key-auth+rate-limit') {
    // key-auth plus a cluster-synced rate limit per consumer, high enough never to refuse: the cost of the
    // limiter (and of the pipeline it puts the route on) without 429s in the figures.
    entities.plugins = [
      {
        id: ids.plugin,
        type: 'rate-limiting',
        enabled: true,
        scope: { route_id: ids.route },
        config: { limits: [{ key: 'consumer', algorithm: 'sliding-window', requests: 1_000_000_000, per: 'second' }], headers: true, sync: 'cluster' },
        tags: [],
        ...ts,
      },
    ];
  }
  const nc = await nats.connect({ servers: o.natsUrl });
  try {
    const bus = await common.NatsKvConfigBus.open(nc, common.configBucketName(o.cluster));
    for (const kind of common.ENTITY_KINDS) {
      for (const data of entities[kind] ?? []) await bus.put(common.entityKey(kind, data.id), JSON.stringify({ kind, revision, data }));
    }
    await bus.put(common.META_REVISION_KEY, JSON.stringify({ revision }));
    await bus.close();
  } finally {
    await nc.close();
  }
  return ids;
}

/**
 * Publishes config entries into the cluster's KV bucket as the control plane's publisher does (revision 1,
 * then meta.revision), for benchmarks that need entities of their own. Returns @turnpike/common, for callers
 * that seal secrets with it.
 * @param {{ natsUrl: string, cluster: string, entries: Array<[import('../../services/common/dist/src/index.js').EntityKind, Record<string, unknown>]> }} o
 */
export async function publishEntries(o) {
  const { common, nats } = await loadDeps();
  const nc = await nats.connect({ servers: o.natsUrl });
  try {
    const bus = await common.NatsKvConfigBus.open(nc, common.configBucketName(o.cluster));
    for (const [kind, data] of o.entries) await bus.put(common.entityKey(kind, /** @type {string} */ (data.id)), JSON.stringify({ kind, revision: 1, data }));
    await bus.put(common.META_REVISION_KEY, JSON.stringify({ revision: 1 }));
    await bus.close();
  } finally {
    await nc.close();
  }
}

/** @turnpike/common as built (benchmarks seal secrets and build keys with it). */
export async function commonModule() {
  return (await loadDeps()).common;
}

/**
 * Starts `node services/gateway/dist/src/main.js` and resolves once it printed its ready line, `/readyz`
 * answers 200, and a request with `headers` (default: the API key) comes back through the route with the
 * upstream's body. Several gateways may run side by side: each needs its own `name` (its data directory,
 * node id and process name) and `httpsPort` (without one the node takes its default, 8443).
 * `env` adds variables to the gateway's environment, `nodeArgs` node flags (e.g. a preloaded module), `main`
 * another build's services/gateway/dist/src/main.js (benchmarks/ab.mjs); `probe` replaces the readiness request (a path whose
 * answer must have `status` (200), with `body` when given).
 * @param {{ dir: string, natsUrl: string, cluster: string, proxyPort: number, statusPort: number, httpsPort?: number, name?: string,
 *   key?: string, headers?: Record<string, string>, cpu: string | null, cpuProfDir: string | null,
 *   env?: Record<string, string>, probe?: { path: string, body?: string, status?: number }, nodeArgs?: string[], main?: string }} o
 */
export async function startGateway(o) {
  const dataDir = join(o.dir, o.name ?? 'gateway');
  const headers = o.headers ?? (o.key !== undefined ? { [API_KEY_HEADER]: o.key } : {});
  mkdirSync(dataDir, { recursive: true });
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  // BENCH_GATEWAY_NODE_ARGS: extra node/V8 flags for the gateway process only (e.g. GC settings).
  nodeArgs.push(...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''));
  if (o.nodeArgs) nodeArgs.push(...o.nodeArgs);
  let ready = false;
  const proc = startProcess(o.name ?? 'turnpike gateway', process.execPath, [...nodeArgs, o.main ?? GATEWAY_MAIN], {
    cpu: o.cpu,
    cwd: o.main ? join(dirname(o.main), '../../../..') : ROOT,
    env: {
      ...withoutFallback(process.env),
      TP_NATS_URL: o.natsUrl,
      TP_CLUSTER: o.cluster,
      TP_NODE_ID: o.name ? `bench-${o.name.replace(/[^A-Za-z0-9_-]/g, '-')}` : 'bench-node',
      TP_PROXY_HOST: '127.0.0.1',
      TP_PROXY_PORT: String(o.proxyPort),
      TP_STATUS_PORT: String(o.statusPort),
      ...(o.httpsPort !== undefined ? { TP_HTTPS_PORT: String(o.httpsPort) } : {}),
      TP_DATA_DIR: dataDir,
      ...(o.env ?? {}),
    },
    onLine: (line) => {
      if (ready || !line.startsWith('{')) return;
      try {
        if (JSON.parse(line).event === 'ready') ready = true;
      } catch {
        // not a JSON line
      }
    },
  });
  const deadline = Date.now() + 20_000;
  while (!ready) {
    if (proc.child.exitCode !== null) throw new Error(`gateway exited before it was ready\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`gateway printed no {"event":"ready"} line in 20 s\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await waitForHttp('gateway /readyz', proc, `http://127.0.0.1:${o.statusPort}/readyz`, {});
  const probe = o.probe ?? { path: '/bench', body: UPSTREAM_BODY };
  await waitForHttp('gateway route', proc, `http://127.0.0.1:${o.proxyPort}${probe.path}`, headers, {
    ...(probe.body !== undefined ? { body: probe.body } : {}),
    ...('status' in probe && probe.status !== undefined ? { status: probe.status } : {}),
  });
  return proc;
}

/**
 * Checks that the route authenticates as its variant says before it is measured, so that a run cannot
 * quietly measure 401s (or an open route): with `headers` it answers 200 with the upstream's body; without
 * them 401 when `auth` is not `none`, else 200 as well.
 * @param {{ url: string, auth: AuthVariant, headers: Record<string, string> }} o
 */
export async function checkAuth(o) {
  /** @param {Record<string, string>} headers */
  const get = async (headers) => {
    const res = await fetch(o.url, { headers, signal: AbortSignal.timeout(5_000) });
    return { status: res.status, text: await res.text() };
  };
  const withCred = await get(o.headers);
  if (withCred.status !== 200 || withCred.text !== UPSTREAM_BODY) {
    throw new Error(`auth ${o.auth}: ${o.url} with the credential answered ${withCred.status} ${withCred.text.slice(0, 200)}, expected 200 with the upstream's body`);
  }
  const without = await get({});
  const expected = o.auth === 'none' ? 200 : 401;
  if (without.status !== expected) {
    throw new Error(`auth ${o.auth}: ${o.url} without a credential answered ${without.status} ${without.text.slice(0, 200)}, expected ${expected}`);
  }
  return { with: withCred.status, without: without.status };
}

/**
 * The environment without TP_ALLOW_UWS_FALLBACK: a gateway on uWS's pure-JS fallback server would be
 * measured as if it were the product, so the benchmark lets it refuse to start instead.
 * @param {NodeJS.ProcessEnv} env
 */
function withoutFallback(env) {
  const { TP_ALLOW_UWS_FALLBACK: _ignored, ...rest } = env;
  return rest;
}

/**
 * The gateway's unlabelled Prometheus samples (`name value`), e.g. its call-log counters.
 * @param {number} statusPort
 * @returns {Promise<Map<string, number>>}
 */
export async function gatewayMetrics(statusPort) {
  const res = await fetch(`http://127.0.0.1:${statusPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const out = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line);
    if (m) out.set(/** @type {string} */ (m[1]), Number(m[2]));
  }
  return out;
}
