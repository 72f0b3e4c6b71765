// The budget ledger against a real NATS (TP_TEST_NATS_URL): the cluster race (three nodes on three
// connections, 100 reservations against a limit of 10), settle/release arithmetic, dollar limits,
// expiry of an abandoned reservation, all-or-nothing over several budgets, and NATS going away. The same
// suite (but the outage) runs against the in-memory store of the embedded all-in-one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AI_BUDGET_PERIODS,
  InMemoryBudgetLedgerStore,
  NatsBudgetLedgerStore,
  budgetBucketName,
  budgetLedgerKey,
  budgetPeriodEnd,
  budgetPeriodStart,
  parseLedgerRecord,
  summarizeLedger,
  type AiBudgetPeriod,
  type BudgetLedgerStore,
} from '@turnpike/common';
import { startPrivateNats, testEnv } from '@turnpike/common/testing';
import { BudgetLedger, type Amount, type CompiledBudget, type Reservation, type ReserveResult } from './budget-ledger.js';

// A fixed instant mid-day, so no test straddles a period boundary.
const T0 = Date.UTC(2026, 11, 6, 12, 34, 56, 789);

function budget(limits: Partial<CompiledBudget['limits']>, period: AiBudgetPeriod = 'day'): CompiledBudget {
  return { id: randomUUID(), scope: 'consumer', scopeId: randomUUID(), period, limits: { tokens: null, costUsd: null, requests: null, ...limits } };
}

const amount = (a: Partial<Amount>): Amount => ({ tokens: 0, costUsd: 0, requests: 0, ...a });

function held(r: ReserveResult): Reservation {
  assert.ok(r.ok, `expected a reservation, got ${JSON.stringify(r)}`);
  return r.reservation;
}

interface Backend {
  name: string;
  /** Three stores, one per node (NATS: three connections), over the same ledger. */
  open(): Promise<BudgetLedgerStore[]>;
  close(): Promise<void>;
}

function natsBackend(): Backend {
  const cluster = `t${randomBytes(4).toString('hex')}`;
  const conns: NatsConnection[] = [];
  return {
    name: 'NATS KV, three connections',
    open: async () => {
      for (let i = 0; i < 3; i++) conns.push(await connect({ servers: testEnv().natsUrl, name: `budget-test-${i}` }));
      return conns.map((nc) => new NatsBudgetLedgerStore(nc, cluster));
    },
    close: async () => {
      for (const p of AI_BUDGET_PERIODS) await conns[0]?.request(`$JS.API.STREAM.DELETE.KV_${budgetBucketName(cluster, p)}`, undefined, { timeout: 5_000 }).catch(() => undefined);
      for (const nc of conns) await nc.close();
    },
  };
}

function memoryBackend(): Backend {
  const store = new InMemoryBudgetLedgerStore({ now: () => T0 });
  return { name: 'in-memory (embedded)', open: async () => [store, store, store], close: async () => undefined };
}

