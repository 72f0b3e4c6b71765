// `turnpike apply` throughput: one generated declarative file (upstreams, services, routes, consumers with one
// key each) applied by the real CLI to an empty control plane, once per --concurrency value, back to back, each
// on its own fresh database. Also counts the TCP connections the CLI opened (TIME_WAIT sockets on the admin
// port afterwards), to show that requests share keep-alive connections. Figures: docs/benchmarks.md ("Scale").
//
//   pnpm build && bash infra/local/up.sh && node benchmarks/apply.mjs [--routes 1000 --consumers 3000 --concurrency 1,16]
//     [--upstreams 10 --services 100] [--json FILE] [--profile DIR]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { checkBuilt, startNats } from './lib/turnpike.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI_BIN = join(ROOT, 'services/cli/dist/src/bin.js');

const { values: opt } = parseArgs({
  options: {
    upstreams: { type: 'string', default: '10' },
    services: { type: 'string', default: '100' },
    routes: { type: 'string', default: '1000' },
    consumers: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '1,16' },
    json: { type: 'string' },
    // Writes a V8 CPU profile of each control plane and CLI process into this folder (node --cpu-prof).
    profile: { type: 'string' },
  },
});
const N = { upstreams: Number(opt.upstreams), services: Number(opt.services), routes: Number(opt.routes), consumers: Number(opt.consumers) };
const ENTITIES = N.upstreams + N.services + N.routes + 2 * N.consumers;
const FULL = { routes: 10_000, consumers: 100_000, upstreams: 100, services: 1_000 };
const FULL_ENTITIES = FULL.upstreams + FULL.services + FULL.routes + 2 * FULL.consumers;

