// Runs wrk against a URL and returns its figures (parsed from the JSON line wrk-report.lua prints).
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, cpuSpent } from './cpu.mjs';
import { startProcess } from './processes.mjs';

export const WRK_BIN = process.env.BENCH_WRK_BIN ?? 'wrk';
const REPORT_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

/**
 * @typedef {object} WrkResult
 * @property {number} requests
 * @property {number} duration_us
 * @property {number} bytes
 * @property {{ connect: number, read: number, write: number, status: number, timeout: number }} errors
 * @property {{ mean: number, stdev: number, p50: number, p90: number, p99: number, p999: number, max: number }} latency_us
 */

/**
 * @param {{ url: string, seconds: number, connections: number, threads: number, headers: Record<string, string>, cpu: string | null }} o
 * @returns {Promise<WrkResult>}
 */
export async function runWrk(o) {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '-s', REPORT_SCRIPT];
  for (const [k, v] of Object.entries(o.headers)) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  /** @type {WrkResult | null} */
  let result = null;
  const proc = startProcess('wrk', WRK_BIN, args, {
    cpu: o.cpu,
    onLine: (line) => {
      if (line.startsWith('WRK_RESULT ')) result = JSON.parse(line.slice('WRK_RESULT '.length));
    },
  });
  const code = await proc.exited;
  if (code !== 0 || !result) throw new Error(`wrk failed (exit ${code}) on ${o.url}\n${proc.output()}`);
  return result;
}

/**
 * CPU µs per request of `pids` (their process trees) over one wrk run, after an unmeasured warm-up run of
 * `warmup` seconds; `spent` is that CPU (user, sys, total s). Throws when wrk saw any error. The closed-loop
 * twin of openload.mjs's cpuPerRequestAtRate.
 * @param {Omit<Parameters<typeof runWrk>[0], 'seconds'>} wrk @param {number[]} pids @param {number} warmup @param {number} seconds
 */
export async function cpuPerRequestUnderWrk(wrk, pids, warmup, seconds) {
  if (warmup > 0) await runWrk({ ...wrk, seconds: warmup });
  const before = cpuSnapshot(pids);
  const result = await runWrk({ ...wrk, seconds });
  const spent = cpuSpent(before, cpuSnapshot(pids));
  const errors = result.errors.connect + result.errors.read + result.errors.write + result.errors.status + result.errors.timeout;
  if (errors > 0) throw new Error(`${wrk.url}: ${errors} wrk errors ${JSON.stringify(result.errors)}`);
  return { usPerReq: (spent.total * 1e6) / result.requests, spent, result };
}
