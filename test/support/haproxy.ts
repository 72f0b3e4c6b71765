// haproxy (Debian's /usr/sbin/haproxy) in front of gateway nodes on loopback, from infra/lb/haproxy.cfg.tmpl:
// the load balancer the cluster fault tests send their traffic through.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './process.js';

export interface GatewayBackend {
  name: string;
  proxyPort: number;
  statusPort: number;
}

export interface Haproxy {
  port: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export const HAPROXY_BIN = process.env.TP_HAPROXY_BIN ?? '/usr/sbin/haproxy';

/** The template rendered for `backends`, listening on 127.0.0.1:`port`. */
export function haproxyConfig(port: number, backends: readonly GatewayBackend[]): string {
  const template = readFileSync(join(REPO_ROOT, 'infra/lb/haproxy.cfg.tmpl'), 'utf8');
  const servers = backends.map((b) => `    server ${b.name} 127.0.0.1:${b.proxyPort} check port ${b.statusPort}`).join('\n');
  return template.replace('{{BIND}}', `127.0.0.1:${port}`).replace('{{SERVERS}}', servers);
}

/** Starts haproxy in the foreground (`-db`) and resolves once it accepts connections. */
export async function startHaproxy(dir: string, port: number, backends: readonly GatewayBackend[]): Promise<Haproxy> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, backends));
  const proc = spawn(HAPROXY_BIN, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}:\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz-probe`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      break; // any HTTP answer: haproxy listens (and has a backend up, or says 503)
    } catch {
      if (Date.now() > deadline) throw new Error(`haproxy not listening on ${port} after 10 s:\n${out}`);
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
