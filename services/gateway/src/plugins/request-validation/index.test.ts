import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { RequestValidationConfig, TurnpikeError, openApiRequestProblems, requestValidationProblems, type RequestValidationConfig as Cfg } from '@turnpike/common';
import { EXPLAIN_MAX_BODY, MAX_PROBLEMS, compileRequestValidation, validateRequest, type RequestInput, type RequestValidationDenial } from './index.js';

function config(partial: Partial<Cfg>): Cfg {
  const c = Value.Default(RequestValidationConfig, structuredClone(partial)) as Cfg;
  assert.ok(Value.Check(RequestValidationConfig, c), `valid config ${JSON.stringify(partial)}`);
  return c;
}

/** A petstore-like OpenAPI 3.0 document: $refs to components, nullable, readOnly, exclusiveMinimum, formats. */
const PETSTORE_30 = {
  openapi: '3.0.3',
  info: { title: 'Petstore', version: '1.0.0' },
  servers: [{ url: 'https://api.example.com/v1' }],
  paths: {
    '/pets': {
      get: {
        operationId: 'listPets',
        parameters: [
          { $ref: '#/components/parameters/Limit' },
          { name: 'tags', in: 'query', schema: { type: 'array', items: { type: 'string', maxLength: 16 } } },
          { name: 'status', in: 'query', schema: { type: 'string', enum: ['available', 'pending', 'sold'] } },
          { name: 'ids', in: 'query', explode: false, schema: { type: 'array', items: { type: 'integer' } } },
          { name: 'filter', in: 'query', style: 'deepObject', schema: { type: 'object', properties: { minAge: { type: 'integer' } }, additionalProperties: false } },
          { name: 'X-Request-Budget', in: 'header', schema: { type: 'integer', minimum: 1 } },
          { name: 'Accept', in: 'header', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'ok' } },
      },
      post: {
        operationId: 'createPet',
        parameters: [{ name: 'X-Tenant', in: 'header', required: true, schema: { type: 'string', pattern: '^[a-z]{2,16}$' } }],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { $ref: '#/components/schemas/NewPet' } },
            'application/x-www-form-urlencoded': { schema: { type: 'object' } },
          },
        },
        responses: { '201': { description: 'created' } },
      },
    },
    '/pets/{petId}': {
      parameters: [{ name: 'petId', in: 'path', required: true, schema: { type: 'integer', format: 'int64', minimum: 1 } }],
      get: { responses: { '200': { description: 'ok' } } },
      put: { requestBody: { $ref: '#/components/requestBodies/PetBody' }, responses: { '200': { description: 'ok' } } },
      delete: { responses: { '204': { description: 'gone' } } },
    },
    '/pets/mine': { get: { responses: { '200': { description: 'ok' } } } },
    '/owners/{ownerId}/pets/{name}': {
      get: {
        parameters: [
          { name: 'ownerId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          { name: 'name', in: 'path', required: true, schema: { type: 'string', minLength: 2 } },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
    '/reports/{year}.json': {
      get: { parameters: [{ name: 'year', in: 'path', required: true, schema: { type: 'integer', minimum: 2000 } }], responses: { '200': { description: 'ok' } } },
    },
  },
  components: {
    parameters: { Limit: { name: 'limit', in: 'query', schema: { type: 'integer', format: 'int32', minimum: 1, maximum: 100 } } },
    requestBodies: { PetBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } } } },
    schemas: {
      NewPet: {
        type: 'object',
        required: ['name', 'species'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64, example: 'Rex' },
          species: { type: 'string', enum: ['dog', 'cat', 'bird'] },
          birthday: { type: 'string', format: 'date', nullable: true },
          weightKg: { type: 'number', minimum: 0, exclusiveMinimum: true },
          owner: { $ref: '#/components/schemas/Owner' },
          nickname: { type: 'string', nullable: true, enum: ['a', 'b'] },
        },
      },
      Pet: {
        allOf: [{ $ref: '#/components/schemas/NewPet' }],
        type: 'object',
        required: ['id'],
        properties: { id: { type: 'integer', readOnly: true } },
      },
      Owner: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, email: { type: 'string', format: 'email' }, address: { allOf: [{ $ref: '#/components/schemas/Address' }], nullable: true } },
        'x-internal': true,
      },
      Address: { type: 'object', required: ['city'], properties: { city: { type: 'string' } } },
    },
  },
};

