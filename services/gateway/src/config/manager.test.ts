import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessConfigBus, entityKey, type EntityKind } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { ConfigManager } from './manager.js';
import { loadLastKnownGood } from './last-known-good.js';
import { PoolRegistry } from '../upstream/pools.js';
import type { Snapshot } from './compiler.js';

const now = new Date().toISOString();
const pools = new PoolRegistry();
const dirs: string[] = [];

function manager(onSwap?: (s: Snapshot) => void): { m: ConfigManager; dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-mgr-'));
  dirs.push(dataDir);
  const m = new ConfigManager({
    dataDir,
    poolFor: (origin, connectTimeoutMs) => ({ key: PoolRegistry.key(origin, { connectTimeoutMs }), dispatcher: pools.get(origin, { connectTimeoutMs }) }),
    onSwap,
  });
  return { m, dataDir };
}

async function seed(bus: InProcessConfigBus): Promise<{ svc: string }> {
  const up = randomUUID();
  const svc = randomUUID();
  const put = (kind: EntityKind, revision: number, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }));
  await put('upstreams', 1, { id: up, name: 'u', targets: [{ host: '127.0.0.1', port: 9 }] });
  await put('services', 2, { id: svc, name: 's', upstream_id: up });
  await put('routes', 3, { id: randomUUID(), name: 'r', service_id: svc, paths: ['/a'] });
  return { svc };
}

describe('ConfigManager', { timeout: 10_000 }, () => {
  after(async () => {
    await pools.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('initial values compile once, are persisted as last-known-good, and a new node can start from them', async () => {
    const bus = new InProcessConfigBus();
    await seed(bus);
    let swaps = 0;
    const { m, dataDir } = manager(() => swaps++);
    await bus.watch(m.newWatchSession());
    await m.whenLoaded();
    assert.equal(swaps, 1);
    assert.equal(m.source, 'kv');
    assert.equal(m.snapshot?.revision, 3);
    assert.equal(loadLastKnownGood(dataDir)?.revision, 3);

    const restored = new ConfigManager({
      dataDir,
      poolFor: (o, t) => ({ key: PoolRegistry.key(o, { connectTimeoutMs: t }), dispatcher: pools.get(o, { connectTimeoutMs: t }) }),
    });
    assert.equal(restored.loadLastKnownGood(), true);
    assert.equal(restored.source, 'lkg');
    assert.equal(restored.snapshot?.router.match('GET', '', '/a/b')?.value.service.upstream?.readTimeoutMs, 60_000);
    m.close();
  });

  test('a burst of live changes is debounced into one compile', async () => {
    const bus = new InProcessConfigBus();
    const { svc } = await seed(bus);
    let swaps = 0;
    const { m } = manager(() => swaps++);
    await bus.watch(m.newWatchSession());
    await m.whenLoaded();
    for (let i = 0; i < 20; i++) {
      await bus.put(entityKey('routes', randomUUID()), JSON.stringify({ kind: 'routes', revision: 10 + i, data: { id: 'x', name: 'r', service_id: svc, paths: ['/x'], created_at: now, updated_at: now } }));
    }
    await waitFor('recompile', () => m.snapshot?.revision === 29);
    assert.equal(swaps, 2, 'one initial compile and one for the burst');
    assert.equal(m.snapshot?.rejected.length, 20, 'ids do not match their keys');
    m.close();
  });

  test('a newer watch session replaces everything; an empty bucket does not wipe a loaded config', async () => {
    const bus = new InProcessConfigBus();
    await seed(bus);
    const { m } = manager();
    const old = m.newWatchSession();
    await bus.watch(old);
    await m.whenLoaded();
    assert.equal(m.snapshot?.counts.routes, 1);

    const empty = new InProcessConfigBus();
    await empty.watch(m.newWatchSession());
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(m.snapshot?.counts.routes, 1, 'kept');

    const fresh = new InProcessConfigBus();
    await fresh.put('meta.revision', JSON.stringify({ revision: 50 }));
    await fresh.watch(m.newWatchSession());
    await waitFor('replaced', () => m.snapshot?.revision === 50);
    assert.equal(m.snapshot?.counts.routes, 0);
    // Events of the superseded session are ignored.
    await seed(bus);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(m.snapshot?.counts.routes, 0);
    m.close();
  });
});
