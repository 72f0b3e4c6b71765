#!/usr/bin/env node
// `pnpm bench:latency`: latency the proxy adds at half of Turnpike's maximum load. Measures nginx's and
// Turnpike's max req/s (wrk, closed loop, as `pnpm bench`), then drives the upstream directly, nginx and
// Turnpike at the same fixed rate, 50 % of Turnpike's max, with an open-model generator (lib/openload.c:
// latency counted from each request's due time) and reports p50/p99 and the latency each proxy adds over
// the direct path. Same processes, CPU layout and route (key-auth + call log) as benchmarks/run.mjs.
// Method and figures: docs/benchmarks.md.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSnapshot, cpuSpent, machineBusy, ownTreeCpu, stealSeconds } from './lib/cpu.mjs';
import { proxyConf, startNginx, upstreamConf } from './lib/nginx.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, stopAll, stopRequested } from './lib/processes.mjs';
import { buildOpenLoad, openLoad } from './lib/openload.mjs';
import { API_KEY_HEADER, checkBuilt, newApiKey, publishConfig, startGateway, startNats } from './lib/turnpike.mjs';
import { runWrk } from './lib/wrk.mjs';

/** Goal (issue 5): p99 latency added by the gateway at 50 % of its max load. */
const GOAL_ADDED_P99_MS = 1;
/** Above this much CPU used by unrelated processes during a run (in cores), it is measured again. */
const NOISE = 0.1;

const HELP = `usage: pnpm bench:latency [-- options]   (node benchmarks/latency.mjs [options])
  --runs <n>        repeats of each measurement (targets interleaved); medians reported   [3]
  --max-seconds <s> wrk seconds per max-throughput measurement (after 2 s warm-up)      [5]
  --seconds <s>     measured seconds per fixed-rate run (after 1 s warm-up at the rate)   [5]
  --load <share>    the fixed rate as a share of Turnpike's max req/s                     [0.5]
  --rate <n>        use this fixed rate instead of measuring the max
  --connections <n> open-model generator connections                                      [64]
  --retries <n>     re-measure a fixed-rate run up to n times when other processes used more than 10 % of a
                    core during it, or the target could not keep up                        [2]
  --json <file>     also write the results as JSON`;

function options() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      'max-seconds': { type: 'string', default: '5' },
      seconds: { type: 'string', default: '5' },
      load: { type: 'string', default: '0.5' },
      rate: { type: 'string' },
      connections: { type: 'string', default: '64' },
      retries: { type: 'string', default: '2' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  return {
    runs: Number(values.runs),
    maxSeconds: Number(values['max-seconds']),
    seconds: Number(values.seconds),
    load: Number(values.load),
    rate: values.rate ? Number(values.rate) : null,
    connections: Number(values.connections),
    retries: Number(values.retries),
    json: values.json ? resolve(values.json) : null,
  };
}

const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

