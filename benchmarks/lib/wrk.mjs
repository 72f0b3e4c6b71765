// Runs wrk against a URL and returns its figures (parsed from the JSON line wrk-report.lua prints).
import { fileURLToPath } from 'node:url';
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
