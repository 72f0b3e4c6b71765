import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { CorsConfig, corsProblems, type CorsConfig as Cfg } from '@turnpike/common';
import { CORS_DENIALS, compileCors, originAllowed, preflight, responseHeaders, type PreflightAnswer } from './index.js';

function policy(partial: Partial<Cfg>) {
  const c = Value.Default(CorsConfig, structuredClone(partial)) as Cfg;
  assert.ok(Value.Check(CorsConfig, c), `valid config ${JSON.stringify(partial)}`);
  assert.deepEqual(corsProblems(c), []);
  return compileCors(c);
}

/** The flat header list as an object (names are unique in our answers). */
function headersOf(flat: readonly string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!flat) return out;
  for (let i = 0; i < flat.length; i += 2) {
    assert.equal(out[flat[i]!], undefined, `header ${flat[i]} appears once`);
    out[flat[i]!] = flat[i + 1]!;
  }
  return out;
}

test('cors schema: origins are *, null, scheme://host[:port] or a leading *. label pattern; nothing else', () => {
  const ok = (origins: string[]) => Value.Check(CorsConfig, Value.Default(CorsConfig, { origins }));
  for (const o of ['*', 'null', 'https://app.example.com', 'http://localhost:3000', 'https://*.example.com', 'https://*.example.com:8443', 'http://[::1]:8080', 'chrome-extension://abcdef'])
    assert.equal(ok([o]), true, o);
  for (const o of ['https://example.com/', 'https://example.com/path', '*.example.com', 'https://*.*.example.com', 'https://a.*.example.com', 'https://exa*mple.com', 'https://(a|b).com', 'example.com', 'https://'])
    assert.equal(ok([o]), false, o);
  assert.equal(ok([]), false, 'at least one origin');
  assert.equal(Value.Check(CorsConfig, Value.Default(CorsConfig, { methods: ['GET POST'] })), false);
  assert.equal(Value.Check(CorsConfig, Value.Default(CorsConfig, { max_age: -1 })), false);
  const tooHighPort = Value.Default(CorsConfig, { origins: ['https://a.com:70000'] }) as Cfg;
  assert.deepEqual(corsProblems(tooHighPort), [{ path: '/origins/0', message: 'has a port above 65535' }]);
});

test('cors: label-wildcard patterns match one or more labels of that scheme, domain and port only', () => {
  const p = policy({ origins: ['https://*.example.com', 'http://*.dev.test:8080', 'https://exact.org'] });
  const cases: [string, boolean][] = [
    ['https://a.example.com', true],
    ['https://a-b.c.example.com', true],
    ['https://example.com', false],
    ['https://.example.com', false],
    ['https://a..example.com', false],
    ['http://a.example.com', false],
    ['https://evilexample.com', false],
    ['https://a.example.com.evil.net', false],
    ['https://a.example.com:8443', false],
    ['https://a_b.example.com', false],
    ['https://a/b.example.com', false],
    ['http://x.dev.test:8080', true],
    ['http://x.dev.test', false],
    ['http://x.dev.test:80801', false],
    ['https://exact.org', true],
    ['https://exact.org.evil', false],
    ['https://sub.exact.org', false],
    ['null', false],
    ['', false],
  ];
  for (const [origin, ok] of cases) assert.equal(originAllowed(p, origin), ok, origin);
  const defaultPort = policy({ origins: ['https://App.Example.com:443'] });
  assert.equal(originAllowed(defaultPort, 'https://app.example.com'), true, 'default port and case normalized as browsers serialize');
});

interface Case {
  name: string;
  cfg: Partial<Cfg>;
  origin: string;
  method: string;
  headers?: string;
  expect: null | PreflightAnswer | Record<string, string>;
}

