// nginx (Debian's /usr/sbin/nginx) as the load balancer in front of gateway nodes on loopback, from
// infra/lb/nginx.conf.tmpl (passive failure detection, proxy_next_upstream retries).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './process.js';
import type { GatewayBackend } from './haproxy.js';
import { startForeground, type Foreground } from './foreground.js';

export const NGINX_BIN = process.env.TP_NGINX_BIN ?? '/usr/sbin/nginx';

export function nginxLbConfig(prefix: string, port: number, backends: readonly GatewayBackend[]): string {
  const template = readFileSync(join(REPO_ROOT, 'infra/lb/nginx.conf.tmpl'), 'utf8');
  const servers = backends.map((b) => `    server 127.0.0.1:${b.proxyPort} max_fails=1 fail_timeout=5s;`).join('\n');
  // As root the workers stay root, so that they can use the prefix's temp directories.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return template.replaceAll('{{PREFIX}}', prefix).replace('{{USER}}', user).replace('{{BIND}}', `127.0.0.1:${port}`).replace('{{SERVERS}}', servers);
}

/** nginx in the foreground on `port`; resolves once it accepts connections. Same handle shape as startHaproxy. */
export async function startNginxLb(dir: string, port: number, backends: readonly GatewayBackend[]): Promise<Foreground> {
  const prefix = join(dir, 'nginx-lb');
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxLbConfig(prefix, port, backends));
  return startForeground('nginx', NGINX_BIN, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf, '-g', 'daemon off;'], port);
}
