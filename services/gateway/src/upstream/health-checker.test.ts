import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthChecker, type ActiveCheckPolicy } from './health-checker.js';
import { TargetHealth } from './target-health.js';

const policy = (over: Partial<ActiveCheckPolicy> = {}): ActiveCheckPolicy => ({
  path: '/health',
  interval_ms: 1_000,
  timeout_ms: 300,
  healthy: { successes: 2, http_statuses: [200] },
  unhealthy: { failures: 2, timeouts: 1, http_statuses: [500, 503] },
  ...over,
});

test('health checker counters: consecutive failures mark unhealthy, consecutive successes healthy; neutral statuses count for neither', () => {
  const c = new HealthChecker('http://127.0.0.1:1', policy());
  const t = new TargetHealth(null, null);
  c.subscribe(t);
  c.record('failure');
  c.record('success');
  c.record('failure');
  assert.equal(c.healthy, true, 'a success between failures resets the count');
  c.record('failure');
  assert.equal(c.healthy, false);
  assert.equal(t.available, false, 'subscribers follow');
  c.record('success');
  c.record('neutral');
  assert.equal(c.healthy, false);
  c.record('success');
  assert.equal(c.healthy, true);
  assert.equal(t.available, true);
  c.record('timeout');
  assert.equal(c.healthy, false, 'one timeout is enough with unhealthy.timeouts 1');
});

test('health checker probes a real server: taken out when /health fails, back when it recovers; stop() ends probing', async () => {
  let status = 200;
  let probes = 0;
  const server = createServer((req, res) => {
    if (req.url === '/health') probes++;
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const c = new HealthChecker(`http://127.0.0.1:${port}`, policy({ healthy: { successes: 1, http_statuses: [200] }, unhealthy: { failures: 1, timeouts: 1, http_statuses: [503] } }));
  const t = new TargetHealth(null, null);
  c.subscribe(t);
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    c.start();
    await until(() => probes >= 1, 'first probe');
    assert.equal(t.available, true);
    status = 503;
    await until(() => !t.available, 'ejected after a 503');
    status = 200;
    await until(() => t.available, 'back after a 200');
    c.stop();
    const after = probes;
    await new Promise((r) => setTimeout(r, 1_300));
    assert.equal(probes, after, 'no probe after stop()');
  } finally {
    c.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('health checker: a probe that outlasts timeout_ms counts as a timeout; a refused connection as a failure', async () => {
  const server = createServer(() => undefined); // never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const slow = new HealthChecker(`http://127.0.0.1:${port}`, policy({ timeout_ms: 100 }));
  const tSlow = new TargetHealth(null, null);
  slow.subscribe(tSlow);
  // A port with nothing listening: the server's, once closed.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dead = new HealthChecker(`http://127.0.0.1:${deadPort}`, policy({ unhealthy: { failures: 1, timeouts: 1, http_statuses: [] } }));
  const tDead = new TargetHealth(null, null);
  dead.subscribe(tDead);
  try {
    slow.start();
    dead.start();
    const deadline = Date.now() + 3_000;
    while ((tSlow.available || tDead.available) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(tSlow.available, false, 'timed out');
    assert.equal(tDead.available, false, 'connection refused');
  } finally {
    slow.stop();
    dead.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
