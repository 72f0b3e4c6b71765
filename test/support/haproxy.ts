// haproxy (Debian's /usr/sbin/haproxy) in front of gateway nodes on loopback, from infra/lb/haproxy.cfg.tmpl:
// the load balancer the cluster fault tests send their traffic through.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './process.js';
import { startForeground, type Foreground } from './foreground.js';

export interface GatewayBackend {
  name: string;
  proxyPort: number;
  statusPort: number;
}

/** A running load balancer (haproxy or nginx). */
export type Haproxy = Foreground;

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
  return startForeground('haproxy', HAPROXY_BIN, ['-f', cfg, '-db'], port);
}
