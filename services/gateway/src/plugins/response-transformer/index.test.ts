import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { ResponseTransformerConfig, responseTransformerProblems } from '@turnpike/common';
import type { AccessTables, RequestContext, ResponseHead, ResponseHook } from '../request-context.js';
import { recordingChanges, type RecordedChange } from '../testing.js';
import { compileResponseTransformer, compileStatusMap, responseTransformerStep } from './index.js';

const tables = { ownerOf: () => undefined } as unknown as AccessTables;

function ctxOf(headers: [string, string][] = []): RequestContext & { changes: RecordedChange[]; notes: string[] } {
  const received = headers.flatMap(([k, v]) => [k, v]);
  const notes: string[] = [];
  return {
    ...recordingChanges(),
    method: 'GET',
    path: '/items',
    query: 'page=2',
    host: 'api.example.com',
    header: (n) => {
      for (let i = 0; i < received.length; i += 2) if (received[i] === n) return received[i + 1]!;
      return '';
    },
    received,
    peerIp: '10.0.0.1',
    clientCert: null,
    clientIp: () => '10.0.0.1',
    declaredLength: 0,
    body: null,
    routeId: 'r-1',
    serviceId: 's-1',
    consumerId: '',
    credentialId: '',
    tables,
    nowMs: Date.now(),
    hideHeaders: () => undefined,
    hideQuery: () => undefined,
    addResponseHeaders: () => undefined,
    note: (code, detail) => void notes.push(`${code} ${detail}`),
    notes,
  };
}

/** Runs the step on a request and returns the hook it registered, and the request changes it made. */
function hookFor(over: Record<string, unknown>, ctx = ctxOf()): { hook: ResponseHook; changes: RecordedChange[] } {
  const cfg = Value.Default(ResponseTransformerConfig, structuredClone(over)) as ResponseTransformerConfig;
  assert.ok(Value.Check(ResponseTransformerConfig, cfg));
  assert.deepEqual(responseTransformerProblems(cfg), []);
  assert.equal(responseTransformerStep(compileResponseTransformer(cfg)).run(ctx), null);
  const hooks = ctx.changes.filter((c) => c[0] === 'onResponse');
  assert.equal(hooks.length, 1);
  return { hook: hooks[0]![1] as ResponseHook, changes: ctx.changes.filter((c) => c[0] !== 'onResponse') };
}

function respond(hook: ResponseHook, status: number, headers: string[], body?: string): { head: ResponseHead; body: string | undefined } {
  const head: ResponseHead = { status, headers };
  hook.head?.(head);
  const out = body !== undefined && hook.body ? hook.body(Buffer.from(body), head).toString() : body;
  return { head, body: out };
}

