import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnpikeError } from '../errors.js';
import {
  compileJsonTemplate,
  compileTextTemplate,
  jsonTemplateProblems,
  textTemplateProblems,
  TRANSFORM_TEMPLATE_LIMITS,
  TransformRenderError,
  type TransformInput,
  type TransformTemplateOptions,
} from './index.js';

const REQ: TransformTemplateOptions = { kind: 'request', captures: null };
const REQ_CAPS: TransformTemplateOptions = { kind: 'request', captures: { count: 2, names: ['id'] } };
const RES: TransformTemplateOptions = { kind: 'response', captures: null };

function input(over: Partial<{ body: unknown; headers: Record<string, string>; query: Record<string, string>; caps: Record<string, string>; consumer: { id: string; username: string } | null; status: number; responseHeaders: Record<string, string> }> = {}): TransformInput {
  const h = over.headers ?? {};
  const q = over.query ?? {};
  const caps = over.caps ?? {};
  const rh = over.responseHeaders ?? {};
  return {
    body: over.body,
    header: (n) => h[n],
    query: (n) => q[n],
    path: (c) => (c === null ? '/orders/7' : caps[c]),
    consumer: (f) => over.consumer?.[f],
    method: () => 'POST',
    responseStatus: () => over.status,
    responseHeader: (n) => rh[n],
  };
}

const render = (template: unknown, inp: TransformInput = input(), opts: TransformTemplateOptions = REQ): unknown => JSON.parse(compileJsonTemplate(template, opts).render(inp));

describe('transform templates: parse errors', { timeout: 10_000 }, () => {
  const bad: Array<[string, string, RegExp, number]> = [
    ['unterminated', 'a {{ body.x', /unterminated placeholder/, 3],
    ['a second {{ before the close', '{{ body.x {{ y }}', /unterminated placeholder/, 1],
    ['empty', 'x {{   }}', /empty expression/, 5],
    ['unknown root', '{{ process.env }}', /unknown name "process"/, 4],
    ['a call', '{{ body.f() }}', /unexpected "\("/, 10],
    ['unknown filter', '{{ body.a | uper }}', /unknown filter "uper": use default, upper/, 13],
    ['default without a value', '{{ body.a | default }}', /default needs a value/, 13],
    ['default with code', '{{ body.a | default(x) }}', /expected a literal/, 21],
    ['an argument to upper', '{{ body.a | upper(1) }}', /upper takes no arguments/, 18],
    ['a dangling dot', '{{ body. }}', /expected a name after "."/, 9],
    ['a bad index', '{{ body[a] }}', /integer index or a "quoted" key/, 9],
    ['an unclosed index', '{{ body[1 }}', /expected "\]"/, 11],
    ['header without a name', '{{ header }}', /header\.<name>/, 4],
    ['consumer field', '{{ consumer.password }}', /consumer has id and username/, 12],
    ['method with a field', '{{ method.x }}', /method has no fields/, 10],
    ['response data in a request template', '{{ response.status }}', /only in response templates/, 4],
    ['path captures without a pattern', '{{ path.1 }}', /only in a request-transformer with a path pattern/, 8],
    ['an unterminated string literal (its quote hides the closing braces)', '{{ body.a | default("x) }}', /unterminated placeholder/, 1],
  ];
  for (const [what, text, message, char] of bad) {
    test(`refuses ${what}, pointing at character ${char}`, () => {
      const problems = textTemplateProblems(text, REQ, '/headers/add/x');
      assert.equal(problems.length, 1, text);
      assert.equal(problems[0]!.path, '/headers/add/x');
      assert.match(problems[0]!.message, message);
      assert.match(problems[0]!.message, new RegExp(`\\(at character ${char}\\)$`));
    });
  }

  test('path captures are checked against the pattern: count and names', () => {
    assert.deepEqual(textTemplateProblems('{{ path.2 }} {{ path.id }} {{ path }}', REQ_CAPS, '/p'), []);
    assert.match(textTemplateProblems('{{ path.3 }}', REQ_CAPS, '/p')[0]!.message, /has 2 capture group\(s\), not 3/);
    assert.match(textTemplateProblems('{{ path.nope }}', REQ_CAPS, '/p')[0]!.message, /no capture group named "nope"/);
    assert.match(textTemplateProblems('{{ path.1 }}', RES, '/p')[0]!.message, /only in a request-transformer/);
  });

  test('JSON templates list every bad string with its JSON pointer (keys escaped)', () => {
    const problems = jsonTemplateProblems({ items: ['ok {{ body.a }}', '{{ body.a | nope }}'], 'a/b': { '~c': '{{ x }}' } }, REQ, '/body_template');
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/body_template/items/1', '/body_template/a~1b/~0c'],
    );
    assert.throws(
      () => compileJsonTemplate({ a: '{{ nope }}' }, REQ, '/body_template'),
      (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_UNPROCESSABLE' && e.fields?.[0]?.path === '/body_template/a' && /unknown name "nope"/.test(e.message),
    );
  });

  test('templates nesting too deep or too large are refused at write time', () => {
    let deep: unknown = 'x';
    for (let i = 0; i <= TRANSFORM_TEMPLATE_LIMITS.templateDepth; i++) deep = [deep];
    assert.match(jsonTemplateProblems(deep, REQ, '/t')[0]!.message, /nests deeper than 32 levels/);
    const big = { s: 'x'.repeat(TRANSFORM_TEMPLATE_LIMITS.templateChars) };
    assert.deepEqual(jsonTemplateProblems(big, REQ, '/t'), [{ path: '/t', message: 'template is larger than 65536 characters as JSON' }]);
    const many = Array.from({ length: TRANSFORM_TEMPLATE_LIMITS.placeholdersPerString + 1 }, () => '{{ body }}').join('');
    assert.match(textTemplateProblems(many, REQ, '/t')[0]!.message, /more than 64 placeholders/);
    assert.match(textTemplateProblems(`{{ body.${'a'.repeat(600)} }}`, REQ, '/t')[0]!.message, /longer than 512 characters/);
  });
});

