#!/usr/bin/env node
// `pnpm bench:rate-sweep`: CPU per request of nginx and Turnpike at the same request rates. `pnpm bench`
// compares each proxy at its own maximum (wrk, closed loop), where the faster one also batches more events
// per wake-up; this drives both at each of a list of fixed rates with the open-model generator
// (lib/openload.c), so that the ratio compares the same offered work. Same processes, CPU layout and route
// as benchmarks/run.mjs (default route: key-auth + rate limit + call log, issue 5's budget). Reports user
// and kernel µs per request, the ratio, and each side's p99. Method and figures: docs/benchmarks.md.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { machineBusy, ownTreeCpu, stealSeconds } from './lib/cpu.mjs';
import { proxyConf, startNginx, upstreamConf } from './lib/nginx.mjs';
import { buildOpenLoad, cpuPerRequestAtRate, openLoad } from './lib/openload.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, stopAll, stopRequested } from './lib/processes.mjs';
import { API_KEY_HEADER, AUTH_VARIANTS, checkBuilt, newApiKey, publishConfig, startGateway, startNats } from './lib/turnpike.mjs';

/** Above this much CPU used by unrelated processes during a run (in cores), it is measured again. */
const NOISE = 0.1;

const HELP = `usage: pnpm bench:rate-sweep [-- options]   (node benchmarks/rate-sweep.mjs [options])
  --rates <list>    comma list of request rates (req/s), each offered to nginx and to Turnpike  [3000,6000,11000,16000,21000]
  --runs <n>        repeats of the sweep (targets alternate order); medians reported             [3]
  --seconds <s>     measured seconds per run (after --warmup seconds at the same rate)          [4]
  --warmup <s>      unmeasured seconds at the rate before each measured run                     [1]
  --auth <variant>  the Turnpike route: ${AUTH_VARIANTS.filter((a) => a !== 'jwt').join(', ')}  [key-auth+rate-limit]
  --connections <n> open-model generator connections                                            [64]
  --retries <n>     re-measure a run up to n times when other processes used more than 10 % of a core  [2]
  --json <file>     also write the results as JSON`;

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      rates: { type: 'string', default: '3000,6000,11000,16000,21000' },
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '1' },
      auth: { type: 'string', default: 'key-auth+rate-limit' },
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
  const auth = /** @type {import('./lib/turnpike.mjs').AuthVariant} */ (values.auth);
  if (!AUTH_VARIANTS.includes(auth) || auth === 'jwt') throw new Error(`--auth: one of ${AUTH_VARIANTS.filter((a) => a !== 'jwt').join(', ')}`);
  const rates = values.rates.split(',').map(Number);
  if (rates.some((r) => !Number.isInteger(r) || r <= 0)) throw new Error('--rates: positive whole numbers');
  return {
    rates,
    runs: Number(values.runs),
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    auth,
    connections: Number(values.connections),
    retries: Number(values.retries),
    json: values.json ? resolve(values.json) : null,
  };
}

const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/** @typedef {{ user: number, sys: number, total: number, p99: number, foreign: number, steal: number, overloaded: boolean }} Sample  µs per request, ms, cores */

