// The generic resource kinds in declarative files: parsing and normalization, name references, environment
// interpolation, secrets, planning (order, identities, subscription status) and export round trips.
import { test } from 'node:test';
import { PLUGIN_TYPE_NAMES } from '@turnpike/common';
import assert from 'node:assert/strict';
import type { CurrentState } from './current-state.js';
import { fromApi, toDeclarative } from './current-state.js';
import { ConfigFileError, entityKey, parseConfigFile, toYaml, type DeclarativeConfig } from './file-format.js';
import { plan, type Operation } from './plan.js';
import { CONFIG_LIST, RESOURCE_KINDS, emptyResources, type ResourceConfig } from './resource-kinds.js';

const FILE = `
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services: [{ name: orders, upstream: u }]
routes: [{ name: r, service: orders, paths: [/o] }]
consumer_groups:
  - { name: partners, description: External partners }
consumers:
  - username: acme
    groups: [partners]
    credentials:
      - { type: hmac, key_id: acme-1, secret: "0123456789abcdef0123" }
      - { type: basic, username: acme, password: "\${env:TP_TEST_ACME_PASSWORD}" }
      - { type: jwt, issuer: https://idp.example, algorithms: [RS256], jwks_uri: https://idp.example/jwks }
plans:
  - { name: gold, rate_limit: { requests: 100, per: minute }, quotas: [{ period: month, requests: 100000 }], approval: auto }
ai_providers:
  - { name: oai, type: openai, api_key: "\${env:TP_TEST_OPENAI_KEY}", models: [{ name: gpt-4o, input_cost_per_mtok: 2.5, output_cost_per_mtok: 10 }] }
prompt_templates:
  - { name: summarize, provider: oai, messages: [{ role: user, content: "Summarize {{ text }}" }], variables: [{ name: text }] }
subscriptions:
  - { consumer: acme, service: orders, plan: gold, status: approved }
plugins:
  - { type: key-auth, scope: { route: r } }
  - { type: request-size-limiting, name: small, scope: { service: orders, consumer: acme }, config: { max_body_bytes: 2048 } }
`;

function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const ENV = { TP_TEST_ACME_PASSWORD: 'correct horse battery', TP_TEST_OPENAI_KEY: 'sk-test-0123456789abcdef' };
const parse = (text = FILE) => withEnv(ENV, () => parseConfigFile(text, 'f.yaml'));

function problems(text: string, env: Record<string, string | undefined> = ENV): string[] {
  try {
    withEnv(env, () => parseConfigFile(text, 'f.yaml'));
  } catch (err) {
    assert.ok(err instanceof ConfigFileError);
    return err.problems.map((p) => `${p.path}: ${p.message}${p.line !== undefined ? ` @${p.line}` : ''}`);
  }
  assert.fail('expected the file to be refused');
}

/** The state the API would report after applying `d` (ids made up; auto-approved subscriptions approved). */
function applied(d: DeclarativeConfig): CurrentState {
  let n = 0;
  const id = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const resources = emptyResources() as CurrentState['resources'];
  for (const kind of RESOURCE_KINDS) {
    const list = CONFIG_LIST[kind];
    resources[list] = d[list].map((e) => ({ ...structuredClone(e), ...(kind === 'subscription' ? { status: e.status ?? 'pending' } : {}), id: id() }));
  }
  return {
    upstreams: d.upstreams.map((u) => ({ ...structuredClone(u), id: id() })),
    services: d.services.map((s) => ({ ...structuredClone(s), id: id() })),
    routes: d.routes.map((r) => ({ ...structuredClone(r), id: id() })),
    consumers: d.consumers.map((c) => {
      const { keys, ...rest } = structuredClone(c);
      return { ...rest, id: id(), keys: keys.map((k) => ({ id: id(), name: k.name, expires_at: k.expires_at })) };
    }),
    resources,
  };
}

const brief = (ops: Operation[]): string[] => ops.map((o) => `${o.action} ${o.kind} ${o.kind === 'key' ? `${o.consumer}/` : ''}${o.name}`);

