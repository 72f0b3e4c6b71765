#!/usr/bin/env node
// `pnpm bench`: CPU cost per proxied request of a Turnpike gateway node against nginx as a reverse proxy,
// measured in one run on this machine, with the same upstream, the same load generator and the same
// CPU layout for both. Method and figures: docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSnapshot, cpuSpent, machineBusy, ownTreeCpu } from './lib/cpu.mjs';
import { summariseProfile } from './lib/cpu-profile.mjs';
import { NGINX_BIN, proxyConf, startNginx, upstreamConf, UPSTREAM_BODY } from './lib/nginx.mjs';
import { waitForHttp } from './lib/http-check.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll, stopRequested } from './lib/processes.mjs';
import { formatTable } from './lib/report.mjs';
import { startJwtIssuer } from './lib/jwt-issuer.mjs';
import {
  API_KEY_HEADER,
  AUTH_VARIANTS,
  checkAuth,
  checkBuilt,
  gatewayMetrics,
  NATS_BIN,
  newApiKey,
  publishConfig,
  startGateway,
  startNats,
} from './lib/turnpike.mjs';
import { runWrk, WRK_BIN } from './lib/wrk.mjs';

/** Turnpike may spend at most this many times nginx's CPU per proxied request (issue 5; it was 3). */
const BUDGET_RATIO = 2;
/** Each authentication plugin may add at most this share of CPU per request over the route without one (issue 6). */
const AUTH_BUDGET = 0.15;
/** A rate-limiting plugin may add at most this share of CPU per request over the same route without it (issue 7). */
const RATE_LIMIT_BUDGET = 0.1;
/** Above this much CPU used by unrelated processes during a run (in cores), the figures are flagged. */
const NOISE_WARN_UTIL = 0.1;
/** A run with more failed requests than this share measured something other than proxying. */
const MAX_ERROR_SHARE = 0.001;

const TARGETS = /** @type {const} */ (['upstream', 'nginx', 'stack', 'turnpike']);
const DEFAULT_TARGETS = ['upstream', 'nginx', 'turnpike'];
const LABELS = {
  upstream: 'nginx upstream (direct)',
  nginx: 'nginx reverse proxy',
  stack: 'uws+h1-client floor',
};
/** @typedef {import('./lib/turnpike.mjs').AuthVariant} AuthVariant */
const DEFAULT_AUTH = ['key-auth'];
/** @type {Record<AuthVariant, string>} */
const AUTH_LABELS = {
  none: 'turnpike (no auth)',
  'key-auth': 'turnpike (key-auth)',
  jwt: 'turnpike (jwt RS256, JWKS)',
  'key-auth+rate-limit': 'turnpike (key-auth + rate limit)',
};
/**
 * What one measurement loads: a target, and for `turnpike` one auth variant (each its own gateway).
 * @typedef {{ id: string, target: typeof TARGETS[number], auth: AuthVariant | null, label: string }} Unit
 */
/** @typedef {import('./lib/report.mjs').Measurement & { auth?: AuthVariant }} Result */
const STACK_FLOOR = fileURLToPath(new URL('./lib/stack-floor-proxy.mjs', import.meta.url));

