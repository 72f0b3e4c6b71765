// A whole Turnpike installation of real processes for end-to-end suites: a private NATS server, a fresh
// PostgreSQL database, the control plane (with a bootstrap admin token), the ingester, one gateway node
// (`node-a`), a ClickHouse database of its own and an echo upstream. close() stops and drops all of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { createTestDatabase, freePort, startPrivateNats, testEnv, uniqueName, type PrivateNats, type TestEnv } from '@turnpike/common/testing';
import { startProcess, type Running } from './process.js';
import { AdminClient } from './admin-client.js';
import { startEchoUpstream, type EchoUpstream } from './upstream.js';

export interface StackOptions {
  /** Point the portal's "try it" at the node's proxy (TP_PORTAL_GATEWAY_URL). */
  portalGatewayUrl?: boolean;
}

export interface Stack {
  env: TestEnv;
  /** The control plane's bootstrap admin token. */
  token: string;
  /** The ClickHouse database the ingester writes to and the analytics API reads. */
  chDatabase: string;
  nats: PrivateNats;
  upstream: EchoUpstream;
  controlPlane: Running;
  ingester: Running;
  /** Replaced by restartGateway(). */
  gateway: Running;
  /** The admin API's origin (`http://127.0.0.1:<port>`), which also serves /console and /portal. */
  base: string;
  /** The gateway node's proxy origin. */
  proxy: string;
  admin: AdminClient;
  /** Stops the node (SIGTERM; resolves with its exit code) and starts it again with the same settings. */
  restartGateway(): Promise<number | null>;
  close(): Promise<void>;
}

/** `name` tells this suite's cluster, databases and temporary directory apart from other suites'. */
export async function startStack(name: string, opts: StackOptions = {}): Promise<Stack> {
  const env = testEnv();
  const cluster = uniqueName(name);
  const chDatabase = uniqueName(`tp_${name}`);
  const token = `tpa_${randomBytes(24).toString('base64url')}`;
  const dataDir = mkdtempSync(join(tmpdir(), `tp-${name}-gw-`));
  let nats: PrivateNats | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let upstream: EchoUpstream | undefined;
  const processes = new Set<Running>();
  // Each process is recorded as soon as it is ready, so that a failed start of another still stops it.
  const start = async (args: string[], processEnv: Record<string, string>) => {
    const p = await startProcess(args, processEnv);
    processes.add(p);
    return p;
  };

  // Also what a failed start runs: whatever did start is stopped and dropped.
  const close = async () => {
    await Promise.all([...processes].map((p) => p.stop()));
    await Promise.all([nats?.destroy(), db?.drop(), upstream?.close()]);
    await request(`${env.clickhouseUrl}/?query=${encodeURIComponent(`DROP DATABASE IF EXISTS ${chDatabase}`)}`, { method: 'POST' })
      .then((r) => r.body.text())
      .catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    // Each also assigned on its own, so that close() finds those that did start when another failed.
    const [natsServer, database, echo] = await Promise.all([
      startPrivateNats().then((n) => (nats = n)),
      createTestDatabase(`tp_${name}`).then((d) => (db = d)),
      startEchoUpstream(`${name}-echo`).then((u) => (upstream = u)),
    ]);
    const [adminPort, grpcPort, proxyPort, statusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const proxy = `http://127.0.0.1:${proxyPort}`;
    const common = { TP_NATS_URL: natsServer.url, TP_CLUSTER: cluster, TP_CLICKHOUSE_URL: env.clickhouseUrl, TP_CLICKHOUSE_DATABASE: chDatabase };
    const cpEnv = { ...common, TP_PG_URL: database.url, TP_ADMIN_PORT: `${adminPort}`, TP_GRPC_PORT: `${grpcPort}`, TP_BOOTSTRAP_TOKEN: token, ...(opts.portalGatewayUrl ? { TP_PORTAL_GATEWAY_URL: proxy } : {}) };
    const gatewayEnv = { ...common, TP_NODE_ID: 'node-a', TP_PROXY_HOST: '127.0.0.1', TP_PROXY_PORT: `${proxyPort}`, TP_STATUS_PORT: `${statusPort}`, TP_DATA_DIR: dataDir };
    const [controlPlane, ingester] = await Promise.all([start(['control-plane'], cpEnv), start(['ingester'], common)]);
    const gateway = await start(['gateway'], gatewayEnv);
    const base = `http://127.0.0.1:${adminPort}`;
    const stack: Stack = {
      env,
      token,
      chDatabase,
      nats: natsServer,
      upstream: echo,
      controlPlane,
      ingester,
      gateway,
      base,
      proxy,
      admin: new AdminClient(base, token),
      async restartGateway() {
        const code = await stack.gateway.stop('SIGTERM');
        processes.delete(stack.gateway);
        stack.gateway = await start(['gateway'], gatewayEnv);
        return code;
      },
      close,
    };
    return stack;
  } catch (err) {
    await close();
    throw err;
  }
}
