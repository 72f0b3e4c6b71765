import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { RequestTransformerConfig, requestTransformerProblems, TurnpikeError } from '@turnpike/common';
import type { AccessTables, RequestContext } from '../request-context.js';
import { recordingChanges, type RecordedChange } from '../testing.js';
import type { Denial } from '../pipeline.js';
import { compileRequestTransformer, requestTransformerStep, rewrittenPath } from './index.js';

const OWNERS = new Map([['c-1', { consumerId: 'c-1', username: 'carol', groupIds: [] }]]);
const tables = { ownerOf: (id: string) => OWNERS.get(id) } as unknown as AccessTables;

function ctxOf(o: { method?: string; path?: string; query?: string; headers?: [string, string][]; body?: string | null; consumerId?: string } = {}): RequestContext & { changes: RecordedChange[] } {
  const received = (o.headers ?? []).flatMap(([k, v]) => [k, v]);
  return {
    ...recordingChanges(),
    method: o.method ?? 'GET',
    path: o.path ?? '/v1/orders/42',
    query: o.query ?? '',
    host: 'api.example.com',
    header: (n) => {
      for (let i = 0; i < received.length; i += 2) if (received[i] === n) return received[i + 1]!;
      return '';
    },
    received,
    peerIp: '10.0.0.1',
    clientCert: null,
    clientIp: () => '10.0.0.1',
    declaredLength: o.body ? o.body.length : 0,
    body: o.body === undefined || o.body === null ? null : Buffer.from(o.body),
    routeId: 'r-1',
    serviceId: 's-1',
    consumerId: o.consumerId ?? '',
    credentialId: '',
    tables,
    nowMs: Date.now(),
    hideHeaders: () => undefined,
    hideQuery: () => undefined,
    addResponseHeaders: () => undefined,
    note: () => undefined,
  };
}

function step(over: Record<string, unknown>) {
  const cfg = Value.Default(RequestTransformerConfig, structuredClone(over)) as RequestTransformerConfig;
  assert.ok(Value.Check(RequestTransformerConfig, cfg), JSON.stringify([...Value.Errors(RequestTransformerConfig, cfg)].map((e) => `${e.path} ${e.message}`)));
  assert.deepEqual(requestTransformerProblems(cfg), []);
  return requestTransformerStep(compileRequestTransformer(cfg));
}

/** The changes a run made, bodies as text. */
function run(over: Record<string, unknown>, ctx: RequestContext & { changes: RecordedChange[] }) {
  const out = step(over).run(ctx);
  return { out, changes: ctx.changes.map((c) => (c[0] === 'setRequestBody' ? ['setRequestBody', c[1].toString()] : c)) };
}

