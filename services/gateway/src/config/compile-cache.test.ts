import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { entityKey, type EntityKind } from '@turnpike/common';
import { CompileCache } from './compiler.js';

const now = new Date().toISOString();
const env = (kind: EntityKind, revision: number, data: Record<string, unknown>): [string, string] => [
  entityKey(kind, data.id as string),
  JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }),
];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('CompileCache storage (no raw envelopes kept)', { timeout: 5_000 }, () => {
  test('an entry is unchanged when its envelope has the same revision and length; a new revision is parsed', () => {
    const cache = new CompileCache();
    const id = randomUUID();
    const [k, v1] = env('consumers', 1, { id, username: 'alice', tags: [], group_ids: [] });
    assert.equal(cache.set(k, v1), true);
    assert.equal(cache.set(k, v1), false, 'the same envelope again (a reconnect replay)');
    assert.equal(cache.set(k, env('consumers', 2, { id, username: 'alice', tags: [], group_ids: [] })[1]), true);
    assert.equal(cache.set(k, env('consumers', 3, { id, username: 'bob', tags: [], group_ids: [] })[1]), true);
    assert.equal(cache.revision, 3);
    // An envelope the revision cannot be read from cheaply (other member order) is compared in full.
    const reordered = JSON.stringify({ revision: 4, kind: 'consumers', data: { id, username: 'carol', created_at: now, updated_at: now } });
    assert.equal(cache.set(k, reordered), true);
    assert.equal(cache.revision, 4);
  });

  test('envelopes() re-serializes what the node keeps; rejected entries and meta.revision come back verbatim', () => {
    const cache = new CompileCache();
    const consumer = randomUUID();
    const keyId = randomUUID();
    const [ck, cv] = env('consumers', 1, { id: consumer, username: 'alice', custom_id: 'x', tags: ['a'], group_ids: [] });
    const [kk, kv] = env('keys', 2, { id: keyId, consumer_id: consumer, key_sha256: sha('k').toUpperCase(), prefix: 'tp_' });
    const bad = '{"kind":"routes","revision":3,"data":{"id":"nope"}}';
    cache.set(ck, cv);
    cache.set(kk, kv);
    cache.set('routes.nope', bad);
    cache.set('meta.revision', '{"revision":3}');
    const out = Object.fromEntries(cache.envelopes());
    assert.deepEqual(JSON.parse(out[ck]!), { kind: 'consumers', revision: 1, data: { id: consumer, username: 'alice' } });
    assert.deepEqual(JSON.parse(out[kk]!), { kind: 'keys', revision: 2, data: { id: keyId, consumer_id: consumer, key_sha256: sha('k') } });
    assert.equal(out['routes.nope'], bad);
    assert.equal(out['meta.revision'], '{"revision":3}');

    // Loaded back (reduced consumers), they compile to the same key table.
    const back = new CompileCache();
    for (const [k, v] of Object.entries(out)) back.set(k, v, 0, true);
    assert.equal(back.keyIndex.table.get(sha('k'))?.username, 'alice');
    assert.equal(back.rejected.size, 1);
    assert.equal(back.revision, 3);
  });

  test('an API key expires_at is indexed, survives envelopes() (last-known-good), and a bad one is rejected', () => {
    const cache = new CompileCache();
    const consumer = randomUUID();
    const keyId = randomUUID();
    const expires = '2026-12-06T12:00:00.000Z';
    const [ck, cv] = env('consumers', 1, { id: consumer, username: 'alice', tags: [], group_ids: [] });
    const [kk, kv] = env('keys', 2, { id: keyId, consumer_id: consumer, key_sha256: sha('k'), expires_at: expires });
    cache.set(ck, cv);
    cache.set(kk, kv);
    assert.equal(cache.keyIndex.table.expiresAt.get(sha('k')), Date.parse(expires));
    const out = Object.fromEntries(cache.envelopes());
    assert.deepEqual(JSON.parse(out[kk]!).data, { id: keyId, consumer_id: consumer, key_sha256: sha('k'), expires_at: expires });
    const back = new CompileCache();
    for (const [k, v] of Object.entries(out)) back.set(k, v, 0, true);
    assert.equal(back.keyIndex.table.expiresAt.get(sha('k')), Date.parse(expires));
    const [bk, bv] = env('keys', 3, { id: randomUUID(), consumer_id: consumer, key_sha256: sha('j'), expires_at: 'soon' });
    cache.set(bk, bv);
    assert.equal(cache.rejected.get(bk)?.reason, 'expires_at must be a date-time or null');
  });

  test('staleKeys names the entries no pass of the given gens saw', () => {
    const cache = new CompileCache();
    const a = env('consumers', 1, { id: randomUUID(), username: 'a' });
    const b = env('consumers', 2, { id: randomUUID(), username: 'b' });
    cache.set(...a, 1);
    cache.set(...b, 1);
    cache.set(...a, 2); // unchanged, stamped by pass 2
    assert.deepEqual(cache.staleKeys(new Set([2])), [b[0]]);
  });
});