test('every generic kind is parsed and normalized with the control plane defaults, references by name', { timeout: 5_000 }, () => {
  const { config, locations } = parse();
  assert.deepEqual(config.consumer_groups, [{ name: 'partners', description: 'External partners', tags: [] }]);
  assert.deepEqual(config.consumers[0]!.groups, ['partners']);
  assert.deepEqual(config.plans[0], {
    name: 'gold',
    description: '',
    rate_limit: { requests: 100, per: 'minute' },
    quotas: [{ period: 'month', requests: 100000 }],
    approval: 'auto',
    tags: [],
  });
  assert.deepEqual(config.ai_providers[0], {
    name: 'oai',
    type: 'openai',
    base_url: null,
    api_version: null,
    aws: null,
    headers: {},
    models: [{ name: 'gpt-4o', input_cost_per_mtok: 2.5, output_cost_per_mtok: 10 }],
    default_model: null,
    timeout_ms: 120_000,
    tags: [],
  });
  assert.equal(config.prompt_templates[0]!.provider, 'oai');
  assert.deepEqual(config.prompt_templates[0]!.variables, [{ name: 'text', required: true }]);
  assert.deepEqual(config.credentials, [
    { consumer: 'acme', type: 'hmac', key_id: 'acme-1', algorithms: ['hmac-sha256'], tags: [] },
    { consumer: 'acme', type: 'basic', username: 'acme', tags: [] },
    {
      consumer: 'acme',
      type: 'jwt',
      issuer: 'https://idp.example',
      algorithms: ['RS256'],
      jwks_uri: 'https://idp.example/jwks',
      audiences: [],
      clock_skew_s: 60,
      claims_to_headers: {},
      tags: [],
    },
  ]);
  assert.deepEqual(config.subscriptions, [{ consumer: 'acme', service: 'orders', plan: 'gold', note: '', tags: [], status: 'approved' }]);
  // Plugin configs get their type's defaults, as the control plane stores them.
  assert.deepEqual(config.plugins[0], { type: 'key-auth', enabled: true, scope: { route: 'r' }, config: config.plugins[0]!.config, tags: [] });
  assert.ok(Object.keys(config.plugins[0]!.config as object).length > 0, 'key-auth defaults filled');
  assert.deepEqual(config.plugins[1]!.config, { ...(config.plugins[1]!.config as object), max_body_bytes: 2048 });
  assert.equal(locations.get(entityKey('plugin', 'request-size-limiting @ service orders + consumer acme')), 'plugins[1]');
  assert.equal(locations.get(entityKey('credential', 'acme/basic:acme')), 'consumers[0].credentials[1]');
  assert.equal(locations.get(entityKey('subscription', 'acme -> orders')), 'subscriptions[0]');
});

test('secrets are split off the entities, interpolated from the environment, and never exported', { timeout: 5_000 }, () => {
  const { config } = parse();
  assert.deepEqual(config.secrets?.get(entityKey('ai_provider', 'oai')), { api_key: ENV.TP_TEST_OPENAI_KEY });
  assert.deepEqual(config.secrets?.get(entityKey('credential', 'acme/basic:acme')), { password: ENV.TP_TEST_ACME_PASSWORD });
  assert.deepEqual(config.secrets?.get(entityKey('credential', 'acme/hmac:acme-1')), { secret: '0123456789abcdef0123' });
  assert.ok(!('api_key' in config.ai_providers[0]!));
  const yaml = toYaml(config);
  for (const secret of [ENV.TP_TEST_OPENAI_KEY, ENV.TP_TEST_ACME_PASSWORD, '0123456789abcdef0123']) assert.ok(!yaml.includes(secret), secret);
  // The export parses back to the same config, minus the secrets.
  const back = parseConfigFile(yaml).config;
  const { secrets: _s, ...withoutSecrets } = config;
  const { secrets: backSecrets, ...rest } = back;
  assert.deepEqual(rest, withoutSecrets);
  assert.equal(backSecrets?.size, 0);
});

test('${env:NAME}: unset variables are errors naming the variable and line; $${env:...} is literal', { timeout: 5_000 }, () => {
  const unset = problems(FILE, { ...ENV, TP_TEST_OPENAI_KEY: undefined });
  assert.equal(unset.length, 1);
  assert.match(unset[0]!, /^line 18, column \d+: \$\{env:TP_TEST_OPENAI_KEY\}: environment variable TP_TEST_OPENAI_KEY is not set$/);
  const literal = withEnv({ TP_TEST_X: 'x' }, () =>
    parseConfigFile('_format_version: "1"\nconsumer_groups: [{ name: g, description: "a ${env:TP_TEST_X} b $${env:TP_TEST_X}" }]'),
  );
  assert.equal(literal.config.consumer_groups[0]!.description, 'a x b ${env:TP_TEST_X}');
});

test('references by name are checked within the file, with field paths and lines', { timeout: 5_000 }, () => {
  const bad = `_format_version: "1"
consumers: [{ username: c, groups: [nope] }]
prompt_templates: [{ name: t, provider: gone, messages: [{ role: user, content: hi }] }]
subscriptions:
  - { consumer: c, service: missing, plan: none }
plugins:
  - { type: key-auth, scope: { route: x } }
`;
  assert.deepEqual(problems(bad).sort(), [
    'consumers[0].groups[0]: no consumer group named "nope" in this file @2',
    'plugins[0].scope.route: no route named "x" in this file @7',
    'prompt_templates[0].provider: no AI provider named "gone" in this file @3',
    'subscriptions[0].plan: no plan named "none" in this file @5',
    'subscriptions[0].service: no service named "missing" in this file @5',
  ]);
});

