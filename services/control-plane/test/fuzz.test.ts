// Fuzzes the REST admin API from its own OpenAPI document: every operation with a request body or
// parameters gets seeded inputs (schema-valid, mutated, junk, invalid JSON, wrong media types, bad ids,
// bad query strings). No input may produce a 5xx; every error is `{error:{code,message,request_id}}`; the
// control plane stays healthy and the KV bucket stays equal to PostgreSQL.
// Reproduce a run with TP_FUZZ_SEED=<seed printed by the test>.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseStore } from '@turnpike/analytics';
import { generateSecretKey, keyringOf } from '@turnpike/common';
import { testEnv, uniqueName, waitFor } from '@turnpike/common/testing';
import { Rng, badId, generate, junkHeaders, mutate, queryString, rawBody, type GenContext, type Json, type Schema } from './fuzz-inputs.js';
import { startHarness, type Harness } from './support.js';

const SEED = Number(process.env.TP_FUZZ_SEED ?? 20261123);
const BODY_CASES = 70;
const PARAM_CASES = 20;
// A bound on the run (about 1 s per 3,000 requests here), grown with the number of operations in the document.
const MAX_REQUESTS = 15_000;
const WORKERS = 8;

interface Op {
  method: string;
  template: string;
  pathParams: string[];
  query: Array<{ name: string; schema: Schema }>;
  body: Schema | null;
}

interface Case {
  op: Op;
  method: string;
  url: string;
  body?: string | Buffer;
  contentType?: string | null;
  headers: Record<string, string>;
  note: string;
}

interface Outcome {
  c: Case;
  status: number;
  problem: string | null;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** The parts of an OpenAPI 3.1 document the fuzzer reads. */
interface Parameter {
  name: string;
  in: string;
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
type PathItem = { parameters?: Parameter[] } & Partial<Record<(typeof METHODS)[number], Operation>>;
interface OpenApiDoc {
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, Schema> };
}

function operations(doc: OpenApiDoc): Op[] {
  const ops: Op[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const shared = item.parameters ?? [];
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = [...shared, ...(op.parameters ?? [])];
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      const query = params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema }));
      const pathParams = params.filter((p) => p.in === 'path').map((p) => p.name);
      if (!body && params.length === 0) continue;
      ops.push({ method: method.toUpperCase(), template, pathParams, query, body });
    }
  }
  return ops;
}

