import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigFileError, parseConfigFile, pointerToPath, toYaml } from './file-format.js';

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
  assert.deepEqual(config.upstreams[0], { name: 'u', scheme: 'http', targets: [{ host: 'h', port: 80, weight: 100 }], connect_timeout_ms: 5000, read_timeout_ms: 60000, tags: [] });
  assert.deepEqual(config.services[0], {
    name: 's',
    upstream: 'u',
    base_path: '',
    tags: [],
    lifecycle: 'published',
    version: '',
    sunset_at: null,
    catalog_visibility: 'private',
    openapi: null,
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
  });
  assert.deepEqual(config.consumers[0], { username: 'c', tags: [], keys: [] });
});

test('JSON is accepted too, and lists may be absent', { timeout: 5_000 }, () => {
  const { config } = parseConfigFile('{"_format_version": "1"}');
  assert.deepEqual(config, { upstreams: [], services: [], routes: [], consumers: [] });
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
      'routes[0].paths[1]: must be a route path: "/" then segments of literal text or {param}, e.g. /users/{id}',
      'routes[0].methods[1]: must be one of: "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"',
    ],
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
  assert.deepEqual(back.consumers, [{ username: 'c', custom_id: 'x', tags: [], keys: [{ name: 'k' }] }]);
});

test('pointerToPath writes JSON pointers as file paths', { timeout: 5_000 }, () => {
  assert.equal(pointerToPath('/routes/2/paths/0'), 'routes[2].paths[0]');
  assert.equal(pointerToPath('/routes/0/plugins/key-auth/header_names/1'), 'routes[0].plugins.key-auth.header_names[1]');
  assert.equal(pointerToPath(''), '');
});
