#!/usr/bin/env node
// Throughput of one gateway node with TP_WORKERS=1 against TP_WORKERS=N (default 2) in the same run:
// the same nginx upstream, key-auth route and call logs to JetStream as `pnpm bench`, no CPU pinning (the
// point is to use every core). Each setting runs --runs times, interleaved; the table shows every run.
// usage: node benchmarks/workers.mjs [--workers 2] [--duration 5] [--connections 64] [--runs 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSnapshot, cpuSpent, machineBusy } from './lib/cpu.mjs';
import { startNginx, upstreamConf, UPSTREAM_BODY } from './lib/nginx.mjs';
import { waitForHttp } from './lib/http-check.mjs';
import { freePorts } from './lib/ports.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { API_KEY_HEADER, checkBuilt, GATEWAY_MAIN, newApiKey, publishConfig, startNats } from './lib/turnpike.mjs';
import { runWrk } from './lib/wrk.mjs';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    workers: { type: 'string', default: '2' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '2' },
  },
});
const N = Number(values.workers);
const seconds = Number(values.duration);

checkBuilt();
const dir = mkdtempSync(join(tmpdir(), 'tp-bench-workers-'));
installCleanup(async () => rmSync(dir, { recursive: true, force: true }));
try {
  const [natsPort, upstreamPort, proxyPort, statusPort] = await freePorts(4);
  const nats = await startNats({ dir, port: natsPort, cpu: null });
  await startNginx({ name: 'nginx upstream', dir: join(dir, 'upstream'), conf: upstreamConf(join(dir, 'upstream'), upstreamPort), url: `http://127.0.0.1:${upstreamPort}/`, cpu: null });
  const key = newApiKey();
  const cluster = 'benchworkers';
  await publishConfig({ natsUrl: nats.url, cluster, upstreamPort, key });
  const rows = [];
  for (let run = 0; run < Number(values.runs); run++) {
    for (const workers of [1, N]) {
      const proc = startProcess(`gateway x${workers}`, process.execPath, [GATEWAY_MAIN], {
        env: {
          ...process.env,
          TP_NATS_URL: nats.url,
          TP_CLUSTER: cluster,
          TP_NODE_ID: 'bench-workers',
          TP_PROXY_HOST: '127.0.0.1',
          TP_PROXY_PORT: String(proxyPort),
          TP_STATUS_PORT: String(statusPort),
          TP_DATA_DIR: join(dir, `gw-${run}-${workers}`),
          TP_WORKERS: String(workers),
        },
      });
      await waitForHttp('gateway /readyz', proc, `http://127.0.0.1:${statusPort}/readyz`, {});
      await waitForHttp('gateway route', proc, `http://127.0.0.1:${proxyPort}/bench`, { [API_KEY_HEADER]: key }, { body: UPSTREAM_BODY });
      const wrk = { url: `http://127.0.0.1:${proxyPort}/bench`, connections: Number(values.connections), threads: Number(values.threads), headers: { [API_KEY_HEADER]: key }, cpu: null };
      await runWrk({ ...wrk, seconds: 1 }); // warm-up
      const before = cpuSnapshot([proc.pid]);
      const busy0 = machineBusy();
      const r = await runWrk({ ...wrk, seconds });
      const cpu = cpuSpent(before, cpuSnapshot([proc.pid]));
      const busy = (machineBusy() - busy0) / (r.duration_us / 1e6);
      const rps = r.requests / (r.duration_us / 1e6);
      const errors = r.errors.connect + r.errors.read + r.errors.write + r.errors.status + r.errors.timeout;
      // How the kernel spread the connections (SO_REUSEPORT): requests per worker thread.
      const metrics = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
      const split = [...metrics.matchAll(/^turnpike_gateway_worker_requests_total\{worker="(\d+)"\} (\d+)/gm)].map((m) => m[2]).join('/');
      rows.push({ run, workers, per_worker: split || '-', rps: Math.round(rps), p50_ms: r.latency_us.p50 / 1000, p99_ms: r.latency_us.p99 / 1000, gw_cpu_cores: +(cpu.total / (r.duration_us / 1e6)).toFixed(2), cpu_us_per_req: +((cpu.total * 1e6) / r.requests).toFixed(1), machine_busy_cores: +busy.toFixed(2), errors });
      await proc.stop('SIGTERM', 15_000);
    }
  }
  console.log(`cores: ${availableParallelism()}, wrk -t${values.threads} -c${values.connections} ${seconds}s, key-auth route, call logs to JetStream`);
  console.table(rows);
} finally {
  await stopAll();
}
