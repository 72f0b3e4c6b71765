// Docker HEALTHCHECK of the turnpike image, for every role: finds the `turnpike <subcommand>` process in this
// container and asks it the question that fits it. Exit 0 healthy, 1 not. Reads the container's TP_* env,
// as the process does (docs/configuration.md).
//   gateway, up     GET /readyz on the status port (200 once the node serves a config, 503 while it drains)
//   control-plane   GET /healthz on the REST admin port
//   ingester        (no port of its own) its ClickHouse answers /ping: without it nothing is ingested
//   anything else   a one-shot command (apply, export …): healthy while it runs
import { readdirSync, readFileSync } from 'node:fs';

const env = process.env;
const BIN = 'services/cli/dist/src/bin.js';

/** The subcommand of the turnpike process in this container (PID 1, or the child of an init such as tini). */
function subcommand() {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    if (pid === process.pid) continue;
    let argv;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const i = argv.findIndex((a) => a.endsWith(BIN));
    if (i >= 0) return argv.slice(i + 1).find((a) => a !== '' && !a.startsWith('-')) ?? '';
  }
  return null;
}

/** A listen address as a client reaches it: the wildcard ones through loopback. */
const reach = (host) => (!host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host);

function target(cmd) {
  switch (cmd) {
    case 'gateway':
    case 'up':
      return `http://${reach(env.TP_PROXY_HOST)}:${env.TP_STATUS_PORT || 8100}/readyz`;
    case 'control-plane':
      return `http://${reach(env.TP_ADMIN_HOST || '127.0.0.1')}:${env.TP_ADMIN_PORT || 8001}/healthz`;
    case 'ingester': {
      if (!env.TP_CLICKHOUSE_URL) return null;
      const u = new URL(env.TP_CLICKHOUSE_URL);
      u.pathname = '/ping';
      u.username = '';
      u.password = '';
      return u.toString();
    }
    default:
      return null;
  }
}

const cmd = subcommand();
if (cmd === null) {
  console.error('no turnpike process in this container');
  process.exit(1);
}
const url = target(cmd);
if (url === null) process.exit(0);
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_500) });
  const body = (await res.text()).slice(0, 300);
  if (res.status !== 200) {
    console.error(`${cmd}: ${url} answered ${res.status} ${body}`);
    process.exit(1);
  }
  console.log(`${cmd}: ${url} ok`);
} catch (e) {
  console.error(`${cmd}: ${url}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