async function main() {
  const o = options();
  checkBuilt();
  const ncpu = cpus().length;
  const proxyCpu = ncpu >= 2 ? String(ncpu - 1) : null;
  const loadCpu = ncpu >= 2 ? (ncpu > 2 ? `0-${ncpu - 2}` : '0') : null;
  const dir = mkdtempSync(join(tmpdir(), 'turnpike-latency-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const bin = buildOpenLoad(dir);
  const started = new Date();
  try {
    const [upstreamPort, proxyPort, natsPort, gatewayPort, statusPort] = /** @type {number[]} */ (await freePorts(5));
    const upstream = await startNginx({ name: 'nginx upstream', dir: join(dir, 'upstream'), conf: upstreamConf(join(dir, 'upstream'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/`, cpu: loadCpu });
    const nginx = await startNginx({ name: 'nginx proxy', dir: join(dir, 'proxy'), conf: proxyConf(join(dir, 'proxy'), proxyPort, upstreamPort), url: `http://127.0.0.1:${proxyPort}/`, cpu: proxyCpu });
    const key = newApiKey();
    const headers = { [API_KEY_HEADER]: key };
    const nats = await startNats({ dir, port: natsPort, cpu: loadCpu });
    await publishConfig({ natsUrl: nats.url, cluster: 'bench', upstreamPort, key });
    const gw = await startGateway({ dir, natsUrl: nats.url, cluster: 'bench', proxyPort: gatewayPort, statusPort, key, cpu: proxyCpu, cpuProfDir: null });
    const targets = [
      { name: 'direct', label: 'upstream (direct)', port: upstreamPort, pids: [upstream.pid] },
      { name: 'nginx', label: 'via nginx', port: proxyPort, pids: [nginx.pid] },
      { name: 'turnpike', label: 'via turnpike', port: gatewayPort, pids: [gw.pid] },
    ];

    // 1. Max req/s of each proxy (closed loop, wrk -c50 as pnpm bench).
    /** @type {Record<string, number[]>} */
    const maxRps = { nginx: [], turnpike: [] };
    let rate = o.rate;
    if (rate === null) {
      for (let r = 0; r < o.runs; r++) {
        for (const t of targets.slice(1)) {
          const wrk = { url: `http://127.0.0.1:${t.port}/bench`, connections: 50, threads: 1, headers, cpu: loadCpu };
          await runWrk({ ...wrk, seconds: 2 });
          const w = await runWrk({ ...wrk, seconds: o.maxSeconds });
          maxRps[t.name]?.push(w.requests / (w.duration_us / 1e6));
          // (wrk's max is as noisy as the machine: the table reports the other load of the fixed-rate runs.)
          log(`max ${t.name} run ${r + 1}: ${maxRps[t.name]?.at(-1)?.toFixed(0)} req/s`);
        }
      }
      rate = Math.round(median(maxRps.turnpike ?? []) * o.load);
    }

    // 2. Each target at the same fixed rate, open model.
    /** @type {Record<string, { overloaded: boolean, p50: number, p99: number, p999: number, max: number, cpu_us_per_req: number, cpu_util: number, foreign: number, steal: number, backlog: number }[]>} */
    const runs = { direct: [], nginx: [], turnpike: [] };
    /** @param {typeof targets[number]} t */
    const measure = async (t) => {
      const before = cpuSnapshot(t.pids);
      const busyBefore = machineBusy();
      const oursBefore = ownTreeCpu();
      const stealBefore = stealSeconds(proxyCpu);
      const res = await openLoad(bin, { port: t.port, rate, warmup: 1, seconds: o.seconds, connections: o.connections, headers, cpu: loadCpu });
      const cpu = cpuSpent(before, cpuSnapshot(t.pids)).total;
      const foreign = Math.max(0, machineBusy() - busyBefore - (ownTreeCpu() - oursBefore)) / (o.seconds + 1);
      const steal = (stealSeconds(proxyCpu) - stealBefore) / (o.seconds + 1);
      if (res.errors > 0) throw new Error(`${t.label}: ${res.errors} non-2xx responses`);
      const requests = res.requests + rate; // CPU spans the warm-up second too
      return {
        overloaded: res.overloaded,
        p50: res.latency_us.p50 / 1000,
        p99: res.latency_us.p99 / 1000,
        p999: res.latency_us.p999 / 1000,
        max: res.latency_us.max / 1000,
        cpu_us_per_req: (cpu * 1e6) / requests,
        cpu_util: cpu / (o.seconds + 1),
        foreign,
        steal,
        backlog: res.max_backlog,
      };
    };
    for (let r = 0; r < o.runs; r++) {
      for (const t of targets) {
        let m = await measure(t);
        // Other people's work on the machine: measure again rather than report their noise (as pnpm bench).
        for (let retry = 0; retry < o.retries && (m.foreign > NOISE || m.overloaded); retry++) {
          log(`  ${t.label}: other load ${(m.foreign * 100).toFixed(0)}%${m.overloaded ? ', could not keep up' : ''}: measuring again`);
          m = await measure(t);
        }
        runs[t.name]?.push(m);
        log(`${t.label} at ${rate}/s run ${r + 1}: ${m.overloaded ? 'OVERLOADED ' : ''}p50 ${m.p50.toFixed(3)} ms, p99 ${m.p99.toFixed(3)} ms, other load ${(m.foreign * 100).toFixed(0)}%, steal on the proxy CPU ${(m.steal * 100).toFixed(1)}%`);
      }
    }
    /** @param {string} name @param {'p50'|'p99'|'p999'|'max'|'cpu_us_per_req'|'cpu_util'|'foreign'|'steal'} k */
    const med = (name, k) => {
      // The runs without other load, when there are any.
      const all = runs[name] ?? [];
      const clean = all.filter((x) => x.foreign <= NOISE && !x.overloaded);
      return median((clean.length ? clean : all).map((x) => x[k]));
    };
    const kept = (/** @type {string} */ name) => {
      const all = runs[name] ?? [];
      return `${all.filter((x) => x.foreign <= NOISE && !x.overloaded).length} clean of ${all.length}`;
    };
    console.log('');
    console.log(`Turnpike latency benchmark  ${started.toISOString()}  ${ncpu} CPUs; proxy on CPU ${proxyCpu}, load + upstream + nats on CPU ${loadCpu}`);
    if (o.rate === null) {
      console.log(`max req/s (wrk -t1 -c50, ${o.maxSeconds}s, median of ${o.runs}): nginx ${median(maxRps.nginx ?? []).toFixed(0)}, turnpike ${median(maxRps.turnpike ?? []).toFixed(0)}`);
    }
    console.log(`fixed rate ${rate} req/s (${o.rate === null ? `${o.load * 100}% of turnpike's max` : 'given'}), open model, ${o.connections} connections, ${o.seconds}s measured after 1s, median of ${o.runs}`);
    console.log('');
    console.log('| path | p50 ms | p99 ms | p99.9 ms | added p50 ms | added p99 ms | proxy CPU µs/req | proxy CPU util | other load | steal | runs kept |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const t of targets) {
      const added = t.name === 'direct' ? ['', ''] : [(med(t.name, 'p50') - med('direct', 'p50')).toFixed(3), (med(t.name, 'p99') - med('direct', 'p99')).toFixed(3)];
      console.log(
        `| ${t.label} | ${med(t.name, 'p50').toFixed(3)} | ${med(t.name, 'p99').toFixed(3)} | ${med(t.name, 'p999').toFixed(3)} | ${added[0]} | ${added[1]} | ` +
          `${t.name === 'direct' ? '' : med(t.name, 'cpu_us_per_req').toFixed(1)} | ${t.name === 'direct' ? '' : `${(med(t.name, 'cpu_util') * 100).toFixed(0)}%`} | ${(med(t.name, 'foreign') * 100).toFixed(0)}% | ${(med(t.name, 'steal') * 100).toFixed(1)}% | ${kept(t.name)} |`,
      );
    }
    const addedP99 = med('turnpike', 'p99') - med('direct', 'p99');
    const stolen = targets.flatMap((t) => (runs[t.name] ?? []).map((x) => x.steal));
    if (Math.max(...stolen) > 0.01) {
      console.log('');
      console.log(`NOTE: the hypervisor took up to ${(Math.max(...stolen) * 100).toFixed(1)}% of the proxy CPU in a run (steal): its latency tail is partly the host's.`);
    }
    if (targets.some((t) => (runs[t.name] ?? []).every((x) => x.foreign > NOISE || x.overloaded))) {
      console.log('');
      console.log('WARNING: a path had no run without other load: these latencies measure the machine, not the proxy.');
    }
    console.log('');
    console.log(`turnpike adds p99 ${addedP99.toFixed(3)} ms over the direct path: ${addedP99 < GOAL_ADDED_P99_MS ? 'PASS' : 'OVER'} (goal < ${GOAL_ADDED_P99_MS} ms)`);
    if (o.json) writeFileSync(o.json, `${JSON.stringify({ date: started.toISOString(), options: o, rate, max_rps: maxRps, runs }, null, 2)}\n`);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  if (stopRequested()) return;
  process.stderr.write(`\nlatency benchmark failed: ${e instanceof Error ? e.message : String(e)}\n`);
  await stopAll();
  process.exit(1);
});
