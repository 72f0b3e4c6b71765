// The cluster view end to end: a control plane in-process and a real gateway process on one private
// nats-server; the node's heartbeats reach /v1/cluster/nodes (REST) and ClusterService.ListNodes (gRPC).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsHeartbeatChannel, NatsKvConfigBus, configBucketName } from '@turnpike/common';
import { freePort, startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { loadAdminProto } from '../src/grpc/load-proto.js';
import { startHarness, type Harness } from './support.js';

const GATEWAY_MAIN = fileURLToPath(new URL('../../../gateway/dist/src/main.js', import.meta.url));
const NODE_ID = 'gw-cluster-view';

interface NodeView {
  node_id: string;
  hostname: string;
  version: string;
  revision: number;
  source: string;
  ready: boolean;
  status: string;
  last_heartbeat: string;
  lag_revisions: number;
  started_at: string;
}

describe('cluster view: node heartbeats over NATS', { timeout: 90_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let h: Harness;
  let gw: ChildProcess | null = null;
  const gwOutput: string[] = [];
  const cluster = `cv_${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-cv-'));

  const nodes = async (): Promise<{ data: NodeView[]; config_revision: number }> => {
    const r = await h.rest('GET', '/v1/cluster/nodes');
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const node = async (): Promise<NodeView | undefined> => (await nodes()).data.find((n) => n.node_id === NODE_ID);

  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    h = await startHarness({ bus, heartbeat: new NatsHeartbeatChannel(() => nc, cluster) });

    const proxyPort = await freePort();
    const statusPort = await freePort();
    gw = spawn(process.execPath, [GATEWAY_MAIN], {
      env: {
        ...process.env,
        TP_NATS_URL: nats.url,
        TP_CLUSTER: cluster,
        TP_NODE_ID: NODE_ID,
        TP_PROXY_HOST: '127.0.0.1',
        TP_PROXY_PORT: String(proxyPort),
        TP_STATUS_PORT: String(statusPort),
        TP_DATA_DIR: dataDir,
        TP_HEARTBEAT_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gw.stdout!.on('data', (d: Buffer) => gwOutput.push(d.toString()));
    gw.stderr!.on('data', (d: Buffer) => gwOutput.push(d.toString()));
    await waitFor('gateway ready line', () => gwOutput.join('').includes('"event":"ready"'), 15_000);
  });

  after(async () => {
    if (gw && gw.exitCode === null && gw.signalCode === null) {
      const p = gw;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill('SIGKILL');
      });
    }
    await h?.close();
    await nc?.close();
    await nats?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the config revision endpoint reports written and published revisions', async () => {
    const r = await h.rest('GET', '/v1/config/revision');
    assert.equal(r.status, 200);
    const status = (await h.rest('GET', '/v1/status')).json;
    assert.deepEqual(r.json, { revision: status.config_revision, published_revision: status.published_revision });
  });

  it('both endpoints need an admin token', async () => {
    for (const path of ['/v1/cluster/nodes', '/v1/config/revision']) {
      const res = await fetch(`http://127.0.0.1:${h.cp.restPort}${path}`);
      assert.equal(res.status, 401, path);
    }
  });

  it('a new node shows up healthy and follows a route created through REST to the new revision', async () => {
    const first = await waitFor('node in the cluster view', async () => {
      const n = await node();
      return n?.status === 'healthy' ? n : undefined;
    });
    assert.equal(first.ready, true);
    assert.equal(first.source, 'kv');
    assert.match(first.version, /^\d+\.\d+\.\d+/);
    assert.ok(first.hostname.length > 0);
    assert.ok(Date.parse(first.started_at) <= Date.parse(first.last_heartbeat));

    const up = await h.rest('POST', '/v1/upstreams', { name: 'cv-up', targets: [{ host: '127.0.0.1', port: 9 }] });
    assert.equal(up.status, 201, up.text);
    const svc = await h.rest('POST', '/v1/services', { name: 'cv-svc', upstream_id: up.json.id });
    assert.equal(svc.status, 201, svc.text);
    const route = await h.rest('POST', '/v1/routes', { name: 'cv-route', service_id: svc.json.id, paths: ['/cv'] });
    assert.equal(route.status, 201, route.text);
    const written = (await h.rest('GET', '/v1/config/revision')).json.revision as number;
    assert.ok(written >= 3);

    const caughtUp = await waitFor(
      `node at revision ${written}`,
      async () => {
        const view = await nodes();
        const n = view.data.find((x) => x.node_id === NODE_ID);
        return n && n.revision === written && n.lag_revisions === 0 && view.config_revision === written ? n : undefined;
      },
      5_000,
    );
    assert.equal(caughtUp.status, 'healthy');
  });

  it('gRPC ClusterService answers the same as REST', async () => {
    const proto = loadAdminProto();
    const client = new proto.ClusterService(`127.0.0.1:${h.cp.grpcPort}`, grpc.credentials.createInsecure());
    const call = async (method: string): Promise<Record<string, unknown>> => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${h.token}`);
      const fn = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void>)[method]!;
      return await new Promise((resolve, reject) => fn.call(client, {}, md, (e, res) => (e ? reject(e) : resolve(res))));
    };
    try {
      const listed = await call('ListNodes');
      const rest = await nodes();
      const g = (listed.data as NodeView[]).find((n) => n.node_id === NODE_ID);
      const r = rest.data.find((n) => n.node_id === NODE_ID)!;
      assert.ok(g, 'the node is listed over gRPC');
      assert.equal(listed.config_revision, rest.config_revision);
      for (const k of ['node_id', 'hostname', 'version', 'revision', 'source', 'ready', 'status', 'lag_revisions', 'started_at'] as const) assert.equal(g[k], r[k], k);
      const rev = await call('GetConfigRevision');
      assert.deepEqual(rev, (await h.rest('GET', '/v1/config/revision')).json);
    } finally {
      client.close();
    }
  });

  it('a node stopped with SIGTERM reports ready:false on its way out', async () => {
    const p = gw!;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    assert.equal(await exited, 0, gwOutput.join(''));
    const n = await waitFor(
      'node unready',
      async () => {
        const v = await node();
        return v && !v.ready ? v : undefined;
      },
      3_000,
    );
    assert.equal(n.status, 'unready');
  });
});
