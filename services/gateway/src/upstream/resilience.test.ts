import { test } from 'node:test';
import assert from 'node:assert/strict';
import { upstreamPolicies } from '@turnpike/common';
import { ResilienceRegistry, failureCondition, RETRY_CONNECT_FAILURE, RETRY_RESET, RETRY_TIMEOUT, unavailableCode } from './resilience.js';
import { ALWAYS_AVAILABLE } from './target-health.js';

const withChecks = (interval = 1_000) =>
  upstreamPolicies({
    health_checks: { active: { path: '/h', interval_ms: interval, timeout_ms: 100 }, passive: { unhealthy: { failures: 2, window_ms: 10_000 }, ejection_ms: 5_000 } },
    circuit_breaker: { failure_threshold: 3, window_ms: 10_000, open_ms: 5_000, half_open_requests: 1 },
    retries: { attempts: 2, on: ['connect-failure', '5xx'], budget_percent: 20, only_idempotent: true },
  });

test('registry: state survives a recompile with the same policy, is fresh after a policy change, and retain() stops what is unused', () => {
  const r = new ResilienceRegistry();
  try {
    const keys1: string[] = [];
    const p = withChecks();
    const c1 = r.compile('u1', p, keys1)!;
    assert.deepEqual({ guarded: c1.guarded, hasBreaker: c1.hasBreaker, attempts: c1.retry?.attempts, on: c1.retry?.on }, { guarded: true, hasBreaker: true, attempts: 2, on: 1 | 4 });
    const h1 = r.target('u1', 'http://127.0.0.1:1', p, keys1);
    h1.failure();
    h1.failure();
    assert.equal(h1.ejected, true);
    assert.equal(r.checkers, 1);

    // A recompile: the same objects, so ejection, breaker counts and the checker carry over.
    const keys2: string[] = [];
    const c2 = r.compile('u1', withChecks(), keys2)!;
    assert.equal(c2.retry!.budget, c1.retry!.budget);
    assert.equal(r.target('u1', 'http://127.0.0.1:1', withChecks(), keys2), h1);
    assert.deepEqual(keys2.sort(), keys1.sort());
    r.retain(new Set(keys2));
    assert.equal(r.checkers, 1);
    assert.equal(h1.ejected, true);

    // A changed policy: fresh state and checker; retain stops the old checker.
    const keys3: string[] = [];
    const h3 = r.target('u1', 'http://127.0.0.1:1', withChecks(2_000), keys3);
    assert.notEqual(h3, h1);
    assert.equal(h3.ejected, false);
    assert.equal(r.checkers, 2);
    r.retain(new Set(keys3));
    assert.equal(r.checkers, 1);
    assert.equal(r.counters().get('u1')!.ejections, 1, 'counters of dropped state are kept');
    r.retain(new Set());
    assert.equal(r.checkers, 0);
    assert.deepEqual(r.targetMetrics(), []);
  } finally {
    r.close();
  }
});

test('registry: an upstream without retries, health checks or breaker compiles to null and shares ALWAYS_AVAILABLE', () => {
  const r = new ResilienceRegistry();
  const keys: string[] = [];
  const plain = upstreamPolicies({});
  assert.equal(r.compile('u', plain, keys), null);
  assert.equal(r.target('u', 'http://x:1', plain, keys), ALWAYS_AVAILABLE);
  assert.deepEqual(keys, []);
  // attempts > 0 alone: retries only, targets unguarded.
  const retryOnly = upstreamPolicies({ retries: { attempts: 1 } });
  const c = r.compile('u', retryOnly, keys)!;
  assert.equal(c.guarded, false);
  assert.equal(c.retry!.on, RETRY_CONNECT_FAILURE);
  r.close();
});

test('failure conditions: connect failures, timeouts and resets are told apart; the request’s own faults are none', () => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(failureCondition(e('ECONNREFUSED')), RETRY_CONNECT_FAILURE);
  assert.equal(failureCondition(e('UND_ERR_CONNECT_TIMEOUT')), RETRY_CONNECT_FAILURE);
  assert.equal(failureCondition(e('UND_ERR_HEADERS_TIMEOUT')), RETRY_TIMEOUT);
  assert.equal(failureCondition(e('ECONNRESET')), RETRY_RESET);
  assert.equal(failureCondition(e('UND_ERR_SOCKET')), RETRY_RESET);
  assert.equal(failureCondition(e('ETIMEDOUT')), 0, 'the total budget ran out: never retried');
  assert.equal(failureCondition(new Error('client closed the connection')), 0);
});

test('no available target: circuit open when a breaker keeps one out, else no healthy target', () => {
  const r = new ResilienceRegistry();
  const keys: string[] = [];
  const p = withChecks();
  const a = r.target('u', 'http://127.0.0.1:1', p, keys);
  const b = r.target('u', 'http://127.0.0.1:2', p, keys);
  a.setActive(false);
  b.setActive(false);
  assert.equal(unavailableCode([{ health: a }, { health: b }]), 'TP_ERR_NO_HEALTHY_TARGET');
  for (let i = 0; i < 3; i++) b.failure();
  assert.equal(b.breakerState, 'open');
  assert.equal(unavailableCode([{ health: a }, { health: b }]), 'TP_ERR_UPSTREAM_CIRCUIT_OPEN');
  r.close();
});
