// TP_NATS_URL as a list of a NATS cluster's servers, through the real gateway process: with a dead server
// listed first the node still connects to the live one and follows its config bucket; an empty entry stops
// the node at start-up with a message naming TP_NATS_URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, configBucketName, entityKey } from '@turnpike/common';
import { freePort, startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

describe('gateway with TP_NATS_URL listing several servers', { timeout: 40_000 }, () => {
  const cluster = `gwlist_${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-list-'));
  let nats: PrivateNats;
  let nc: NatsConnection;
  const procs: ChildProcess[] = [];

  /** Starts `gateway` with `natsUrl`; its output lines, and a promise of its exit code. */
  const startNode = async (natsUrl: string, name = 'gw-list'): Promise<{ proc: ChildProcess; lines: string[]; exited: Promise<number | null>; statusPort: number }> => {
    const [proxyPort, statusPort] = [await freePort(), await freePort()];
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        TP_NATS_URL: natsUrl,
        TP_CLUSTER: cluster,
        TP_NODE_ID: name,
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(proxyPort),
        TP_STATUS_PORT: String(statusPort),
        TP_HTTPS_PORT: '-1',
        TP_WORKERS: '1',
        TP_DATA_DIR: join(dataDir, name),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(proc);
    const lines: string[] = [];
    let buf = '';
    const take = (d: Buffer): void => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    };
    proc.stdout!.on('data', take);
    proc.stderr!.on('data', take);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    return { proc, lines, exited, statusPort };
  };

  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url });
  });

  after(async () => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      }
    }
    await nc?.close();
    await nats?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a dead server in the list, first or last: the node connects to the live one and follows its config bucket', async () => {
    const dead = `nats://127.0.0.1:${await freePort()}`;
    // Given the whole list as one string, nats.js keeps only the last server: a dead one last never connects.
    const nodes = await Promise.all([startNode(`${dead}, ${nats.url}`, 'gw-dead-first'), startNode(`${nats.url},${dead}`, 'gw-dead-last')]);
    const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    const now = new Date().toISOString();
    const id = randomUUID();
    await bus.put(
      entityKey('upstreams', id),
      JSON.stringify({ kind: 'upstreams', revision: 5, data: { id, name: 'listed', scheme: 'http', targets: [{ host: '127.0.0.1', port: 1, weight: 100 }], tags: [], created_at: now, updated_at: now } }),
    );
    for (const node of nodes) {
      await waitFor('the node applies the bucket\'s config', async () => {
        const r = await request(`http://127.0.0.1:${node.statusPort}/readyz`);
        const body = (await r.body.json()) as { revision?: number };
        return r.statusCode === 200 && (body.revision ?? 0) >= 5;
      }, 15_000, 100).catch((e: Error) => {
        throw new Error(`${e.message}\n${node.lines.slice(-20).join('\n')}`);
      });
      const connected = node.lines.map((l) => l.trim()).filter((l) => l.includes('"nats.connected"'));
      assert.ok(connected.some((l) => l.includes(`127.0.0.1:${nats.port}`)), `connected to the live server: ${connected.join('\n')}`);
      const metrics = await (await request(`http://127.0.0.1:${node.statusPort}/metrics`)).body.text();
      assert.match(metrics, /^turnpike_gateway_nats_connected 1$/m);
    }
  });

  test('an empty entry stops the node at start-up, naming TP_NATS_URL', async () => {
    const node = await startNode(`${nats.url},,nats://127.0.0.1:4222`);
    const code = await Promise.race([node.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
    assert.equal(code, 1, node.lines.join('\n'));
    assert.ok(node.lines.some((l) => l.includes('gateway.start_failed') && l.includes('TP_NATS_URL: entry 2')), node.lines.join('\n'));
  });
});
