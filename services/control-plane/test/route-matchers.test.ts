// Route matching fields (wildcard hosts, catch-all and regex paths, header/query matchers, stage) through
// the REST and gRPC admin APIs, against real PostgreSQL and NATS: validation with field paths, normalized
// storage, conflicts only between routes the gateway cannot tell apart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { adminClients, failure, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

describe('route matchers through the admin APIs', { timeout: 60_000 }, () => {
  let h: Harness;
  let c: AdminClients;
  let serviceId = '';
  before(async () => {
    h = await startHarness();
    c = adminClients(h.cp.grpcPort, h.token);
    const up = await h.rest('POST', '/v1/upstreams', { name: 'rm-up', targets: [{ host: '127.0.0.1', port: 9000 }] });
    const svc = await h.rest('POST', '/v1/services', { name: 'rm-svc', upstream_id: up.json.id });
    serviceId = svc.json.id as string;
  });
  after(async () => {
    c?.close();
    await h?.close();
  });

  const route = (name: string, more: Record<string, unknown> = {}): Record<string, unknown> => ({ name, service_id: serviceId, paths: ['/rm'], ...more });

  /** The field errors of a 400 answer, as `path: message`. */
  async function fieldErrors(body: Record<string, unknown>, method = 'POST', path = '/v1/routes'): Promise<string[]> {
    const r = await h.rest(method, path, body);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'TP_ERR_VALIDATION');
    return (r.json.error.fields as Array<{ path: string; message: string }>).map((f) => `${f.path}: ${f.message}`);
  }

  it('stores the new fields normalized, with defaults for routes that do not use them', async () => {
    const plain = await h.rest('POST', '/v1/routes', route('rm-plain', { paths: ['/plain'] }));
    assert.equal(plain.status, 201);
    assert.deepEqual([plain.json.headers, plain.json.query, plain.json.stage], [[], [], null]);

    const full = await h.rest(
      'POST',
      '/v1/routes',
      route('rm-full', {
        hosts: ['*.example.com', 'api.*', 'exact.example.com'],
        paths: ['/files/{rest*}', '~^/v[0-9]+/users/(?<id>[0-9]+)$'],
        headers: [{ name: 'x-env', match: 'exact', value: 'canary', ignore_case: true }, { name: 'x-debug', match: 'present' }],
        query: [{ name: 'beta', match: 'regex', value: '^(1|yes)$' }],
        stage: 'prod',
      }),
    );
    assert.equal(full.status, 201, JSON.stringify(full.json));
    assert.deepEqual(full.json.headers, [
      { name: 'x-env', match: 'exact', value: 'canary', ignore_case: true },
      { name: 'x-debug', match: 'present', ignore_case: false },
    ]);
    assert.deepEqual(full.json.query, [{ name: 'beta', match: 'regex', value: '^(1|yes)$', ignore_case: false }]);
    assert.equal(full.json.stage, 'prod');

    const patched = await h.rest('PATCH', `/v1/routes/${full.json.id}`, { stage: null, query: [] });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.stage, null);
    assert.deepEqual(patched.json.query, []);
    assert.deepEqual(patched.json.headers, full.json.headers, 'a patch leaves the other matchers alone');
  });

  it('400 with field paths: bad regex paths, bad wildcards, matcher values, stage', async () => {
    assert.deepEqual(await fieldErrors(route('rm-bad', { paths: ['/ok', '~/v[0-9'] })), ['/paths/1: invalid regular expression: Unterminated character class']);
    assert.deepEqual(await fieldErrors(route('rm-bad', { paths: ['~(a+)+$'] })), [
      '/paths/0: regular expression repeats a group that itself contains *, + or {n,} (nested quantifiers can backtrack catastrophically)',
    ]);
    assert.deepEqual(await fieldErrors(route('rm-bad', { paths: ['~/' + 'a'.repeat(600)] })), ['/paths/0: regular expression is longer than 512 characters']);
    for (const host of ['a.*.com', '*example.com', '*', '*.a.*', 'api.example.com:8080']) {
      const errs = await fieldErrors(route('rm-bad', { hosts: [host] }));
      assert.equal(errs.length, 1, `${host}: ${errs.join('; ')}`);
      assert.match(errs[0]!, /^\/hosts\/0: must match pattern/);
    }
    assert.deepEqual(await fieldErrors(route('rm-bad', { paths: ['/a/{rest*}/b'] })).then((e) => e.map((x) => x.split(':')[0])), ['/paths/0']);
    assert.deepEqual(await fieldErrors(route('rm-bad', { headers: [{ name: 'x-a', match: 'exact' }], query: [{ name: 'q', match: 'absent', value: 'x' }] })), [
      '/headers/0/value: is required for match "exact"',
      '/query/0/value: is not allowed for match "absent"',
    ]);
    assert.deepEqual(await fieldErrors(route('rm-bad', { headers: [{ name: 'x-a', match: 'regex', value: '(x*)*' }] })).then((e) => e.map((x) => x.split(':')[0])), ['/headers/0/value']);
    assert.deepEqual(await fieldErrors(route('rm-bad', { headers: [{ name: 'X-Upper', match: 'present' }] })).then((e) => e.map((x) => x.split(':')[0])), ['/headers/0/name']);
    assert.ok((await fieldErrors(route('rm-bad', { stage: 'Prod' }))).some((e) => e.startsWith('/stage: ')));
    // A patch is checked against the merged route.
    const ok = await h.rest('POST', '/v1/routes', route('rm-patch-target', { paths: ['/patch-target'] }));
    assert.deepEqual(await fieldErrors({ paths: ['~('] }, 'PATCH', `/v1/routes/${ok.json.id}`), ['/paths/0: invalid regular expression: Unterminated group']);
  });

  it('409 only for routes the gateway cannot tell apart', async () => {
    const base = { paths: ['/c'], hosts: ['*.c.test'], stage: 'prod', headers: [{ name: 'x-a', match: 'exact', value: '1' }] };
    assert.equal((await h.rest('POST', '/v1/routes', route('rm-c1', base))).status, 201);
    const dup = await h.rest('POST', '/v1/routes', route('rm-c2', { ...base, headers: [{ name: 'x-a', match: 'exact', value: '1', ignore_case: false }] }));
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error.code, 'TP_ERR_CONFLICT');
    for (const [name, diff] of [
      ['rm-c3', { stage: 'staging' }],
      ['rm-c4', { stage: null }],
      ['rm-c5', { headers: [] }],
      ['rm-c6', { hosts: ['x.c.test'] }],
      ['rm-c7', { hosts: [] }],
      ['rm-c8', { query: [{ name: 'q', match: 'present' }] }],
    ] as const) {
      const r = await h.rest('POST', '/v1/routes', route(name, { ...base, ...diff }));
      assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.json)}`);
    }
  });

  it('gRPC carries matchers as typed messages and the stage; an empty stage clears it', async () => {
    const created = await c.routes('CreateRoute', {
      name: 'rm-grpc',
      service_id: serviceId,
      hosts: ['*.grpc.test'],
      paths: ['/g/{rest*}'],
      headers: [{ name: 'x-env', match: 'prefix', value: 'can' }],
      query: [{ name: 'v', match: 'present' }],
      stage: 'staging',
    });
    assert.deepEqual(created.headers, [{ name: 'x-env', match: 'prefix', value: 'can', ignore_case: false }]);
    assert.deepEqual(created.query, [{ name: 'v', match: 'present', ignore_case: false }]);
    assert.equal(created.stage, 'staging');
    const viaRest = await h.rest('GET', `/v1/routes/${String(created.id)}`);
    assert.deepEqual(viaRest.json.headers, created.headers);
    assert.equal(viaRest.json.stage, 'staging');

    const cleared = await c.routes('UpdateRoute', { id: created.id, route: { stage: '' }, update_mask: ['stage', 'query'] });
    assert.equal(cleared.stage, undefined);
    assert.equal(cleared.query, undefined, 'a list named in the mask and unset is cleared');
    assert.deepEqual(cleared.headers, created.headers);

    const bad = await failure(c.routes('CreateRoute', { name: 'rm-grpc-bad', service_id: serviceId, paths: ['~(a+)+'] }));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(String(bad.metadata.get('tp-error-fields')[0]), /"path":"\/paths\/0"/);
  });
});
