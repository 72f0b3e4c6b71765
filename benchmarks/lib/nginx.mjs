// The two nginx instances of a run, each with its own prefix, pid, logs and temp paths under the run's
// temp dir: the upstream (a fixed ~100-byte body) and the baseline reverse proxy in front of it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess } from './processes.mjs';
import { waitForHttp } from './http-check.mjs';

export const NGINX_BIN = process.env.BENCH_NGINX_BIN ?? '/usr/sbin/nginx';

/** What the upstream answers: 100 bytes, so that header work dominates as it does for small API calls. */
export const UPSTREAM_BODY = 'ok' + '.'.repeat(97) + '\n';

/**
 * Settings both instances share. One worker: the proxy gets one core, as the Turnpike node does.
 * `keepalive_requests` is raised so that wrk's connections are never closed mid-run (the 1.22 default of
 * 1000 would reconnect every connection every few seconds and add connect cost to whichever target runs
 * faster). As root, workers stay root so they can use the 0700 temp dir.
 * @param {string} prefix
 */
function head(prefix) {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; }
`;
}

/** @param {string} prefix */
function httpCommon(prefix) {
  return `  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
`;
}

/** @param {string} prefix @param {number} port */
export function upstreamConf(prefix, port) {
  return `${head(prefix)}http {
${httpCommon(prefix)}  server {
    listen 127.0.0.1:${port};
    location / {
      default_type text/plain;
      return 200 ${JSON.stringify(UPSTREAM_BODY)};
    }
  }
}
`;
}

/** @param {string} prefix @param {number} port @param {number} upstreamPort */
export function proxyConf(prefix, port, upstreamPort) {
  return `${head(prefix)}http {
${httpCommon(prefix)}  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/**
 * Writes `conf` into `<dir>/nginx.conf` and runs nginx in the foreground on it; resolves once `url`
 * answers 200.
 * @param {{ name: string, dir: string, conf: string, url: string, cpu: string | null }} o
 */
export async function startNginx(o) {
  mkdirSync(o.dir, { recursive: true });
  const confPath = join(o.dir, 'nginx.conf');
  writeFileSync(confPath, o.conf);
  // -e: the start-up error log goes to the prefix too, never to /var/log/nginx.
  const proc = startProcess(o.name, NGINX_BIN, ['-p', o.dir, '-e', join(o.dir, 'error.log'), '-c', confPath, '-g', 'daemon off;'], {
    cpu: o.cpu,
  });
  await waitForHttp(o.name, proc, o.url, {});
  return proc;
}
