import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { MockConfig, mockProblems } from '@turnpike/common';
import { compileMock, mockMatches } from './index.js';

function policy(over: Record<string, unknown>) {
  const cfg = Value.Default(MockConfig, structuredClone(over)) as MockConfig;
  assert.ok(Value.Check(MockConfig, cfg));
  assert.deepEqual(mockProblems(cfg), []);
  return compileMock(cfg);
}

describe('mock', { timeout: 10_000 }, () => {
  test('a JSON body is answered as application/json with the configured status and headers', () => {
    const p = policy({ status: 201, headers: { 'X-Mock': 'yes' }, json: { id: 1, tags: ['a'] } });
    assert.equal(p.answer.kind, 'answer');
    assert.equal(p.answer.status, 201);
    assert.deepEqual(p.answer.headers, ['x-mock', 'yes', 'content-type', 'application/json']);
    assert.equal(p.answer.body!.toString(), '{"id":1,"tags":["a"]}');
    assert.ok(Object.isFrozen(p.answer) && Object.isFrozen(p.answer.headers), 'the answer is shared by every request: frozen');
  });

  test('a text body is text/plain unless the config names a content-type; no body: no content-type', () => {
    assert.deepEqual(policy({ text: 'hello' }).answer.headers, ['content-type', 'text/plain; charset=utf-8']);
    assert.deepEqual(policy({ text: '<p/>', headers: { 'content-type': 'text/html' } }).answer.headers, ['content-type', 'text/html']);
    const empty = policy({ status: 204 });
    assert.deepEqual(empty.answer.headers, []);
    assert.equal(empty.answer.body, null);
    // JSON null is a body too.
    assert.equal(policy({ json: null }).answer.body!.toString(), 'null');
  });

  test('conditions: methods and path patterns; none means every request', () => {
    const all = policy({ json: {} });
    assert.ok(mockMatches(all, 'DELETE', '/anything'));
    const some = policy({ json: {}, methods: ['GET', 'HEAD'], paths: ['^/pets/\\d+$', '/health$'] });
    assert.ok(mockMatches(some, 'GET', '/pets/12'));
    assert.ok(mockMatches(some, 'HEAD', '/x/health'));
    assert.ok(!mockMatches(some, 'POST', '/pets/12'));
    assert.ok(!mockMatches(some, 'GET', '/pets/cat'));
  });
});
