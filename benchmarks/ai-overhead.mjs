#!/usr/bin/env node
// `pnpm bench:ai`: the time the AI gateway adds to an LLM call (issue 9: p50 < 1 ms, p99 < 3 ms, for
// non-streamed and streamed calls). A fake OpenAI provider (its own process, answering at once) is called
// directly and through a gateway node (production wiring: NATS config, call log on, provider key sealed) in
// interleaved runs at the same closed-loop concurrency; reported per mode: latency percentiles of both
// paths, the difference (what the gateway adds, queueing included) and the gateway's own account of it
// (X-Turnpike-Overhead-Ms: time in the gateway minus time waiting on the provider). Method: docs/benchmarks.md.
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { checkBuilt, commonModule, publishEntries, startGateway, startNats } from './lib/turnpike.mjs';

const FAKE = fileURLToPath(new URL('./lib/fake-ai-provider.mjs', import.meta.url));
const GOAL = { p50: 1, p99: 3 };
const PROVIDER_KEY = 'sk-bench-provider-key-0123456789';
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello benchmark world' }] };

const HELP = `usage: pnpm bench:ai [-- options]   (node benchmarks/ai-overhead.mjs [options])
  --runs <n>         interleaved runs of each path and mode                  [3]
  --seconds <s>      measured seconds per run (after 1 s warm-up)            [4]
  --connections <n>  concurrent callers (closed loop)                        [4]
  --json <file>      also write the results as JSON`;

function options() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '4' },
      connections: { type: 'string', default: '4' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  return { runs: Number(values.runs), seconds: Number(values.seconds), connections: Number(values.connections), json: values.json ?? null };
}

/**
 * One call; resolves with the total time and, for a stream, the time to the first body byte (ms), and the
 * gateway's X-Turnpike-Overhead-Ms when present.
 * @param {Agent} agent
 * @param {URL} url
 * @param {Record<string, string>} headers
 * @param {string} body
 * @returns {Promise<{ total: number, first: number, overhead: number | null }>}
 */