/** An OpenAPI 3.1 document: type arrays for null, numeric exclusiveMinimum, $ref with siblings, const, $defs. */
const BOOKS_31 = {
  openapi: '3.1.0',
  info: { title: 'Books', version: '2' },
  paths: {
    '/books': {
      post: {
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Book' } }, 'application/merge-patch+json': { schema: { type: 'object' } } } },
        responses: { '201': { description: 'created' } },
      },
      get: {
        parameters: [
          { name: 'published', in: 'query', schema: { type: 'boolean' } },
          { name: 'q', in: 'query', content: { 'application/json': { schema: { type: 'object', required: ['field'], properties: { field: { const: 'title' } } } } } },
          { name: 'sort', in: 'query', style: 'pipeDelimited', schema: { type: 'array', items: { enum: ['title', 'year'] } } },
          { name: 'X-Fields', in: 'header', schema: { type: 'array', items: { enum: ['title', 'year'] } } },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
    '/books/{isbn}': {
      patch: {
        parameters: [{ name: 'isbn', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9-]{10,17}$' } }],
        requestBody: { required: true, content: { 'application/*': { schema: { $ref: '#/components/schemas/BookPatch' } } } },
        responses: { '200': { description: 'ok' } },
      },
    },
  },
  components: {
    schemas: {
      Book: {
        type: 'object',
        required: ['title', 'year', 'id'],
        properties: {
          id: { type: 'string', readOnly: true },
          title: { type: 'string', minLength: 1 },
          year: { type: 'integer', exclusiveMinimum: 1400 },
          subtitle: { type: ['string', 'null'] },
          authors: { type: 'array', items: { $ref: '#/components/schemas/Book/$defs/Author' }, maxItems: 3 },
          edition: { $ref: '#/components/schemas/Edition', description: 'a $ref with siblings', maximum: 10 },
        },
        $defs: { Author: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
      },
      BookPatch: { type: 'object', minProperties: 1, properties: { title: { type: 'string' } } },
      Edition: { type: 'integer', minimum: 1 },
    },
  },
};

function req(method: string, path: string, more: { query?: string; headers?: Record<string, string>; body?: unknown; contentType?: string } = {}): RequestInput {
  const headers: Record<string, string> = { ...(more.headers ?? {}) };
  let body: Buffer | null = null;
  if (more.body !== undefined) {
    body = Buffer.isBuffer(more.body) ? more.body : Buffer.from(typeof more.body === 'string' ? more.body : JSON.stringify(more.body));
    headers['content-type'] ??= more.contentType ?? 'application/json';
  }
  return { method, path, query: more.query ?? '', header: (n) => headers[n], body };
}

function denied(d: RequestValidationDenial | null, label: string): RequestValidationDenial {
  assert.ok(d !== null, `${label}: expected a denial`);
  return d;
}

const petstore = compileRequestValidation(config({}), PETSTORE_30);
const books = compileRequestValidation(config({}), BOOKS_31);

test('request-validation 3.0: valid requests pass (params coerced, $refs, nullable, readOnly not required in requests)', () => {
  const ok: [string, RequestInput][] = [
    ['list with params', req('GET', '/pets', { query: 'limit=20&tags=a&tags=b&status=sold&ids=1,2,3&filter%5BminAge%5D=2', headers: { 'x-request-budget': '5' } })],
    ['list without params', req('GET', '/pets')],
    ['HEAD falls back to GET', req('HEAD', '/pets', { query: 'limit=1' })],
    ['create', req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: { name: "O'Brien", species: 'dog', birthday: null, weightKg: 0.5, owner: { name: 'Ann', email: 'ann@example.com', address: null }, nickname: null } })],
    ['create, charset param', req('POST', '/pets', { headers: { 'x-tenant': 'acme', 'content-type': 'application/json; charset=utf-8' }, body: { name: 'Rex', species: 'cat' } })],
    ['form body listed without JSON: not checked', req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: 'name=Rex', contentType: 'application/x-www-form-urlencoded' })],
    ['path param int64', req('GET', '/pets/9007199254740991')],
    ['literal path beats template', req('GET', '/pets/mine')],
    ['put: readOnly id not required', req('PUT', '/pets/7', { body: { name: 'Rex', species: 'bird' } })],
    ['two path params, percent-decoded', req('GET', '/owners/3f2504e0-4f89-41d3-9a0c-0305e82c3301/pets/Mr%20Whiskers')],
    ['param inside a segment', req('GET', '/reports/2024.json')],
    ['trailing slash', req('GET', '/pets/')],
    ['OPTIONS unmatched (CORS preflight) passes', req('OPTIONS', '/pets')],
  ];
  for (const [label, r] of ok) assert.equal(validateRequest(petstore, r), null, label);
});

test('request-validation 3.0: each part failing is listed with where and what (400 TP_ERR_REQUEST_INVALID)', () => {
  const cases: [string, RequestInput, { in: string; path: string; message: RegExp }[]][] = [
    ['limit not an integer', req('GET', '/pets', { query: 'limit=ten' }), [{ in: 'query', path: '/limit', message: /integer/ }]],
    ['limit out of range', req('GET', '/pets', { query: 'limit=1000' }), [{ in: 'query', path: '/limit', message: /<= 100/ }]],
    ['int32 overflow', req('GET', '/pets', { query: 'limit=99999999999' }), [{ in: 'query', path: '/limit', message: /<= 100/ }]],
    ['empty value is not 0', req('GET', '/pets', { query: 'limit=' }), [{ in: 'query', path: '/limit', message: /empty/ }]],
    ['enum lists the allowed values', req('GET', '/pets', { query: 'status=lost' }), [{ in: 'query', path: '/status', message: /"available", "pending", "sold"/ }]],
    ['array item', req('GET', '/pets', { query: 'ids=1,x' }), [{ in: 'query', path: '/ids/1', message: /integer/ }]],
    ['deepObject extra key', req('GET', '/pets', { query: 'filter[color]=red' }), [{ in: 'query', path: '/filter/color', message: /not allowed/ }]],
    ['malformed escape', req('GET', '/pets', { query: 'limit=%zz' }), [{ in: 'query', path: '', message: /percent-escape/ }]],
    ['header coerced and checked', req('GET', '/pets', { headers: { 'x-request-budget': '0' } }), [{ in: 'header', path: '/x-request-budget', message: />= 1/ }]],
    ['path param below minimum', req('GET', '/pets/0'), [{ in: 'path', path: '/petId', message: />= 1/ }]],
    ['path param not integer', req('DELETE', '/pets/abc'), [{ in: 'path', path: '/petId', message: /integer/ }]],
    ['path format uuid', req('GET', '/owners/nope/pets/Rex'), [{ in: 'path', path: '/ownerId', message: /uuid/ }]],
    ['segment param', req('GET', '/reports/1999.json'), [{ in: 'path', path: '/year', message: />= 2000/ }]],
    ['required header missing', req('POST', '/pets', { body: { name: 'Rex', species: 'dog' } }), [{ in: 'header', path: '/x-tenant', message: /required/ }]],
    ['body required', req('POST', '/pets', { headers: { 'x-tenant': 'acme' } }), [{ in: 'body', path: '', message: /required/ }]],
    [
      'body fields, all listed',
      req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: { species: 'fish', weightKg: 0, extra: 1, owner: {}, birthday: '2020-13-45' } }),
      [
        { in: 'body', path: '/name', message: /required/ },
        { in: 'body', path: '/extra', message: /not allowed/ },
        { in: 'body', path: '/species', message: /one of/ },
        { in: 'body', path: '/birthday', message: /format "date"/ },
        { in: 'body', path: '/weightKg', message: /> 0/ },
        { in: 'body', path: '/owner/name', message: /required/ },
      ],
    ],
    ['nullable without type (allOf) still checks the object', req('PUT', '/pets/1', { body: { name: 'Rex', species: 'dog', owner: { name: 'A', address: { town: 'x' } } } }), [{ in: 'body', path: '/owner/address', message: /./ }]],
    ['broken JSON', req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: '{"name": "Rex",' }), [{ in: 'body', path: '', message: /not valid JSON/ }]],
    ['unknown path', req('GET', '/dogs'), [{ in: 'path', path: '', message: /no operation.*GET \/dogs/ }]],
    ['method not in the document', req('PATCH', '/pets/1'), [{ in: 'path', path: '', message: /no operation/ }]],
    ['deeper than any template', req('GET', '/pets/1/toys'), [{ in: 'path', path: '', message: /no operation/ }]],
  ];
  for (const [label, r, expected] of cases) {
    const d = denied(validateRequest(petstore, r), label);
    assert.equal(d.code, 'TP_ERR_REQUEST_INVALID', label);
    assert.equal(d.status, 400, label);
    for (const e of expected) {
      assert.ok(
        d.problems.some((p) => p.in === e.in && p.path === e.path && e.message.test(p.message)),
        `${label}: expected ${e.in} ${e.path} ~ ${e.message}, got ${JSON.stringify(d.problems)}`,
      );
    }
    if (label === 'body fields, all listed') assert.match(d.message, /and \d+ more/);
  }
});

