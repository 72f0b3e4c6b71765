// Tenancy and RBAC over real HTTP: the role × action matrix (allowed 2xx, denied 403) for user tokens,
// service tokens and scoped tokens; tenant isolation (another tenant's objects are 404, absent from
// lists, unusable as references); token rules (expiry, never more rights than the creator, stored
// hashed); and the audit log (a row per write, before/after, no secrets).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { generateSecretKey, keyringOf } from '@turnpike/common';
import { adminClients, failure } from './grpc-client.js';
import { startHarness, type Harness, type RestResponse } from './support.js';

type Role = 'viewer' | 'editor' | 'admin' | 'owner';
type Access = 'read' | 'write';
interface Scope {
  resource: string;
  access: Access;
}
type Call = (method: string, path: string, body?: unknown) => Promise<RestResponse>;

const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3, owner: 4 };

/** The policy as documented in docs/admin-api.md (written out here, not imported, so the test checks it). */
const NEEDS: Record<string, Record<Access, Role>> = {
  upstreams: { read: 'viewer', write: 'editor' },
  services: { read: 'viewer', write: 'editor' },
  routes: { read: 'viewer', write: 'editor' },
  consumers: { read: 'viewer', write: 'editor' },
  keys: { read: 'viewer', write: 'editor' },
  analytics: { read: 'viewer', write: 'owner' },
  members: { read: 'viewer', write: 'admin' },
  tenants: { read: 'viewer', write: 'owner' },
  tokens: { read: 'admin', write: 'admin' },
  audit: { read: 'admin', write: 'owner' },
  consumer_groups: { read: 'viewer', write: 'editor' },
  credentials: { read: 'viewer', write: 'editor' },
  plans: { read: 'viewer', write: 'editor' },
  subscriptions: { read: 'viewer', write: 'editor' },
  plugins: { read: 'viewer', write: 'editor' },
  ai_providers: { read: 'viewer', write: 'editor' },
  prompt_templates: { read: 'viewer', write: 'editor' },
};

interface Variant {
  label: string;
  role: Role;
  kind: 'user' | 'service';
  scopes?: Scope[];
  token?: string;
}

const VARIANTS: Variant[] = [
  ...(['viewer', 'editor', 'admin', 'owner'] as const).map((role) => ({ label: `user ${role}`, role, kind: 'user' as const })),
  ...(['viewer', 'editor', 'admin', 'owner'] as const).map((role) => ({ label: `service ${role}`, role, kind: 'service' as const })),
  { label: 'service editor scoped routes:write', role: 'editor', kind: 'service', scopes: [{ resource: 'routes', access: 'write' }] },
  { label: 'service owner scoped *:read', role: 'owner', kind: 'service', scopes: [{ resource: '*', access: 'read' }] },
  {
    label: 'user admin scoped tokens:write+audit:read+upstreams:read',
    role: 'admin',
    kind: 'user',
    scopes: [
      { resource: 'tokens', access: 'write' },
      { resource: 'audit', access: 'read' },
      { resource: 'upstreams', access: 'read' },
    ],
  },
];

/** The bootstrap token: every action allowed, the superuser-only ones included. */
const SUPERUSER: Variant = { label: 'superuser (bootstrap token)', role: 'owner', kind: 'service' };

function expectedAllowed(v: Variant, resource: string, access: Access, minRole?: Role): boolean {
  if (RANK[v.role] < RANK[NEEDS[resource]![access]]) return false;
  if (minRole && RANK[v.role] < RANK[minRole]) return false;
  if (!v.scopes) return true;
  return v.scopes.some((s) => (s.resource === '*' || s.resource === resource) && (s.access === 'write' || access === 'read'));
}

