import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessHeartbeatChannel, type NodeHeartbeat } from '@turnpike/common';
import { NodeRegistry } from './node-registry.js';

function hb(over: Partial<NodeHeartbeat> = {}): NodeHeartbeat {
  return {
    node_id: 'gw-a',
    cluster: 'c1',
    hostname: 'host-a',
    pid: 10,
    version: '0.1.0',
    started_at: 1_000,
    ts: 5_000,
    revision: 4,
    source: 'kv',
    ready: true,
    bus_connected: true,
    in_flight: 0,
    requests_total: 12,
    interval_ms: 2_000,
    ...over,
  };
}

function clocked(): { reg: NodeRegistry; at: (t: number) => void } {
  let t = 100_000;
  return { reg: new NodeRegistry({ now: () => t }), at: (v) => void (t = v) };
}

const statusOf = (reg: NodeRegistry, id = 'gw-a'): string | undefined => reg.list().find((n) => n.node_id === id)?.status;

test('a ready node is healthy while it beats, unready after three missed beats, stale after 10 s, gone after 5 min', () => {
  const { reg, at } = clocked();
  reg.record(hb());
  assert.equal(statusOf(reg), 'healthy');
  at(106_000);
  assert.equal(statusOf(reg), 'healthy', 'exactly three intervals is still healthy');
  at(106_001);
  assert.equal(statusOf(reg), 'unready');
  at(110_000);
  assert.equal(statusOf(reg), 'unready');
  at(110_001);
  assert.equal(statusOf(reg), 'stale');
  at(100_000 + 300_000);
  assert.equal(statusOf(reg), 'stale');
  at(100_000 + 300_001);
  assert.deepEqual(reg.list(), []);
});

test('a node that reports ready:false is unready at once, and a new beat makes it healthy again', () => {
  const { reg, at } = clocked();
  reg.record(hb());
  at(100_500);
  reg.record(hb({ ready: false, ts: 5_500 }));
  assert.equal(statusOf(reg), 'unready');
  const n = reg.list()[0]!;
  assert.equal(n.ready, false);
  assert.equal(n.last_heartbeat, 100_500, 'last_heartbeat is the control plane clock, not the node one');
  reg.record(hb({ ts: 6_000, revision: 9 }));
  assert.equal(statusOf(reg), 'healthy');
  assert.equal(reg.list()[0]!.revision, 9);
});

test('a slow-beating node gets three of its own intervals before it is stale', () => {
  const { reg, at } = clocked();
  reg.record(hb({ interval_ms: 5_000 }));
  at(114_000);
  assert.equal(statusOf(reg), 'healthy');
  at(115_001);
  assert.equal(statusOf(reg), 'stale');
});

test('an older beat of the same process run never replaces a newer one; a restarted process always does', () => {
  const { reg } = clocked();
  reg.record(hb({ ts: 5_000, revision: 5 }));
  reg.record(hb({ ts: 4_000, revision: 3 }));
  assert.equal(reg.list()[0]!.revision, 5);
  reg.record(hb({ started_at: 2_000, ts: 1_500, revision: 2 }));
  assert.equal(reg.list()[0]!.revision, 2);
});

test('nodes are listed by id and followed through a channel until unsubscribed', async () => {
  const { reg } = clocked();
  const ch = new InProcessHeartbeatChannel();
  const sub = reg.follow(ch);
  ch.publish(hb({ node_id: 'gw-b' }));
  ch.publish(hb({ node_id: 'gw-a' }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    reg.list().map((n) => n.node_id),
    ['gw-a', 'gw-b'],
  );
  sub.stop();
  ch.publish(hb({ node_id: 'gw-c' }));
  await new Promise((r) => setImmediate(r));
  assert.equal(reg.list().length, 2);
});
