// Write-time rules of request-transformer, response-transformer and mock: what the schema cannot say (regexes,
// capture references, templates, framing headers, overlapping status ranges), with field paths.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { RequestTransformerConfig, requestTransformerProblems, parseReplacement, pathCaptures } from './request-transformer.js';
import { ResponseTransformerConfig, responseTransformerProblems } from './response-transformer.js';
import { MockConfig, mockProblems } from './mock.js';

function filled<T>(schema: TSchema, over: Record<string, unknown>): T {
  const cfg = Value.Default(schema, structuredClone(over));
  assert.ok(Value.Check(schema, cfg), JSON.stringify([...Value.Errors(schema, cfg)].map((e) => `${e.path} ${e.message}`)));
  return cfg as T;
}
const req = (over: Record<string, unknown>) => requestTransformerProblems(filled<RequestTransformerConfig>(RequestTransformerConfig, over));
const res = (over: Record<string, unknown>) => responseTransformerProblems(filled<ResponseTransformerConfig>(ResponseTransformerConfig, over));
const mock = (over: Record<string, unknown>) => mockProblems(filled<MockConfig>(MockConfig, over));
const paths = (f: { path: string }[]) => f.map((x) => x.path);

describe('request-transformer config rules', { timeout: 10_000 }, () => {
  test('an empty config is valid and fills every default', () => {
    assert.deepEqual(req({}), []);
    assert.deepEqual(filled(RequestTransformerConfig, {}), {
      headers: { remove: [], rename: {}, replace: {}, add: {} },
      query: { remove: [], rename: {}, replace: {}, add: {} },
      path: null,
      method: null,
      body_template: null,
    });
  });

  test('path pattern: the route regex guard (syntax, nested quantifiers)', () => {
    assert.match(req({ path: { pattern: '([a-z]+)+$', replacement: '/' } })[0]!.message, /nested quantifiers/);
    assert.match(req({ path: { pattern: '(unclosed', replacement: '/' } })[0]!.message, /invalid regular expression/);
    assert.deepEqual(paths(req({ path: { pattern: '(unclosed', replacement: '/' } })), ['/path/pattern']);
  });

  test('replacement: captures must exist; $$ is a dollar; a stray $ is refused', () => {
    assert.deepEqual(req({ path: { pattern: '^/a/(\\d+)/(?<name>\\w+)$', replacement: '/b/$1/$<name>/$2$$' } }), []);
    assert.deepEqual(req({ path: { pattern: '^/a/(\\d+)$', replacement: '/b/$2' } }), [{ path: '/path/replacement', message: '$2 (at character 4): the pattern has 1 capture group(s)' }]);
    assert.match(req({ path: { pattern: '^/a/(\\d+)$', replacement: '/b/$<id>' } })[0]!.message, /no capture group named "id"/);
    assert.match(req({ path: { pattern: '^/a$', replacement: '/b/$x' } })[0]!.message, /must start \$1, \$<name> or \$\$/);
    const caps = pathCaptures('(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)')!;
    assert.deepEqual(caps, { count: 12, names: [] });
    assert.deepEqual(parseReplacement('$12$13', caps), [12, 1, '3']);
  });

  test('templates anywhere are checked with their field path; path captures only with a pattern', () => {
    const problems = req({
      headers: { add: { 'x-a': '{{ header.x | bogus }}' } },
      query: { replace: { 'a/b': '{{ path.1 }}' }, add: { q: '{{ body.id }}' } },
      body_template: { ok: '{{ path.1 }}', list: ['{{ consumer.name }}'] },
    });
    assert.deepEqual(paths(problems), ['/headers/add/x-a', '/query/replace/a~1b', '/query/add/q', '/body_template/ok', '/body_template/list/0']);
    assert.match(problems[2]!.message, /the body is readable only in body_template/);
    assert.deepEqual(req({ path: { pattern: '^/(\\w+)$', replacement: '/x' }, headers: { add: { 'x-a': '{{ path.1 }}' } }, body_template: { a: '{{ path.1 }}' } }), []);
  });

  test('framing headers cannot be transformed', () => {
    assert.deepEqual(paths(req({ headers: { remove: ['Content-Length'], add: { 'transfer-encoding': 'chunked' }, rename: { connection: 'x-c' } } })), [
      '/headers/remove/0',
      '/headers/rename/connection',
      '/headers/add/transfer-encoding',
    ]);
  });
});

describe('response-transformer config rules', { timeout: 10_000 }, () => {
  test('status keys: codes, ranges, classes; ranges may not overlap or run backwards; no body-less targets', () => {
    assert.deepEqual(res({ status: { '404': 200, '500-502': 503, '5xx': 500 } }), []);
    assert.deepEqual(res({ status: { '500-510': 503, '505-520': 502, '420-410': 400, '404': 204 } }), [
      { path: '/status/404', message: "204 cannot carry the upstream's body; map to a status that allows one" },
      { path: '/status/505-520', message: 'range 505-520 overlaps 500-510' },
      { path: '/status/420-410', message: 'range 420-410 ends before it starts' },
    ]);
    assert.equal(Value.Check(ResponseTransformerConfig, Value.Default(ResponseTransformerConfig, { status: { '6xx': 200 } })), false);
  });

  test('response templates may read response data; request-only references are refused', () => {
    assert.deepEqual(res({ headers: { add: { 'x-s': '{{ response.status }}' } }, body_template: { d: '{{ body.x }}', t: '{{ response.header.etag }}' } }), []);
    assert.deepEqual(paths(res({ body_template: { p: '{{ path.1 }}' }, headers: { add: { 'x-b': '{{ $.a }}' } } })), ['/headers/add/x-b', '/body_template/p']);
  });
});

describe('mock config rules', { timeout: 10_000 }, () => {
  test('json or text, not both; no body on 204/304; path patterns guarded; framing headers refused', () => {
    assert.deepEqual(mock({ json: { a: 1 } }), []);
    assert.deepEqual(paths(mock({ json: 1, text: 'x' })), ['/text']);
    assert.deepEqual(paths(mock({ status: 204, text: 'x' })), ['/status']);
    assert.deepEqual(mock({ status: 204 }), []);
    assert.deepEqual(paths(mock({ paths: ['^/ok$', '(a+)+'] })), ['/paths/1']);
    assert.deepEqual(paths(mock({ headers: { 'Content-Length': '3' } })), ['/headers/Content-Length']);
  });
});
