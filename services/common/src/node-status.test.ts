import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessHeartbeatChannel, nodeHeartbeatSubject, parseHeartbeat, type NodeHeartbeat } from './node-status.js';

const hb: NodeHeartbeat = {
  node_id: 'gw-1',
  cluster: 'prod',
  hostname: 'h1',
  pid: 42,
  version: '0.1.0',
  started_at: 1_700_000_000_000,
  ts: 1_700_000_002_000,
  revision: 17,
  source: 'lkg',
  ready: true,
  bus_connected: false,
  in_flight: 3,
  requests_total: 1_000,
  interval_ms: 2_000,
};

test('heartbeats of a cluster go to turnpike.nodes.<cluster>.heartbeat', () => {
  assert.equal(nodeHeartbeatSubject('prod'), 'turnpike.nodes.prod.heartbeat');
});

test('a well-formed heartbeat parses to itself, unknown fields dropped', () => {
  assert.deepEqual(parseHeartbeat(JSON.parse(JSON.stringify({ ...hb, extra: 'x' }))), hb);
});

test('a malformed heartbeat is refused', () => {
  for (const bad of [null, 'x', {}, { ...hb, source: 'disk' }, { ...hb, revision: -1 }, { ...hb, ready: 'yes' }, { ...hb, node_id: '' }, { ...hb, ts: Number.NaN }]) {
    assert.equal(parseHeartbeat(bad), null, JSON.stringify(bad));
  }
});

test('the in-process channel delivers copies, after publish returns, to every subscriber until it stops', async () => {
  const ch = new InProcessHeartbeatChannel();
  const a: NodeHeartbeat[] = [];
  const b: NodeHeartbeat[] = [];
  const subA = ch.subscribe((x) => a.push(x));
  ch.subscribe((x) => {
    b.push(x);
    throw new Error('a failing subscriber does not stop the others');
  });
  const sent = { ...hb };
  ch.publish(sent);
  assert.equal(a.length, 0, 'not delivered inside publish');
  sent.revision = 99;
  await new Promise((r) => setImmediate(r));
  assert.equal(a[0]!.revision, 17);
  assert.equal(b.length, 1);
  subA.stop();
  ch.publish(hb);
  await new Promise((r) => setImmediate(r));
  assert.equal(a.length, 1);
  assert.equal(b.length, 2);
});
