// Spawns a real Turnpike process and waits for its `{"event":"ready"}` line on stdout.
// Compiled to test/dist/support/process.js: the repository root is three levels up.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TURNPIKE_BIN = `${REPO_ROOT}services/cli/dist/src/bin.js`;

export interface Running {
  proc: ChildProcess;
  ready: Record<string, unknown>;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Sends `signal` and resolves with the exit code (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export async function startProcess(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Running> {
  const proc = spawn(process.execPath, [TURNPIKE_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve((exited = code))));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms from turnpike ${args.join(' ')}:\n${out}`)), timeoutMs);
    let buf = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      const s = chunk.toString();
      out += s;
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const ev = JSON.parse(line) as Record<string, unknown>;
          if (ev.event === 'ready') {
            clearTimeout(timer);
            resolve(ev);
          }
        } catch {
          // not a JSON line
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`turnpike ${args.join(' ')} exited with ${code} before ready:\n${out}`));
    });
  });
  return {
    proc,
    ready,
    output: () => out,
    stop: async (signal = 'SIGTERM', graceMs = 15_000) => {
      if (exited !== undefined) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
  };
}