const HELP = `usage: pnpm bench [-- options]   (node benchmarks/run.mjs [options])

Loads (a) an nginx upstream directly, (b) nginx as a keep-alive reverse proxy to it, (c) a Turnpike gateway
node (call logs to JetStream) to it, one per --auth variant, with wrk, and reports req/s, latency and the
proxy's CPU time per request. Exits non-zero only when a run could not be made, never on the budget.

options (environment variable in brackets):
  --duration <s>      measured seconds per target            [BENCH_DURATION, 10]
  --warmup <s>        unmeasured load before each target     [BENCH_WARMUP, 3]
  --connections <n>   wrk connections                        [BENCH_CONNECTIONS, 50]
  --threads <n>       wrk threads                            [BENCH_THREADS, 1]
  --runs <n>          measure each target n times (targets interleaved), report the median run by
                      CPU/request, preferring runs without other load  [BENCH_RUNS, 1]
  --retries <n>       re-measure a target up to n times when other processes loaded the machine
                      during its run (more than 10% of a core)  [BENCH_RETRIES, 2]
  --targets <list>    comma list of upstream,nginx,stack,turnpike [BENCH_TARGETS, upstream,nginx,turnpike]
                      stack: a bare uWebSockets.js + h1-client proxy (the gateway's own client; STACK_CLIENT=undici: undici), the floor of the gateway's stack
  --auth <list>       comma list of none,key-auth,jwt,key-auth+rate-limit: how the Turnpike route authenticates; each is its
                      own gateway and its own target, measured in turn like the others  [BENCH_AUTH, key-auth]
                      none: no plugin; key-auth: the route's inline key-auth (apikey header);
                      jwt: a route-scoped jwt-auth plugin, the consumer's RS256 credential with its key from
                      a local JWKS endpoint, one token sent as "Authorization: Bearer" on every request;
                      key-auth+rate-limit: key-auth plus a rate-limiting plugin per consumer (cluster sync
                      on, a limit never reached), reported over key-auth (budget +10 %)
                      With none in the list, each variant is also reported as CPU/request over no auth.
  --no-pin            do not pin with taskset (default: proxies on --proxy-cpu, everything else on --load-cpu)
  --proxy-cpu <cpu>   CPU for the measured proxy             [BENCH_PROXY_CPU, last CPU]
  --load-cpu <cpus>   CPUs for wrk, the upstream, nats-server [BENCH_LOAD_CPU, the others]
  --json <file>       also write the results as JSON
  --cpu-prof <dir>    run the gateway under node --cpu-prof, print where its CPU went (slows it down)
  --keep-tmp          keep the temp dir (configs, logs) and print its path
  -h, --help`;

