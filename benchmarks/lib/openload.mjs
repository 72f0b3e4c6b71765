// The open-model load generator (lib/openload.c, built here with `cc -O2`): request k is due at start + k/rate
// whatever happened before, on keep-alive connections with one request in flight each; latency counts from
// the due time. Used where a comparison needs both targets at the same request rate (CPU per request depends
// on the rate: fewer events per wake-up at lower rates).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, cpuSpent } from './cpu.mjs';
import { startProcess } from './processes.mjs';

const OPENLOAD_SRC = fileURLToPath(new URL('./openload.c', import.meta.url));

/** Builds the generator into `dir`; returns the binary's path. @param {string} dir */
export function buildOpenLoad(dir) {
  const bin = join(dir, 'openload');
  const cc = spawnSync('cc', ['-O2', '-o', bin, OPENLOAD_SRC], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc failed (a C compiler is needed for lib/openload.c)\n${cc.stderr}`);
  return bin;
}

/**
 * One run at a fixed rate against http://127.0.0.1:<port><path> (default /bench).
 * @param {string} bin @param {{ port: number, path?: string, rate: number, warmup: number, seconds: number, connections: number, headers: Record<string, string>, cpu: string | null }} o
 * @returns {Promise<{ overloaded: boolean, rate: number, requests: number, errors: number, max_backlog: number, latency_us: { p50: number, p90: number, p99: number, p999: number, max: number } }>}
 */
export async function openLoad(bin, o) {
  const args = ['127.0.0.1', String(o.port), o.path ?? '/bench', String(o.rate), String(o.warmup), String(o.seconds), String(o.connections)];
  for (const [k, v] of Object.entries(o.headers)) args.push(`${k}: ${v}`);
  let result = null;
  const proc = startProcess('openload', bin, args, {
    cpu: o.cpu,
    onLine: (line) => {
      if (line.startsWith('{')) result = JSON.parse(line);
    },
  });
  const code = await proc.exited;
  if (code !== 0 || !result) throw new Error(`openload failed (exit ${code})\n${proc.output()}`);
  return result;
}

/**
 * CPU µs per request of `pids` (their process trees) over one run at a fixed rate, counted until `settleMs`
 * after it (work that trails the last response: a call-log flush); `spent` is that CPU (user, sys, total s).
 * Throws when the run had errors or, unless `overloadOk` (the caller reports it), fell behind its schedule:
 * CPU per request is only comparable at the rate asked for.
 * @param {string} bin @param {Parameters<typeof openLoad>[1]} load @param {number[]} pids @param {number} [settleMs] @param {boolean} [overloadOk]
 */
export async function cpuPerRequestAtRate(bin, load, pids, settleMs = 300, overloadOk = false) {
  const before = cpuSnapshot(pids);
  const result = await openLoad(bin, load);
  await new Promise((res) => setTimeout(res, settleMs));
  const spent = cpuSpent(before, cpuSnapshot(pids));
  if (result.errors > 0 || (result.overloaded && !overloadOk)) {
    throw new Error(`port ${load.port}: ${result.errors} errors${result.overloaded ? ', overloaded (fell a second behind): lower --rate' : ''}`);
  }
  return { usPerReq: (spent.total * 1e6) / result.requests, spent, result };
}
