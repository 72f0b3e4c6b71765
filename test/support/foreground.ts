// A server binary (haproxy, nginx) run in the foreground for a test: spawned, its output kept, and ready once
// its port answers HTTP (any status: the load balancer listens, whether or not a backend is up yet).
import { spawn, type ChildProcess } from 'node:child_process';

export interface Foreground {
  port: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startForeground(what: string, bin: string, args: readonly string[], port: number): Promise<Foreground> {
  const proc = spawn(bin, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/lb-probe`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} not listening on ${port} after 10 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