describe('REST API fuzzing from /v1/openapi.json', { timeout: 180_000 }, () => {
  let h: Harness;
  let store: ClickHouseStore;
  const existing: Record<string, string> = {};

  before(async () => {
    store = await ClickHouseStore.open(testEnv().clickhouseUrl, uniqueName('tp_cp_fuzz'));
    // With a secret key, so that secret-bearing creates are fuzzed past the keyring check (503 without one).
    h = await startHarness({ analytics: store, pollIntervalMs: 200, keyring: keyringOf(generateSecretKey()) });
    // Entities that exist, so updates and references reach the deeper checks (uniqueness, conflicts).
    const up = await h.rest('POST', '/v1/upstreams', { name: 'fz-up', targets: [{ host: '127.0.0.1', port: 9 }] });
    const svc = await h.rest('POST', '/v1/services', { name: 'fz-svc', upstream_id: up.json.id });
    const route = await h.rest('POST', '/v1/routes', { name: 'fz-route', service_id: svc.json.id, paths: ['/fz'] });
    const consumer = await h.rest('POST', '/v1/consumers', { username: 'fz-c', custom_id: 'fz-custom' });
    const key = await h.rest('POST', `/v1/consumers/${consumer.json.id}/keys`, {});
    const group = await h.rest('POST', '/v1/consumer-groups', { name: 'fz-group' });
    const plan = await h.rest('POST', '/v1/plans', { name: 'fz-plan' });
    const sub = await h.rest('POST', '/v1/subscriptions', { consumer_id: consumer.json.id, service_id: svc.json.id, plan_id: plan.json.id });
    for (const r of [up, svc, route, consumer, key, group, plan, sub]) assert.equal(r.status, 201, r.text);
    Object.assign(existing, {
      upstreams: up.json.id,
      services: svc.json.id,
      routes: route.json.id,
      consumers: consumer.json.id,
      keys: key.json.id,
      'consumer-groups': group.json.id,
      plans: plan.json.id,
      subscriptions: sub.json.id,
    });
  });
  after(async () => {
    await h?.close();
    await store?.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  it(`no input gives a 5xx or a malformed error (seed ${SEED})`, { timeout: 150_000 }, async (t) => {
    const docRes = await h.rest('GET', '/v1/openapi.json');
    assert.equal(docRes.status, 200);
    const doc = docRes.json as OpenApiDoc;
    const schemas = doc.components.schemas;
    const deref = (s: Schema): Schema => {
      let cur = s;
      for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) cur = schemas[(cur.$ref as string).split('/').pop()!] ?? {};
      return cur;
    };
    const rng = new Rng(SEED);
    const ids = Object.values(existing);
    const g: GenContext = { rng, ids, deref };
    const ops = operations(doc);
    assert.ok(ops.length >= 20, `operations found in the document: ${ops.length}`);

    const idFor = (op: Op, name: string, last: boolean): string => {
      // Deletes only ever get ids that do not exist: the fixtures must survive the run.
      if ((op.method === 'DELETE' && last) || rng.chance(0.3)) return badId(rng);
      if (name === 'keyId') return existing.keys!;
      const plural = op.template.split('/')[2]!;
      return existing[plural] ?? rng.uuid();
    };

    const cases: Case[] = [];
    for (const op of ops) {
      const n = op.body ? BODY_CASES : PARAM_CASES;
      for (let i = 0; i < n; i++) {
        let path = op.template;
        op.pathParams.forEach((p, idx) => {
          path = path.replace(`{${p}}`, idFor(op, p, idx === op.pathParams.length - 1));
        });
        const c: Case = { op, method: op.method, url: path + queryString(rng, op.query), headers: junkHeaders(rng), note: 'params' };
        if (op.body) {
          const roll = rng.next();
          if (roll < 0.55) {
            const v = mutate(g, op.body, generate(g, op.body));
            c.body = JSON.stringify(v);
            c.note = 'mutated';
          } else if (roll < 0.7) {
            c.body = JSON.stringify(generate(g, op.body));
            c.note = 'valid';
          } else if (roll < 0.8) {
            c.body = JSON.stringify(rng.pick<Json>([null, 0, 'str', [], true, [{}], { data: {} }]));
            c.note = 'top-level junk';
          } else {
            const raw = rawBody(rng);
            c.body = raw.body;
            c.contentType = raw.contentType;
            c.note = 'raw';
          }
          if (c.contentType === undefined) c.contentType = 'application/json';
        }
        cases.push(c);
      }
    }
    assert.ok(cases.length <= MAX_REQUESTS, `${cases.length} requests`);

    const base = `http://127.0.0.1:${h.cp.restPort}`;
    const run = async (c: Case): Promise<Outcome> => {
      const headers: Record<string, string> = { authorization: `Bearer ${h.token}`, ...c.headers };
      if (c.contentType) headers['content-type'] = c.contentType;
      let res: Response;
      try {
        res = await fetch(base + c.url, { method: c.method, headers, body: c.body, signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        // An oversized body may be refused (413) before it is fully sent; the socket then closes under us.
        const size = c.body === undefined ? 0 : Buffer.byteLength(c.body);
        return { c, status: 0, problem: size > 1024 * 1024 ? null : `request failed: ${String(err)}` };
      }
      const text = await res.text();
      if (res.status >= 500) return { c, status: res.status, problem: `${res.status}: ${text.slice(0, 300)}` };
      if (res.status < 400) return { c, status: res.status, problem: null };
      let body: { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | null;
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return { c, status: res.status, problem: `error body is not JSON: ${text.slice(0, 200)}` };
      }
      const e = body?.error;
      const ok =
        typeof e?.code === 'string' &&
        /^TP_ERR_[A-Z_]+$/.test(e.code) &&
        typeof e.message === 'string' &&
        e.message.length > 0 &&
        typeof e.request_id === 'string' &&
        e.request_id.length > 0 &&
        e.request_id === res.headers.get('x-request-id') &&
        (res.headers.get('content-type') ?? '').startsWith('application/json');
      return { c, status: res.status, problem: ok ? null : `malformed error ${res.status}: ${text.slice(0, 200)}` };
    };

    const outcomes: Outcome[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (next < cases.length) outcomes.push(await run(cases[next++]!));
      }),
    );
    const elapsed = performance.now() - started;

    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    const summary = [...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    t.diagnostic(`seed ${SEED}: ${outcomes.length} requests over ${ops.length} operations in ${elapsed.toFixed(0)} ms; statuses ${summary}`);
    console.log(`fuzz seed ${SEED} (TP_FUZZ_SEED): ${outcomes.length} requests, ${ops.length} operations, ${elapsed.toFixed(0)} ms, statuses ${summary}`);

    const problems = outcomes.filter((o) => o.problem !== null);
    // One example per kind of problem (status and the start of the answer), so a report stays short.
    const kinds = new Map<string, Outcome>();
    for (const o of problems) {
      const k = `${o.status} ${o.problem!.replace(/"request_id":"[^"]*"/, '').slice(0, 60)}`;
      if (!kinds.has(k)) kinds.set(k, o);
    }
    const show = [...kinds.values()].slice(0, 12).map((o) => {
      const body = o.c.body === undefined ? '' : ` body(${o.c.note}, ${o.c.contentType}): ${String(o.c.body).slice(0, 200)}`;
      // For a 500, the server's own log line says what broke.
      const rid = /"request_id":"([^"]+)"/.exec(o.problem!)?.[1];
      const logged = rid ? h.logs.find((l) => l.request_id === rid) : undefined;
      return `${o.c.method} ${o.c.url.slice(0, 200)} headers ${JSON.stringify(o.c.headers).slice(0, 200)}${body}\n  → ${o.problem}${logged ? `\n  server log: ${String(logged.error).slice(0, 300)}` : ''}`;
    });
    assert.equal(problems.length, 0, `${problems.length} bad responses (seed ${SEED}):\n${show.join('\n')}`);
    assert.ok(outcomes.filter((o) => o.status >= 200 && o.status < 300).length > 0, 'some generated inputs were accepted');
    assert.deepEqual(h.logs.filter((l) => l.event === 'admin_request_failed'), []);
  });

  it('the control plane is healthy afterwards and the bucket equals PostgreSQL', async () => {
    assert.equal((await h.rest('GET', '/healthz')).status, 200);
    const created = await h.rest('POST', '/v1/upstreams', { name: 'fz-after', targets: [{ host: 'after.example', port: 80 }] });
    assert.equal(created.status, 201, created.text);
    await waitFor('everything published', async () => {
      const s = (await h.rest('GET', '/v1/status')).json;
      return s.published_revision === s.config_revision && s.unpublished_outbox_rows === 0;
    }, 15_000);
    const report = await h.cp.reconcile();
    assert.equal(report.ran, true);
    assert.deepEqual({ put: report.put, deleted: report.deleted }, { put: 0, deleted: 0 }, 'reconciliation found no drift');
    for (const [plural, id] of Object.entries(existing)) {
      if (plural === 'keys') continue;
      assert.equal((await h.rest('GET', `/v1/${plural}/${id}`)).status, 200, `${plural} fixture still there`);
    }
  });
});