function call(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = 0;
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const h = res.headers['x-turnpike-overhead-ms'];
      res.on('data', () => {
        if (first === 0) first = performance.now() - t0;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url.href}: status ${res.statusCode}`));
        resolve({ total: performance.now() - t0, first, overhead: typeof h === 'string' ? Number(h) : null });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Closed loop: `connections` callers for `seconds` (after 1 s unmeasured).
 * @param {URL} url
 * @param {Record<string, string>} headers
 * @param {string} body
 * @param {{ seconds: number, connections: number }} o
 */
async function measure(url, headers, body, o) {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  /** @type {number[]} */ const totals = [];
  /** @type {number[]} */ const firsts = [];
  /** @type {number[]} */ const overheads = [];
  const warmEnd = performance.now() + 1_000;
  const end = warmEnd + o.seconds * 1_000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = await call(agent, url, headers, body);
      if (performance.now() < warmEnd) continue;
      totals.push(r.total);
      firsts.push(r.first);
      if (r.overhead !== null) overheads.push(r.overhead);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  agent.destroy();
  return { totals, firsts, overheads };
}

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** @param {number} x */
const ms = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');

async function main() {
  const o = options();
  checkBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-ai-'));
  installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  try {
    const [natsPort, proxyPort, statusPort, httpsPort] = await freePorts(4);
    const nats = await startNats({ dir, port: /** @type {number} */ (natsPort), cpu: null });
    /** @type {string | null} */
    let baseUrl = null;
    startProcess('fake provider', process.execPath, [FAKE, 'openai', PROVIDER_KEY], {
      onLine: (line) => {
        if (line.startsWith('{"baseUrl"')) baseUrl = JSON.parse(line).baseUrl;
      },
    });
    for (let i = 0; baseUrl === null; i++) {
      if (i > 200) throw new Error('the fake provider did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const providerBase = /** @type {string} */ (/** @type {unknown} */ (baseUrl));
    const secretKey = await publishAiConfig({ natsUrl: nats.url, cluster: 'bench', baseUrl: providerBase });
    await startGateway({
      dir,
      natsUrl: nats.url,
      cluster: 'bench',
      proxyPort: /** @type {number} */ (proxyPort),
      statusPort: /** @type {number} */ (statusPort),
      httpsPort: /** @type {number} */ (httpsPort),
      cpu: null,
      cpuProfDir: null,
      env: { TP_SECRET_KEY: secretKey },
      probe: { path: '/ai/v1/models' },
    });
    const direct = { url: new URL(`${providerBase}/chat/completions`), headers: { authorization: `Bearer ${PROVIDER_KEY}` } };
    const gateway = { url: new URL(`http://127.0.0.1:${proxyPort}/ai/v1/chat/completions`), headers: {} };
    /** @type {Record<string, Record<string, { totals: number[], firsts: number[], overheads: number[] }>>} */
    const all = { 'non-streamed': { direct: { totals: [], firsts: [], overheads: [] }, gateway: { totals: [], firsts: [], overheads: [] } }, streamed: { direct: { totals: [], firsts: [], overheads: [] }, gateway: { totals: [], firsts: [], overheads: [] } } };
    for (let run = 1; run <= o.runs; run++) {
      for (const mode of /** @type {const} */ (['non-streamed', 'streamed'])) {
        const body = JSON.stringify(mode === 'streamed' ? { ...BODY, stream: true } : BODY);
        for (const [name, target] of /** @type {const} */ ([['direct', direct], ['gateway', gateway]])) {
          const r = await measure(target.url, target.headers, body, o);
          const acc = /** @type {{ totals: number[], firsts: number[], overheads: number[] }} */ (all[mode]?.[name]);
          acc.totals.push(...r.totals);
          acc.firsts.push(...r.firsts);
          acc.overheads.push(...r.overheads);
          console.error(`run ${run} ${mode} ${name}: ${r.totals.length} calls, p50 ${ms(quantile(r.totals, 0.5))} ms`);
        }
      }
    }
    /** @type {Record<string, unknown>} */
    const results = {};
    const lines = ['| mode | calls (gateway) | direct p50 / p99 | gateway p50 / p99 | added p50 / p99 | X-Turnpike-Overhead-Ms p50 / p99 |', '|---|---:|---:|---:|---:|---:|'];
    for (const mode of /** @type {const} */ (['non-streamed', 'streamed'])) {
      const d = /** @type {{ totals: number[], firsts: number[], overheads: number[] }} */ (all[mode]?.direct);
      const g = /** @type {{ totals: number[], firsts: number[], overheads: number[] }} */ (all[mode]?.gateway);
      const r = {
        calls: g.totals.length,
        direct: { p50: quantile(d.totals, 0.5), p99: quantile(d.totals, 0.99) },
        gateway: { p50: quantile(g.totals, 0.5), p99: quantile(g.totals, 0.99) },
        added: { p50: quantile(g.totals, 0.5) - quantile(d.totals, 0.5), p99: quantile(g.totals, 0.99) - quantile(d.totals, 0.99) },
        overheadHeader: { p50: quantile(g.overheads, 0.5), p99: quantile(g.overheads, 0.99) },
      };
      results[mode] = r;
      lines.push(
        `| ${mode} | ${r.calls} | ${ms(r.direct.p50)} / ${ms(r.direct.p99)} | ${ms(r.gateway.p50)} / ${ms(r.gateway.p99)} | ${ms(r.added.p50)} / ${ms(r.added.p99)} | ${ms(r.overheadHeader.p50)} / ${ms(r.overheadHeader.p99)} |`,
      );
    }
    console.log(`AI gateway overhead, ${o.connections} concurrent callers, ${o.runs} x ${o.seconds} s per path and mode (ms; goal p50 < ${GOAL.p50}, p99 < ${GOAL.p99})`);
    console.log(lines.join('\n'));
    if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The AI service as the control plane publishes it: a provider (key sealed with a fresh node secret key), a
 * service with an `ai` integration and a route `/ai`. Returns the secret key (hex) for TP_SECRET_KEY.
 * @param {{ natsUrl: string, cluster: string, baseUrl: string }} o
 */
async function publishAiConfig(o) {
  /** @type {typeof import('../services/common/dist/src/index.js')} */
  const common = await commonModule();
  const key = common.generateSecretKey();
  const ring = common.keyringOf(key);
  const now = new Date().toISOString();
  const ts = { created_at: now, updated_at: now, tags: [] };
  const ids = { provider: randomUUID(), service: randomUUID(), route: randomUUID() };
  /** @type {Array<[import('../services/common/dist/src/index.js').EntityKind, Record<string, unknown>]>} */
  const entries = [
    [
      'ai_providers',
      {
        id: ids.provider,
        name: 'bench-openai',
        type: 'openai',
        base_url: o.baseUrl,
        api_version: null,
        aws: null,
        headers: {},
        models: [{ name: 'gpt-4o-mini', input_cost_per_mtok: 0.15, output_cost_per_mtok: 0.6 }],
        default_model: null,
        timeout_ms: 30_000,
        api_key_set: true,
        api_key_last4: null,
        secret: { api_key: common.seal(ring, PROVIDER_KEY, ids.provider), aws_secret_access_key: null },
        ...ts,
      },
    ],
    ['services', { id: ids.service, name: 'bench-ai', base_path: '', integration: { type: 'ai', provider_ids: [ids.provider] }, ...ts }],
    ['routes', { id: ids.route, name: 'bench-ai', service_id: ids.service, hosts: [], paths: ['/ai'], methods: [], strip_path: false, priority: 0, plugins: {}, headers: [], query: [], stage: null, ...ts }],
  ];
  await publishEntries({ natsUrl: o.natsUrl, cluster: o.cluster, entries });
  return key.toString('hex');
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