test('plugin types, scopes and configs and duplicate identities are refused before anything is sent', { timeout: 5_000 }, () => {
  assert.deepEqual(problems('_format_version: "1"\nplugins: [{ type: nope }]'), [`plugins[0].type: must be one of: ${PLUGIN_TYPE_NAMES.map((t) => JSON.stringify(t)).join(', ')} @2`]);
  assert.deepEqual(problems('_format_version: "1"\nconsumers: [{ username: c }]\nplugins: [{ type: key-auth, scope: { consumer: c } }]'), [
    'plugins[0].scope: key-auth cannot be attached at scope consumer; allowed: global, service, route @3',
  ]);
  const cfg = problems('_format_version: "1"\nplugins: [{ type: request-size-limiting, config: { max_body_bytes: -1 } }]');
  assert.equal(cfg.length, 1);
  assert.match(cfg[0]!, /^plugins\[0\]\.config\.max_body_bytes: /);
  // A type's own rules beyond its schema (here: a CIDR block with host bits set), as the control plane's 422.
  const rule = problems('_format_version: "1"\nplugins: [{ type: ip-restriction, config: { allow: [10.0.0.0/8, 10.1.2.3/16] } }]');
  assert.equal(rule.length, 1);
  assert.match(rule[0]!, /^plugins\[0\]\.config\.allow\[1\]: .*10\.1\.2\.3\/16/);
  assert.deepEqual(problems('_format_version: "1"\nplugins: [{ type: key-auth }, { type: key-auth, name: again }]'), [
    'plugins[1]: plugin "key-auth @ global" is also defined at plugins[0] @2',
  ]);
  assert.deepEqual(
    problems(
      '_format_version: "1"\nconsumers:\n  - { username: a, credentials: [{ type: basic, username: x, password: "12345678" }] }\n  - { username: b, credentials: [{ type: basic, username: x, password: "12345678" }] }',
    ),
    ['consumers[1].credentials[0]: basic credential "x" is also defined at consumers[0].credentials[0] @4'],
  );
  assert.deepEqual(problems('_format_version: "1"\nsubscriptions: [{ consumer: c, service: s, status: revoked }]').slice(0, 1), [
    'subscriptions[0].status: must be one of: "pending", "approved" @2',
  ]);
  assert.deepEqual(problems('_format_version: "1"\nai_providers: [{ name: p, type: ollama }]'), ['ai_providers[0].base_url: is required for type ollama (it has no default endpoint) @2']);
});

test('an empty control plane gets creates in reference order; applying it again plans nothing', { timeout: 5_000 }, () => {
  const d = parse().config;
  const p = plan(applied({ ...d, ...emptyResources(), consumers: [], upstreams: [], services: [], routes: [] }), d, { prune: true });
  assert.deepEqual(brief(p.operations), [
    'create upstream u',
    'create service orders',
    'create route r',
    'create consumer_group partners',
    'create consumer acme',
    'create credential acme/hmac:acme-1',
    'create credential acme/basic:acme',
    'create credential acme/jwt:https://idp.example',
    'create plan gold',
    'create ai_provider oai',
    'create prompt_template summarize',
    'create subscription acme -> orders',
    'create plugin key-auth @ route r',
    'create plugin request-size-limiting @ service orders + consumer acme',
  ]);
  assert.deepEqual(plan(applied(d), d, { prune: true }).operations, []);
  // The export of the applied state plans nothing either (secrets are not compared).
  assert.deepEqual(plan(applied(d), toDeclarative(applied(d)), { prune: true }).operations, []);
});

test('secrets: sent on create only; --update-secrets re-sends every secret in the file for existing entities', { timeout: 5_000 }, () => {
  const d = parse().config;
  const p = plan(applied(d), d, { prune: false, updateSecrets: true });
  assert.deepEqual(brief(p.operations), ['update credential acme/hmac:acme-1', 'update credential acme/basic:acme', 'update ai_provider oai']);
  const op = p.operations.find((o) => o.kind === 'ai_provider');
  assert.deepEqual(op?.action === 'update' ? op.changes : [], [{ field: 'api_key', from: '(stored)', to: '(from the file)', secret: true }]);
  assert.equal(op?.action === 'update' ? op.mode : '', 'patch');
});

