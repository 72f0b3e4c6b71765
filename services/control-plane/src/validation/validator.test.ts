import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RouteCreate, TurnpikeError, UpstreamCreate, UpstreamUpdate } from '@turnpike/common';
import { parse } from './validator.js';

function fieldsOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TurnpikeError);
    assert.equal(e.code, 'TP_ERR_VALIDATION');
    assert.equal(e.status, 400);
    return e.fields ?? [];
  }
  assert.fail('expected a validation error');
}

describe('validation error mapping', { timeout: 5_000 }, () => {
  it('reports nested paths as JSON pointers, required and unknown fields by name', () => {
    const f = fieldsOf(() => parse(UpstreamCreate, { targets: [{ host: 'a', port: 1 }, { host: 'b', port: 0 }], bogus: true }, { defaults: true }));
    assert.deepEqual(f.map((x) => x.path).sort(), ['/bogus', '/name', '/targets/1/port']);
    assert.equal(f.find((x) => x.path === '/name')!.message, 'is required');
    assert.equal(f.find((x) => x.path === '/bogus')!.message, 'is not allowed');
  });

  it('collapses a union of literals into one "must be one of" error', () => {
    const f = fieldsOf(() => parse(RouteCreate, { name: 'r', service_id: '6f1c1f3e-2b1a-4c3d-9e8f-0a1b2c3d4e5f', paths: ['/'], methods: ['GET', 'BREW'] }, { defaults: true }));
    assert.equal(f.length, 1);
    assert.equal(f[0]!.path, '/methods/1');
    assert.match(f[0]!.message, /^must be one of: "GET", "HEAD"/);
  });

  it('escapes pointer characters in property names', () => {
    const f = fieldsOf(() => parse(UpstreamUpdate, { 'a/b~c': 1 }, { defaults: false }));
    assert.deepEqual(f.map((x) => x.path), ['/a~1b~0c']);
  });

  it('fills defaults only when asked, and never mutates the input', () => {
    const input = { name: 'u', targets: [{ host: 'a', port: 1 }] };
    const created = parse(UpstreamCreate, input, { defaults: true });
    assert.equal(created.scheme, 'http');
    assert.equal(created.targets[0]!.weight, 100);
    assert.deepEqual(input, { name: 'u', targets: [{ host: 'a', port: 1 }] });
    const patch = parse(UpstreamUpdate, { name: 'u' }, { defaults: false });
    assert.deepEqual(patch, { name: 'u' });
  });

  it('refuses hostile nesting as a validation error (structuredClone would overflow the stack)', () => {
    const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    const f = fieldsOf(() => parse(UpstreamCreate, deep, { defaults: true }));
    assert.equal(f[0]!.path, '');
    assert.match(f[0]!.message, /nest deeper/);
  });

  it('refuses NUL and unpaired surrogates (PostgreSQL cannot store them) with the field path', () => {
    assert.deepEqual(fieldsOf(() => parse(UpstreamUpdate, { tags: ['ok', 'a\u0000b'] }, { defaults: false })).map((x) => x.path), ['/tags/1']);
    assert.deepEqual(fieldsOf(() => parse(UpstreamUpdate, { tags: ['\ud800', 'x'] }, { defaults: false })).map((x) => x.path), ['/tags/0']);
    assert.deepEqual(fieldsOf(() => parse(UpstreamUpdate, { tags: ['x\udc00'] }, { defaults: false })).map((x) => x.path), ['/tags/0']);
    assert.deepEqual(parse(UpstreamUpdate, { tags: ['😀', 'é'] }, { defaults: false }), { tags: ['😀', 'é'] });
  });

  it('rejects a body that is not an object', () => {
    const f = fieldsOf(() => parse(UpstreamCreate, [], { defaults: true }));
    assert.equal(f[0]!.path, '');
  });
});