test('request-validation: a body type the operation does not list is 415 TP_ERR_UNSUPPORTED_MEDIA_TYPE', () => {
  for (const [ct, label] of [
    ['text/plain', 'text'],
    ['application/xml', 'xml'],
  ] as const) {
    const d = denied(validateRequest(petstore, req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: '<pet/>', contentType: ct })), label);
    assert.equal(d.code, 'TP_ERR_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(d.status, 415);
    assert.match(d.message, /application\/json, application\/x-www-form-urlencoded/);
  }
  const noType: RequestInput = { method: 'POST', path: '/pets', query: '', header: (n) => (n === 'x-tenant' ? 'acme' : undefined), body: Buffer.from('{}') };
  assert.equal(denied(validateRequest(petstore, noType), 'no content-type').status, 415);
});

test('request-validation 3.1: type arrays, numeric exclusiveMinimum, $ref siblings, nested $defs, +json and media ranges, content params', () => {
  const ok: [string, RequestInput][] = [
    ['create', req('POST', '/books', { body: { title: 'Dune', year: 1965, subtitle: null, authors: [{ name: 'Frank Herbert' }], edition: 2 } })],
    ['merge-patch+json listed', req('POST', '/books', { body: { anything: true }, contentType: 'application/merge-patch+json' })],
    ['query: boolean, JSON content, pipe-delimited; header list', req('GET', '/books', { query: `published=true&q=${encodeURIComponent('{"field":"title"}')}&sort=title|year`, headers: { 'x-fields': 'title, year' } })],
    ['application/* range matches any application type', req('PATCH', '/books/978-0441013593', { body: { title: 'Dune' }, contentType: 'application/vnd.books+json' })],
  ];
  for (const [label, r] of ok) assert.equal(validateRequest(books, r), null, label);
  const bad: [string, RequestInput, string, RegExp][] = [
    ['year at the exclusive bound', req('POST', '/books', { body: { title: 'X', year: 1400 } }), '/year', /> 1400/],
    ['subtitle wrong type', req('POST', '/books', { body: { title: 'X', year: 2000, subtitle: 5 } }), '/subtitle', /string,null|string/],
    ['nested $defs author', req('POST', '/books', { body: { title: 'X', year: 2000, authors: [{}] } }), '/authors/0/name', /required/],
    ['$ref sibling applies in 3.1', req('POST', '/books', { body: { title: 'X', year: 2000, edition: 11 } }), '/edition', /<= 10/],
    ['content param JSON', req('GET', '/books', { query: `q=${encodeURIComponent('{"field":"year"}')}` }), '/q/field', /constant/],
    ['content param not JSON', req('GET', '/books', { query: 'q=nope' }), '/q', /not valid JSON/],
    ['pipe-delimited item', req('GET', '/books', { query: 'sort=title|price' }), '/sort/1', /one of/],
    ['boolean', req('GET', '/books', { query: 'published=yes' }), '/published', /boolean/],
    ['header list item', req('GET', '/books', { headers: { 'x-fields': 'title,price' } }), '/x-fields/1', /one of/],
    ['minProperties', req('PATCH', '/books/978-0441013593', { body: {} }), '', /fewer than 1/],
  ];
  for (const [label, r, path, message] of bad) {
    const d = denied(validateRequest(books, r), label);
    assert.ok(d.problems.some((p) => p.path === path && message.test(p.message)), `${label}: ${JSON.stringify(d.problems)}`);
  }
});