describe('transform templates: rendering', { timeout: 10_000 }, () => {
  const body = { count: 3, price: '12.50', ok: true, user: { name: 'Ada', tags: ['a', 'b'] }, items: [{ name: 'first' }, { name: 'last' }], nothing: null };

  test('a whole-string reference keeps the type; a missing one renders null', () => {
    assert.deepEqual(
      render({ n: '{{ body.count }}', b: '{{ body.ok }}', o: '{{ body.user }}', a: '{{ $.user.tags }}', z: '{{ body.nothing }}', m: '{{ body.missing.deeper }}', all: '{{ $ }}' }, input({ body })),
      { n: 3, b: true, o: { name: 'Ada', tags: ['a', 'b'] }, a: ['a', 'b'], z: null, m: null, all: body },
    );
  });

  test('placeholders inside text are printed: missing and null as nothing, objects as JSON', () => {
    assert.deepEqual(render({ s: 'n={{ body.count }}, u={{ body.user.tags }}, m=[{{ body.missing }}], z=[{{ body.nothing }}]' }, input({ body })), {
      s: 'n=3, u=["a","b"], m=[], z=[]',
    });
  });

  test('indexes, negative indexes and quoted keys', () => {
    assert.deepEqual(render(['{{ body.items[0].name }}', '{{ body.items[-1].name }}', '{{ body.items.1.name }}', '{{ body["user"].name }}', '{{ body.items[5] }}'], input({ body })), [
      'first',
      'last',
      'last',
      'Ada',
      null,
    ]);
  });

  test('request data: headers (any case), query, path, captures, consumer, method', () => {
    const inp = input({ headers: { 'x-user': 'bob' }, query: { id: '42' }, caps: { '1': 'orders', id: '7' }, consumer: { id: 'c-1', username: 'carol' } });
    assert.deepEqual(
      JSON.parse(
        compileJsonTemplate(
          { h: '{{ header.X-User }}', q: '{{ query.id | number }}', p: '{{ path }}', c1: '{{ path.1 }}', cid: '{{ path.id }}', who: '{{ consumer.username }}', id: '{{ consumer.id }}', m: '{{ method }}', absent: '{{ header.nope }}' },
          REQ_CAPS,
        ).render(inp),
      ),
      { h: 'bob', q: 42, p: '/orders/7', c1: 'orders', cid: '7', who: 'carol', id: 'c-1', m: 'POST', absent: null },
    );
  });

  test('response data in response templates', () => {
    assert.deepEqual(render({ s: '{{ response.status }}', t: '{{ response.header.content-type }}', d: '{{ body.count }}' }, input({ body, status: 201, responseHeaders: { 'content-type': 'application/json' } }), RES), {
      s: 201,
      t: 'application/json',
      d: 3,
    });
  });

  test('filters: default, upper, lower, number, string, json, chained', () => {
    assert.deepEqual(
      render(
        {
          d1: '{{ body.missing | default("x") }}',
          d2: '{{ body.nothing | default(0) }}',
          d3: '{{ body.count | default(9) }}',
          d4: '{{ body.missing | default(null) }}',
          up: '{{ body.user.name | upper }}',
          low: '{{ body.user.name | lower }}',
          num: '{{ body.price | number }}',
          nan: '{{ body.user.name | number }}',
          nan2: '{{ body.user.name | number | default(-1) }}',
          str: '{{ body.count | string }}',
          js: '{{ body.user | json }}',
          chain: '{{ body.missing | default("abc") | upper }}',
          brace: '{{ body.missing | default("}}") }}',
        },
        input({ body }),
      ),
      { d1: 'x', d2: 0, d3: 3, d4: null, up: 'ADA', low: 'ada', num: 12.5, nan: null, nan2: -1, str: '3', js: '{"name":"Ada","tags":["a","b"]}', chain: 'ABC', brace: '}}' },
    );
  });

  test('\\{{ writes a literal {{; a template without placeholders renders as written', () => {
    assert.deepEqual(render({ s: 'a \\{{ body }} b', n: [1, 2.5, false, null, { k: 'v' }] }), { s: 'a {{ body }} b', n: [1, 2.5, false, null, { k: 'v' }] });
    const t = compileTextTemplate('plain', REQ);
    assert.equal(t.literal, 'plain');
    assert.equal(compileTextTemplate('{{ method }}', REQ).literal, null);
  });

  test('no prototype access: constructor, __proto__, toString and array length resolve to nothing', () => {
    const own = JSON.parse('{"__proto__": {"polluted": true}, "constructor": "mine"}') as unknown;
    assert.deepEqual(
      render({ c: '{{ body.constructor }}', p: '{{ body.__proto__ }}', t: '{{ body.user.toString }}', l: '{{ body.items.length }}', s: '{{ body.user.name.length }}', pp: '{{ body.__proto__.polluted }}' }, input({ body })),
      { c: null, p: null, t: null, l: null, s: null, pp: null },
    );
    // A parsed document's own keys of those names are data, and are read as data.
    assert.deepEqual(render({ c: '{{ body.constructor }}', p: '{{ body.__proto__.polluted }}' }, input({ body: own })), { c: 'mine', p: true });
    // A template key named __proto__ is an ordinary key of the output, and nothing is polluted.
    const out = compileJsonTemplate(JSON.parse('{"__proto__": {"x": "{{ method }}"}}'), REQ).render(input());
    assert.equal(out, '{"__proto__":{"x":"POST"}}');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test('output size is bounded: a document inserted many times fails before it is built', () => {
    const big = { blob: 'x'.repeat(200_000) };
    const t = compileJsonTemplate(Array.from({ length: 10 }, () => '{{ $ }}'), REQ);
    assert.throws(() => t.render(input({ body: big })), (e: unknown) => e instanceof TransformRenderError && /larger than 1048576 characters/.test(e.message));
    // Text interpolation and the json filter are bounded too.
    const t2 = compileJsonTemplate({ s: Array.from({ length: 10 }, () => '{{ body.blob }}').join('') }, REQ);
    assert.throws(() => t2.render(input({ body: big })), TransformRenderError);
    const header = compileTextTemplate('{{ body.blob }}', REQ);
    assert.throws(() => header.render(input({ body: big })), (e: unknown) => e instanceof TransformRenderError && /longer than 16384 characters/.test(e.message));
    assert.equal(compileJsonTemplate(['{{ $ }}', '{{ $ }}'], REQ).render(input({ body: { blob: 'y'.repeat(1000) } })).length, 2 * 1011 + 3);
  });

  test('output depth is bounded: a deeply nested inserted document fails cleanly', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    assert.throws(() => compileJsonTemplate({ x: '{{ $ }}' }, REQ).render(input({ body: deep })), (e: unknown) => e instanceof TransformRenderError && /deeper than 64 levels/.test(e.message));
    let ok: unknown = 1;
    for (let i = 0; i < 60; i++) ok = { d: ok };
    assert.deepEqual(render({ x: '{{ $ }}' }, input({ body: ok })), { x: ok });
  });
});
