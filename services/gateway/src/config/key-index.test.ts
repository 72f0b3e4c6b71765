import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyIndex } from './key-index.js';

const hexA = 'a'.repeat(64);
const hexB = 'b'.repeat(64);

describe('KeyIndex', () => {
  test('keys follow their consumer: before it exists, renamed, deleted, re-created, moved', () => {
    const ix = new KeyIndex();
    ix.setKey('keys.k1', 'c1', hexA);
    assert.equal(ix.table.size, 0, 'a key whose consumer is missing is not served');
    assert.deepEqual(ix.rejections().map((r) => r.key), ['keys.k1']);

    ix.setConsumer('c1', 'alice');
    assert.equal(ix.table.get(hexA)?.username, 'alice', 'valid once the consumer arrives');
    assert.deepEqual(ix.rejections(), []);

    ix.setConsumer('c1', 'alicia');
    assert.equal(ix.table.get(hexA)?.username, 'alicia', 'a rename reaches every key');
    assert.equal(ix.consumerCount, 1);

    ix.deleteConsumer('c1');
    assert.equal(ix.table.size, 0);
    assert.deepEqual(ix.rejections().map((r) => r.key), ['keys.k1']);
    ix.setConsumer('c1', 'alice');
    assert.equal(ix.table.get(hexA)?.consumerId, 'c1', 'and back when it is re-created');

    ix.setConsumer('c2', 'bob');
    ix.setKey('keys.k1', 'c2', hexB);
    assert.equal(ix.table.get(hexA), undefined, 'the old digest is gone');
    assert.equal(ix.table.get(hexB)?.username, 'bob');

    ix.deleteKey('keys.k1');
    assert.equal(ix.table.size, 0);
    assert.deepEqual(ix.rejections(), []);
  });

  test('key expiries are kept beside the table for the keys that have one, and follow key updates and deletes', () => {
    const ix = new KeyIndex();
    ix.setConsumer('c1', 'alice');
    ix.setKey('keys.k1', 'c1', hexA, 5_000);
    ix.setKey('keys.k2', 'c1', hexB);
    assert.equal(ix.table.expiresAt.get(hexA), 5_000);
    assert.equal(ix.expiresAtOf(hexB), undefined);
    assert.equal(ix.table.expiresAt.size, 1, 'keys without expiry cost nothing there');
    ix.setKey('keys.k1', 'c1', hexA);
    assert.equal(ix.table.expiresAt.size, 0, 'an update without expires_at clears it');
    ix.setKey('keys.k2', 'c1', hexB, 9_000);
    ix.deleteKey('keys.k2');
    assert.equal(ix.table.expiresAt.size, 0);
  });
});