test('cors preflight matrix: origin, method, headers, credentials, wildcards, null origin', () => {
  const ALL = 'GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS';
  const cases: Case[] = [
    { name: 'not a preflight: no Origin', cfg: {}, origin: '', method: 'PUT', expect: null },
    { name: 'not a preflight: no Access-Control-Request-Method', cfg: {}, origin: 'https://a.com', method: '', expect: null },
    { name: 'preflight_continue passes it on', cfg: { preflight_continue: true, origins: ['https://b.com'] }, origin: 'https://a.com', method: 'PUT', expect: null },
    {
      name: 'any origin, no credentials: *',
      cfg: {},
      origin: 'https://a.com',
      method: 'PUT',
      headers: 'x-trace, content-type',
      expect: { 'access-control-allow-origin': '*', 'access-control-allow-methods': ALL, 'access-control-allow-headers': 'x-trace, content-type', vary: 'Access-Control-Request-Headers' },
    },
    {
      name: 'any origin with credentials: the origin echoed, never *',
      cfg: { credentials: true, max_age: 600 },
      origin: 'https://a.com',
      method: 'DELETE',
      expect: {
        'access-control-allow-origin': 'https://a.com',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': ALL,
        'access-control-max-age': '600',
        vary: 'Origin, Access-Control-Request-Headers',
      },
    },
    { name: 'origin not listed', cfg: { origins: ['https://a.com'] }, origin: 'https://b.com', method: 'GET', expect: CORS_DENIALS.origin },
    {
      name: 'exact origin listed',
      cfg: { origins: ['https://a.com'], headers: ['X-Trace'] },
      origin: 'https://a.com',
      method: 'GET',
      headers: 'X-TRACE',
      expect: { 'access-control-allow-origin': 'https://a.com', 'access-control-allow-methods': ALL, 'access-control-allow-headers': 'x-trace', vary: 'Origin' },
    },
    { name: 'method not listed', cfg: { methods: ['GET', 'POST'] }, origin: 'https://a.com', method: 'PUT', expect: CORS_DENIALS.method },
    { name: 'method case matters (patch is not PATCH)', cfg: {}, origin: 'https://a.com', method: 'patch', expect: CORS_DENIALS.method },
    { name: 'header not listed', cfg: { headers: ['x-trace'] }, origin: 'https://a.com', method: 'GET', headers: 'x-trace,authorization', expect: CORS_DENIALS.header },
    { name: 'empty header list allows none', cfg: { headers: [] }, origin: 'https://a.com', method: 'GET', headers: 'x-a', expect: CORS_DENIALS.header },
    {
      name: 'empty header list, nothing asked',
      cfg: { headers: [] },
      origin: 'https://a.com',
      method: 'GET',
      expect: { 'access-control-allow-origin': '*', 'access-control-allow-methods': ALL },
    },
    {
      name: 'headers * reflects what is asked',
      cfg: { headers: ['*'], origins: ['https://*.example.com'] },
      origin: 'https://x.example.com',
      method: 'POST',
      headers: 'authorization',
      expect: { 'access-control-allow-origin': 'https://x.example.com', 'access-control-allow-methods': ALL, 'access-control-allow-headers': 'authorization', vary: 'Origin, Access-Control-Request-Headers' },
    },
    { name: 'wildcard pattern, bare domain', cfg: { origins: ['https://*.example.com'] }, origin: 'https://example.com', method: 'GET', expect: CORS_DENIALS.origin },
    {
      name: 'null origin with * and no credentials',
      cfg: {},
      origin: 'null',
      method: 'GET',
      expect: { 'access-control-allow-origin': '*', 'access-control-allow-methods': ALL, vary: 'Access-Control-Request-Headers' },
    },
    { name: 'null origin with * and credentials', cfg: { credentials: true }, origin: 'null', method: 'GET', expect: CORS_DENIALS.origin },
    {
      name: 'null origin listed, with credentials',
      cfg: { origins: ['null'], credentials: true, methods: ['GET'], headers: ['x-a'] },
      origin: 'null',
      method: 'GET',
      headers: 'x-a',
      expect: { 'access-control-allow-origin': 'null', 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'x-a', vary: 'Origin' },
    },
    { name: 'null origin not listed', cfg: { origins: ['https://a.com'] }, origin: 'null', method: 'GET', expect: CORS_DENIALS.origin },
  ];
  for (const c of cases) {
    const answer = preflight(policy(c.cfg), c.origin, c.method, c.headers ?? '');
    if (c.expect === null) assert.equal(answer, null, c.name);
    else if ('status' in c.expect && (c.expect.status === 403 || c.expect.status === 204)) {
      assert.equal(answer, c.expect, c.name);
      assert.equal(answer?.status, 403);
      assert.equal(answer?.code, 'TP_ERR_CORS_FORBIDDEN');
      assert.equal(answer?.headers.length, 0, 'a refusal carries no CORS headers');
    } else {
      assert.ok(answer, c.name);
      assert.equal(answer.status, 204, c.name);
      assert.equal(answer.code, null);
      assert.deepEqual(headersOf(answer.headers), c.expect, c.name);
    }
  }
});

