// The reconciler runs beside the publisher (no bus lock) and repairs with compare-and-set writes: a repair
// computed from an older reading must never overwrite a value the publisher wrote after that reading.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { META_REVISION_KEY, entityKey, type ConfigEnvelope, type NatsKvConfigBus } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { natsConditionalWrites, type ConditionalWrites } from '../src/index.js';
import { destroyBucket, openBus, startHarness, type Harness } from './support.js';

describe('reconciler beside the publisher', { timeout: 60_000 }, () => {
  let nc: NatsConnection;
  let bus: NatsKvConfigBus;
  let bucket: string;
  let h: Harness;
  /** Runs once, right before the reconciler's first repair of `raceKey` reaches the bus. */
  let raceKey = '';
  let race: (() => Promise<void>) | null = null;

  before(async () => {
    ({ nc, bus, bucket } = await openBus());
    const real = natsConditionalWrites(nc, bucket);
    const racing: ConditionalWrites = {
      putIf: async (key, value, expected) => {
        const r = race;
        if (r && key === raceKey) {
          race = null;
          await r();
        }
        return await real.putIf(key, value, expected);
      },
      deleteIf: async (key, expected) => await real.deleteIf(key, expected),
      lastRevision: async () => await real.lastRevision(),
    };
    h = await startHarness({ bus, busWrites: racing, reconcileIntervalMs: 3_600_000 });
  });
  after(async () => {
    await h?.close();
    await destroyBucket(nc, bucket);
    await nc.close();
  });

  const envelope = async (key: string): Promise<ConfigEnvelope | null> => {
    const v = await bus.get(key);
    return v === null ? null : (JSON.parse(v) as ConfigEnvelope);
  };
  const meta = async (): Promise<number> => JSON.parse((await bus.get(META_REVISION_KEY)) ?? '{"revision":0}').revision as number;

  it('a stale repair racing a publisher write loses; the newer value stays', async () => {
    const c = (await h.rest('POST', '/v1/consumers', { username: 'race-c' })).json;
    const key = entityKey('consumers', c.id);
    const first = (await h.rest('GET', '/v1/config/revision')).json.revision as number;
    await waitFor('published', async () => (await meta()) === first);

    // Drift the reconciler will want to repair (an older revision, as a restored bucket would hold)...
    await bus.put(key, JSON.stringify({ kind: 'consumers', revision: 0, data: { ...c, username: 'tampered' } }));
    // ...and, between its reading and its repair, the consumer changes and the publisher writes it.
    raceKey = key;
    let newer = 0;
    race = async () => {
      const renamed = await h.rest('PATCH', `/v1/consumers/${c.id}`, { username: 'race-renamed' });
      assert.equal(renamed.status, 200);
      newer = (await h.rest('GET', '/v1/config/revision')).json.revision as number;
      // Publishing goes on while the reconcile is under way (it holds no lock the publisher needs).
      await waitFor('the publisher wrote the newer revision', async () => (await envelope(key))?.revision === newer, 10_000);
    };

    const report = await h.cp.reconcile();
    assert.equal(race, null, 'the race ran');
    assert.equal(report.conflicts, 1, JSON.stringify(report));
    const now = await envelope(key);
    assert.equal(now?.revision, newer, 'the publisher’s newer revision was not overwritten');
    assert.equal((now?.data as { username: string }).username, 'race-renamed');
    assert.equal(await meta(), newer, 'meta.revision was not set back either');

    const again = await h.cp.reconcile();
    assert.deepEqual({ put: again.put, deleted: again.deleted, conflicts: again.conflicts }, { put: 0, deleted: 0, conflicts: 0 }, 'in sync');
  });

  it('repairs still land when nothing raced them (put, delete, meta)', async () => {
    const c = (await h.rest('POST', '/v1/consumers', { username: 'race-d' })).json;
    const key = entityKey('consumers', c.id);
    const rev = (await h.rest('GET', '/v1/config/revision')).json.revision as number;
    await waitFor('published', async () => (await meta()) === rev);
    await bus.delete(key);
    const stray = entityKey('routes', '00000000-0000-4000-8000-00000000beef');
    await bus.put(stray, JSON.stringify({ kind: 'routes', revision: 1, data: {} }));
    const report = await h.cp.reconcile();
    assert.deepEqual({ put: report.put, deleted: report.deleted, conflicts: report.conflicts }, { put: 1, deleted: 1, conflicts: 0 }, JSON.stringify(report));
    assert.equal((await envelope(key))?.revision, rev);
    assert.equal(await bus.get(stray), null);
  });
});