/** @param {string} msg */
const say = (msg) => process.stderr.write(`[apply ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

function localEnv() {
  /** @type {Record<string, string>} */
  const env = {};
  for (const line of readFileSync(join(ROOT, '.work/local/env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[/** @type {string} */ (m[1])] = /** @type {string} */ (m[2]);
  }
  if (!env.TP_TEST_PG_URL) throw new Error('.work/local/env has no TP_TEST_PG_URL: run `bash infra/local/up.sh` first');
  return env;
}

/** @param {string} adminUrl */
async function createDatabase(adminUrl) {
  /** @type {typeof import('../services/control-plane/node_modules/postgres/types/index.js')} */
  const postgres = createRequire(join(ROOT, 'services/control-plane/package.json'))('postgres');
  const name = `tp_apply_${randomBytes(4).toString('hex')}`;
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

function declarativeFile() {
  return {
    _format_version: '1',
    upstreams: Array.from({ length: N.upstreams }, (_, u) => ({ name: `up-${u}`, targets: [{ host: '127.0.0.1', port: 9 }] })),
    services: Array.from({ length: N.services }, (_, s) => ({ name: `svc-${s}`, upstream: `up-${s % N.upstreams}` })),
    routes: Array.from({ length: N.routes }, (_, r) => ({
      name: `route-${r}`,
      service: `svc-${r % N.services}`,
      paths: [`/s${r % N.services}/r${r}/{id}`],
      methods: ['GET'],
      plugins: { 'key-auth': {} },
    })),
    consumers: Array.from({ length: N.consumers }, (_, c) => ({ username: `consumer-${c}`, keys: [{ name: 'main', key: `tp_apply_${String(c).padStart(8, '0')}_key` }] })),
  };
}

/** Sockets on `port` in TIME_WAIT: one per connection closed since (the CLI closes its own at exit). @param {number} port */
function timeWait(port) {
  const out = execFileSync('ss', ['-Htan', 'state', 'time-wait', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. @param {number} pid */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** CPU seconds of the PostgreSQL backends connected to `dbUrl`'s database. @param {string} dbUrl */
async function backendCpuSeconds(dbUrl) {
  /** @type {typeof import('../services/control-plane/node_modules/postgres/types/index.js')} */
  const postgres = createRequire(join(ROOT, 'services/control-plane/package.json'))('postgres');
  const sql = postgres(dbUrl, { max: 1, onnotice: () => undefined });
  const rows = await sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
  await sql.end();
  return rows.reduce((sum, r) => sum + cpuSeconds(Number(r.pid)), 0);
}

/** @param {{ dir: string, file: string, natsUrl: string, pgAdminUrl: string, concurrency: number }} o */
async function applyOnce(o) {
  const db = await createDatabase(o.pgAdminUrl);
  const [adminPort, grpcPort] = await freePorts(2);
  const token = `tpa_apply_${randomBytes(16).toString('hex')}`;
  let ready = false;
  const prof = opt.profile ? ['--cpu-prof', '--cpu-prof-dir', opt.profile] : [];
  const cp = startProcess('control plane', process.execPath, [...prof, CLI_BIN, 'control-plane'], {
    cwd: ROOT,
    env: { ...process.env, TP_PG_URL: db.url, TP_NATS_URL: o.natsUrl, TP_CLUSTER: `apply-${o.concurrency}`, TP_BOOTSTRAP_TOKEN: token, TP_ADMIN_PORT: String(adminPort), TP_GRPC_PORT: String(grpcPort) },
    onLine: (line) => {
      if (line.includes('"event":"ready"')) ready = true;
    },
  });
  try {
    const deadline = Date.now() + 60_000;
    while (!ready) {
      if (cp.child.exitCode !== null || Date.now() > deadline) throw new Error(`control plane not ready\n${cp.output()}`);
      await sleep(20);
    }
    const port = /** @type {number} */ (adminPort);
    const waitBefore = timeWait(port);
    const cpuBefore = { cp: cpuSeconds(cp.pid), pg: await backendCpuSeconds(db.url) };
    const load = loadavg()[0] ?? NaN;
    let lines = 0;
    const t0 = performance.now();
    const apply = startProcess('turnpike apply', process.execPath, [...prof, CLI_BIN, 'apply', '-f', o.file, '--url', `http://127.0.0.1:${port}`, '--token', token, '--concurrency', String(o.concurrency)], {
      cwd: o.dir,
      onLine: () => lines++,
    });
    const code = await apply.exited;
    const seconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`turnpike apply exited ${code}\n${apply.output()}`);
    const connections = timeWait(port) - waitBefore;
    const rate = ENTITIES / seconds;
    // CPU per entity is steadier than wall time on a shared machine: what each write costs the server.
    const cpu = { control_plane_s: cpuSeconds(cp.pid) - cpuBefore.cp, postgres_s: (await backendCpuSeconds(db.url)) - cpuBefore.pg };
    say(`  server CPU per entity: control plane ${((cpu.control_plane_s / ENTITIES) * 1000).toFixed(2)} ms, PostgreSQL backends ${((cpu.postgres_s / ENTITIES) * 1000).toFixed(2)} ms`);
    say(`--concurrency ${o.concurrency}: ${ENTITIES} entities in ${seconds.toFixed(1)} s = ${rate.toFixed(0)}/s (load average ${load.toFixed(2)} before; ${connections} connections closed; ${lines} output lines); ${FULL_ENTITIES} at that rate ≈ ${(FULL_ENTITIES / rate / 60).toFixed(1)} min`);
    return { concurrency: o.concurrency, entities: ENTITIES, seconds, entities_per_s: rate, load_average_1m_before: load, server_cpu: cpu, connections_closed: connections, output_lines: lines, extrapolated_full_s: FULL_ENTITIES / rate };
  } finally {
    await cp.stop();
    await db.drop();
  }
}

async function main() {
  checkBuilt();
  const env = localEnv();
  const dir = mkdtempSync(join(tmpdir(), 'tp-apply-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'apply.json');
  writeFileSync(file, JSON.stringify(declarativeFile()));
  const [natsPort] = await freePorts(1);
  const nats = await startNats({ dir, port: /** @type {number} */ (natsPort), cpu: null });
  say(`${N.upstreams} upstreams, ${N.services} services, ${N.routes} routes, ${N.consumers} consumers + keys = ${ENTITIES} entities`);
  const runs = [];
  try {
    for (const c of String(opt.concurrency).split(',').map(Number)) {
      runs.push(await applyOnce({ dir, file, natsUrl: nats.url, pgAdminUrl: /** @type {string} */ (env.TP_TEST_PG_URL), concurrency: c }));
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const result = { options: N, full: { ...FULL, entities: FULL_ENTITIES }, runs };
  if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