describe('response-transformer', { timeout: 10_000 }, () => {
  test('headers: remove, rename, replace when present, add when absent; templates read response and request', () => {
    const { hook, changes } = hookFor(
      {
        headers: {
          remove: ['server'],
          rename: { 'x-upstream-id': 'x-id' },
          replace: { 'cache-control': 'no-store', 'x-absent': 'never' },
          add: { 'x-status': 'upstream said {{ response.status }}', 'x-page': '{{ query.page }}', 'x-agent': '{{ header.user-agent }}', 'x-type': '{{ response.header.content-type }}' },
        },
      },
      ctxOf([['user-agent', 'ua/1']]),
    );
    // Without a body template the upstream's encoding is left alone.
    assert.deepEqual(changes, []);
    const { head } = respond(hook, 200, ['server', 'nginx', 'x-upstream-id', 'u-1', 'cache-control', 'max-age=60', 'content-type', 'text/plain']);
    assert.deepEqual(head.headers, [
      'x-id', 'u-1',
      'content-type', 'text/plain',
      'cache-control', 'no-store',
      'x-status', 'upstream said 200',
      'x-page', '2',
      'x-agent', 'ua/1',
      'x-type', 'text/plain',
    ]);
    assert.equal(hook.body, undefined);
  });

  test('status mapping: exact over range over class; unmapped statuses pass', () => {
    const map = compileStatusMap({ '404': 200, '400-403': 422, '4xx': 400, '5xx': 503 })!;
    assert.deepEqual([404, 401, 400, 418, 500, 599, 200, 302].map(map), [200, 422, 422, 400, 503, 503, 200, 302]);
    assert.equal(compileStatusMap({}), null);
    const { hook } = hookFor({ status: { '404': 200 } });
    assert.equal(respond(hook, 404, []).head.status, 200);
    assert.equal(respond(hook, 500, []).head.status, 500);
  });

  test('body: a JSON body mapped by the template (reading the original status); accept-encoding is dropped upstream', () => {
    const { hook, changes } = hookFor({ body_template: { data: '{{ body.items }}', total: '{{ body.meta.count | default(0) }}', ok: '{{ response.status }}' }, status: { '201': 200 } });
    assert.deepEqual(changes, [['setRequestHeader', 'accept-encoding', '']]);
    const r = respond(hook, 201, ['content-type', 'application/json'], '{"items":[1,2],"meta":{"count":2}}');
    assert.equal(r.head.status, 200);
    assert.deepEqual(JSON.parse(r.body!), { data: [1, 2], total: 2, ok: 201 });
  });

  test('body: non-JSON, unparsable, encoded and empty bodies pass unchanged', () => {
    const { hook } = hookFor({ body_template: { wrapped: '{{ $ }}' } });
    assert.equal(respond(hook, 200, ['content-type', 'text/html'], '<p>hi</p>').body, '<p>hi</p>');
    assert.equal(respond(hook, 200, ['content-type', 'application/json'], '{oops').body, '{oops');
    assert.equal(respond(hook, 200, ['content-type', 'application/json', 'content-encoding', 'gzip'], '{"a":1}').body, '{"a":1}');
    assert.equal(respond(hook, 200, ['content-type', 'application/json'], '').body, '');
    assert.equal(respond(hook, 200, ['content-type', 'application/problem+json'], '{"a":1}').body, '{"wrapped":{"a":1}}');
  });

  test('a body rendering past its bound becomes a 502 TP_ERR_TRANSFORM_FAILED JSON error', () => {
    const { hook } = hookFor({ body_template: ['{{ $ }}', '{{ $ }}', '{{ $ }}', '{{ $ }}'] });
    const r = respond(hook, 200, ['content-type', 'application/json', 'etag', '"1"'], JSON.stringify({ blob: 'x'.repeat(300_000) }));
    assert.equal(r.head.status, 502);
    assert.deepEqual(r.head.headers, ['etag', '"1"', 'content-type', 'application/json']);
    const err = JSON.parse(r.body!) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'TP_ERR_TRANSFORM_FAILED');
    assert.match(err.error.message, /response-transformer: rendered output is larger than/);
  });

  test('the hook is per request: two responses in flight do not see each other', () => {
    const cfg = Value.Default(ResponseTransformerConfig, { body_template: { s: '{{ response.status }}', p: '{{ query.page }}' } }) as ResponseTransformerConfig;
    const s = responseTransformerStep(compileResponseTransformer(cfg));
    const a = ctxOf();
    const b = { ...ctxOf(), query: 'page=9' };
    s.run(a);
    s.run(b);
    const ha = a.changes.find((c) => c[0] === 'onResponse')![1] as ResponseHook;
    const hb = b.changes.find((c) => c[0] === 'onResponse')![1] as ResponseHook;
    const headA: ResponseHead = { status: 200, headers: ['content-type', 'application/json'] };
    const headB: ResponseHead = { status: 404, headers: ['content-type', 'application/json'] };
    ha.head!(headA);
    hb.head!(headB);
    assert.equal(hb.body!(Buffer.from('{}'), headB).toString(), '{"s":404,"p":"9"}');
    assert.equal(ha.body!(Buffer.from('{}'), headA).toString(), '{"s":200,"p":"2"}');
  });
});