test('request-validation: problems are bounded to 20, and a large failing body reports its first error only', () => {
  const many = Array.from({ length: 50 }, () => ({}));
  const d = denied(validateRequest(books, req('POST', '/books', { body: { title: 'X', year: 2000, authors: many } })), 'many');
  assert.ok(d.problems.length <= MAX_PROBLEMS && d.problems.length >= 1);
  const manyOwnersSchema = compileRequestValidation(config({ source: 'schemas', body_schema: { type: 'array', items: { type: 'integer' } } }), null);
  const small = denied(validateRequest(manyOwnersSchema, req('POST', '/x', { body: Array.from({ length: 100 }, () => 'x') })), 'small');
  assert.equal(small.problems.length, MAX_PROBLEMS);
  const bigBody = Array.from({ length: EXPLAIN_MAX_BODY / 4 + 10 }, () => 'x');
  const big = denied(validateRequest(manyOwnersSchema, req('POST', '/x', { body: bigBody })), 'big');
  assert.equal(big.problems.length, 1);
  assert.equal(big.problems[0]!.path, '/0');
});

test('request-validation: hostile bodies: nesting deeper than the stack under a recursive schema is a 400, not a crash', () => {
  const tree = compileRequestValidation(
    config({ source: 'schemas', body_schema: { $ref: '#/$defs/node', $defs: { node: { type: 'object', properties: { child: { $ref: '#/$defs/node' } } } } } }),
    null,
  );
  assert.equal(validateRequest(tree, req('POST', '/t', { body: { child: { child: {} } } })), null);
  const deep = `${'{"child":'.repeat(200_000)}{}${'}'.repeat(200_000)}`;
  const d = denied(validateRequest(tree, req('POST', '/t', { body: deep })), 'deep');
  assert.equal(d.status, 400);
  assert.match(d.problems[0]!.message, /nested too deeply/);
});

