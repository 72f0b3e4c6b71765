// Test support shared by every package's integration suites: the real servers started by
// infra/local/up.sh (addresses in env), private databases, private nats-servers for fault tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { freePortOn } from '../free-port.js';
import { reservedTestPort } from './test-ports.js';

export interface TestEnv {
  /** Superuser URL of the PostgreSQL started by infra/local (database `postgres`). */
  pgUrl: string;
  natsUrl: string;
  /** ClickHouse HTTP interface, e.g. http://127.0.0.1:58123 */
  clickhouseUrl: string;
}

/** Addresses of the shared test servers, from the env written by infra/local/up.sh. */
export function testEnv(): TestEnv {
  const need = (k: string): string => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set: run the suite through \`pnpm test\` (it starts infra/local)`);
    return v;
  };
  return { pgUrl: need('TP_TEST_PG_URL'), natsUrl: need('TP_TEST_NATS_URL'), clickhouseUrl: need('TP_TEST_CLICKHOUSE_URL') };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Creates an empty database on the test server; returns its URL and a drop function. */
export async function createTestDatabase(prefix = 'tp_test'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const { pgUrl } = testEnv();
  const name = uniqueName(prefix);
  const admin = postgres(pgUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      const a = postgres(pgUrl, { max: 1, onnotice: () => undefined });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Ports freePort has handed out in this process: the kernel may offer a just-closed one again. */
const handedOut = new Set<number>();

/**
 * A loopback port free now, for a test server or a child process to bind later: reserved machine-wide below
 * the ephemeral range (test-ports.ts), or where that range is unusable, the kernel's choice, never one
 * handed out before by this process (two calls in a row once returned the same port).
 */
export async function freePort(): Promise<number> {
  const reserved = await reservedTestPort();
  if (reserved !== null) return reserved;
  for (;;) {
    const port = await freePortOn('127.0.0.1');
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface PrivateNats {
  url: string;
  port: number;
  storeDir: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and store (after stop). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A nats-server with JetStream of the test's own, for fault tests that stop and restart NATS without
 * disturbing the shared one. Uses the Debian nats-server that infra/local installs.
 */
export async function startPrivateNats(): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tp-nats-'));
  let proc: ChildProcess | null = null;
  const url = `nats://127.0.0.1:${port}`;
  const start = async (): Promise<void> => {
    proc = spawn(process.env.TP_NATS_SERVER_BIN ?? 'nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
    });
    await waitFor(`nats-server on ${port}`, async () => await canConnect(port), 10_000, 50);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await start();
  return {
    url,
    port,
    storeDir,
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
export { TestCa, type Issued } from './test-ca.js';
export { TcpRelay } from './tcp-relay.js';
export { hourlyRollupsSql } from './rollups.js';
