import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { callBackend } from './backend.js';

describe('WebSocket API backend calls', () => {
  test('a lambda route this node cannot sign for answers 502 TP_ERR_LAMBDA_CREDENTIALS_MISSING, as an HTTP lambda integration does', async () => {
    const route = { key: '$default', kind: 'lambda' as const, upstream: null, path: '', timeoutMs: 1_000, invoker: null, unavailable: 'no AWS credentials on this node' };
    const r = await callBackend(route, { requestContext: {} }, 'req-1');
    assert.deepEqual(r, { status: 502, body: null, subprotocol: '', errorCode: 'TP_ERR_LAMBDA_CREDENTIALS_MISSING' });
  });
});
