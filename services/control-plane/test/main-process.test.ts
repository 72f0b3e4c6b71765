// The real process: `node dist/src/main.js` configured from TP_* variables, ready line on stdout,
// bootstrap token printed on the first start only, clean exit on SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { configBucketName } from '@turnpike/common';
import { createTestDatabase, freePort, testEnv } from '@turnpike/common/testing';
import { adminClients } from './grpc-client.js';
import { destroyBucket } from './support.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

interface Started {
  proc: ChildProcess;
  ready: Record<string, unknown>;
  lines: Array<Record<string, unknown>>;
}

async function startProcess(env: Record<string, string>): Promise<Started> {
  const proc = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 20 s; stderr: ${stderr}`)), 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready; stderr: ${stderr}`));
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      lines.push(obj);
      if (obj.event === 'ready') {
        clearTimeout(timer);
        resolve(obj);
      }
    });
  });
  return { proc, ready, lines };
}

async function stopProcess(p: Started): Promise<number | null> {
  if (p.proc.exitCode !== null) return p.proc.exitCode;
  return await new Promise((resolve) => {
    const kill = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
    p.proc.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    p.proc.kill('SIGTERM');
  });
}

describe('control-plane process (dist/src/main.js)', { timeout: 90_000 }, () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let nc: NatsConnection;
  const cluster = `t${randomBytes(5).toString('hex')}`;
  const running: Started[] = [];
  before(async () => {
    db = await createTestDatabase('tp_cp_main');
    nc = await connect({ servers: testEnv().natsUrl });
  });
  after(async () => {
    for (const p of running) await stopProcess(p);
    await destroyBucket(nc, configBucketName(cluster));
    await nc?.close();
    await db?.drop();
  });

  it('starts from env, serves REST and gRPC, prints the bootstrap token once, exits 0 on SIGTERM', async () => {
    const env = async (): Promise<Record<string, string>> => ({
      TP_PG_URL: db.url,
      TP_NATS_URL: testEnv().natsUrl,
      TP_CLUSTER: cluster,
      TP_ADMIN_PORT: String(await freePort()),
      TP_GRPC_PORT: String(await freePort()),
      TP_BOOTSTRAP_TOKEN: '',
      TP_CLICKHOUSE_URL: '',
    });
    const first = await startProcess(await env());
    running.push(first);
    const printed = first.lines.filter((l) => l.event === 'bootstrap_token');
    assert.equal(printed.length, 1, 'the bootstrap token is printed exactly once');
    const token = printed[0]!.token as string;
    assert.match(token, /^tpa_[A-Za-z0-9_-]{43}$/);
    const restPort = first.ready.rest_port as number;

    const created = await fetch(`http://127.0.0.1:${restPort}/v1/upstreams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'proc-up', targets: [{ host: 'h', port: 1 }] }),
    });
    assert.equal(created.status, 201);
    const clients = adminClients(first.ready.grpc_port as number, token);
    try {
      const list = await clients.upstreams('ListUpstreams', {});
      assert.deepEqual((list.data as Array<{ name: string }>).map((u) => u.name), ['proc-up']);
    } finally {
      clients.close();
    }
    assert.equal(await stopProcess(first), 0);

    // A second start against the same database prints nothing about the token; the old one still works.
    const second = await startProcess(await env());
    running.push(second);
    assert.ok(!second.lines.some((l) => l.event === 'bootstrap_token'));
    const res = await fetch(`http://127.0.0.1:${second.ready.rest_port as number}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(await stopProcess(second), 0);
  });
});
