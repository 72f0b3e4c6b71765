// The cluster view in the `turnpike up` shape: control plane and gateway in one process, sharing an
// in-process config bus and heartbeat channel (the wiring of src/up.ts, over a test database).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessConfigBus, InProcessHeartbeatChannel, type CallRecord } from '@turnpike/common';
import { createTestDatabase, waitFor } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';
import { startGateway, type Gateway } from '@turnpike/gateway';

interface NodeView {
  node_id: string;
  revision: number;
  ready: boolean;
  status: string;
  lag_revisions: number;
  source: string;
}

describe('embedded cluster view (in-process heartbeat channel)', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const heartbeat = new InProcessHeartbeatChannel();
  const token = `tpa_test_${randomBytes(16).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-cv-emb-'));
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let cp: ControlPlane;
  let gw: Gateway | null = null;

  const get = async (path: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${cp.restPort}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const node = async (): Promise<NodeView | undefined> => ((await get('/v1/cluster/nodes')).json.data as NodeView[]).find((n) => n.node_id === 'embedded');

  before(async () => {
    db = await createTestDatabase('tp_cli_cv');
    cp = await startControlPlane({ pgUrl: db.url, bus, restPort: 0, grpcPort: 0, bootstrapToken: token, heartbeat, log: () => undefined });
    const sink = { write: async (_b: CallRecord[]) => undefined, close: async () => undefined };
    gw = await startGateway({ nodeId: 'embedded', bus, logSink: sink, heartbeat, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0 });
  });

  after(async () => {
    await gw?.close();
    await cp?.close();
    await bus.close();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the embedded node is listed healthy at the current revision, and unready once closed', async () => {
    const res = await fetch(`http://127.0.0.1:${cp.restPort}/v1/upstreams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'emb-up', targets: [{ host: '127.0.0.1', port: 9 }] }),
    });
    assert.equal(res.status, 201);
    const revision = (await get('/v1/config/revision')).json.revision as number;
    const n = await waitFor('embedded node at the current revision', async () => {
      const v = await node();
      return v && v.revision === revision ? v : undefined;
    }, 5_000);
    assert.equal(n.status, 'healthy');
    assert.equal(n.lag_revisions, 0);
    assert.equal(n.source, 'kv');

    await gw!.close();
    gw = null;
    const closed = await waitFor('embedded node unready', async () => {
      const v = await node();
      return v && !v.ready ? v : undefined;
    }, 2_000);
    assert.equal(closed.status, 'unready');
  });
});