test('changes are updates by identity; a changed identity is a delete and a create (with prune)', { timeout: 5_000 }, () => {
  const d = parse().config;
  const state = applied(d);
  const changed = parse(
    FILE.replace('max_body_bytes: 2048', 'max_body_bytes: 4096').replace('approval: auto', 'approval: manual').replace('{ type: key-auth, scope: { route: r } }', '{ type: key-auth, scope: { service: orders } }'),
  ).config;
  const p = plan(state, changed, { prune: true });
  assert.deepEqual(brief(p.operations), ['delete plugin key-auth @ route r', 'update plan gold', 'create plugin key-auth @ service orders', 'update plugin request-size-limiting @ service orders + consumer acme']);
  const upd = p.operations.find((o) => o.kind === 'plugin' && o.action === 'update');
  assert.deepEqual(upd?.action === 'update' ? upd.changes.map((c) => c.field) : [], ['config']);
  // Without prune the old plugin is only reported.
  const kept = plan(state, changed, { prune: false });
  assert.ok(!kept.operations.some((o) => o.action === 'delete'));
  assert.deepEqual(kept.unmanaged, [{ kind: 'plugin', name: 'key-auth @ route r' }]);
  // Dropping a plugin's optional name is a full replacement (a patch cannot unset it).
  const unnamed = parse(FILE.replace('name: small, ', '')).config;
  const r = plan(state, unnamed, { prune: true }).operations;
  assert.deepEqual(r.map((o) => (o.action === 'update' ? `${o.mode} ${o.changes.map((c) => c.field).join()}` : o.action)), ['replace name']);
});

test('subscriptions: status approved approves a pending one; pruning revokes approved and rejects pending ones', { timeout: 5_000 }, () => {
  const d = parse().config;
  const state = applied(d);
  state.resources.subscriptions[0]!.status = 'pending';
  const p = plan(state, d, { prune: false });
  assert.deepEqual(p.operations.length, 1);
  const op = p.operations[0]!;
  assert.deepEqual(op.action === 'update' ? op.changes : [], [{ field: 'status', from: 'pending', to: 'approved' }]);
  // A file without a status, or with pending for an approved one, changes nothing.
  state.resources.subscriptions[0]!.status = 'approved';
  const noStatus = parse(FILE.replace(', status: approved', '')).config;
  assert.deepEqual(plan(state, noStatus, { prune: true }).operations, []);
  // Pruned: revoked when approved, rejected when pending.
  const none = parse(FILE.replace(/subscriptions:\n.*\n/, '')).config;
  const revoke = plan(state, none, { prune: true }).operations;
  assert.deepEqual(revoke.map((o) => `${o.action} ${o.action === 'delete' && 'transition' in o ? String(o.transition) : ''}`), ['delete revoke']);
  state.resources.subscriptions[0]!.status = 'pending';
  const reject = plan(state, none, { prune: true }).operations;
  assert.deepEqual(reject.map((o) => (o.action === 'delete' && 'transition' in o ? o.transition : o.action)), ['reject']);
});

test('the API form reads back by name: group ids, provider ids, scope ids and consumer ids become names', { timeout: 5_000 }, () => {
  const ids = { c: '00000000-0000-4000-8000-000000000001', s: '00000000-0000-4000-8000-000000000002', g: '00000000-0000-4000-8000-000000000003', p: '00000000-0000-4000-8000-000000000004' };
  const ts = { created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z' };
  const state = fromApi({
    upstreams: [],
    services: [{ id: ids.s, name: 'svc', upstream_id: null, base_path: '', tags: [], ...ts } as never],
    routes: [],
    consumers: [{ id: ids.c, username: 'acme', tags: [], group_ids: [ids.g], ...ts }],
    keys: [[]],
    resources: {
      consumer_groups: [{ id: ids.g, name: 'partners', description: '', tags: [], ...ts }],
      plans: [{ id: ids.p, name: 'gold', description: '', rate_limit: null, quotas: [], approval: 'manual', tags: [], ...ts }],
      subscriptions: [
        { id: 'x1', consumer_id: ids.c, service_id: ids.s, plan_id: ids.p, note: '', status: 'approved', tags: [], ...ts },
        { id: 'x2', consumer_id: ids.c, service_id: ids.s, plan_id: null, note: '', status: 'revoked', tags: [], ...ts },
      ],
      plugins: [{ id: 'x3', type: 'key-auth', enabled: true, scope: { service_id: ids.s }, config: {}, tags: [], ...ts }],
      credentials: [{ id: 'x4', consumer_id: ids.c, type: 'basic', username: 'acme', secret_set: true, tags: [], ...ts }],
    },
  });
  const d: ResourceConfig & { consumers: unknown[] } = toDeclarative(state);
  assert.deepEqual(d.consumers, [{ username: 'acme', tags: [], groups: ['partners'], keys: [] }]);
  // Only live subscriptions are config.
  assert.deepEqual(d.subscriptions, [{ consumer: 'acme', service: 'svc', plan: 'gold', note: '', tags: [], status: 'approved' }]);
  assert.deepEqual(d.plugins, [{ type: 'key-auth', enabled: true, scope: { service: 'svc' }, config: {}, tags: [] }]);
  assert.deepEqual(d.credentials, [{ consumer: 'acme', type: 'basic', username: 'acme', tags: [] }]);
});