test('request-validation: base_path is stripped before matching; unmatched: allow proxies what the document does not describe', () => {
  const withBase = compileRequestValidation(config({ base_path: '/v1' }), PETSTORE_30);
  assert.equal(validateRequest(withBase, req('GET', '/v1/pets/5')), null);
  assert.equal(denied(validateRequest(withBase, req('GET', '/v1/pets/x')), 'bad id').problems[0]!.path, '/petId');
  assert.match(denied(validateRequest(withBase, req('GET', '/pets/5')), 'outside base').problems[0]!.message, /no operation/);
  assert.match(denied(validateRequest(withBase, req('GET', '/v10/pets/5')), 'not on a segment boundary').problems[0]!.message, /no operation/);
  const lenient = compileRequestValidation(config({ unmatched: 'allow' }), PETSTORE_30);
  assert.equal(validateRequest(lenient, req('GET', '/dogs')), null);
  assert.equal(denied(validateRequest(lenient, req('GET', '/pets', { query: 'limit=0' })), 'matched still checked').problems[0]!.path, '/limit');
  const bodyOnly = compileRequestValidation(config({ parts: ['body'] }), PETSTORE_30);
  assert.equal(validateRequest(bodyOnly, req('GET', '/pets/abc', { query: 'limit=x' })), null);
  assert.equal(bodyOnly.inspectsBody, true);
  assert.equal(compileRequestValidation(config({ parts: ['query'] }), PETSTORE_30).inspectsBody, false);
});

test('request-validation with configured schemas: body (JSON only), whole query object, named headers', () => {
  const p = compileRequestValidation(
    config({
      source: 'schemas',
      body_schema: { type: 'object', required: ['amount'], properties: { amount: { type: 'number', minimum: 0 }, currency: { enum: ['EUR', 'USD'] } } },
      query_schema: { type: 'object', properties: { page: { type: 'integer', minimum: 1 }, tag: { type: 'array', items: { type: 'string' } } }, additionalProperties: false },
      header_schema: { type: 'object', required: ['Idempotency-Key'], properties: { 'Idempotency-Key': { type: 'string', minLength: 8 } } },
    }),
    null,
  );
  const h = { 'idempotency-key': 'abcdefgh-1' };
  assert.equal(validateRequest(p, req('POST', '/anything', { query: 'page=2&tag=a&tag=b', headers: h, body: { amount: 5, currency: 'EUR' } })), null);
  assert.equal(validateRequest(p, req('GET', '/other', { headers: h })), null, 'empty body passes when body_required is false');
  const d = denied(validateRequest(p, req('POST', '/x', { query: 'page=0&debug=1', headers: { 'idempotency-key': 'short' }, body: { amount: -1 } })), 'bad');
  assert.deepEqual(
    d.problems.map((x) => `${x.in} ${x.path}`).sort(),
    ['body /amount', 'header /idempotency-key', 'query /debug', 'query /page'],
  );
  assert.equal(denied(validateRequest(p, req('POST', '/x', { headers: h, body: 'amount=5', contentType: 'application/x-www-form-urlencoded' })), 'form').status, 415);
  const missing = denied(validateRequest(p, req('GET', '/x')), 'missing header');
  assert.deepEqual(missing.problems, [{ in: 'header', path: '/idempotency-key', message: 'is required' }]);
  const required = compileRequestValidation(config({ source: 'schemas', body_schema: { type: 'object' }, body_required: true }), null);
  assert.equal(denied(validateRequest(required, req('POST', '/x')), 'required body').problems[0]!.message, 'is required');
});

