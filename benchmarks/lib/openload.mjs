// The open-model load generator (lib/openload.c, built here with `cc -O2`): request k is due at start + k/rate
// whatever happened before, on keep-alive connections with one request in flight each; latency counts from
// the due time. Used where a comparison needs both targets at the same request rate (CPU per request depends
// on the rate: fewer events per wake-up at lower rates).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
