// Parallel conflicting admin writes: no update is lost, uniqueness holds under races, delete-vs-update
// resolves cleanly, revisions in the outbox are gap-free and strictly increasing per write, and the KV
// bucket ends equal to PostgreSQL (every key and envelope compared with the rows).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { META_REVISION_KEY, entityKey, parseEntityKey, type ConfigEnvelope } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startHarness, type Harness, type RestResponse } from './support.js';
import { DEFAULT_TENANT_ID } from '../src/service/access.js';

const N = 30;

interface OutboxRow {
  revision: string;
  kind: string;
  entity_id: string;
  op: 'put' | 'del';
  payload: ConfigEnvelope | null;
}

/** The entity as the bus carries it: REST may add fields of its own (e.g. `version`) that the data plane does not get. */
// A service's OpenAPI document stays in the control plane (see serviceForDataPlane); everything else is as REST returns it.
function asOnBus(entity: Record<string, unknown>): Record<string, unknown> {
  const { openapi: _openapi, ...rest } = entity;
  return rest;
}

describe('concurrent conflicting admin writes', { timeout: 60_000 }, () => {
  let h: Harness;
  let upstreamId: string;
  let serviceId: string;

  before(async () => {
    h = await startHarness({ pollIntervalMs: 200 });
    const up = await h.rest('POST', '/v1/upstreams', { name: 'cc-up', targets: [{ host: '127.0.0.1', port: 9 }] });
    assert.equal(up.status, 201, up.text);
    upstreamId = up.json.id;
    const svc = await h.rest('POST', '/v1/services', { name: 'cc-svc', upstream_id: upstreamId });
    assert.equal(svc.status, 201, svc.text);
    serviceId = svc.json.id;
  });
  after(async () => {
    await h?.close();
  });

  const outboxOf = async (id: string): Promise<OutboxRow[]> =>
    await h.sql<OutboxRow[]>`SELECT revision, kind, entity_id, op, payload FROM outbox WHERE entity_id = ${id} ORDER BY revision, id`;

  it(`${N} concurrent PATCHes of one upstream: every one committed as its own revision, the last one wins`, async () => {
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => h.rest('PATCH', `/v1/upstreams/${upstreamId}`, { connect_timeout_ms: 1000 + i, tags: [`w${i}`] })),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    const rows = (await outboxOf(upstreamId)).slice(1); // the first row is the create
    assert.equal(rows.length, N, 'one outbox row per committed PATCH');
    const revs = rows.map((r) => Number(r.revision));
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!, `strictly increasing: ${revs.join(',')}`);
    // Each response is exactly what its revision committed: no write saw a stale row (no lost update).
    // (jsonb reorders object keys, hence the canonical form.)
    const committed = new Set(rows.map((r) => canonical(r.payload!.data)));
    for (const r of results) assert.ok(committed.has(canonical(asOnBus(r.json))), `response ${JSON.stringify(r.json.tags)} is a committed state`);
    assert.deepEqual(new Set(rows.map((r) => (r.payload!.data as { tags: string[] }).tags[0])), new Set(Array.from({ length: N }, (_, i) => `w${i}`)));
    const final = await h.rest('GET', `/v1/upstreams/${upstreamId}`);
    assert.deepEqual(asOnBus(final.json), rows[rows.length - 1]!.payload!.data, 'final state = state of the last committed revision');
  });

  it(`${N} concurrent PATCHes of one route (paths, priority, methods) keep the route consistent`, async () => {
    const created = await h.rest('POST', '/v1/routes', { name: 'cc-route', service_id: serviceId, paths: ['/cc'] });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        h.rest('PATCH', `/v1/routes/${id}`, i % 3 === 0 ? { paths: [`/cc/${i}`], priority: i } : i % 3 === 1 ? { methods: ['GET'], tags: [`t${i}`] } : { strip_path: i % 2 === 0 }),
      ),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    const rows = (await outboxOf(id)).slice(1);
    assert.equal(rows.length, N);
    // Partial updates compose: each committed state is the previous one with only that PATCH's fields changed.
    for (let i = 1; i < rows.length; i++) {
      const prev = rows[i - 1]!.payload!.data as Record<string, unknown>;
      const cur = rows[i]!.payload!.data as Record<string, unknown>;
      const changed = Object.keys(cur).filter((k) => k !== 'updated_at' && JSON.stringify(cur[k]) !== JSON.stringify(prev[k]));
      const allowed = [['paths', 'priority'], ['methods', 'tags'], ['strip_path']];
      assert.ok(allowed.some((set) => changed.every((k) => set.includes(k))), `revision ${rows[i]!.revision} changed only one PATCH's fields: ${changed.join(',')}`);
    }
    const final = await h.rest('GET', `/v1/routes/${id}`);
    assert.deepEqual(asOnBus(final.json), rows[rows.length - 1]!.payload!.data);
  });

  it('concurrent creates with the same name: exactly one 201, the rest 409', async () => {
    const ups = await Promise.all(
      Array.from({ length: N }, (_, i) => h.rest('POST', '/v1/upstreams', { name: 'cc-same', targets: [{ host: `h${i}`, port: 80 }] })),
    );
    assert.deepEqual(countBy(ups), { 201: 1, 409: N - 1 });
    for (const r of ups.filter((x) => x.status === 409)) assert.equal(r.json.error.code, 'TP_ERR_CONFLICT');

    const consumers = await Promise.all(Array.from({ length: N }, () => h.rest('POST', '/v1/consumers', { username: 'cc-same-user' })));
    assert.deepEqual(countBy(consumers), { 201: 1, 409: N - 1 });

    // Routes that conflict by path (same path, any host and method, same priority), names all different.
    const routes = await Promise.all(
      Array.from({ length: N }, (_, i) => h.rest('POST', '/v1/routes', { name: `cc-dup-${i}`, service_id: serviceId, paths: ['/cc-dup/{id}'] })),
    );
    assert.deepEqual(countBy(routes), { 201: 1, 409: N - 1 });
  });

  it('concurrent renames of different upstreams to one name: exactly one wins', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await h.rest('POST', '/v1/upstreams', { name: `cc-rn-${i}`, targets: [{ host: 'h', port: 80 }] });
      assert.equal(r.status, 201, r.text);
      ids.push(r.json.id);
    }
    const results = await Promise.all(ids.map((id) => h.rest('PATCH', `/v1/upstreams/${id}`, { name: 'cc-renamed' })));
    assert.deepEqual(countBy(results), { 200: 1, 409: 9 });
  });

  it('delete racing updates: the delete is final, no update commits after it', async () => {
    const created = await h.rest('POST', '/v1/routes', { name: 'cc-doomed', service_id: serviceId, paths: ['/cc-doomed'] });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    const reqs: Array<Promise<RestResponse>> = [];
    for (let i = 0; i < N; i++) {
      reqs.push(i === N / 2 ? h.rest('DELETE', `/v1/routes/${id}`) : h.rest('PATCH', `/v1/routes/${id}`, { tags: [`d${i}`] }));
    }
    const results = await Promise.all(reqs);
    const del = results[N / 2]!;
    assert.equal(del.status, 204, del.text);
    const patches = results.filter((_, i) => i !== N / 2);
    for (const r of patches) assert.ok(r.status === 200 || r.status === 404, `${r.status} ${r.text}`);
    const rows = await outboxOf(id);
    const last = rows[rows.length - 1]!;
    assert.equal(last.op, 'del', 'the delete is the last write of the entity');
    assert.equal(rows.filter((r) => r.op === 'del').length, 1);
    assert.equal(rows.length - 2, patches.filter((r) => r.status === 200).length, 'one put per successful PATCH (plus create and delete)');
    assert.equal((await h.rest('GET', `/v1/routes/${id}`)).status, 404);

    // Deleting an upstream while services are being attached to it: either it is in use or it is gone.
    const up = await h.rest('POST', '/v1/upstreams', { name: 'cc-up-doomed', targets: [{ host: 'h', port: 80 }] });
    const racers = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => h.rest('POST', '/v1/services', { name: `cc-att-${i}`, upstream_id: up.json.id })),
      h.rest('DELETE', `/v1/upstreams/${up.json.id}`),
    ]);
    const delUp = racers[racers.length - 1]!;
    const attached = racers.slice(0, -1).filter((r) => r.status === 201).length;
    if (delUp.status === 204) {
      for (const r of racers.slice(0, -1)) assert.ok(r.status === 201 || r.status === 422, `${r.status} ${r.text}`);
      const [n] = await h.sql<{ n: string }[]>`SELECT count(*) AS n FROM services WHERE upstream_id = ${up.json.id}`;
      assert.equal(Number(n!.n), 0, 'no service refers to a deleted upstream');
      assert.equal(attached, 0, 'a service attached before the delete would have made it fail');
    } else {
      assert.equal(delUp.status, 409, delUp.text);
      assert.ok(attached >= 1);
    }
  });

  it(`${N} concurrent conditional PATCHes from the same ETag: exactly one wins, the rest 412`, async (t) => {
    const cur = await h.rest('GET', `/v1/upstreams/${upstreamId}`);
    const etag = cur.headers.get('etag');
    if (!etag) return t.skip('this build has no ETag on entities');
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => h.rest('PATCH', `/v1/upstreams/${upstreamId}`, { read_timeout_ms: 2000 + i }, { 'if-match': etag })),
    );
    assert.deepEqual(countBy(results), { 200: 1, 412: N - 1 });
    const winner = results.find((r) => r.status === 200)!;
    assert.equal((await h.rest('GET', `/v1/upstreams/${upstreamId}`)).json.read_timeout_ms, winner.json.read_timeout_ms);
  });

  it('two control planes on one database and bucket, writing at once: the bus ends at the last committed state', async () => {
    const { startControlPlane } = await import('../src/index.js');
    const cp2 = await startControlPlane({ pgUrl: h.dbUrl, bus: h.bus, restPort: 0, grpcPort: 0, pollIntervalMs: 200, log: () => undefined });
    try {
      const bases = [h.cp.restPort, cp2.restPort].map((p) => `http://127.0.0.1:${p}`);
      const results = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const res = await fetch(`${bases[i % 2]}/v1/upstreams/${upstreamId}`, {
            method: 'PATCH',
            headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tags: [`cp${i % 2}-${i}`] }),
          });
          await res.text();
          return res.status;
        }),
      );
      assert.deepEqual(results, Array.from({ length: N }, () => 200));
      const [cfg] = await h.sql<{ revision: string }[]>`SELECT revision FROM config_revision`;
      await waitFor('both publishers done', async () => {
        const v = await h.bus.get(META_REVISION_KEY);
        return v !== null && (JSON.parse(v) as { revision: number }).revision === Number(cfg!.revision);
      }, 15_000);
      const final = await h.rest('GET', `/v1/upstreams/${upstreamId}`);
      const env = JSON.parse((await h.bus.get(entityKey('upstreams', upstreamId)))!) as ConfigEnvelope;
      assert.deepEqual(env.data, asOnBus(final.json), 'the bus holds the last committed state, whichever process published it');
      assert.equal(env.revision, Number(cfg!.revision));
    } finally {
      await cp2.close();
    }
  });

  it(`generic resources: ${N} concurrent PATCHes of one plan all commit, the bus holds the last; racing creates and decisions resolve to one`, async () => {
    const plan = await h.rest('POST', '/v1/plans', { name: 'cc-plan' });
    assert.equal(plan.status, 201, plan.text);
    const patches = await Promise.all(Array.from({ length: N }, (_, i) => h.rest('PATCH', `/v1/plans/${plan.json.id}`, { description: `d${i}` })));
    assert.deepEqual(countBy(patches), { 200: N });
    const final = await h.rest('GET', `/v1/plans/${plan.json.id}`);
    assert.equal(final.headers.get('etag'), `"${N + 1}"`, 'every PATCH bumped the version once');
    const revs = (await outboxOf(plan.json.id)).map((r) => Number(r.revision));
    assert.equal(new Set(revs).size, N + 1, 'each write its own revision');
    await waitFor('the plan on the bus', async () => {
      const raw = await h.bus.get(entityKey('plans', plan.json.id));
      return raw !== null && (JSON.parse(raw) as { data: { description?: string } }).data.description === final.json.description;
    });

    const consumer = await h.rest('POST', '/v1/consumers', { username: 'cc-sub' });
    const creates = await Promise.all(
      Array.from({ length: N }, () => h.rest('POST', '/v1/subscriptions', { consumer_id: consumer.json.id, service_id: serviceId, plan_id: plan.json.id })),
    );
    assert.deepEqual(countBy(creates), { 201: 1, 409: N - 1 }, 'one live subscription per consumer and service');
    const sub = creates.find((r) => r.status === 201)!.json.id as string;
    const decisions = await Promise.all(
      Array.from({ length: N }, (_, i) => h.rest('POST', `/v1/subscriptions/${sub}/${i % 2 === 0 ? 'approve' : 'reject'}`, {})),
    );
    assert.deepEqual(countBy(decisions), { 200: 1, 422: N - 1 }, 'exactly one decision is taken; the others find it decided');
    const won = decisions.find((r) => r.status === 200)!.json.status;
    assert.equal((await h.rest('GET', `/v1/subscriptions/${sub}`)).json.status, won);
  });

  it('outbox revisions are gap-free and the KV bucket equals PostgreSQL', async () => {
    const [cfg] = await h.sql<{ revision: string }[]>`SELECT revision FROM config_revision`;
    const revision = Number(cfg!.revision);
    const revs = (await h.sql<{ revision: string }[]>`SELECT DISTINCT revision FROM outbox ORDER BY revision`).map((r) => Number(r.revision));
    assert.deepEqual(revs, Array.from({ length: revision }, (_, i) => i + 1), 'every revision 1..config_revision has outbox rows, none skipped');

    await waitFor('meta.revision to reach the config revision', async () => {
      const v = await h.bus.get(META_REVISION_KEY);
      return v !== null && (JSON.parse(v) as { revision: number }).revision === revision;
    }, 15_000);

    // What PostgreSQL says the bucket must hold: every entity row, with the revision of its last write.
    const want = new Map<string, ConfigEnvelope>();
    for (const kind of ['upstreams', 'services', 'routes', 'consumers'] as const) {
      const page = await h.rest('GET', `/v1/${kind}?limit=1000`);
      assert.equal(page.status, 200, page.text);
      const rows = await h.sql<{ id: string; revision: string }[]>`SELECT id, revision FROM ${h.sql(kind)}`;
      const revOf = new Map(rows.map((r) => [r.id, Number(r.revision)]));
      assert.equal(page.json.data.length, rows.length);
      for (const e of page.json.data as Array<Record<string, unknown>>) {
        // Services carry their tenant on the bus (nodes match tenant AI budgets by it).
        const data = kind === 'services' ? { ...asOnBus(e), tenant_id: DEFAULT_TENANT_ID } : asOnBus(e);
        want.set(entityKey(kind, e.id as string), { kind, revision: revOf.get(e.id as string)!, data } as unknown as ConfigEnvelope);
      }
    }
    for (const [kind, path] of [['plans', 'plans'], ['subscriptions', 'subscriptions']] as const) {
      const page = await h.rest('GET', `/v1/${path}?limit=1000`);
      const rows = await h.sql<{ id: string; revision: string }[]>`SELECT id, revision FROM resources WHERE kind = ${kind}`;
      const revOf = new Map(rows.map((r) => [r.id, Number(r.revision)]));
      assert.equal(page.json.data.length, rows.length);
      for (const e of page.json.data as Array<Record<string, unknown>>) {
        want.set(entityKey(kind, e.id as string), { kind, revision: revOf.get(e.id as string)!, data: e } as unknown as ConfigEnvelope);
      }
    }
    for (const k of await h.sql<{ id: string; consumer_id: string; key_sha256: string; revision: string }[]>`SELECT * FROM api_keys`) {
      want.set(entityKey('keys', k.id), { kind: 'keys', revision: Number(k.revision), data: { id: k.id, consumer_id: k.consumer_id, key_sha256: k.key_sha256 } });
    }
    const onBus = (await h.bus.keys()).filter((k) => parseEntityKey(k) !== null).sort();
    assert.deepEqual(onBus, [...want.keys()].sort(), 'the bucket has exactly the entity keys of PostgreSQL');
    for (const [key, env] of want) {
      const raw = await h.bus.get(key);
      assert.ok(raw !== null, key);
      assert.deepEqual(JSON.parse(raw), env, `envelope of ${key}`);
    }
    const report = await h.cp.reconcile();
    assert.deepEqual({ put: report.put, deleted: report.deleted }, { put: 0, deleted: 0 }, 'the reconciler finds nothing to repair');
  });
});

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function countBy(rs: RestResponse[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of rs) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}
