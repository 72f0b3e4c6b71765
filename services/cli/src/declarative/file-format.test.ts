import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigFileError, parseConfigFile, pointerToPath, toYaml } from './file-format.js';
import { emptyResources } from './resource-kinds.js';

function problems(text: string): string[] {
  try {
    parseConfigFile(text, 'f.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigFileError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected the file to be refused');
}

test('defaults are filled in as the control plane fills them', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services: [{ name: s, upstream: u }]
routes: [{ name: r, service: s, paths: [/x], plugins: { key-auth: {} } }]
consumers: [{ username: c }]
`);
  assert.deepEqual(config.upstreams[0], {
    name: 'u',
    scheme: 'http',
    targets: [{ host: 'h', port: 80, weight: 100 }],
    connect_timeout_ms: 5000,
    read_timeout_ms: 60000,
    tags: [],
    algorithm: 'round-robin',
    hash_on: null,
    total_timeout_ms: null,
    retries: { attempts: 0, on: ['connect-failure'], budget_percent: 20, only_idempotent: true },
    health_checks: {},
    circuit_breaker: null,
    tls: { verify: true },
  });
  assert.deepEqual(config.services[0], {
    name: 's',
    upstream: 'u',
    integration: null,
    base_path: '',
    tags: [],
    lifecycle: 'published',
    version: '',
    sunset_at: null,
    catalog_visibility: 'private',
    subscription_required: false,
    openapi: null,
    splits: [],
  });
  assert.deepEqual(config.routes[0], {
    name: 'r',
    service: 's',
    hosts: [],
    paths: ['/x'],
    methods: [],
    strip_path: false,
    priority: 0,
    plugins: { 'key-auth': { header_names: ['apikey', 'x-api-key'], hide_credentials: true } },
    tags: [],
    headers: [],
    query: [],
    stage: null,
  });
  assert.deepEqual(config.consumers[0], { username: 'c', tags: [], keys: [] });
});

test('JSON is accepted too, and lists may be absent', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile('{"_format_version": "1"}');
  assert.deepEqual(config, { upstreams: [], services: [], routes: [], consumers: [], ...emptyResources(), secrets: new Map() });
});

test('schema errors are reported with file paths and readable messages', { timeout: 5_000 }, () => {
  assert.deepEqual(
    problems(`
_format_version: "1"
upstreams: [{ name: "-bad", scheme: ftp, targets: [{ host: h, port: 0 }], extra: 1 }]
routes: [{ name: r, service: s, paths: [/ok, "nope"], methods: [GET, FETCH] }]
`),
    [
      'upstreams[0].extra: is not allowed',
      'upstreams[0].name: must be a name: 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      'upstreams[0].scheme: must be one of: "http", "https"',
      'upstreams[0].targets[0].port: must be >= 1',
      'routes[0].paths[1]: must be a route path: "/" then segments of literal text or {param} and optionally a final {name*}, e.g. /users/{id}, or "~" and a regular expression',
      'routes[0].methods[1]: must be one of: "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"',
    ],
  );
});

test('route regexes and matcher values are checked as the control plane checks them, with file paths', { timeout: 5_000 }, () => {
  assert.deepEqual(
    problems(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services: [{ name: s, upstream: u }]
routes:
  - { name: r, service: s, paths: [/ok, "~(a+)+", "~/v[0-9"], headers: [{ name: x-env, match: exact }], query: [{ name: debug, match: present, value: "1" }] }
`),
    [
      'routes[0].paths[1]: regular expression repeats a group that itself contains *, + or {n,} (nested quantifiers can backtrack catastrophically)',
      'routes[0].paths[2]: invalid regular expression: Unterminated character class',
      'routes[0].headers[0].value: is required for match "exact"',
      'routes[0].query[0].value: is not allowed for match "present"',
    ],
  );
  const bad = problems('_format_version: "1"\nroutes: [{ name: r, service: s, paths: [/], hosts: ["a.*.com"], stage: Prod }]');
  assert.ok(bad.includes('routes[0].hosts[0]: must be a host name (letters, digits, "." and "-"; no port), optionally "*." in front or ".*" at the end'), bad.join('\n'));
  assert.ok(bad.includes('routes[0].stage: must be a stage name: 1-64 lower-case letters, digits, "_" or "-", starting with a letter or digit'), bad.join('\n'));
});

