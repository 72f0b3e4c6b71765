import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newConnectionId, ownerOf } from './connection-id.js';

test('an id names its node and worker, is URL-safe, and ids do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newConnectionId('gw-1.eu.example:8000', 3);
    assert.match(id, /^[A-Za-z0-9_-]+$/);
    assert.equal(seen.has(id), false);
    seen.add(id);
    assert.deepEqual(ownerOf(id), { nodeId: 'gw-1.eu.example:8000', worker: 3 });
  }
  assert.deepEqual(ownerOf(newConnectionId('nœud', 0)), { nodeId: 'nœud', worker: 0 });
});

test('strings that are not ids name no owner', () => {
  for (const s of ['', 'short', 'not-an-id', 'has/slash/in/it/xxxxxxxxxxxx', 'x'.repeat(500), Buffer.alloc(12).toString('base64url')]) assert.equal(ownerOf(s), null, s);
});