for (const backend of [natsBackend(), memoryBackend()]) describe(`AI budget ledger on ${backend.name}`, { timeout: 60_000 }, () => {
  let stores: BudgetLedgerStore[] = [];
  let clock = T0;
  const ledger = (store: BudgetLedgerStore, node: string, extra: { now?: () => number; reservationExpiryMs?: number } = {}): BudgetLedger =>
    new BudgetLedger({ store, nodeId: node, now: extra.now ?? (() => clock), casDeadlineMs: 10_000, ...extra });

  /** The key's current spent/reserved, read the way the control plane's usage endpoint does. */
  async function usage(b: CompiledBudget, at = clock) {
    const e = await stores[0]!.get(b.period, budgetLedgerKey(b.id, budgetPeriodStart(b.period, at)));
    return summarizeLedger(e.value === null ? null : parseLedgerRecord(e.value), at);
  }

  before(async () => {
    stores = await backend.open();
  });
  after(async () => {
    await backend.close();
  });

  it('100 concurrent reservations from three nodes against requests=10: exactly 10 succeed', async () => {
    const b = budget({ requests: 10 });
    const nodes = stores.map((st, i) => ledger(st, `node-${i}`));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => nodes[i % 3]!.reserve([b], amount({ requests: 1 }))));
    assert.equal(results.filter((r) => r.ok).length, 10);
    const refused = results.filter((r): r is Extract<ReserveResult, { ok: false }> => !r.ok);
    assert.equal(refused.length, 90);
    assert.ok(refused.every((r) => r.unavailable !== true && r.budget.id === b.id), 'refusals are budget refusals, not outages');
    const u = await usage(b);
    assert.equal(u.reserved.requests, 10);
    assert.equal(u.open, 10);
    // Settling them all keeps the total at 10: no further call gets in this period.
    await Promise.all(results.map((r) => (r.ok ? r.reservation.settle(amount({ requests: 1, tokens: 5 })) : undefined)));
    const settled = await usage(b);
    assert.deepEqual([settled.spent.requests, settled.spent.tokens, settled.reserved.requests, settled.open], [10, 50, 0, 0]);
    assert.equal((await nodes[1]!.reserve([b], amount({ requests: 1 }))).ok, false);
    for (const n of nodes) await n.close();
  });

  it('settle replaces the estimate by the actual amount (even above it), release gives the estimate back, retryAfterS runs to the period end', async () => {
    const b = budget({ tokens: 1000 });
    const l = ledger(stores[0]!, 'node-a');
    const first = held(await l.reserve([b], amount({ tokens: 300, requests: 1 })));
    assert.deepEqual([(await usage(b)).reserved.tokens, (await usage(b)).spent.tokens], [300, 0]);
    await first.settle(amount({ tokens: 450, requests: 1 }));
    assert.deepEqual([(await usage(b)).reserved.tokens, (await usage(b)).spent.tokens], [0, 450]);
    const second = held(await l.reserve([b], amount({ tokens: 500 })));
    const over = await l.reserve([b], amount({ tokens: 100 }));
    assert.equal(over.ok, false);
    const expectedRetry = Math.ceil((budgetPeriodEnd('day', budgetPeriodStart('day', clock)) - clock) / 1000);
    assert.equal(!over.ok && over.retryAfterS, expectedRetry);
    await second.release();
    await second.release(); // a second release (or a settle after it) changes nothing
    await second.settle(amount({ tokens: 999 }));
    assert.deepEqual([(await usage(b)).reserved.tokens, (await usage(b)).spent.tokens], [0, 450]);
    // Exactly up to the limit fits; the actual may then overshoot it and is recorded anyway.
    const third = held(await l.reserve([b], amount({ tokens: 550 })));
    await third.settle(amount({ tokens: 600 }));
    assert.equal((await usage(b)).spent.tokens, 1050);
    // A used-up budget refuses even a call estimated at zero tokens.
    assert.equal((await l.reserve([b], amount({ tokens: 0, requests: 1 }))).ok, false);
    // The next period starts from zero.
    clock = budgetPeriodEnd('day', budgetPeriodStart('day', clock)) + 1_000;
    try {
      const fresh = held(await l.reserve([b], amount({ tokens: 900 })));
      await fresh.release();
    } finally {
      clock = T0;
    }
    await l.close();
  });

  it('a cost_usd limit admits estimates while they fit and counts actual dollars on settle', async () => {
    const b = budget({ costUsd: 1 }, 'month');
    const l = ledger(stores[1]!, 'node-b');
    const rs = [];
    for (let i = 0; i < 3; i++) rs.push(held(await l.reserve([b], amount({ costUsd: 0.3 }))));
    const refused = await l.reserve([b], amount({ costUsd: 0.3 }));
    assert.equal(refused.ok, false); // 0.9 + 0.3 > 1
    assert.equal((await l.reserve([b], amount({ costUsd: 0.1 }))).ok, true); // 0.9 + 0.1 = 1 fits (float tolerance)
    await rs[0]!.settle(amount({ costUsd: 0.05 }));
    const u = await usage(b);
    assert.ok(Math.abs(u.spent.cost_usd - 0.05) < 1e-9 && Math.abs(u.reserved.cost_usd - 0.7) < 1e-9, JSON.stringify(u));
    assert.equal((await l.reserve([b], amount({ costUsd: 0.25 }))).ok, true); // 0.05 + 0.7 + 0.25 = 1
    assert.equal((await l.reserve([b], amount({ costUsd: 0.01 }))).ok, false);
    await l.close();
  });

  it("a dead node's reservation holds until it expires, then the next writer reclaims it; a late settle is still counted", async () => {
    const b = budget({ requests: 1 }, 'hour');
    let t = T0;
    const dying = ledger(stores[0]!, 'node-dies', { now: () => t, reservationExpiryMs: 60_000 });
    const orphan = held(await dying.reserve([b], amount({ requests: 1 })));
    const survivor = ledger(stores[2]!, 'node-lives', { now: () => t, reservationExpiryMs: 60_000 });
    t = T0 + 30_000;
    assert.equal((await survivor.reserve([b], amount({ requests: 1 }))).ok, false, 'still held within the expiry');
    t = T0 + 60_001;
    const taken = held(await survivor.reserve([b], amount({ requests: 1 })));
    const rec = parseLedgerRecord((await stores[0]!.get('hour', budgetLedgerKey(b.id, budgetPeriodStart('hour', t)))).value!)!;
    assert.deepEqual(rec.reservations.map((r) => r.node), ['node-lives'], 'the expired reservation was dropped by that write');
    // The "dead" node comes back and settles: the call happened, so it is recorded (spent over the limit).
    await orphan.settle(amount({ requests: 1, tokens: 7 }));
    await taken.release();
    const u = await usage(b, t);
    assert.deepEqual([u.spent.requests, u.spent.tokens, u.open], [1, 7, 0]);
    await dying.close();
    await survivor.close();
  });

  it('several budgets are reserved all or nothing: a refusal by one leaves nothing held in the others', async () => {
    const wide = budget({ requests: 5 });
    const narrow = budget({ requests: 2 }, 'minute');
    const l = ledger(stores[0]!, 'node-m');
    const a = held(await l.reserve([wide, narrow], amount({ requests: 1 })));
    held(await l.reserve([narrow, wide], amount({ requests: 1 })));
    const third = await l.reserve([wide, narrow], amount({ requests: 1 }));
    assert.equal(third.ok, false);
    assert.equal(!third.ok && third.budget.id, narrow.id);
    assert.equal(!third.ok && third.retryAfterS, Math.ceil((budgetPeriodEnd('minute', budgetPeriodStart('minute', clock)) - clock) / 1000));
    assert.equal((await usage(wide)).reserved.requests, 2, 'the wide budget holds only the two admitted calls');
    // Its own budget alone still has room.
    held(await l.reserve([wide], amount({ requests: 1 })));
    await a.settle(amount({ requests: 1 }));
    assert.deepEqual([(await usage(wide)).spent.requests, (await usage(wide)).reserved.requests, (await usage(narrow)).spent.requests], [1, 2, 1]);
    // No budgets: nothing to reserve, no I/O.
    const none = held(await l.reserve([], amount({ requests: 1 })));
    await none.settle(amount({ requests: 1 }));
    await l.close();
  });

  it('close() refuses new reservations as unavailable', async () => {
    const l = ledger(stores[0]!, 'node-c');
    await l.close();
    const r = await l.reserve([budget({ requests: 1 })], amount({ requests: 1 }));
    assert.equal(!r.ok && r.unavailable, true);
  });
});

describe('AI budget ledger when NATS goes away', { timeout: 60_000 }, () => {
  it('NATS unreachable: reserve answers unavailable within the timeout, and works again once NATS is back', async () => {
    const nats = await startPrivateNats();
    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const b = budget({ requests: 100 });
      const l = BudgetLedger.overNats(nc, 'down', { nodeId: 'node-x', now: () => T0, timeoutMs: 500 });
      held(await l.reserve([b], amount({ requests: 1 })));
      await nats.stop();
      const t = performance.now();
      const r = await l.reserve([b], amount({ requests: 1 }));
      const took = performance.now() - t;
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.unavailable, true);
      assert.equal(!r.ok && r.retryAfterS, 1);
      assert.ok(took < 3_000, `answered in ${Math.round(took)} ms`);
      await nats.start();
      let back: ReserveResult | undefined;
      for (let i = 0; i < 50 && !back?.ok; i++) {
        back = await l.reserve([b], amount({ requests: 1 }));
        if (!back.ok) await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(back?.ok, true, 'reservations resume after NATS restarts');
      await l.close();
    } finally {
      await nc.close().catch(() => undefined);
      await nats.destroy();
    }
  });

});