test('cors preflight: echoed values belong to the latest call (answers are rewritten, not allocated)', () => {
  const p = policy({ credentials: true });
  const a = preflight(p, 'https://one.com', 'GET', 'x-one');
  assert.equal(headersOf(a!.headers)['access-control-allow-origin'], 'https://one.com');
  const b = preflight(p, 'https://two.com', 'GET', 'x-two');
  assert.equal(a, b, 'the same answer object');
  assert.equal(headersOf(b!.headers)['access-control-allow-origin'], 'https://two.com');
  assert.equal(headersOf(b!.headers)['access-control-allow-headers'], 'x-two');
  const c = preflight(p, 'https://three.com', 'GET', '');
  assert.equal(headersOf(c!.headers)['access-control-allow-headers'], undefined, 'nothing asked: no allow-headers');
  assert.equal(headersOf(c!.headers)['access-control-allow-origin'], 'https://three.com');
});

test('cors actual responses: allowed origins get the headers; Vary: Origin whenever the answer depends on it', () => {
  const star = policy({ exposed_headers: ['X-Request-Id', 'X-RateLimit-Remaining'] });
  assert.deepEqual(headersOf(responseHeaders(star, 'https://a.com')), { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'X-Request-Id, X-RateLimit-Remaining' });
  assert.equal(responseHeaders(star, ''), null, 'no Origin, nothing depends on it');

  const listed = policy({ origins: ['https://a.com', 'https://*.b.com'], credentials: true });
  assert.deepEqual(headersOf(responseHeaders(listed, 'https://x.b.com')), {
    'access-control-allow-origin': 'https://x.b.com',
    'access-control-allow-credentials': 'true',
    vary: 'Origin',
  });
  assert.deepEqual(headersOf(responseHeaders(listed, 'https://evil.com')), { vary: 'Origin' }, 'disallowed: only Vary');
  assert.deepEqual(headersOf(responseHeaders(listed, '')), { vary: 'Origin' }, 'absent Origin: only Vary (caches must not reuse it)');
  assert.deepEqual(headersOf(responseHeaders(listed, 'null')), { vary: 'Origin' });
});

test('cors: preflight and response header lookups cost well under a microsecond', () => {
  const origins = Array.from({ length: 200 }, (_, i) => `https://app${i}.example.com`).concat(['https://*.tenant.example.net']);
  const p = policy({ origins, credentials: true, headers: ['content-type', 'authorization', 'x-trace'] });
  const N = 100_000;
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    if (preflight(p, i & 1 ? 'https://app150.example.com' : 'https://a.b.tenant.example.net', 'PUT', 'content-type,x-trace')?.status === 204) n++;
    if (responseHeaders(p, 'https://app7.example.com') !== null) n++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`# cors preflight + responseHeaders, 201 origins: ${ns.toFixed(0)} ns per pair`);
  assert.equal(n, 2 * N);
  assert.ok(ns < 5000, `${ns} ns`);
});
