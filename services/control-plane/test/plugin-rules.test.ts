// Plugin rules beyond the config schema, over REST against real PostgreSQL and NATS: a type's own
// `problems` (422 with /config/... field paths, on create, patch and replace), and the consumer groups an
// `acl` names (each must exist: 422 at its list entry; a group in use cannot be deleted: 409).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, type RestResponse } from './support.js';

describe('plugin rules (REST)', { timeout: 90_000 }, () => {
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
  const group = async (): Promise<string> => ok(await h.rest('POST', '/v1/consumer-groups', { name: uniq('g') }), 201).json.id as string;

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
  });
  after(async () => {
    await h?.close();
  });

  it("a type's problems are 422 TP_ERR_UNPROCESSABLE with /config paths, after the schema's 400", async () => {
    const r = await route();
    const hostBits = ok(await h.rest('POST', '/v1/plugins', { type: 'ip-restriction', scope: { route_id: r }, config: { allow: ['10.0.0.0/8', '192.168.1.1/24'] } }), 422);
    assert.equal(hostBits.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(fields(hostBits).map((f) => f.path), ['/config/allow/1']);
    assert.match(hostBits.json.error.message, /config\/allow\/1: .*192\.168\.1\.1\/24.*\(ip-restriction config\)/);
    // Defaults filled first: an empty config has neither list, which only the type's rule refuses.
    const empty = ok(await h.rest('POST', '/v1/plugins', { type: 'ip-restriction', scope: { route_id: r } }), 422);
    assert.deepEqual(fields(empty), [{ path: '/config/allow', message: 'allow or deny must list at least one address or block' }]);
    // A schema error is still 400 and is reported before the type's rules run.
    const schema = ok(await h.rest('POST', '/v1/plugins', { type: 'ip-restriction', scope: { route_id: r }, config: { allow: ['not an address'] } }), 400);
    assert.equal(schema.json.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(fields(schema).map((f) => f.path), ['/config/allow/0']);
    // A valid config passes; a patch and a replace that break the rule are refused and change nothing.
    const p = ok(await h.rest('POST', '/v1/plugins', { type: 'ip-restriction', scope: { route_id: r }, config: { deny: ['203.0.113.0/24'] } }), 201).json;
    assert.deepEqual(p.config.deny, ['203.0.113.0/24']);
    const patched = ok(await h.rest('PATCH', `/v1/plugins/${p.id}`, { config: { deny: ['203.0.113.7/24'] } }), 422);
    assert.deepEqual(fields(patched).map((f) => f.path), ['/config/deny/0']);
    const replaced = ok(await h.rest('PUT', `/v1/plugins/${p.id}`, { type: 'ip-restriction', scope: { route_id: r }, config: {} }), 422);
    assert.deepEqual(fields(replaced).map((f) => f.path), ['/config/allow']);
    assert.deepEqual(ok(await h.rest('GET', `/v1/plugins/${p.id}`), 200).json.config.deny, ['203.0.113.0/24']);
  });

  it('an acl names existing consumer groups: a missing one is 422 at its list entry; ids are stored lower-case', async () => {
    const r = await route();
    const g1 = await group();
    const missing = '00000000-0000-4000-8000-00000000beef';
    const bad = ok(await h.rest('POST', '/v1/plugins', { type: 'acl', scope: { route_id: r }, config: { allow: [g1], deny: [missing] } }), 422);
    assert.equal(bad.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(fields(bad), [{ path: '/config/deny/0', message: `consumer group ${missing} does not exist` }]);
    // Neither list: the acl type's own rule.
    const none = ok(await h.rest('POST', '/v1/plugins', { type: 'acl', scope: { route_id: r }, config: {} }), 422);
    assert.deepEqual(fields(none).map((f) => f.path), ['/config/allow']);
    const p = ok(await h.rest('POST', '/v1/plugins', { type: 'acl', scope: { route_id: r }, config: { allow: [g1.toUpperCase()] } }), 201).json;
    assert.deepEqual(p.config, { allow: [g1], deny: [] });
    const patched = ok(await h.rest('PATCH', `/v1/plugins/${p.id}`, { config: { allow: [g1, missing] } }), 422);
    assert.deepEqual(fields(patched).map((f) => f.path), ['/config/allow/1']);
  });

  it('a consumer group an acl names cannot be deleted (409 TP_ERR_IN_USE) until the acl lets go of it', async () => {
    const r = await route();
    const [kept, denied, free] = [await group(), await group(), await group()];
    const p = ok(await h.rest('POST', '/v1/plugins', { type: 'acl', scope: { route_id: r }, config: { allow: [kept], deny: [denied] } }), 201).json;
    for (const g of [kept, denied]) {
      const refused = ok(await h.rest('DELETE', `/v1/consumer-groups/${g}`), 409);
      assert.equal(refused.json.error.code, 'TP_ERR_IN_USE');
      assert.match(refused.json.error.message, new RegExp(`plugin ${p.id} \\(config/(allow|deny)/0\\)`));
      ok(await h.rest('GET', `/v1/consumer-groups/${g}`), 200);
    }
    ok(await h.rest('DELETE', `/v1/consumer-groups/${free}`), 204);
    // Dropping the group from the acl releases it; the other stays held.
    ok(await h.rest('PATCH', `/v1/plugins/${p.id}`, { config: { allow: [kept], deny: [] } }), 200);
    ok(await h.rest('DELETE', `/v1/consumer-groups/${denied}`), 204);
    ok(await h.rest('DELETE', `/v1/consumer-groups/${kept}`), 409);
    // Deleting the acl (here with its route) releases the rest.
    ok(await h.rest('DELETE', `/v1/routes/${r}`), 204);
    ok(await h.rest('GET', `/v1/plugins/${p.id}`), 404);
    ok(await h.rest('DELETE', `/v1/consumer-groups/${kept}`), 204);
  });
});
