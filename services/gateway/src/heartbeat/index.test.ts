import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessHeartbeatChannel, type NodeHeartbeat } from '@turnpike/common';
import { HeartbeatReporter } from './index.js';

const state = {
  node_id: 'n1',
  cluster: 'c',
  hostname: 'h',
  pid: 1,
  version: '0.1.0',
  started_at: 1,
  revision: 7,
  source: 'kv' as const,
  ready: true,
  bus_connected: true,
  in_flight: 0,
  requests_total: 3,
};

test('beats on its timer and on demand, then once with ready:false on stop, and then never again', { timeout: 5_000 }, async () => {
  const channel = new InProcessHeartbeatChannel();
  const got: NodeHeartbeat[] = [];
  const sub = channel.subscribe((hb) => got.push(hb));
  let revision = 7;
  const r = new HeartbeatReporter({ channel, intervalMs: 20, read: () => ({ ...state, revision }), now: () => 42 });
  // Two beats from the timer (20 ms apart); waited for, not slept for: a loaded CI host delays timers (a fixed
  // 70 ms once saw only one).
  const deadline = Date.now() + 3_000;
  while (got.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  assert.ok(got.length >= 2, `timer beats: ${got.length}`);
  revision = 8;
  r.beat();
  await new Promise((res) => setImmediate(res));
  assert.equal(got.at(-1)!.revision, 8);
  assert.equal(got.at(-1)!.ts, 42);
  assert.equal(got.at(-1)!.interval_ms, 20);
  r.stop();
  await new Promise((res) => setImmediate(res));
  const last = got.at(-1)!;
  assert.equal(last.ready, false);
  assert.equal(last.revision, 8);
  const n = got.length;
  r.beat();
  r.stop();
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(got.length, n, 'nothing after stop');
  sub.stop();
});

test('a failing state reader skips the beat instead of throwing', () => {
  const channel = new InProcessHeartbeatChannel();
  const r = new HeartbeatReporter({
    channel,
    intervalMs: 0,
    read: () => {
      throw new Error('boom');
    },
  });
  assert.doesNotThrow(() => r.beat());
  r.stop();
});
