import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID as uuid } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessConfigBus, entityKey, type EntityKind } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { ConfigManager } from './manager.js';
import { loadLastKnownGood, lkgPath } from './last-known-good.js';
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
  const up = uuid();
  const svc = uuid();
  const put = (kind: EntityKind, revision: number, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }));
  await put('upstreams', 1, { id: up, name: 'u', targets: [{ host: '127.0.0.1', port: 9 }] });
  await put('services', 2, { id: svc, name: 's', upstream_id: up });
  await put('routes', 3, { id: uuid(), name: 'r', service_id: svc, paths: ['/a'] });
  return { svc };
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const envelope = (kind: EntityKind, revision: number, data: Record<string, unknown>): [string, string] => [
  entityKey(kind, data.id as string),
  JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }),
];
function restoredManager(dataDir: string): ConfigManager {
  return new ConfigManager({
    dataDir,
    poolFor: (o, t) => ({ key: PoolRegistry.key(o, { connectTimeoutMs: t }), dispatcher: pools.get(o, { connectTimeoutMs: t }) }),
  });
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
      await bus.put(entityKey('routes', uuid()), JSON.stringify({ kind: 'routes', revision: 10 + i, data: { id: 'x', name: 'r', service_id: svc, paths: ['/x'], created_at: now, updated_at: now } }));
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
  test('last-known-good is written from what the node keeps; a restart from it serves keys and still reports rejections', async () => {
    const bus = new InProcessConfigBus();
    await seed(bus);
    const consumer = uuid();
    const badRoute = uuid();
    for (const [k, v] of [
      envelope('consumers', 4, { id: consumer, username: 'alice', custom_id: 'c-1', tags: ['t'] }),
      envelope('keys', 5, { id: uuid(), consumer_id: consumer, key_sha256: sha('alice-key-0123456789') }),
      envelope('routes', 6, { id: badRoute, name: 'bad', service_id: uuid(), paths: ['/bad'] }),
    ]) {
      await bus.put(k, v);
    }
    await bus.put('meta.revision', JSON.stringify({ revision: 6 }));
    const { m, dataDir } = manager();
    await bus.watch(m.newWatchSession());
    await m.whenLoaded();
    assert.equal(m.snapshot?.rejected.length, 1);
    m.close();

    const file = JSON.parse(readFileSync(lkgPath(dataDir), 'utf8')) as { format: number; revision: number; entries: Record<string, string> };
    assert.equal(file.format, 2);
    assert.equal(file.revision, 6);
    assert.equal(Object.keys(file.entries).length, 7, 'every entity and meta.revision');
    assert.deepEqual(JSON.parse(file.entries[entityKey('consumers', consumer)]!), { kind: 'consumers', revision: 4, data: { id: consumer, username: 'alice' } });

    const restored = restoredManager(dataDir);
    assert.equal(restored.loadLastKnownGood(), true);
    const snap = restored.snapshot!;
    assert.equal(snap.revision, 6);
    assert.equal(snap.keys.get(sha('alice-key-0123456789'))?.username, 'alice');
    assert.deepEqual(snap.counts, { upstreams: 1, services: 1, routes: 1, consumers: 1, keys: 1 });
    assert.deepEqual(snap.rejected.map((r) => r.key), [entityKey('routes', badRoute)], 'the rejected route is reported again');

    // The bus then delivers the same config: the consumer's full envelope replaces the reduced one.
    await bus.watch(restored.newWatchSession());
    await waitFor('from kv', () => restored.source === 'kv');
    assert.equal(restored.snapshot?.keys.get(sha('alice-key-0123456789'))?.username, 'alice');
    restored.close();
  });

  test('a last-known-good file of the earlier format (every envelope as delivered) still loads', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-mgr-'));
    dirs.push(dataDir);
    const consumer = uuid();
    const entries = Object.fromEntries([
      envelope('consumers', 1, { id: consumer, username: 'old' }),
      envelope('keys', 2, { id: uuid(), consumer_id: consumer, key_sha256: sha('old-key-0123456789') }),
    ]);
    writeFileSync(lkgPath(dataDir), JSON.stringify({ revision: 2, saved_at: now, entries }));
    const m = restoredManager(dataDir);
    assert.equal(m.loadLastKnownGood(), true);
    assert.equal(m.snapshot?.keys.get(sha('old-key-0123456789'))?.username, 'old');
    assert.equal(m.snapshot?.rejected.length, 0);
  });

  test('last-known-good loaded during a delivery keeps what the delivery brought; its end removes what it did not', async () => {
    const bus = new InProcessConfigBus();
    const consumer = uuid();
    const gone = uuid();
    for (const [k, v] of [
      envelope('consumers', 1, { id: consumer, username: 'lkg-name' }),
      envelope('consumers', 2, { id: gone, username: 'gone' }),
    ]) {
      await bus.put(k, v);
    }
    const { m, dataDir } = manager();
    await bus.watch(m.newWatchSession());
    await m.whenLoaded();
    m.close();

    const n = restoredManager(dataDir);
    const session = n.newWatchSession();
    const [ck, cv] = envelope('consumers', 3, { id: consumer, username: 'bus-name' });
    session.onEvent({ op: 'put', key: ck, value: cv, revision: 1 });
    assert.equal(n.loadLastKnownGood(), true);
    assert.equal(n.source, 'lkg');
    assert.equal(n.snapshot?.counts.consumers, 2);
    session.onEvent({ op: 'put', key: 'meta.revision', value: JSON.stringify({ revision: 3 }), revision: 2 });
    session.onInitialDone();
    assert.equal(n.source, 'kv');
    assert.equal(n.snapshot?.counts.consumers, 1, 'the consumer the bus no longer has is gone');
    assert.equal(n.snapshot?.revision, 3);
    n.close();
    const file = loadLastKnownGood(dataDir)!;
    assert.equal(JSON.parse(file.entries[ck]!).data.username, 'bus-name');
    assert.equal(file.entries[entityKey('consumers', gone)], undefined);
  });
});