describe('tenancy and RBAC', { timeout: 120_000 }, () => {
  let h: Harness;
  let n = 0;
  const uniq = (p: string): string => `${p}-${++n}`;
  // Superuser calls in a tenant.
  const su = (tenant: string): Call => (method, path, body) => h.rest(method, path, body, { 'x-turnpike-tenant': tenant });
  const as = (token: string, tenant: string): Call => (method, path, body) =>
    h.rest(method, path, body, { authorization: `Bearer ${token}`, 'x-turnpike-tenant': tenant });
  const ok = (r: RestResponse, status: number): RestResponse => {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  };

  const A: Record<string, string> = {};
  const B: Record<string, string> = {};

  async function fixtures(call: Call, into: Record<string, string>, tag: string): Promise<void> {
    const up = ok(await call('POST', '/v1/upstreams', { name: `up-${tag}`, targets: [{ host: '127.0.0.1', port: 9 }] }), 201);
    const svc = ok(await call('POST', '/v1/services', { name: `svc-${tag}`, upstream_id: up.json.id }), 201);
    const route = ok(await call('POST', '/v1/routes', { name: `route-${tag}`, service_id: svc.json.id, paths: [`/fixture-${tag}`] }), 201);
    const consumer = ok(await call('POST', '/v1/consumers', { username: `c-${tag}` }), 201);
    const key = ok(await call('POST', `/v1/consumers/${consumer.json.id}/keys`, {}), 201);
    const group = ok(await call('POST', '/v1/consumer-groups', { name: `g-${tag}` }), 201);
    const plan = ok(await call('POST', '/v1/plans', { name: `plan-${tag}` }), 201);
    const sub = ok(await call('POST', '/v1/subscriptions', { consumer_id: consumer.json.id, service_id: svc.json.id }), 201);
    const cred = ok(await call('POST', `/v1/consumers/${consumer.json.id}/credentials`, { type: 'basic', username: `basic-${tag}`, password: 'correct horse battery' }), 201);
    const plugin = ok(await call('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { route_id: route.json.id }, config: { max_body_bytes: 1024 } }), 201);
    const provider = ok(await call('POST', '/v1/ai-providers', { name: `ai-${tag}`, type: 'openai', api_key: 'sk-test-0123456789' }), 201);
    const template = ok(await call('POST', '/v1/prompt-templates', { name: `pt-${tag}`, messages: [{ role: 'user', content: 'hello' }] }), 201);
    Object.assign(into, {
      upstream: up.json.id,
      service: svc.json.id,
      route: route.json.id,
      consumer: consumer.json.id,
      key: key.json.id,
      consumer_group: group.json.id,
      plan: plan.json.id,
      subscription: sub.json.id,
      credential: cred.json.id,
      plugin: plugin.json.id,
      ai_provider: provider.json.id,
      prompt_template: template.json.id,
    });
  }

  before(async () => {
    h = await startHarness({ keyring: keyringOf(generateSecretKey()) });
    const ta = ok(await h.rest('POST', '/v1/tenants', { name: 'team-a' }), 201);
    const tb = ok(await h.rest('POST', '/v1/tenants', { name: 'team-b' }), 201);
    A.tenant = ta.json.id;
    B.tenant = tb.json.id;
    await fixtures(su('team-a'), A, 'a');
    await fixtures(su('team-b'), B, 'b');
    const bToken = ok(await su('team-b')('POST', '/v1/tokens', { name: 'b-viewer', role: 'viewer' }), 201);
    B.token = bToken.json.id;
    // A user with a role in each tenant (GET /v1/users/{id} of a non-superuser sees members of its tenant only).
    for (const [into, id] of [[A, A.tenant], [B, B.tenant]] as const) {
      into.member = ok(await h.rest('POST', '/v1/users', { name: uniq('member') }), 201).json.id;
      ok(await h.rest('PUT', `/v1/tenants/${id}/members/${into.member}`, { role: 'viewer' }), 200);
    }
    // A principal per variant, all with their roles in team-a.
    for (const v of VARIANTS) {
      const body: Record<string, unknown> = { name: uniq('tok') };
      if (v.scopes) body.scopes = v.scopes;
      if (v.kind === 'user') {
        const u = ok(await h.rest('POST', '/v1/users', { name: uniq('user') }), 201);
        ok(await h.rest('PUT', `/v1/tenants/${A.tenant}/members/${u.json.id}`, { role: v.role }), 200);
        body.user_id = u.json.id;
      } else {
        body.role = v.role;
      }
      v.token = ok(await su('team-a')('POST', '/v1/tokens', body), 201).json.token;
    }
  });
  after(async () => {
    await h?.close();
  });

  /**
   * Every action on tenant team-a's objects: resource, access, and how to perform it once. `superuserOnly`:
   * denied to every tenant role (creating and deleting users, which are global).
   */
  const ACTIONS: Array<{ name: string; resource: string; access: Access; minRole?: Role; superuserOnly?: boolean; run: (call: Call) => Promise<RestResponse> }> = [];
  const sa = (): Call => su('team-a');
  const crud: Array<[string, string, () => Promise<string>, () => unknown]> = [
    ['upstreams', 'upstream', async () => ok(await sa()('POST', '/v1/upstreams', { name: uniq('up'), targets: [{ host: 'x', port: 1 }] }), 201).json.id, () => ({ name: uniq('up'), targets: [{ host: 'x', port: 1 }] })],
    ['services', 'service', async () => ok(await sa()('POST', '/v1/services', { name: uniq('svc'), upstream_id: A.upstream }), 201).json.id, () => ({ name: uniq('svc'), upstream_id: A.upstream })],
    [
      'routes',
      'route',
      async () => ok(await sa()('POST', '/v1/routes', { name: uniq('r'), service_id: A.service, paths: [`/${uniq('p')}`] }), 201).json.id,
      () => ({ name: uniq('r'), service_id: A.service, paths: [`/${uniq('p')}`] }),
    ],
    ['consumers', 'consumer', async () => ok(await sa()('POST', '/v1/consumers', { username: uniq('c') }), 201).json.id, () => ({ username: uniq('c') })],
  ];
  for (const [plural, singular, fresh, body] of crud) {
    ACTIONS.push(
      { name: `list ${plural}`, resource: plural, access: 'read', run: (c) => c('GET', `/v1/${plural}`) },
      { name: `get ${singular}`, resource: plural, access: 'read', run: (c) => c('GET', `/v1/${plural}/${A[singular]}`) },
      { name: `create ${singular}`, resource: plural, access: 'write', run: (c) => c('POST', `/v1/${plural}`, body()) },
      { name: `update ${singular}`, resource: plural, access: 'write', run: (c) => c('PATCH', `/v1/${plural}/${A[singular]}`, { tags: [uniq('t')] }) },
      { name: `delete ${singular}`, resource: plural, access: 'write', run: async (c) => c('DELETE', `/v1/${plural}/${await fresh()}`) },
    );
  }
  // The generic resource kinds: [kind, singular key in A, collection path, body of a fresh one].
  const freshRoute = async (): Promise<string> =>
    ok(await sa()('POST', '/v1/routes', { name: uniq('r'), service_id: A.service, paths: [`/${uniq('p')}`] }), 201).json.id;
  const freshConsumer = async (): Promise<string> => ok(await sa()('POST', '/v1/consumers', { username: uniq('c') }), 201).json.id;
  const resourceKinds: Array<[string, string, () => string, () => Promise<unknown>]> = [
    ['consumer_groups', 'consumer_group', () => '/v1/consumer-groups', async () => ({ name: uniq('g') })],
    ['plans', 'plan', () => '/v1/plans', async () => ({ name: uniq('plan') })],
    ['subscriptions', 'subscription', () => '/v1/subscriptions', async () => ({ consumer_id: await freshConsumer(), service_id: A.service })],
    ['credentials', 'credential', () => `/v1/consumers/${A.consumer}/credentials`, async () => ({ type: 'basic', username: uniq('basic'), password: 'correct horse battery' })],
    ['plugins', 'plugin', () => '/v1/plugins', async () => ({ type: 'request-size-limiting', scope: { route_id: await freshRoute() }, config: { max_body_bytes: 1024 } })],
    ['ai_providers', 'ai_provider', () => '/v1/ai-providers', async () => ({ name: uniq('ai'), type: 'openai', api_key: 'sk-test-0123456789' })],
    ['prompt_templates', 'prompt_template', () => '/v1/prompt-templates', async () => ({ name: uniq('pt'), messages: [{ role: 'user', content: 'hi {{who}}' }], variables: [{ name: 'who' }] })],
  ];
  for (const [kind, key, path, body] of resourceKinds) {
    ACTIONS.push(
      { name: `list ${kind}`, resource: kind, access: 'read', run: (c) => c('GET', path()) },
      { name: `get ${key}`, resource: kind, access: 'read', run: (c) => c('GET', `${path()}/${A[key]}`) },
      { name: `create ${key}`, resource: kind, access: 'write', run: async (c) => c('POST', path(), await body()) },
      { name: `update ${key}`, resource: kind, access: 'write', run: (c) => c('PATCH', `${path()}/${A[key]}`, { tags: [uniq('t')] }) },
      { name: `delete ${key}`, resource: kind, access: 'write', run: async (c) => c('DELETE', `${path()}/${ok(await sa()('POST', path(), await body()), 201).json.id}`) },
    );
  }
  const pendingSubscription = async (): Promise<string> =>
    ok(await sa()('POST', '/v1/subscriptions', { consumer_id: await freshConsumer(), service_id: A.service }), 201).json.id;
  ACTIONS.push(
    { name: 'approve subscription', resource: 'subscriptions', access: 'write', minRole: 'admin', run: async (c) => c('POST', `/v1/subscriptions/${await pendingSubscription()}/approve`, {}) },
    { name: 'reject subscription', resource: 'subscriptions', access: 'write', minRole: 'admin', run: async (c) => c('POST', `/v1/subscriptions/${await pendingSubscription()}/reject`, {}) },
  );
  const keysOf = (): string => `/v1/consumers/${A.consumer}/keys`;
  ACTIONS.push(
    { name: 'list keys', resource: 'keys', access: 'read', run: (c) => c('GET', keysOf()) },
    { name: 'get key', resource: 'keys', access: 'read', run: (c) => c('GET', `${keysOf()}/${A.key}`) },
    { name: 'create key', resource: 'keys', access: 'write', run: (c) => c('POST', keysOf(), {}) },
    { name: 'delete key', resource: 'keys', access: 'write', run: async (c) => c('DELETE', `${keysOf()}/${ok(await sa()('POST', keysOf(), {}), 201).json.id}`) },
    { name: 'analytics calls', resource: 'analytics', access: 'read', run: (c) => c('GET', `/v1/analytics/calls?service_id=${A.service}`) },
    { name: 'analytics trend', resource: 'analytics', access: 'read', run: (c) => c('GET', `/v1/analytics/trend?service_id=${A.service}`) },
    { name: 'analytics timeseries', resource: 'analytics', access: 'read', run: (c) => c('GET', `/v1/analytics/timeseries?service_id=${A.service}`) },
    { name: 'analytics top', resource: 'analytics', access: 'read', run: (c) => c('GET', `/v1/analytics/top?dimension=route&service_id=${A.service}`) },
    { name: 'analytics consumer summary', resource: 'analytics', access: 'read', run: (c) => c('GET', `/v1/analytics/consumers/${A.consumer}`) },
    { name: 'get tenant', resource: 'tenants', access: 'read', run: (c) => c('GET', `/v1/tenants/${A.tenant}`) },
    { name: 'rename tenant (same name)', resource: 'tenants', access: 'write', run: (c) => c('PATCH', `/v1/tenants/${A.tenant}`, { name: 'team-a' }) },
    { name: 'list members', resource: 'members', access: 'read', run: (c) => c('GET', `/v1/tenants/${A.tenant}/members`) },
    {
      name: 'add member',
      resource: 'members',
      access: 'write',
      run: async (c) => c('PUT', `/v1/tenants/${A.tenant}/members/${ok(await h.rest('POST', '/v1/users', { name: uniq('u') }), 201).json.id}`, { role: 'viewer' }),
    },
    {
      name: 'remove member',
      resource: 'members',
      access: 'write',
      run: async (c) => {
        const u = ok(await h.rest('POST', '/v1/users', { name: uniq('u') }), 201).json.id;
        ok(await h.rest('PUT', `/v1/tenants/${A.tenant}/members/${u}`, { role: 'viewer' }), 200);
        return c('DELETE', `/v1/tenants/${A.tenant}/members/${u}`);
      },
    },
    {
      name: 'change member role',
      resource: 'members',
      access: 'write',
      run: async (c) => {
        const u = ok(await h.rest('POST', '/v1/users', { name: uniq('u') }), 201).json.id;
        ok(await h.rest('PUT', `/v1/tenants/${A.tenant}/members/${u}`, { role: 'viewer' }), 200);
        return c('PUT', `/v1/tenants/${A.tenant}/members/${u}`, { role: 'editor' });
      },
    },
    { name: 'list users', resource: 'members', access: 'read', run: (c) => c('GET', '/v1/users') },
    { name: 'get user (a member)', resource: 'members', access: 'read', run: (c) => c('GET', `/v1/users/${A.member}`) },
    { name: 'create user', resource: 'users', access: 'write', superuserOnly: true, run: (c) => c('POST', '/v1/users', { name: uniq('u') }) },
    {
      name: 'delete user',
      resource: 'users',
      access: 'write',
      superuserOnly: true,
      run: async (c) => c('DELETE', `/v1/users/${ok(await h.rest('POST', '/v1/users', { name: uniq('u') }), 201).json.id}`),
    },
    { name: 'list tokens', resource: 'tokens', access: 'read', run: (c) => c('GET', '/v1/tokens') },
    { name: 'create token', resource: 'tokens', access: 'write', run: (c) => c('POST', '/v1/tokens', { name: uniq('t'), role: 'viewer' }) },
    {
      name: 'revoke token',
      resource: 'tokens',
      access: 'write',
      run: async (c) => c('DELETE', `/v1/tokens/${ok(await sa()('POST', '/v1/tokens', { name: uniq('t'), role: 'viewer' }), 201).json.id}`),
    },
    { name: 'query audit', resource: 'audit', access: 'read', run: (c) => c('GET', '/v1/audit') },
  );

  for (const v of [...VARIANTS, SUPERUSER]) {
    it(`matrix: ${v.label} × ${ACTIONS.length} actions`, async () => {
      const wrong: string[] = [];
      for (const a of ACTIONS) {
        const res = await a.run(v === SUPERUSER ? su('team-a') : as(v.token!, 'team-a'));
        const allowed = v === SUPERUSER || (!a.superuserOnly && expectedAllowed(v, a.resource, a.access, a.minRole));
        // Analytics has no store in this harness: allowed means past authorization (503), not 403.
        const good = allowed ? (a.resource === 'analytics' ? res.status === 503 : res.status >= 200 && res.status < 300) : res.status === 403 && res.json?.error?.code === 'TP_ERR_FORBIDDEN';
        if (!good) wrong.push(`${a.name}: expected ${allowed ? 'allowed' : '403'}, got ${res.status} ${res.text.slice(0, 160)}`);
      }
      assert.deepEqual(wrong, []);
    });
  }

  it('only an owner deletes a tenant; the default tenant and a non-empty tenant cannot be deleted', async () => {
    const t = ok(await h.rest('POST', '/v1/tenants', { name: 'team-c' }), 201).json.id;
    const tokens: Record<string, string> = {};
    for (const role of ['viewer', 'editor', 'admin', 'owner'] as const) {
      tokens[role] = ok(await su('team-c')('POST', '/v1/tokens', { name: `c-${role}`, role }), 201).json.token;
    }
    ok(await as(tokens.owner!, 'team-c')('POST', '/v1/upstreams', { name: 'busy', targets: [{ host: 'x', port: 1 }] }), 201);
    for (const role of ['viewer', 'editor', 'admin']) assert.equal((await as(tokens[role]!, 'team-c')('DELETE', `/v1/tenants/${t}`)).status, 403, role);
    assert.equal((await as(tokens.owner!, 'team-c')('DELETE', `/v1/tenants/${t}`)).json.error.code, 'TP_ERR_IN_USE');
    const busy = (await as(tokens.owner!, 'team-c')('GET', '/v1/upstreams?name=busy')).json.data[0].id;
    ok(await as(tokens.owner!, 'team-c')('DELETE', `/v1/upstreams/${busy}`), 204);
    ok(await as(tokens.owner!, 'team-c')('DELETE', `/v1/tenants/${t}`), 204);
    // Its tokens went with it.
    assert.equal((await as(tokens.owner!, 'team-c')('GET', '/v1/upstreams')).status, 401);
    const def = (await h.rest('GET', '/v1/tenants?name=default')).json.data[0].id;
    assert.equal((await h.rest('DELETE', `/v1/tenants/${def}`)).status, 422);
    assert.equal((await h.rest('PATCH', `/v1/tenants/${def}`, { name: 'renamed' })).status, 422);
  });

  it("isolation: tenant A's token gets 404 for B's objects, never data", async () => {
    const owner = VARIANTS.find((v) => v.label === 'user owner')!.token!;
    const a = as(owner, 'team-a');
    const paths = [
      `/v1/upstreams/${B.upstream}`,
      `/v1/services/${B.service}`,
      `/v1/routes/${B.route}`,
      `/v1/consumers/${B.consumer}`,
      `/v1/consumers/${B.consumer}/keys/${B.key}`,
      `/v1/consumers/${B.consumer}/keys`,
      `/v1/tenants/${B.tenant}`,
      `/v1/tenants/${B.tenant}/members`,
      `/v1/tokens/${B.token}`,
      `/v1/users/${B.member}`,
      `/v1/consumer-groups/${B.consumer_group}`,
      `/v1/plans/${B.plan}`,
      `/v1/subscriptions/${B.subscription}`,
      `/v1/consumers/${B.consumer}/credentials/${B.credential}`,
      `/v1/consumers/${B.consumer}/credentials`,
      `/v1/plugins/${B.plugin}`,
      `/v1/ai-providers/${B.ai_provider}`,
      `/v1/prompt-templates/${B.prompt_template}`,
    ];
    for (const p of paths) {
      const r = await a('GET', p);
      assert.equal(r.status, 404, `GET ${p}: ${r.text}`);
      assert.equal(r.json.error.code, 'TP_ERR_NOT_FOUND');
    }
    for (const p of [...paths.slice(0, 4), ...paths.slice(-8).filter((p) => !p.endsWith('/credentials'))]) {
      assert.equal((await a('PATCH', p, { tags: ['x'] })).status, 404, `PATCH ${p}`);
      assert.equal((await a('DELETE', p)).status, 404, `DELETE ${p}`);
    }
    assert.equal((await a('POST', `/v1/subscriptions/${B.subscription}/approve`, {})).status, 404);
    assert.equal((await a('DELETE', `/v1/consumers/${B.consumer}/keys/${B.key}`)).status, 404);
    assert.equal((await a('POST', `/v1/consumers/${B.consumer}/keys`, {})).status, 404);
    assert.equal((await a('DELETE', `/v1/tokens/${B.token}`)).status, 404);
    assert.equal((await a('PATCH', `/v1/tenants/${B.tenant}`, { name: 'stolen' })).status, 404);
    assert.equal((await a('PUT', `/v1/tenants/${B.tenant}/members/${A.member}`, { role: 'viewer' })).status, 404);
    assert.equal((await a('DELETE', `/v1/tenants/${B.tenant}/members/${B.member}`)).status, 404);
    const users = (await a('GET', '/v1/users?limit=1000')).json.data.map((u: { id: string }) => u.id);
    assert.ok(users.includes(A.member) && !users.includes(B.member), "users lists A's members only");
    // Without the header a token addresses its home tenant (where it was created): team-a here.
    const home = await h.rest('GET', `/v1/upstreams/${A.upstream}`, undefined, { authorization: `Bearer ${owner}` });
    assert.equal(home.status, 200, home.text);
    // Addressing tenant B at all: 404, the same as a tenant that does not exist.
    const other = await as(owner, 'team-b')('GET', '/v1/upstreams');
    assert.equal(other.status, 404);
    assert.equal((await as(owner, 'no-such-team')('GET', '/v1/upstreams')).status, 404);
    // Lists hold only A's objects.
    for (const [plural, key] of [
      ['upstreams', 'upstream'],
      ['services', 'service'],
      ['routes', 'route'],
      ['consumers', 'consumer'],
      ['consumer-groups', 'consumer_group'],
      ['plans', 'plan'],
      ['subscriptions', 'subscription'],
      ['plugins', 'plugin'],
      ['ai-providers', 'ai_provider'],
      ['prompt-templates', 'prompt_template'],
    ] as const) {
      const ids = (await a('GET', `/v1/${plural}?limit=1000`)).json.data.map((x: { id: string }) => x.id);
      assert.ok(ids.includes(A[key]), `${plural} lists A's`);
      assert.ok(!ids.includes(B[key]), `${plural} never lists B's`);
    }
    const tenants = (await a('GET', '/v1/tenants')).json.data.map((x: { name: string }) => x.name);
    assert.deepEqual(tenants, ['team-a']);
    // B's objects cannot be referenced: 422, as if they did not exist.
    const route = await a('POST', '/v1/routes', { name: 'steal', service_id: B.service, paths: ['/steal'] });
    assert.equal(route.status, 422, route.text);
    assert.equal(route.json.error.fields[0].path, '/service_id');
    const svc = await a('POST', '/v1/services', { name: 'steal', upstream_id: B.upstream });
    assert.equal(svc.status, 422, svc.text);
    assert.equal((await a('PATCH', `/v1/routes/${A.route}`, { service_id: B.service })).status, 422);
    // Analytics of B's service: 404.
    assert.equal((await a('GET', `/v1/analytics/calls?service_id=${B.service}`)).status, 404);
    assert.equal((await a('GET', `/v1/analytics/timeseries?service_id=${B.service}`)).status, 404);
    assert.equal((await a('GET', `/v1/analytics/top?dimension=consumer&service_id=${B.service}`)).status, 404);
    assert.equal((await a('GET', `/v1/analytics/consumers/${B.consumer}`)).status, 404);
    // Without a filter of its own tenant a token cannot read the shared call log.
    assert.equal((await a('GET', '/v1/analytics/top?dimension=service')).status, 400);
    // The audit log of A holds none of B's writes.
    const audit = (await a('GET', '/v1/audit?limit=1000')).json.data as Array<{ tenant_id: string; resource_id: string }>;
    assert.ok(audit.length > 0);
    assert.ok(audit.every((e) => e.tenant_id === A.tenant), 'only tenant A rows');
    assert.ok(!audit.some((e) => Object.values(B).includes(e.resource_id)));
  });

  it('gRPC: x-turnpike-tenant selects the tenant; roles apply; B\'s objects are NOT_FOUND', async () => {
    const viewer = VARIANTS.find((v) => v.label === 'service viewer')!.token!;
    const editor = VARIANTS.find((v) => v.label === 'service editor')!.token!;
    const cv = adminClients(h.cp.grpcPort, viewer, 'team-a');
    const ce = adminClients(h.cp.grpcPort, editor, 'team-a');
    const cb = adminClients(h.cp.grpcPort, editor, 'team-b');
    try {
      const got = await cv.upstreams('GetUpstream', { id: A.upstream });
      assert.equal(got.id, A.upstream);
      const denied = await failure(cv.upstreams('CreateUpstream', { name: 'grpc-no', targets: [{ host: 'x', port: 1 }] }));
      assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
      assert.deepEqual(denied.metadata.get('tp-error-code'), ['TP_ERR_FORBIDDEN']);
      const made = await ce.upstreams('CreateUpstream', { name: 'grpc-yes', targets: [{ host: 'x', port: 1 }] });
      assert.ok(made.id);
      const hidden = await failure(ce.upstreams('GetUpstream', { id: B.upstream }));
      assert.equal(hidden.code, grpc.status.NOT_FOUND);
      const otherTenant = await failure(cb.upstreams('ListUpstreams', {}));
      assert.equal(otherTenant.code, grpc.status.NOT_FOUND);
      // Tenants, tokens and the audit log over gRPC, with the same rules.
      const tenants = (await cv.tenants('ListTenants', {})).data as Array<{ name: string }>;
      assert.deepEqual(tenants.map((t) => t.name), ['team-a']);
      assert.equal((await failure(cv.tenants('CreateTenant', { name: 'grpc-t' }))).code, grpc.status.PERMISSION_DENIED);
      assert.equal((await failure(cv.tokens('ListTokens', {}))).code, grpc.status.PERMISSION_DENIED);
      const admin = adminClients(h.cp.grpcPort, VARIANTS.find((v) => v.label === 'service admin')!.token!, 'team-a');
      try {
        const made = await admin.tokens('CreateToken', { name: 'grpc-tok', role: 'viewer', scopes: [{ resource: 'routes', access: 'read' }] });
        assert.match(String(made.token), /^tpa_/);
        assert.deepEqual(made.scopes, [{ resource: 'routes', access: 'read' }]);
        const got = await admin.tokens('GetToken', { id: made.id });
        assert.equal(got.token, undefined);
        assert.equal((await failure(admin.tokens('CreateToken', { name: 'grpc-up', role: 'owner' }))).code, grpc.status.PERMISSION_DENIED);
        await admin.tokens('RevokeToken', { id: made.id });
        const audit = (await admin.audit('ListAudit', { resource_type: 'tokens', resource_id: made.id })).data as Array<{ action: string; after_json?: string }>;
        assert.deepEqual(audit.map((e) => e.action), ['create', 'delete']);
        assert.equal(JSON.parse(audit[0]!.after_json!).name, 'grpc-tok');
        assert.ok(!JSON.stringify(audit).includes(String(made.token)));
        assert.equal((await failure(admin.audit('ListAudit', { action: 'explode' }))).code, grpc.status.INVALID_ARGUMENT);
      } finally {
        admin.close();
      }
    } finally {
      cv.close();
      ce.close();
      cb.close();
    }
  });

  it("an Idempotency-Key never replays one tenant's response in another", async () => {
    const body = { name: 'idem-up', targets: [{ host: 'x', port: 1 }] };
    const first = await h.rest('POST', '/v1/upstreams', body, { 'x-turnpike-tenant': 'team-a', 'idempotency-key': 'tenant-key-1' });
    assert.equal(first.status, 201, first.text);
    const other = await h.rest('POST', '/v1/upstreams', body, { 'x-turnpike-tenant': 'team-b', 'idempotency-key': 'tenant-key-1' });
    assert.equal(other.status, 422, other.text);
    assert.ok(!other.text.includes(first.json.id));
    const replay = await h.rest('POST', '/v1/upstreams', body, { 'x-turnpike-tenant': 'team-a', 'idempotency-key': 'tenant-key-1' });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  });

  it('names are unique per tenant; route conflicts are checked across tenants without naming the other route', async () => {
    ok(await su('team-a')('POST', '/v1/upstreams', { name: 'same-name', targets: [{ host: 'x', port: 1 }] }), 201);
    ok(await su('team-b')('POST', '/v1/upstreams', { name: 'same-name', targets: [{ host: 'x', port: 1 }] }), 201);
    assert.equal((await su('team-a')('POST', '/v1/upstreams', { name: 'same-name', targets: [{ host: 'x', port: 1 }] })).status, 409);
    const clash = await su('team-b')('POST', '/v1/routes', { name: 'clash', service_id: B.service, paths: ['/fixture-a'] });
    assert.equal(clash.status, 409, clash.text);
    assert.equal(clash.json.error.code, 'TP_ERR_CONFLICT');
    assert.ok(!clash.text.includes(A.route!) && !clash.text.includes('route-a'), 'the other tenant route is not revealed');
  });

  it('tokens: expired → 401; never more rights than the creator; stored hashed; value shown once', async () => {
    const created = ok(await su('team-a')('POST', '/v1/tokens', { name: 'short', role: 'editor', expires_at: new Date(Date.now() + 3_600_000).toISOString() }), 201);
    const tok = created.json.token as string;
    assert.match(tok, /^tpa_/);
    ok(await as(tok, 'team-a')('GET', '/v1/upstreams'), 200);
    const [row] = await h.sql<{ token_sha256: string }[]>`SELECT token_sha256 FROM admin_tokens WHERE id = ${created.json.id}`;
    assert.equal(row!.token_sha256, createHash('sha256').update(tok).digest('hex'));
    const got = ok(await su('team-a')('GET', `/v1/tokens/${created.json.id}`), 200);
    assert.equal(got.json.token, undefined);
    assert.ok(!got.text.includes(row!.token_sha256));
    await h.sql`UPDATE admin_tokens SET expires_at = now() - interval '1 second' WHERE id = ${created.json.id}`;
    const expired = await as(tok, 'team-a')('GET', '/v1/upstreams');
    assert.equal(expired.status, 401);
    assert.equal(expired.json.error.code, 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal((await su('team-a')('POST', '/v1/tokens', { name: 'past', role: 'viewer', expires_at: '2001-01-01T00:00:00Z' })).status, 400);

    const admin = VARIANTS.find((v) => v.label === 'service admin')!.token!;
    const scoped = VARIANTS.find((v) => v.label.startsWith('user admin scoped'))!.token!;
    assert.equal((await as(admin, 'team-a')('POST', '/v1/tokens', { name: 'up', role: 'owner' })).status, 403, 'role above its own');
    assert.equal((await as(admin, 'team-a')('POST', '/v1/tokens', { name: 'su', superuser: true })).status, 403, 'superuser');
    ok(await as(admin, 'team-a')('POST', '/v1/tokens', { name: uniq('same'), role: 'admin' }), 201);
    assert.equal(
      (await as(scoped, 'team-a')('POST', '/v1/tokens', { name: 'wider', role: 'viewer', scopes: [{ resource: 'routes', access: 'read' }] })).status,
      403,
      'scope beyond its own',
    );
    const narrower = ok(await as(scoped, 'team-a')('POST', '/v1/tokens', { name: uniq('narrow'), role: 'viewer' }), 201);
    assert.deepEqual(narrower.json.scopes, [
      { resource: 'tokens', access: 'write' },
      { resource: 'audit', access: 'read' },
      { resource: 'upstreams', access: 'read' },
    ]);
    assert.equal((await su('team-a')('POST', '/v1/tokens', { name: 'two', role: 'viewer', superuser: true })).status, 400);
    // An admin cannot revoke the owner's service token.
    const ownerTok = ok(await su('team-a')('POST', '/v1/tokens', { name: uniq('own'), role: 'owner' }), 201).json.id;
    assert.equal((await as(admin, 'team-a')('DELETE', `/v1/tokens/${ownerTok}`)).status, 403);
  });

  it('GET /v1/me: the token, its home tenant, and its role in the tenant addressed', async () => {
    const scoped = VARIANTS.find((v) => v.label.startsWith('user admin scoped'))!.token!;
    const me = ok(await h.rest('GET', '/v1/me', undefined, { authorization: `Bearer ${scoped}` }), 200).json;
    assert.equal(me.superuser, false);
    assert.equal(me.home_tenant.name, 'team-a');
    assert.deepEqual(me.tenant, { id: me.home_tenant.id, name: 'team-a', role: 'admin' });
    assert.equal(me.scopes.length, 3);
    assert.equal(typeof me.user_id, 'string');
    // Another tenant it has no role in: 404 as for any other endpoint, not a view of that tenant.
    assert.equal((await as(scoped, 'team-b')('GET', '/v1/me')).status, 404);
    const su = ok(await h.rest('GET', '/v1/me', undefined, { 'x-turnpike-tenant': 'team-b' }), 200).json;
    assert.equal(su.superuser, true);
    assert.equal(su.home_tenant.name, 'default');
    assert.deepEqual([su.tenant.name, su.tenant.role, su.scopes, su.user_id], ['team-b', 'owner', null, null]);
    assert.equal((await h.rest('GET', '/v1/me', undefined, { authorization: 'Bearer tpa_nope' })).status, 401);
  });

  it('audit: a row per write with who, what, before/after, request id — and no secrets', async () => {
    const editorVariant = VARIANTS.find((v) => v.label === 'service editor')!;
    const ed = as(editorVariant.token!, 'team-a');
    const up = ok(await ed('POST', '/v1/upstreams', { name: 'audited', targets: [{ host: 'a', port: 1 }] }), 201);
    const upd = ok(await ed('PATCH', `/v1/upstreams/${up.json.id}`, { read_timeout_ms: 4321 }), 200);
    ok(await ed('DELETE', `/v1/upstreams/${up.json.id}`), 204);
    const c = ok(await ed('POST', '/v1/consumers', { username: 'audited-c' }), 201);
    const key = ok(await ed('POST', `/v1/consumers/${c.json.id}/keys`, { key: 'audit-secret-key-0123456789' }), 201);
    const tok = ok(await su('team-a')('POST', '/v1/tokens', { name: 'audited-token', role: 'viewer' }), 201);

    const owner = as(VARIANTS.find((v) => v.label === 'user owner')!.token!, 'team-a');
    const rows = (await owner('GET', `/v1/audit?resource_type=upstreams&resource_id=${up.json.id}`)).json.data;
    assert.deepEqual(rows.map((r: { action: string }) => r.action), ['create', 'update', 'delete']);
    assert.equal(rows[0].before, null);
    assert.equal(rows[0].after.name, 'audited');
    assert.equal(rows[1].before.read_timeout_ms, 60000);
    assert.equal(rows[1].after.read_timeout_ms, 4321);
    assert.equal(rows[2].after, null);
    assert.equal(rows[2].before.name, 'audited');
    assert.equal(rows[1].request_id, upd.headers.get('x-request-id'));
    assert.equal(rows[0].tenant_id, A.tenant);
    const [me] = await h.sql<{ id: string }[]>`SELECT id FROM admin_tokens WHERE token_sha256 = ${createHash('sha256').update(editorVariant.token!).digest('hex')}`;
    assert.ok(rows.every((r: { actor_token_id: string }) => r.actor_token_id === me!.id));
    // Filters: actor, action, time range, paging.
    const byActor = (await owner('GET', `/v1/audit?actor=${me!.id}&action=update`)).json.data;
    assert.ok(byActor.length >= 1 && byActor.every((r: { action: string }) => r.action === 'update'));
    assert.equal((await owner('GET', `/v1/audit?from=${Date.now() + 60_000}`)).json.data.length, 0);
    const p1 = (await owner('GET', '/v1/audit?limit=2')).json;
    assert.equal(p1.data.length, 2);
    const p2 = (await owner('GET', `/v1/audit?limit=2&cursor=${p1.next_cursor}`)).json;
    assert.ok(Number(p2.data[0].id) > Number(p1.data[1].id));
    assert.equal((await owner('GET', '/v1/audit?action=explode')).status, 400);
    // No key or token material anywhere in the log.
    const all = await h.sql<{ row: string }[]>`SELECT row_to_json(a)::text AS row FROM audit_log a`;
    const text = all.map((r) => r.row).join('\n');
    assert.ok(text.includes(key.json.id) && text.includes(tok.json.id));
    for (const secret of [key.json.key, createHash('sha256').update(key.json.key).digest('hex'), tok.json.token, createHash('sha256').update(tok.json.token).digest('hex')]) {
      assert.ok(!text.includes(secret), 'no secret in the audit log');
    }
  });
});