test('route matchers, wildcard hosts, catch-all and regex paths and the stage survive export and re-parse', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services: [{ name: s, upstream: u }]
routes:
  - name: r
    service: s
    hosts: ["*.example.com", "api.*"]
    paths: ["/files/{rest*}", "~^/v[0-9]+/users/(?<id>[0-9]+)$"]
    headers: [{ name: x-env, match: exact, value: canary }]
    query: [{ name: beta, match: present }]
    stage: prod
  - { name: plain, service: s, paths: [/p] }
`);
  assert.deepEqual(config.routes[0]!.headers, [{ name: 'x-env', match: 'exact', value: 'canary', ignore_case: false }]);
  assert.deepEqual(config.routes[0]!.query, [{ name: 'beta', match: 'present', ignore_case: false }]);
  assert.equal(config.routes[0]!.stage, 'prod');
  const exported = toYaml(config);
  assert.deepEqual(parseConfigFile(exported).config, config);
  assert.doesNotMatch(exported.split('name: plain')[1]!, /headers|query|stage/, 'unset matchers and stage are left out');
});

test('a service\'s subscription_required: false unless set, exported only when true, checked as a boolean', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services:
  - { name: paid, upstream: u, subscription_required: true }
  - { name: open, upstream: u }
`);
  assert.deepEqual(config.services.map((s) => s.subscription_required), [true, false]);
  const exported = toYaml(config);
  assert.deepEqual(parseConfigFile(exported).config, config);
  assert.match(exported.split('name: open')[0]!, /subscription_required: true/);
  assert.doesNotMatch(exported.split('name: open')[1]!, /subscription_required/, 'the default is left out');
  assert.ok(
    problems(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services: [{ name: s, upstream: u, subscription_required: "yes" }]
`).some((p) => p.startsWith('services[0].subscription_required')),
  );
});

test('the format version is required and checked first', { timeout: 5_000 }, () => {
  assert.deepEqual(problems('upstreams: []'), ['_format_version: is required']);
  assert.deepEqual(problems('_format_version: 2'), ['_format_version: must be "1" (the only format this turnpike knows)']);
  assert.deepEqual(problems(''), ['file: is empty (expected at least _format_version: "1")']);
});

test('duplicate names, unresolved references and nameless keys are refused', { timeout: 5_000 }, () => {
  assert.deepEqual(
    problems(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }, { name: u, targets: [{ host: h, port: 81 }] }]
services: [{ name: s, upstream: nope }]
routes: [{ name: r, service: s2, paths: [/x] }]
consumers: [{ username: c, keys: [{ name: k }, { name: k }] }]
`),
    [
      'upstreams[1]: upstream "u" is also defined at upstreams[0]',
      'consumers[0].keys[1]: key "k" is also defined at consumers[0].keys[0]',
      'services[0].upstream: no upstream named "nope" in this file',
      'routes[0].service: no service named "s2" in this file',
    ],
  );
  assert.deepEqual(problems('_format_version: "1"\nconsumers: [{ username: c, keys: [{ key: "0123456789abcdefg" }] }]'), ['consumers[0].keys[0].name: is required']);
});

test('YAML syntax errors and duplicate keys are reported with line and column', { timeout: 5_000 }, () => {
  const [syntax] = problems('_format_version: "1"\nroutes: [\n');
  assert.match(syntax!, /^line \d+, column \d+: /);
  const [dup] = problems('_format_version: "1"\n_format_version: "1"\n');
  assert.match(dup!, /^line 2, column 1: Map keys must be unique/);
});

test('the locations of entities are kept for error messages', { timeout: 5_000 }, () => {
  const { locations } = parseConfigFile('_format_version: "1"\nconsumers: [{ username: a }, { username: b, keys: [{ name: k }] }]');
  assert.equal(locations.get('consumer:b'), 'consumers[1]');
  assert.equal(locations.get('key:b/k'), 'consumers[1].keys[0]');
});

