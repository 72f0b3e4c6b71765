// Transformation plugins over REST against real PostgreSQL and NATS: a bad template, path pattern or
// replacement is refused at write time (422 TP_ERR_UNPROCESSABLE) with the field path and the character
// position, on create and on patch; a good config is stored with its defaults filled.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, type RestResponse } from './support.js';

describe('transformation plugin rules (REST)', { timeout: 90_000 }, () => {
  let h: Harness;
  let n = 0;
  const uniq = (p: string) => `${p}-${n++}`;
  const ok = (r: RestResponse, status: number) => {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  };
  const fields = (r: RestResponse) => r.json.error.fields as { path: string; message: string }[];
  const route = async (): Promise<string> => {
    const u = ok(await h.rest('POST', '/v1/upstreams', { name: uniq('up'), targets: [{ host: '127.0.0.1', port: 9000 }] }), 201).json;
    const s = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: u.id }), 201).json;
    return ok(await h.rest('POST', '/v1/routes', { name: uniq('r'), service_id: s.id, paths: [`/${uniq('p')}`] }), 201).json.id as string;
  };

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
  });
  after(async () => {
    await h?.close();
  });

  it('a bad body template is 422 with its JSON pointer and character position; a good one is stored with defaults', async () => {
    const r = await route();
    const bad = ok(
      await h.rest('POST', '/v1/plugins', {
        type: 'request-transformer',
        scope: { route_id: r },
        config: { body_template: { id: '{{ body.id }}', items: ['{{ body.items | uper }}', 'ok'], who: '{{ process.env.SECRET }}' } },
      }),
      422,
    );
    assert.equal(bad.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(fields(bad), [
      { path: '/config/body_template/items/0', message: 'unknown filter "uper": use default, upper, lower, number, string, json (at character 17)' },
      { path: '/config/body_template/who', message: 'unknown name "process": a reference starts with $, body, header, query, path, consumer, method, response (at character 4)' },
    ]);
    assert.match(bad.json.error.message, /config\/body_template\/items\/0: unknown filter "uper".*\(request-transformer config\)/);

    const good = ok(
      await h.rest('POST', '/v1/plugins', {
        type: 'request-transformer',
        scope: { route_id: r },
        config: { path: { pattern: '^/p-\\d+/(\\w+)$', replacement: '/v2/$1' }, headers: { add: { 'x-id': '{{ path.1 }}' } }, body_template: { id: '{{ body.id | number }}' } },
      }),
      201,
    ).json;
    assert.deepEqual(good.config.query, { remove: [], rename: {}, replace: {}, add: {} });
    assert.equal(good.config.method, null);
    // A patch that breaks a template is refused and changes nothing.
    const patched = ok(await h.rest('PATCH', `/v1/plugins/${good.id}`, { config: { ...good.config, headers: { ...good.config.headers, add: { 'x-id': '{{ path.2 }}' } } } }), 422);
    assert.deepEqual(fields(patched), [{ path: '/config/headers/add/x-id', message: 'the path pattern has 1 capture group(s), not 2 (at character 8)' }]);
    assert.deepEqual(ok(await h.rest('GET', `/v1/plugins/${good.id}`), 200).json.config.headers.add, { 'x-id': '{{ path.1 }}' });
  });

  it('a ReDoS-prone path pattern, a missing capture and framing headers are 422 at their fields', async () => {
    const r = await route();
    const redos = ok(await h.rest('POST', '/v1/plugins', { type: 'request-transformer', scope: { route_id: r }, config: { path: { pattern: '^/(a+)+$', replacement: '/$1' } } }), 422);
    assert.deepEqual(fields(redos).map((f) => f.path), ['/config/path/pattern']);
    assert.match(fields(redos)[0]!.message, /nested quantifiers/);
    const missing = ok(await h.rest('POST', '/v1/plugins', { type: 'request-transformer', scope: { route_id: r }, config: { path: { pattern: '^/(a)$', replacement: '/$<id>' } } }), 422);
    assert.deepEqual(fields(missing).map((f) => f.path), ['/config/path/replacement']);
    const framing = ok(await h.rest('POST', '/v1/plugins', { type: 'response-transformer', scope: { route_id: r }, config: { headers: { remove: ['content-length'] } } }), 422);
    assert.deepEqual(fields(framing).map((f) => f.path), ['/config/headers/remove/0']);
  });

  it('response-transformer and mock: schema errors are 400, rule errors 422', async () => {
    const r = await route();
    const badKey = ok(await h.rest('POST', '/v1/plugins', { type: 'response-transformer', scope: { route_id: r }, config: { status: { '6xx': 200 } } }), 400);
    assert.equal(badKey.json.error.code, 'TP_ERR_VALIDATION');
    const overlap = ok(await h.rest('POST', '/v1/plugins', { type: 'response-transformer', scope: { route_id: r }, config: { status: { '500-510': 502, '505-599': 503 } } }), 422);
    assert.deepEqual(fields(overlap).map((f) => f.path), ['/config/status/505-599']);
    const reqOnly = ok(await h.rest('POST', '/v1/plugins', { type: 'response-transformer', scope: { route_id: r }, config: { body_template: { p: '{{ path.1 }}' } } }), 422);
    assert.deepEqual(fields(reqOnly).map((f) => f.path), ['/config/body_template/p']);
    ok(await h.rest('POST', '/v1/plugins', { type: 'response-transformer', scope: { route_id: r }, config: { status: { '404': 200 }, body_template: { data: '{{ body }}', s: '{{ response.status }}' } } }), 201);

    const both = ok(await h.rest('POST', '/v1/plugins', { type: 'mock', scope: { route_id: r }, config: { json: { a: 1 }, text: 'x' } }), 422);
    assert.deepEqual(fields(both).map((f) => f.path), ['/config/text']);
    const m = ok(await h.rest('POST', '/v1/plugins', { type: 'mock', scope: { route_id: r }, config: { json: { a: 1 } } }), 201).json;
    assert.deepEqual(m.config, { status: 200, headers: {}, json: { a: 1 }, methods: [], paths: [] });
  });
});