test('request-validation config: bad schemas are refused with field paths (problems at write time, TP_ERR_VALIDATION at compile)', () => {
  const bad = config({ source: 'schemas', body_schema: { type: 'object', properties: { age: { type: 'integr' } } }, query_schema: { type: 'object', properties: { q: { pattern: '(' } } } });
  const problems = requestValidationProblems(bad);
  assert.ok(problems.some((p) => p.path.startsWith('/body_schema/properties/age/type')), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.path.startsWith('/query_schema')), JSON.stringify(problems));
  assert.throws(
    () => compileRequestValidation(bad, null),
    (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION' && (e.fields ?? []).some((f) => f.path.startsWith('/body_schema')),
  );
  assert.deepEqual(requestValidationProblems(config({ source: 'schemas' })).map((p) => p.path), ['/body_schema']);
  assert.deepEqual(requestValidationProblems(config({ body_schema: { type: 'object' } })).map((p) => p.path), ['/body_schema']);
  assert.deepEqual(requestValidationProblems(config({ source: 'schemas', header_schema: { type: 'object' } })).map((p) => p.path), ['/header_schema/properties']);
  assert.equal(Value.Check(RequestValidationConfig, Value.Default(RequestValidationConfig, { base_path: '/v1/' })), false, 'base_path without trailing slash');
  assert.throws(() => compileRequestValidation(config({}), null), (e: unknown) => e instanceof TurnpikeError && e.fields?.[0]?.path === '/source');
});

test('request-validation OpenAPI documents: unusable ones are refused with paths into the document', () => {
  assert.deepEqual(openApiRequestProblems(PETSTORE_30), []);
  assert.deepEqual(openApiRequestProblems(BOOKS_31), []);
  assert.match(openApiRequestProblems({ swagger: '2.0', paths: {} })[0]!.message, /OpenAPI 3\.0\.x or 3\.1\.x/);
  const badRef = structuredClone(PETSTORE_30) as Record<string, any>;
  badRef.paths['/pets'].get.parameters[0] = { $ref: '#/components/parameters/Nope' };
  assert.deepEqual(openApiRequestProblems(badRef).map((p) => p.path), ['/paths/~1pets/get/parameters/0/$ref']);
  const external = structuredClone(PETSTORE_30) as Record<string, any>;
  external.paths['/pets'].post.requestBody = { $ref: 'bodies.yaml#/Pet' };
  assert.match(openApiRequestProblems(external)[0]!.message, /not a local reference/);
  const badSchema = structuredClone(BOOKS_31) as Record<string, any>;
  badSchema.components.schemas.BookPatch = { type: 'objekt' };
  const problems = openApiRequestProblems(badSchema);
  assert.ok(problems.length > 0, 'a component that is not a schema');
  assert.throws(() => compileRequestValidation(config({}), badSchema), (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION');
  const missingSchemaRef = structuredClone(PETSTORE_30) as Record<string, any>;
  missingSchemaRef.components.schemas.NewPet.properties.owner = { $ref: '#/components/schemas/Missing' };
  assert.throws(
    () => compileRequestValidation(config({}), missingSchemaRef),
    (e: unknown) => e instanceof TurnpikeError && (e.fields ?? []).some((f) => f.path.startsWith('/paths/~1pets/post/requestBody/content/application~1json/schema')),
  );
});

test('request-validation cost: a small valid JSON body and its operation match take microseconds (informational bound)', () => {
  const r = req('POST', '/pets', { headers: { 'x-tenant': 'acme' }, body: { name: 'Rex', species: 'dog', weightKg: 12.5, owner: { name: 'Ann', email: 'ann@example.com' } } });
  const g = req('GET', '/pets/42', { query: 'limit=10' });
  const n = 20_000;
  let best = Infinity;
  let bestGet = Infinity;
  for (let round = 0; round < 3; round++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (validateRequest(petstore, r) !== null) throw new Error('denied');
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (validateRequest(petstore, g) !== null) throw new Error('denied');
    bestGet = Math.min(bestGet, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`request-validation: POST small JSON body ${(best / 1000).toFixed(2)} µs, GET path+query ${(bestGet / 1000).toFixed(2)} µs per request`);
  assert.ok(best < 100_000, `${best} ns`);
});