describe('request-transformer', { timeout: 10_000 }, () => {
  test('headers: remove, rename (every value joined), replace only when present, add only when absent, in that order', () => {
    const ctx = ctxOf({ headers: [['x-old', 'a'], ['x-old', 'b'], ['x-drop', '1'], ['x-keep', 'k'], ['x-user', 'bob']] });
    const { out, changes } = run(
      {
        headers: {
          remove: ['X-Drop'],
          rename: { 'x-old': 'x-new' },
          replace: { 'x-keep': 'was {{ header.x-keep }}', 'x-absent': 'never' },
          add: { 'x-user': 'not added', 'x-who': '{{ header.x-user | upper }}', 'x-empty': '{{ header.nope }}' },
        },
      },
      ctx,
    );
    assert.equal(out, null);
    assert.deepEqual(changes, [
      ['setRequestHeader', 'x-drop', ''],
      ['setRequestHeader', 'x-old', ''],
      ['setRequestHeader', 'x-new', 'a, b'],
      ['setRequestHeader', 'x-keep', 'was k'],
      ['setRequestHeader', 'x-who', 'BOB'],
    ]);
  });

  test('a rendered header value loses CR, LF and NUL (no header injection)', () => {
    const { changes } = run({ headers: { add: { 'x-q': '{{ query.q }}' } } }, ctxOf({ query: 'q=a%0D%0Ax-evil%3A%201%00' }));
    assert.deepEqual(changes, [['setRequestHeader', 'x-q', 'ax-evil: 1']]);
  });

  test('query: untouched parameters keep their raw encoding; changed ones are encoded; names compare decoded', () => {
    const ctx = ctxOf({ query: 'keep=a%2Fb&drop=1&old+name=v&rep=1&rep=2&x=%7E' });
    const { changes } = run(
      { query: { remove: ['drop'], rename: { 'old name': 'new' }, replace: { rep: '{{ query.x }} & more', none: 'n' }, add: { added: '{{ consumer.username }}', keep: 'no' } } },
      ctxOf({ query: 'keep=a%2Fb&drop=1&old+name=v&rep=1&rep=2&x=%7E', consumerId: 'c-1' }),
    );
    assert.deepEqual(changes, [['setQuery', 'keep=a%2Fb&new=v&rep=~%20%26%20more&x=%7E&added=carol']]);
    // Nothing applicable: the query is not touched at all.
    assert.deepEqual(run({ query: { remove: ['absent'], replace: { absent: 'x' } } }, ctx).changes, []);
  });

  test('path: the first match is replaced, with numbered and named captures; templates read the captures', () => {
    const { changes } = run(
      {
        path: { pattern: '^/v1/(?<kind>orders|users)/(\\d+)$', replacement: '/api/$<kind>/item-$2?$$' },
        headers: { add: { 'x-id': '{{ path.2 }}', 'x-kind': '{{ path.kind }}', 'x-path': '{{ path }}' } },
      },
      ctxOf(),
    );
    assert.deepEqual(changes, [
      ['rewritePath', '/api/orders/item-42?$'],
      ['setRequestHeader', 'x-id', '42'],
      ['setRequestHeader', 'x-kind', 'orders'],
      ['setRequestHeader', 'x-path', '/v1/orders/42'],
    ]);
    // No match: the path is left, and captures are missing.
    assert.deepEqual(run({ path: { pattern: '^/v2/(.*)$', replacement: '/$1' }, headers: { add: { 'x-id': '{{ path.1 | default("none") }}' } } }, ctxOf()).changes, [['setRequestHeader', 'x-id', 'none']]);
    assert.equal(rewrittenPath('/a/b/c', /b/.exec('/a/b/c'), ['x']), '/a/x/c');
  });

  test('method change', () => {
    assert.deepEqual(run({ method: 'POST' }, ctxOf()).changes, [['setMethod', 'POST']]);
  });

  test('body: a JSON body mapped by the template; needsBody only with a template', () => {
    assert.equal(step({ headers: { add: { a: 'b' } } }).needsBody, false);
    assert.equal(step({ body_template: { a: 1 } }).needsBody, true);
    const { changes } = run(
      { body_template: { order: { id: '{{ body.id | number }}', items: '{{ body.lines }}', by: '{{ consumer.id }}', first: '{{ $.lines[0].sku | upper }}' } } },
      ctxOf({ method: 'POST', body: '{"id":"7","lines":[{"sku":"ab"}]}', headers: [['content-type', 'application/json; charset=utf-8']], consumerId: 'c-1' }),
    );
    assert.deepEqual(changes, [['setRequestBody', '{"order":{"id":7,"items":[{"sku":"ab"}],"by":"c-1","first":"AB"}}']]);
  });

  test('body: no body renders the template (and says JSON); a non-JSON body passes unchanged', () => {
    assert.deepEqual(run({ method: 'POST', body_template: { q: '{{ query.q }}' } }, ctxOf({ query: 'q=hi' })).changes, [
      ['setRequestBody', '{"q":"hi"}'],
      ['setMethod', 'POST'],
      ['setRequestHeader', 'content-type', 'application/json'],
    ]);
    assert.deepEqual(run({ body_template: { a: 1 } }, ctxOf({ body: 'a=1', headers: [['content-type', 'application/x-www-form-urlencoded']] })).changes, []);
    assert.deepEqual(run({ body_template: { a: 1 } }, ctxOf({ body: '{not json', headers: [['content-type', 'application/json']] })).changes, []);
  });

  test('a template rendering past its bound refuses the request with 500 TP_ERR_TRANSFORM_FAILED', () => {
    const big = JSON.stringify({ blob: 'x'.repeat(300_000) });
    const { out } = run({ body_template: ['{{ $ }}', '{{ $ }}', '{{ $ }}', '{{ $ }}'] }, ctxOf({ body: big, headers: [['content-type', 'application/json']] }));
    const d = out as Denial;
    assert.equal(d.kind, 'deny');
    assert.equal(d.status, 500);
    assert.equal(d.code, 'TP_ERR_TRANSFORM_FAILED');
    assert.match(d.message, /larger than 1048576 characters/);
  });

  test('compiling a config the control plane would refuse throws with the field path', () => {
    const cfg = Value.Default(RequestTransformerConfig, { body_template: { a: '{{ body.x | nope }}' } }) as RequestTransformerConfig;
    assert.throws(
      () => compileRequestTransformer(cfg),
      (e: unknown) => e instanceof TurnpikeError && e.fields?.[0]?.path === '/body_template/a',
    );
  });
});