test('export YAML parses back to the same config and holds no key material', { timeout: 5_000 }, () => {
  const parsed = parseConfigFile(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
consumers: [{ username: c, custom_id: x, keys: [{ name: k, key: "0123456789abcdefg" }] }]
`).config;
  const yaml = toYaml(parsed);
  assert.ok(!yaml.includes('0123456789abcdefg'));
  const back = parseConfigFile(yaml).config;
  assert.deepEqual(back.upstreams, parsed.upstreams);
  assert.deepEqual(back.consumers, [{ username: 'c', custom_id: 'x', tags: [], keys: [{ name: 'k', expires_at: null }] }]);
});

test('a key\'s expires_at is an RFC 3339 date-time or null, normalized to the instant the API writes; absent means never', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile(`
_format_version: "1"
consumers:
  - username: c
    keys:
      - { name: old, expires_at: 2027-01-01T02:00:00+02:00 }
      - { name: utc, expires_at: "2027-01-01T00:00:00.5Z" }
      - { name: cleared, expires_at: null }
      - { name: plain }
`);
  assert.deepEqual(config.consumers[0]!.keys, [
    { name: 'old', expires_at: '2027-01-01T00:00:00.000Z' },
    { name: 'utc', expires_at: '2027-01-01T00:00:00.500Z' },
    { name: 'cleared', expires_at: null },
    { name: 'plain', expires_at: null },
  ]);
  // Export writes the expiry only where there is one, and the file reads back the same.
  const yaml = toYaml(config);
  assert.match(yaml, /- name: old\n\s+expires_at: 2027-01-01T00:00:00.000Z\n/);
  assert.doesNotMatch(yaml, /expires_at: null/);
  assert.deepEqual(parseConfigFile(yaml).config.consumers, config.consumers);
  // No time zone, a date alone, a number, an unknown key field: refused with their place in the file.
  assert.deepEqual(
    problems(`_format_version: "1"
consumers:
  - username: c
    keys:
      - { name: a, expires_at: "2027-01-01T00:00:00" }
      - { name: b, expires_at: "2027-01-01" }
      - { name: c, expires_at: 1798761600 }
      - { name: d, expiry: "2027-01-01T00:00:00Z" }`),
    [
      'consumers[0].keys[0].expires_at: must match format "date-time"',
      'consumers[0].keys[1].expires_at: must match format "date-time"',
      'consumers[0].keys[2].expires_at: must be string or null',
      'consumers[0].keys[3].expiry: is not allowed',
    ],
  );
});

test('pointerToPath writes JSON pointers as file paths', { timeout: 5_000 }, () => {
  assert.equal(pointerToPath('/routes/2/paths/0'), 'routes[2].paths[0]');
  assert.equal(pointerToPath('/routes/0/plugins/key-auth/header_names/1'), 'routes[0].plugins.key-auth.header_names[1]');
  assert.equal(pointerToPath(''), '');
});

test('integrations: http normalizes to upstream, lambda defaults are filled, websocket names its upstream', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }], algorithm: least-connections }]
services:
  - { name: a, integration: { type: http, upstream: u } }
  - { name: b, integration: { type: lambda, function_name: fn, region: us-east-1, timeout_ms: 100 } }
  - { name: c, integration: { type: websocket, upstream: u, idle_timeout_ms: 1000 } }
`);
  assert.equal(config.upstreams[0]!.algorithm, 'least-connections');
  assert.deepEqual(
    config.services.map((s) => [s.upstream, s.integration]),
    [
      ['u', null],
      [null, { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 100, payload_format: '2.0', invocation_type: 'RequestResponse' }],
      [null, { type: 'websocket', upstream: 'u', idle_timeout_ms: 1000 }],
    ],
  );
});

test('exactly one of upstream and integration; integration upstreams resolve; upstream rules apply to files', { timeout: 5_000 }, () => {
  assert.deepEqual(
    problems(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }] }]
services:
  - { name: a, upstream: u, integration: { type: ai, provider_ids: [] } }
  - { name: b }
`),
    ['services[0].integration: must not be set together with upstream (set exactly one)', 'services[1].upstream: is required unless integration is set (set exactly one)'],
  );
  assert.deepEqual(
    problems(`
_format_version: "1"
upstreams: [{ name: u, targets: [{ host: h, port: 80 }], hash_on: { source: path } }]
services: [{ name: a, integration: { type: websocket, upstream: nope, idle_timeout_ms: 1000 } }]
`),
    ['upstreams[0].hash_on: is allowed only when algorithm is consistent-hash', 'services[0].integration.upstream: no upstream named "nope" in this file'],
  );
});