async function main() {
  const o = options();
  checkBuilt();
  const ncpu = availableParallelism();
  const proxyCpu = ncpu >= 2 ? String(ncpu - 1) : null;
  const loadCpu = ncpu >= 2 ? (ncpu > 2 ? `0-${ncpu - 2}` : '0') : null;
  const dir = mkdtempSync(join(tmpdir(), 'turnpike-rate-sweep-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const started = new Date();
  try {
    const bin = buildOpenLoad(dir);
    const [upstreamPort, proxyPort, natsPort, gatewayPort, statusPort] = /** @type {number[]} */ (await freePorts(5));
    await startNginx({ name: 'nginx upstream', dir: join(dir, 'upstream'), conf: upstreamConf(join(dir, 'upstream'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/`, cpu: loadCpu });
    const nginx = await startNginx({ name: 'nginx proxy', dir: join(dir, 'proxy'), conf: proxyConf(join(dir, 'proxy'), proxyPort, upstreamPort), url: `http://127.0.0.1:${proxyPort}/`, cpu: proxyCpu });
    const key = newApiKey();
    const nats = await startNats({ dir, port: natsPort, cpu: loadCpu });
    await publishConfig({ natsUrl: nats.url, cluster: 'bench', upstreamPort, key, auth: o.auth });
    const gw = await startGateway({ dir, natsUrl: nats.url, cluster: 'bench', proxyPort: gatewayPort, statusPort, key, cpu: proxyCpu, cpuProfDir: null });
    // Both get the same request bytes: nginx passes the key header on.
    const headers = { [API_KEY_HEADER]: key };
    const targets = [
      { name: 'nginx', port: proxyPort, pid: /** @type {number} */ (nginx.pid) },
      { name: 'turnpike', port: gatewayPort, pid: /** @type {number} */ (gw.pid) },
    ];

    /** @param {typeof targets[number]} t @param {number} rate @returns {Promise<Sample>} */
    const measure = async (t, rate) => {
      const load = { port: t.port, rate, connections: o.connections, headers, cpu: loadCpu, warmup: 0 };
      if (o.warmup > 0) await openLoad(bin, { ...load, seconds: o.warmup });
      const busyBefore = machineBusy();
      const oursBefore = ownTreeCpu();
      const stealBefore = stealSeconds(proxyCpu);
      // An overloaded run is kept and marked (the table says so) rather than ending the sweep.
      const { spent, result: res } = await cpuPerRequestAtRate(bin, { ...load, seconds: o.seconds }, [t.pid], 300, true);
      const foreign = Math.max(0, machineBusy() - busyBefore - (ownTreeCpu() - oursBefore)) / (o.seconds + 0.3);
      const steal = (stealSeconds(proxyCpu) - stealBefore) / (o.seconds + 0.3);
      const n = res.requests;
      return { user: (spent.user * 1e6) / n, sys: (spent.sys * 1e6) / n, total: (spent.total * 1e6) / n, p99: res.latency_us.p99 / 1000, foreign, steal, overloaded: res.overloaded };
    };

    /** @type {Record<string, Record<number, Sample[]>>} */
    const samples = { nginx: {}, turnpike: {} };
    for (let run = 0; run < o.runs; run++) {
      for (const rate of o.rates) {
        // Alternate which goes first, so that a drift over the sweep favours neither.
        for (const t of run % 2 === 0 ? targets : [...targets].reverse()) {
          let m = await measure(t, rate);
          for (let retry = 0; retry < o.retries && m.foreign > NOISE; retry++) {
            log(`  ${t.name} at ${rate}/s: other load ${(m.foreign * 100).toFixed(0)}%: measuring again`);
            m = await measure(t, rate);
          }
          const byRate = /** @type {Record<number, Sample[]>} */ (samples[t.name]);
          (byRate[rate] ??= []).push(m);
          log(`${t.name} at ${rate}/s run ${run + 1}: ${m.overloaded ? 'OVERLOADED ' : ''}${m.total.toFixed(1)} µs/req (user ${m.user.toFixed(1)}, kernel ${m.sys.toFixed(1)}), p99 ${m.p99.toFixed(2)} ms, other load ${(m.foreign * 100).toFixed(0)}%, steal ${(m.steal * 100).toFixed(1)}%`);
        }
      }
    }

    /** @param {string} name @param {number} rate @param {'user'|'sys'|'total'|'p99'|'foreign'|'steal'} k */
    const med = (name, rate, k) => {
      const all = samples[name]?.[rate] ?? [];
      const clean = all.filter((x) => x.foreign <= NOISE && !x.overloaded);
      return median((clean.length ? clean : all).map((x) => x[k]));
    };
    const overloaded = (/** @type {string} */ name, /** @type {number} */ rate) => (samples[name]?.[rate] ?? []).some((x) => x.overloaded);
    console.log('');
    console.log(`Turnpike rate sweep  ${started.toISOString()}  ${ncpu} CPUs; proxy on CPU ${proxyCpu}, load + upstream + nats on CPU ${loadCpu}`);
    console.log(`route: ${o.auth} + call log; open model, ${o.connections} connections, ${o.seconds}s measured after ${o.warmup}s at each rate, median of ${o.runs}`);
    console.log('');
    console.log('| req/s | nginx µs/req (user + kernel) | Turnpike µs/req (user + kernel) | Turnpike / nginx | nginx p99 ms | Turnpike p99 ms | other load | steal |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
    /** @type {{ rate: number, ratio: number }[]} */
    const ratios = [];
    for (const rate of o.rates) {
      const cell = (/** @type {string} */ name) =>
        overloaded(name, rate) ? 'overloaded' : `${med(name, rate, 'total').toFixed(1)} (${med(name, rate, 'user').toFixed(1)} + ${med(name, rate, 'sys').toFixed(1)})`;
      const ok = !overloaded('nginx', rate) && !overloaded('turnpike', rate);
      const ratio = med('turnpike', rate, 'total') / med('nginx', rate, 'total');
      if (ok) ratios.push({ rate, ratio });
      console.log(
        `| ${rate} | ${cell('nginx')} | ${cell('turnpike')} | ${ok ? `${ratio.toFixed(2)}×` : '–'} | ${med('nginx', rate, 'p99').toFixed(2)} | ${med('turnpike', rate, 'p99').toFixed(2)} | ` +
          `${(Math.max(med('nginx', rate, 'foreign'), med('turnpike', rate, 'foreign')) * 100).toFixed(0)}% | ${(Math.max(med('nginx', rate, 'steal'), med('turnpike', rate, 'steal')) * 100).toFixed(1)}% |`,
      );
    }
    const stolen = Object.values(samples).flatMap((byRate) => Object.values(byRate).flat().map((x) => x.steal));
    if (Math.max(...stolen) > 0.01) {
      console.log('');
      console.log(`NOTE: the hypervisor took up to ${(Math.max(...stolen) * 100).toFixed(1)}% of the proxy CPU in a run (steal): CPU per request and p99 are partly the host's.`);
    }
    if (ratios.length > 0) {
      const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
      console.log('');
      console.log(`Turnpike / nginx CPU per request at equal rates: ${ratios.map((r) => `${r.ratio.toFixed(2)}× at ${r.rate}`).join(', ')}; highest ${worst.ratio.toFixed(2)}× at ${worst.rate} req/s (budget 2×)`);
    }
    if (o.json) writeFileSync(o.json, `${JSON.stringify({ date: started.toISOString(), options: o, samples }, null, 2)}\n`);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  if (stopRequested()) return;
  process.stderr.write(`\nrate sweep failed: ${e instanceof Error ? e.message : String(e)}\n`);
  await stopAll();
  process.exit(1);
});