function options() {
  // `pnpm bench -- --runs 3` passes the `--` through: drop it.
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      runs: { type: 'string' },
      retries: { type: 'string' },
      targets: { type: 'string' },
      auth: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'proxy-cpu': { type: 'string' },
      'load-cpu': { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const env = process.env;
  const int = (/** @type {string} */ name, /** @type {string | undefined} */ v, /** @type {number} */ dflt) => {
    if (v === undefined || v === '') return dflt;
    const n = Number(v.replace(/s$/, ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const nonNegative = (/** @type {string} */ name, /** @type {string | undefined} */ v, /** @type {number} */ dflt) => {
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const targetList = (values.targets ?? env.BENCH_TARGETS ?? DEFAULT_TARGETS.join(',')).split(',').map((s) => s.trim());
  for (const t of targetList) if (!TARGETS.includes(/** @type {never} */ (t))) throw new Error(`unknown target ${t}: use ${TARGETS.join(',')}`);
  const authList = (values.auth || env.BENCH_AUTH || DEFAULT_AUTH.join(',')).split(',').map((s) => s.trim());
  for (const a of authList) if (!AUTH_VARIANTS.includes(/** @type {never} */ (a))) throw new Error(`unknown auth variant ${a}: use ${AUTH_VARIANTS.join(',')}`);
  const ncpu = cpus().length;
  const pin = !values['no-pin'] && env.BENCH_PIN !== '0' && ncpu >= 2;
  const proxyCpu = values['proxy-cpu'] ?? env.BENCH_PROXY_CPU ?? String(ncpu - 1);
  const loadCpu = values['load-cpu'] ?? env.BENCH_LOAD_CPU ?? (ncpu > 2 ? `0-${ncpu - 2}` : '0');
  return {
    duration: int('duration', values.duration ?? env.BENCH_DURATION, 10),
    warmup: int('warmup', values.warmup ?? env.BENCH_WARMUP, 3),
    connections: int('connections', values.connections ?? env.BENCH_CONNECTIONS, 50),
    threads: int('threads', values.threads ?? env.BENCH_THREADS, 1),
    runs: int('runs', values.runs ?? env.BENCH_RUNS, 1),
    retries: nonNegative('retries', values.retries ?? env.BENCH_RETRIES, 2),
    targets: TARGETS.filter((t) => targetList.includes(t)),
    auth: AUTH_VARIANTS.filter((a) => authList.includes(a)),
    pin,
    proxyCpu: pin ? proxyCpu : null,
    loadCpu: pin ? loadCpu : null,
    json: values.json ? resolve(values.json) : null,
    cpuProf: values['cpu-prof'] ? resolve(values['cpu-prof']) : null,
    keepTmp: values['keep-tmp'],
  };
}

/**
 * First line a tool prints about its version (nginx writes it to stderr, wrk exits 1 after it).
 * @param {string} cmd @param {string[]} args
 */
function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) {
    const code = /** @type {NodeJS.ErrnoException} */ (r.error).code;
    throw new Error(code === 'ENOENT' ? `${cmd} not found: install it (Debian: apt-get install ${cmd.split('/').pop()})` : String(r.error));
  }
  return `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
}

/**
 * What the gateway's call-log batcher did during a run, from its /metrics counters: every proxied request
 * should have become a record sent to JetStream, none dropped.
 * @param {Map<string, number>} before @param {Map<string, number>} after
 */
function callLogDelta(before, after) {
  const d = (/** @type {string} */ name) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  return {
    sent: d('turnpike_gateway_call_log_sent_total'),
    dropped: d('turnpike_gateway_call_log_dropped_total'),
    buffered: after.get('turnpike_gateway_call_log_buffered') ?? 0,
  };
}

/** @param {number[]} xs */
function medianIndex(xs) {
  const order = xs.map((x, i) => [x, i]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
  return order[Math.floor((order.length - 1) / 2)]?.[1] ?? 0;
}

/**
 * Seconds the jwt variant's token must stay valid beyond its first hour: every measurement of the run,
 * warm-ups and re-measurements included, with slack for start-up.
 * @param {{ runs: number, retries: number, warmup: number, duration: number }} o @param {number} units
 */
function tokenLifetimeNeeded(o, units) {
  return o.runs * units * (1 + o.retries) * (o.warmup + o.duration + 2) + 600;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);

async function main() {
  const o = options();
  const withTurnpike = o.targets.includes('turnpike');
  if (withTurnpike) checkBuilt();
  const tools = {
    nginx: versionOf(NGINX_BIN, ['-v']),
    wrk: versionOf(WRK_BIN, ['-v']),
    nats: withTurnpike ? versionOf(NATS_BIN, ['-v']) : null,
    node: process.version,
  };
  if (o.pin) versionOf('taskset', ['-V']);

  const dir = mkdtempSync(join(tmpdir(), 'turnpike-bench-'));
  const removeDir = async () => {
    if (o.keepTmp) log(`temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  installCleanup(removeDir);
  /** @type {(() => Promise<void>) | null} */
  let stopIssuer = null;
  /** @type {Map<number, string>} gateway pid → its variant's label, for --cpu-prof */
  const gatewayLabels = new Map();
  const started = new Date();
  try {
    // Three ports per gateway (proxy, status, HTTPS): the variants' gateways run side by side.
    const ports = /** @type {number[]} */ (await freePorts(4 + 3 * o.auth.length));
    const [upstreamPort, proxyPort, natsPort, stackPort] = /** @type {number[]} */ (ports.slice(0, 4));
    log(`cpu layout: ${o.pin ? `proxies on CPU ${o.proxyCpu}; wrk, upstream, nats-server on CPU ${o.loadCpu}` : 'not pinned'}`);

    const upstream = await startNginx({
      name: 'nginx upstream',
      dir: join(dir, 'upstream'),
      conf: upstreamConf(join(dir, 'upstream'), upstreamPort),
      url: `http://127.0.0.1:${upstreamPort}/`,
      cpu: o.loadCpu,
    });
    const nginxProxy = o.targets.includes('nginx')
      ? await startNginx({
          name: 'nginx proxy',
          dir: join(dir, 'proxy'),
          conf: proxyConf(join(dir, 'proxy'), proxyPort, upstreamPort),
          url: `http://127.0.0.1:${proxyPort}/`,
          cpu: o.proxyCpu,
        })
      : null;
    let stack = null;
    if (o.targets.includes('stack')) {
      stack = startProcess(LABELS.stack, process.execPath, [STACK_FLOOR, String(upstreamPort), String(stackPort)], { cpu: o.proxyCpu });
      await waitForHttp(LABELS.stack, stack, `http://127.0.0.1:${stackPort}/bench`, {}, { body: UPSTREAM_BODY });
    }
    // Every target but the jwt variant gets the same request bytes, the API key header included (nginx
    // passes it on, and so does the gateway's route without auth); the jwt variant sends its token instead.
    const key = newApiKey();
    const headers = { [API_KEY_HEADER]: key };
    /** @type {Unit[]} */
    const units = o.targets.flatMap((target) =>
      target === 'turnpike'
        ? o.auth.map((auth) => /** @type {Unit} */ ({ id: `turnpike:${auth}`, target, auth, label: AUTH_LABELS[auth] }))
        : [/** @type {Unit} */ ({ id: target, target, auth: null, label: LABELS[target] })],
    );
    const issuer = withTurnpike && o.auth.includes('jwt') ? await startJwtIssuer({ validForS: 3600 + tokenLifetimeNeeded(o, units.length) }) : null;
    stopIssuer = issuer ? issuer.close : null;
    /** @type {Map<AuthVariant, { proc: import('./lib/processes.mjs').Managed, proxyPort: number, statusPort: number, headers: Record<string, string> }>} */
    const gateways = new Map();
    /** @type {import('./lib/processes.mjs').Managed | null} */
    let natsProc = null;
    if (withTurnpike) {
      const nats = await startNats({ dir, port: natsPort, cpu: o.loadCpu });
      natsProc = nats.proc;
      // One gateway per variant, each with its own cluster (config bucket) on the one nats-server: the
      // configs differ only in the route's authentication; the call logs go to the same stream.
      for (const [i, auth] of o.auth.entries()) {
        const [gatewayPort, statusPort, httpsPort] = /** @type {number[]} */ (ports.slice(4 + 3 * i, 7 + 3 * i));
        // Bucket names allow [A-Za-z0-9_-] only.
        const cluster = `bench-${auth.replace(/[^A-Za-z0-9_-]/g, '-')}`;
        const authHeaders = auth === 'jwt' && issuer ? { authorization: `Bearer ${issuer.token}` } : headers;
        await publishConfig({ natsUrl: nats.url, cluster, upstreamPort, key, auth, ...(issuer ? { jwt: { issuer: issuer.issuer, jwksUri: issuer.jwksUri } } : {}) });
        log(`${AUTH_LABELS[auth]}: starting its gateway`);
        const proc = await startGateway({
          dir,
          name: `gateway-${auth}`,
          natsUrl: nats.url,
          cluster,
          proxyPort: gatewayPort,
          statusPort,
          httpsPort,
          headers: authHeaders,
          cpu: o.proxyCpu,
          cpuProfDir: o.cpuProf,
        });
        gateways.set(auth, { proc, proxyPort: gatewayPort, statusPort, headers: authHeaders });
        gatewayLabels.set(proc.pid, AUTH_LABELS[auth]);
      }
      // Before anything is measured: each variant lets its credential through and nothing else.
      for (const [auth, g] of gateways) {
        const r = await checkAuth({ url: `http://127.0.0.1:${g.proxyPort}/bench`, auth, headers: g.headers });
        log(`${AUTH_LABELS[auth]}: ${r.with} with ${auth === 'none' ? 'the request headers' : 'its credential'}, ${r.without} without`);
      }
    }

    /**
     * @param {Unit} unit
     * @returns {{ url: string, headers: Record<string, string>, measured: number[], others: Record<string, number>, procs: import('./lib/processes.mjs').Managed[], statusPort?: number }}
     */
    const plan = (unit) => {
      const target = unit.target;
      if (target === 'upstream') return { url: `http://127.0.0.1:${upstreamPort}/bench`, headers, measured: [upstream.pid], others: {}, procs: [upstream] };
      if (target === 'nginx' && nginxProxy)
        return {
          url: `http://127.0.0.1:${proxyPort}/bench`,
          headers,
          measured: [nginxProxy.pid],
          others: { upstream: upstream.pid },
          procs: [nginxProxy, upstream],
        };
      if (target === 'stack' && stack)
        return {
          url: `http://127.0.0.1:${stackPort}/bench`,
          headers,
          measured: [stack.pid],
          others: { upstream: upstream.pid },
          procs: [stack, upstream],
        };
      const g = unit.auth ? gateways.get(unit.auth) : undefined;
      if (target === 'turnpike' && g && natsProc)
        return {
          url: `http://127.0.0.1:${g.proxyPort}/bench`,
          headers: g.headers,
          measured: [g.proc.pid],
          others: { upstream: upstream.pid, 'nats-server': natsProc.pid },
          procs: [g.proc, natsProc, upstream],
          statusPort: g.statusPort,
        };
      throw new Error(`target ${unit.label} was not started`);
    };

    /** @param {Unit} unit @returns {Promise<Result>} */
    const measure = async (unit) => {
      const p = plan(unit);
      const wrkOpts = { url: p.url, connections: o.connections, threads: o.threads, headers: p.headers, cpu: o.loadCpu };
      log(`${unit.label}: warm-up ${o.warmup}s, then ${o.duration}s measured`);
      await runWrk({ ...wrkOpts, seconds: o.warmup });
      // One snapshot per accounted group: the measured proxy, and each other process for reference.
      const snap = () => ({
        measured: cpuSnapshot(p.measured),
        others: Object.fromEntries(Object.entries(p.others).map(([name, pid]) => [name, cpuSnapshot([pid])])),
      });
      const callLogs = async () => (p.statusPort ? await gatewayMetrics(p.statusPort) : null);
      const metricsBefore = await callLogs();
      const before = snap();
      const busyBefore = machineBusy();
      const oursBefore = ownTreeCpu();
      const jwksBefore = issuer?.fetches() ?? 0;
      const w = await runWrk({ ...wrkOpts, seconds: o.duration });
      // Let work that trails the last response (a call-log batch flush) land in the measured window.
      await sleep(500);
      const after = snap();
      // CPU the machine spent on anything that is not this benchmark: other people's builds and tests.
      const foreign = Math.max(0, machineBusy() - busyBefore - (ownTreeCpu() - oursBefore));
      const dead = p.procs.find((proc) => proc.child.exitCode !== null || proc.child.signalCode !== null);
      if (dead) throw new Error(`${dead.name} exited during the ${unit.label} run\n--- ${dead.name} output ---\n${dead.output()}`);
      // The JWKS is cached for longer than any run: a fetch here would be measured as jwt-auth's cost.
      const jwksFetched = (issuer?.fetches() ?? 0) - jwksBefore;
      if (jwksFetched > 0) log(`  WARNING: the JWKS was fetched ${jwksFetched} time(s) during the ${unit.label} run`);
      const metricsAfter = await callLogs();
      const spent = cpuSpent(before.measured, after.measured);
      const cpu = spent.total;
      const seconds = w.duration_us / 1e6;
      const errors = w.errors.status + w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
      if (w.requests === 0 || errors > w.requests * MAX_ERROR_SHARE) {
        throw new Error(`${unit.label}: ${errors} failed of ${w.requests} requests (${JSON.stringify(w.errors)}): not a valid measurement`);
      }
      /** @type {Record<string, number>} */
      const other = {};
      for (const name of Object.keys(p.others)) {
        other[name] = (cpuSpent(before.others[name] ?? new Map(), after.others[name] ?? new Map()).total * 1e6) / w.requests;
      }
      return {
        target: unit.target,
        ...(unit.auth ? { auth: unit.auth } : {}),
        label: unit.label,
        requests: w.requests,
        seconds,
        rps: w.requests / seconds,
        p50_ms: w.latency_us.p50 / 1000,
        p99_ms: w.latency_us.p99 / 1000,
        errors,
        cpu_s: cpu,
        cpu_sys_share: cpu > 0 ? spent.sys / cpu : 0,
        cpu_us_per_req: (cpu * 1e6) / w.requests,
        cpu_util: cpu / seconds,
        foreign_cpu_util: foreign / (seconds + 0.5),
        other_cpu_us_per_req: other,
        ...(metricsBefore && metricsAfter ? { call_logs: callLogDelta(metricsBefore, metricsAfter) } : {}),
      };
    };

    /** @type {Record<string, Result[]>} */
    const runs = {};
    for (let r = 0; r < o.runs; r++) {
      for (const u of units) {
        let m = await measure(u);
        // Someone else's build or test suite shared the machine: measure again rather than report noise.
        for (let retry = 0; retry < o.retries && m.foreign_cpu_util > NOISE_WARN_UTIL; retry++) {
          log(`  other processes used ${(m.foreign_cpu_util * 100).toFixed(0)}% of a core during that run: measuring again`);
          m = await measure(u);
        }
        (runs[u.id] ??= []).push(m);
        if (o.runs > 1) log(`  run ${r + 1}: ${m.rps.toFixed(0)} req/s, ${m.cpu_us_per_req.toFixed(1)} CPU µs/req, other load ${(m.foreign_cpu_util * 100).toFixed(0)}%`);
      }
    }
    /** @type {Result[]} */
    const results = units.map((u) => {
      // The median of the runs that had the machine to themselves, when there are any.
      const all = runs[u.id] ?? [];
      const clean = all.filter((m) => m.foreign_cpu_util <= NOISE_WARN_UTIL);
      const list = clean.length ? clean : all;
      return /** @type {Result} */ (list[medianIndex(list.map((m) => m.cpu_us_per_req))]);
    });

    /** @type {Record<string, Result>} */
    const byUnit = Object.fromEntries(units.map((u, i) => [u.id, /** @type {Result} */ (results[i])]));
    const nginx = byUnit.nginx;
    const noAuth = byUnit['turnpike:none'];
    /** @type {{ auth: AuthVariant, m: Result }[]} */
    const variants = o.targets.includes('turnpike') ? o.auth.map((auth) => ({ auth, m: /** @type {Result} */ (byUnit[`turnpike:${auth}`]) })) : [];
    // The variant the floor comparison and the JSON's single `ratio` refer to: key-auth, as before --auth.
    const tp = (variants.find((v) => v.auth === 'key-auth') ?? variants[0])?.m;
    /** CPU/request of `a` over `b` in each run: runs measure the targets back to back, so each pair saw the same machine load. */
    const pairedRuns = (/** @type {string} */ a, /** @type {string} */ b) =>
      (runs[b] ?? []).flatMap((n, i) => {
        const t = runs[a]?.[i];
        return t ? [t.cpu_us_per_req / n.cpu_us_per_req] : [];
      });
    /** @type {Record<string, { cpu_us_per_req: number | null, rps: number | null, over_no_auth: number | null, paired_cpu_ratios: number[], paired_over_no_auth: number[] }>} */
    const ratios = Object.fromEntries(
      variants.map(({ auth, m }) => [
        auth,
        {
          cpu_us_per_req: nginx ? m.cpu_us_per_req / nginx.cpu_us_per_req : null,
          rps: nginx ? m.rps / nginx.rps : null,
          over_no_auth: noAuth && auth !== 'none' ? m.cpu_us_per_req / noAuth.cpu_us_per_req - 1 : null,
          paired_cpu_ratios: nginx ? pairedRuns(`turnpike:${auth}`, 'nginx') : [],
          paired_over_no_auth: noAuth && auth !== 'none' ? pairedRuns(`turnpike:${auth}`, 'turnpike:none').map((x) => x - 1) : [],
        },
      ]),
    );
    const ratio = nginx && tp ? { cpu_us_per_req: tp.cpu_us_per_req / nginx.cpu_us_per_req, rps: tp.rps / nginx.rps } : null;
    const paired = tp?.auth ? (ratios[tp.auth]?.paired_cpu_ratios ?? []) : [];

    const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', kernel: release() };
    const cmd = `node benchmarks/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
    console.log('');
    console.log(`Turnpike benchmark  ${started.toISOString()}  ${machine.cpus} CPUs (${machine.cpu_model})`);
    console.log(
      `wrk -t${o.threads} -c${o.connections} -d${o.duration}s (after ${o.warmup}s warm-up)` +
        `${o.runs > 1 ? `, median of ${o.runs} runs by CPU/req (of the runs without other load, if any)` : ''}; ` +
        `${o.pin ? `proxy pinned to CPU ${o.proxyCpu}, load + upstream on CPU ${o.loadCpu}` : 'no pinning'}` +
        `; upstream body ${UPSTREAM_BODY.length} B`,
    );
    if (o.cpuProf) console.log('NOTE: the gateway ran under --cpu-prof: its figures include profiling overhead.');
    if (issuer && variants.some((v) => v.auth === 'jwt')) {
      console.log(
        `jwt: one RS256 token (${issuer.token.length} B) on every request: after the first, the gateway's verified-token cache ` +
          'answers (a SHA-256 and a lookup; a signature check at most once a minute), as for a client that reuses its token.',
      );
    }
    console.log('');
    console.log(formatTable(results));
    console.log('');
    const noisy = results.filter((m) => m.foreign_cpu_util > NOISE_WARN_UTIL);
    if (noisy.length) {
      console.log(
        `WARNING: other processes used CPU during ${noisy.map((m) => `${m.label} (${(m.foreign_cpu_util * 100).toFixed(0)}% of a core)`).join(', ')}:` +
          ' these figures are not reliable; run again on an idle machine.',
      );
      console.log('');
    }
    for (const { m } of variants) {
      const c = m.call_logs;
      if (!c) continue;
      console.log(
        `${m.label} call logs during the measured run: ${c.sent} records sent to JetStream for ${m.requests} requests` +
          ` (includes records of warm-up requests flushed in the window), ${c.dropped} dropped, ${c.buffered} still buffered`,
      );
    }
    if (variants.some((v) => v.m.call_logs)) console.log('');
    const pct = (/** @type {number} */ x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
    const single = variants.length === 1;
    for (const { auth, m } of variants) {
      const r = /** @type {NonNullable<typeof ratios[string]>} */ (ratios[auth]);
      const parts = [];
      if (r.cpu_us_per_req !== null && r.rps !== null) parts.push(`CPU per request: ${r.cpu_us_per_req.toFixed(2)}x   req/s: ${r.rps.toFixed(2)}x`);
      if (r.over_no_auth !== null) parts.push(`${pct(r.over_no_auth)} CPU per request over no auth`);
      if (!parts.length) continue;
      const name = single ? 'turnpike' : m.label;
      console.log(`${name}${r.cpu_us_per_req !== null ? ' / nginx' : ''}  ${parts.join('   ')}`);
      if (r.paired_cpu_ratios.length > 1) console.log(`  CPU per request ratio of each run: ${r.paired_cpu_ratios.map((x) => `${x.toFixed(2)}x`).join(' ')}`);
      if (r.paired_over_no_auth.length > 1) console.log(`  over no auth in each run: ${r.paired_over_no_auth.map(pct).join(' ')}`);
    }
    const overNginx = variants.filter(({ auth }) => (ratios[auth]?.cpu_us_per_req ?? 0) > BUDGET_RATIO);
    const withNginx = Boolean(nginx && variants.length);
    if (withNginx) {
      // One variant (the default): the wording of the single-gateway harness; several: each one over budget, named.
      const over = overNginx.map(({ auth, m }) => `${single ? '' : `${m.label} `}${ratios[auth]?.cpu_us_per_req?.toFixed(2)}x`).join(', ');
      console.log(
        overNginx.length === 0
          ? `PASS: CPU per request within budget (<= ${BUDGET_RATIO}x nginx)`
          : `OVER BUDGET: CPU per request ${over} nginx, budget ${BUDGET_RATIO}x`,
      );
    } else {
      console.log('(no turnpike/nginx ratio: both targets are needed)');
    }
    const withAuth = variants.filter(({ auth }) => auth !== 'key-auth+rate-limit' && ratios[auth]?.over_no_auth != null);
    const overAuth = withAuth.filter(({ auth }) => (ratios[auth]?.over_no_auth ?? 0) > AUTH_BUDGET);
    const authPass = withAuth.length ? overAuth.length === 0 : null;
    if (withAuth.length) {
      const list = (/** @type {typeof variants} */ vs) => vs.map(({ auth }) => `${auth} ${pct(ratios[auth]?.over_no_auth ?? 0)}`).join(', ');
      console.log(
        authPass
          ? `PASS: authentication within budget (<= +${AUTH_BUDGET * 100} % CPU per request over no auth): ${list(withAuth)}`
          : `OVER BUDGET: authentication ${list(overAuth)} CPU per request over no auth, budget +${AUTH_BUDGET * 100} %`,
      );
    }
    // The rate limit's cost: the same route and key with and without a rate-limiting instance.
    const keyAuth = byUnit['turnpike:key-auth'];
    const limited = byUnit['turnpike:key-auth+rate-limit'];
    const rateLimitOver = keyAuth && limited ? limited.cpu_us_per_req / keyAuth.cpu_us_per_req - 1 : null;
    const rateLimitPass = rateLimitOver === null ? null : rateLimitOver <= RATE_LIMIT_BUDGET;
    if (rateLimitOver !== null) {
      const each = pairedRuns('turnpike:key-auth+rate-limit', 'turnpike:key-auth').map((x) => x - 1);
      if (each.length > 1) console.log(`  rate limit over key-auth in each run: ${each.map(pct).join(' ')}`);
      console.log(
        `${rateLimitPass ? 'PASS' : 'OVER BUDGET'}: rate limit ${pct(rateLimitOver)} CPU per request over key-auth alone, budget +${RATE_LIMIT_BUDGET * 100} %`,
      );
    }
    const floor = byUnit.stack;
    if (floor && nginx) console.log(`stack floor / nginx  CPU per request: ${(floor.cpu_us_per_req / nginx.cpu_us_per_req).toFixed(2)}x`);
    if (floor && tp) console.log(`${single ? 'turnpike' : tp.label} / stack floor  CPU per request: ${(tp.cpu_us_per_req / floor.cpu_us_per_req).toFixed(2)}x`);

    if (o.json) {
      const doc = {
        date: started.toISOString(),
        command: cmd,
        machine,
        tools,
        options: { ...o, json: undefined },
        upstream_body_bytes: UPSTREAM_BODY.length,
        results,
        runs,
        ratio,
        paired_cpu_ratios: paired,
        ratios,
        budget: {
          max_cpu_ratio: BUDGET_RATIO,
          pass: withNginx ? overNginx.length === 0 : null,
          max_auth_overhead: AUTH_BUDGET,
          auth_pass: authPass,
          max_rate_limit_overhead: RATE_LIMIT_BUDGET,
          rate_limit_over_key_auth: rateLimitOver,
          rate_limit_pass: rateLimitPass,
        },
      };
      writeFileSync(o.json, `${JSON.stringify(doc, null, 2)}\n`);
      log(`results written to ${o.json}`);
    }
  } finally {
    await stopAll();
    await stopIssuer?.();
    if (o.cpuProf) printProfiles(o.cpuProf, started.getTime(), gatewayLabels);
    await removeDir();
  }
}

/**
 * Prints the profile of each gateway of this run (one per --auth variant).
 * @param {string} dir @param {number} since  the run's start (ms) @param {Map<number, string>} labels  gateway pid → label
 */
function printProfiles(dir, since, labels) {
  // node names profiles CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: those written since the start are this run's.
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.cpuprofile') && statSync(join(dir, f)).mtimeMs >= since)
        .sort()
    : [];
  if (!files.length) {
    log(`no .cpuprofile in ${dir}: the gateway must exit cleanly on SIGTERM for node to write it`);
    return;
  }
  for (const f of files) {
    const pid = Number(f.split('.')[3]);
    printProfile(join(dir, f), labels.get(pid) ?? 'gateway');
  }
}

/** @param {string} file @param {string} label */
function printProfile(file, label) {
  const s = summariseProfile(file, 25);
  const pct = (/** @type {number} */ x) => `${(x * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${label} CPU profile ${file} (${s.samples} samples, share of non-idle time)`);
  console.log('by area:');
  for (const e of s.byArea) console.log(`  ${pct(e.share)}  ${e.name}`);
  console.log('by module:');
  for (const e of s.byModule.slice(0, 12)) console.log(`  ${pct(e.share)}  ${e.name}`);
  console.log('by function (self time):');
  for (const e of s.byFunction) console.log(`  ${pct(e.share)}  ${e.name}  ${e.where}`);
}

main().catch(async (e) => {
  if (stopRequested()) return;
  process.stderr.write(`\nbenchmark failed: ${e instanceof Error ? e.message : String(e)}\n`);
  await stopAll();
  process.exit(1);
});
