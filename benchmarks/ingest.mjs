#!/usr/bin/env node
// Records per second into ClickHouse through the ingester's insert path (SqlAnalyticsStore.insert: record
// validation, JSONEachRow encoding, one HTTP INSERT per 10,000 rows; the calls table with its calls_1m and
// calls_1h materialized views), into a scratch database on the local ClickHouse (dropped at the end).
// Usage: bash infra/local/up.sh && pnpm build && node benchmarks/ingest.mjs [records=500000] [--batch 10000] [--parallel 2] [--seconds 20]
// Stops at `records` or after `--seconds`, whichever comes first. Reports records/s and the CPU seconds
// spent by this process (generation excluded: batches are built before the clock starts) and by ClickHouse.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, cpuSpent } from './lib/cpu.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
for (const line of readFileSync(join(ROOT, '.work/local/env'), 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2];
}
const { ClickHouseStore } = await import('../services/analytics/dist/src/index.js');

const args = process.argv.slice(2);
/** @param {string} name @param {number} def */
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const total = Number(args.find((a, i) => /^\d+$/.test(a) && !String(args[i - 1]).startsWith('--')) ?? 500_000);
const batch = opt('--batch', 10_000);
const parallel = opt('--parallel', 2);
const seconds = opt('--seconds', 20);
const url = process.env.TP_CLICKHOUSE_URL ?? 'http://127.0.0.1:58123';

let chPid = 0;
try {
  chPid = Number(readFileSync(join(ROOT, '.work/local/clickhouse/clickhouse.pid'), 'utf8').trim());
} catch {
  // ClickHouse not started by infra/local: its CPU is not reported.
}

/**
 * The file system under the local server's data directory (its `--path=`), and whether it is ext4 without a
 * journal: there the kernel skips recently deleted inodes on every file creation (ext4's `recently_deleted`,
 * checked only without a journal), and ClickHouse 18.16 creates and deletes a file per column per part, so
 * back-to-back runs slow each other down (docs/benchmarks.md, issue 8). Null when unknown.
 * @returns {{ path: string, fstype: string, source: string, journal: boolean | null } | null}
 */
function dataFileSystem() {
  if (!chPid) return null;
  try {
    const args = readFileSync(`/proc/${chPid}/cmdline`, 'utf8').split('\0');
    const path = args.find((a) => a.startsWith('--path='))?.slice('--path='.length);
    if (!path) return null;
    const [fstype = '', source = ''] = execFileSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', path], { encoding: 'utf8' }).trim().split(/\s+/);
    let journal = null;
    if (fstype === 'ext4') {
      const dev = source.replace(/^\/dev\//, '');
      journal = readdirSync('/proc/fs/jbd2').some((d) => d.startsWith(`${dev}-`));
    }
    return { path, fstype, source, journal };
  } catch {
    return null;
  }
}
const fs = dataFileSystem();
if (fs?.journal === false) {
  console.error(
    `WARNING: ClickHouse's data (${fs.path}) is on ext4 without a journal (${fs.source}): file creation there slows as deleted ` +
      'inodes pile up, and back-to-back runs measure the file system more than the ingest path. Wait a few minutes between ' +
      'runs, or start ClickHouse with TP_CH_DATA_DIR on another file system (docs/benchmarks.md, issue 8).',
  );
}

/**
 * Realistic records: a handful of services/routes/consumers, mostly 2xx, latencies spread over 1–200 ms.
 * @param {number} b batch number @param {number} n records
 */
function makeBatch(b, n) {
  const t0 = Date.now() - 3_600_000;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = b * n + i;
    out[i] = {
      request_id: `bench-${process.pid}-${k}`,
      ts: t0 + (k % 3_600_000),
      node_id: `node-${k % 3}`,
      service_id: `svc-${k % 20}`,
      route_id: `route-${k % 50}`,
      consumer_id: `consumer-${k % 1000}`,
      method: k % 5 === 0 ? 'POST' : 'GET',
      path: `/v1/items/${k % 10_000}`,
      status: k % 50 === 0 ? 503 : k % 20 === 0 ? 404 : 200,
      upstream_latency_ms: (k % 200) + 0.5,
      total_latency_ms: (k % 200) + 1.25,
      bytes_in: k % 5 === 0 ? 256 : 0,
      bytes_out: 512 + (k % 1024),
      error_code: k % 50 === 0 ? 'TP_ERR_UPSTREAM' : '',
      credential_id: `cred-${k % 1000}`,
      plan_id: 'plan-gold',
      client_ip: `203.0.113.${k % 250}`,
      user_agent: 'k6/0.50',
      host: 'api.example.com',
      gateway_latency_ms: 0.75,
      upstream_connect_ms: 0.2,
      upstream_ttfb_ms: (k % 200) + 0.4,
      upstream_addr: '10.0.0.5:8080',
    };
  }
  return out;
}

const batches = Array.from({ length: Math.ceil(total / batch) }, (_, b) => makeBatch(b, Math.min(batch, total - b * batch)));
const db = `tp_bench_ingest_${Date.now().toString(36)}`;
const store = await ClickHouseStore.open(url, db, { connections: parallel, timeoutMs: 120_000 });
try {
  // One warm-up insert (connection, first parts) outside the measurement.
  await store.insert(makeBatch(1e6, 1_000));
  const deadline = Date.now() + seconds * 1000;
  let next = 0;
  let inserted = 0;
  const cpu0 = process.cpuUsage();
  const ch0 = chPid ? cpuSnapshot([chPid]) : null;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < batches.length && Date.now() < deadline) {
        const recs = batches[next++];
        await store.insert(recs);
        inserted += recs.length;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ch = ch0 ? cpuSpent(ch0, cpuSnapshot([chPid])) : null;
  const out = await store.sqlRunner.exec(`SELECT count() AS n FROM ${db}.calls FORMAT JSONEachRow`);
  const stored = Number(JSON.parse(out).n) - 1_000;
  const rolled = await store.rollup('hour', {});
  const report = {
    records: inserted,
    stored,
    rolled_up: rolled.reduce((a, p) => a + p.requests, 0) - 1_000,
    batch,
    parallel,
    wall_s: Number(wall.toFixed(2)),
    records_per_s: Math.round(inserted / wall),
    client_cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    clickhouse_cpu_s: ch ? Number(ch.total.toFixed(2)) : null,
    clickhouse_data_fs: fs === null ? null : `${fs.fstype}${fs.journal === false ? ' (no journal)' : ''}`,
  };
  console.log(JSON.stringify(report));
  if (stored !== inserted) throw new Error(`stored ${stored} of ${inserted}`);
} finally {
  await store.dropDatabase().catch(() => undefined);
  await store.close();
}
