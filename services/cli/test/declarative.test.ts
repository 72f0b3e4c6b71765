// `turnpike apply | diff | export` end to end: the real CLI binary (a child process) against a control plane
// started in-process on its own database, through the REST admin API.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessConfigBus } from '@turnpike/common';
import { createTestDatabase } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

// The bound is for the whole group of tests (~60 CLI processes): ~116 s on a slow VM, where 120 s cut the
// last test short and closed the control plane under it.
describe('declarative config through the turnpike CLI', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_decl_${randomBytes(16).toString('hex')}`;
  const byoKey = `tp_byo_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> =>
    await new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        // Run in the test's own directory: no `.turnpike/admin-token` of a local `turnpike up` is picked up.
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token, ...env }, timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(input ?? '');
    });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  };
  const names = async (kind: string): Promise<string[]> =>
    ((await api('GET', `/v1/${kind}?limit=1000`)).data as Array<{ name?: string; username?: string }>).map((e) => e.name ?? e.username ?? '');
  /** Everything the API holds, with timestamps: equal snapshots mean nothing was written. */
  const snapshot = async (): Promise<string> => {
    const parts: unknown[] = [];
    for (const kind of ['upstreams', 'services', 'routes', 'consumers']) parts.push((await api('GET', `/v1/${kind}?limit=1000`)).data);
    for (const c of (await api('GET', '/v1/consumers?limit=1000')).data as Array<{ id: string }>) parts.push((await api('GET', `/v1/consumers/${c.id}/keys`)).data);
    parts.push(await api('GET', '/v1/status'));
    return JSON.stringify(parts);
  };
  const write = async (name: string, text: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  const base = (o: { readTimeout?: number; customId?: boolean; extraPath?: string } = {}): string => `
_format_version: "1"
upstreams:
  - name: orders
    targets:
      - { host: 10.0.0.5, port: 8080 }
      - { host: 10.0.0.6, port: 8080, weight: 50 }
${o.readTimeout === undefined ? '' : `    read_timeout_ms: ${o.readTimeout}\n`}  - name: legacy
    scheme: https
    targets: [{ host: legacy.internal, port: 443 }]
services:
  - name: orders
    upstream: orders
    base_path: /api
    lifecycle: deprecated
    version: v1
    sunset_at: "2027-01-01T00:00:00Z"
    catalog_visibility: public
    openapi: { openapi: 3.1.0, info: { title: Orders, version: "1" }, paths: {} }
  - name: legacy
    upstream: legacy
routes:
  - name: orders
    service: orders
    paths: ["/orders/{id}"${o.extraPath === undefined ? '' : `, "${o.extraPath}"`}]
    methods: [GET]
    plugins: { key-auth: {} }
  - name: orders-write
    service: orders
    paths: [/orders]
    methods: [POST]
  - name: legacy
    service: legacy
    paths: [/old]
    strip_path: true
consumers:
  - username: acme
${o.customId === false ? '' : '    custom_id: crm-42\n'}    tags: [gold]
    keys:
      - name: ci
        key: ${byoKey}
      - name: generated
      - name: spare
`;

  // The same without the legacy upstream, service and route, and without the `spare` key.
  const pruned = (): string =>
    base({ readTimeout: 5000, customId: false, extraPath: '/o/{id}' })
      .replace(/ {2}- name: legacy\n {4}scheme: https\n {4}targets: \[[^\]]*\]\n/, '')
      .replace(/ {2}- name: legacy\n {4}upstream: legacy\n/, '')
      .replace(/ {2}- name: legacy\n {4}service: legacy\n {4}paths: \[\/old\]\n {4}strip_path: true\n/, '')
      .replace(/ {6}- name: spare\n/, '');

  before(async () => {
    db = await createTestDatabase('tp_cli_decl');
    cp = await startControlPlane({
      pgUrl: db.url,
      bus: new InProcessConfigBus(),
      restPort: 0,
      grpcPort: 0,
      bootstrapToken: token,
      log: () => undefined,
    });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-decl-'));
  });

  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('apply creates every entity, references resolved by name, and prints the generated key once', async () => {
    const file = await write('v1.yaml', base());
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\+ upstream "orders"/);
    assert.match(r.stdout, /created route "legacy"/);
    assert.match(r.stdout, /applied: 11 created, 0 updated, 0 deleted/);
    const generated = /key: (tp_\S+) {2}\(shown once/.exec(r.stdout);
    assert.ok(generated, r.stdout);

    assert.deepEqual(await names('upstreams'), ['orders', 'legacy']);
    assert.deepEqual(await names('services'), ['orders', 'legacy']);
    assert.deepEqual(await names('routes'), ['orders', 'orders-write', 'legacy']);
    const ups = (await api('GET', '/v1/upstreams')).data as Array<{ id: string; name: string; targets: Array<{ weight: number }> }>;
    const svcs = (await api('GET', '/v1/services')).data as Array<{ id: string; name: string; upstream_id: string; base_path: string }>;
    const routes = (await api('GET', '/v1/routes')).data as Array<{ name: string; service_id: string; plugins: unknown }>;
    assert.equal(svcs.find((s) => s.name === 'legacy')!.upstream_id, ups.find((u) => u.name === 'legacy')!.id);
    assert.equal(routes.find((x) => x.name === 'orders')!.service_id, svcs.find((s) => s.name === 'orders')!.id);
    assert.deepEqual(ups[0]!.targets.map((t) => t.weight), [100, 50]);

    const [consumer] = (await api('GET', '/v1/consumers')).data as Array<{ id: string; custom_id: string; tags: string[] }>;
    assert.equal(consumer!.custom_id, 'crm-42');
    const keys = (await api('GET', `/v1/consumers/${consumer!.id}/keys`)).data as Array<{ name: string; prefix: string }>;
    assert.deepEqual(keys.map((k) => k.name).sort(), ['ci', 'generated', 'spare']);
    assert.equal(keys.find((k) => k.name === 'ci')!.prefix, byoKey.slice(0, 8));
  });

  test('diff exits 0 right after apply', async () => {
    const r = await cli(['diff', '-f', join(dir, 'v1.yaml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no changes/);
  });

  test('diff of a modified file exits 2 and shows each changed field', async () => {
    const file = await write('v2.yaml', base({ readTimeout: 5000, customId: false, extraPath: '/o/{id}' }));
    const r = await cli(['diff', '-f', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /~ upstream "orders"\n {4}~ read_timeout_ms: 60000 → 5000/);
    assert.match(r.stdout, /~ route "orders"\n {4}~ paths: \["\/orders\/\{id\}"\] → \["\/orders\/\{id\}","\/o\/\{id\}"\]/);
    assert.match(r.stdout, /~ consumer "acme"\n {4}- custom_id: "crm-42"/);
    assert.match(r.stdout, /0 to create, 3 to update, 0 to delete/);
  });

  test('apply --dry-run shows the plan and changes nothing', async () => {
    const before = await snapshot();
    const r = await cli(['apply', '--dry-run', '-f', join(dir, 'v2.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dry run: nothing was changed/);
    assert.equal(await snapshot(), before);
  });

  test('apply updates only what changed, and clears an optional field the file drops', async () => {
    const r = await cli(['apply', '-f', join(dir, 'v2.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied: 0 created, 3 updated, 0 deleted/);
    const ups = (await api('GET', '/v1/upstreams')).data as Array<{ name: string; read_timeout_ms: number }>;
    assert.equal(ups.find((u) => u.name === 'orders')!.read_timeout_ms, 5000);
    const [consumer] = (await api('GET', '/v1/consumers')).data as Array<Record<string, unknown>>;
    assert.equal(consumer!.custom_id, undefined);
    assert.deepEqual(consumer!.tags, ['gold']);
    assert.equal((await cli(['diff', '-f', join(dir, 'v2.yaml')])).code, 0);
  });

  test('apply without --prune keeps what the file omits; with --prune deletes it, routes before services before upstreams', async () => {
    const file = await write('v3.yaml', pruned());
    const kept = await cli(['apply', '-f', file]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /no changes/);
    assert.match(kept.stdout, /not in the file \(kept; --prune deletes them\): .*upstream "legacy"/);
    assert.match(kept.stdout, /key "acme\/spare"/);
    assert.deepEqual(await names('upstreams'), ['orders', 'legacy']);

    const r = await cli(['apply', '--prune', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    const order = [...r.stdout.matchAll(/deleted (\w+) "([^"]+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(order, ['route:legacy', 'service:legacy', 'upstream:legacy', 'key:spare']);
    assert.deepEqual(await names('upstreams'), ['orders']);
    assert.deepEqual(await names('services'), ['orders']);
    assert.deepEqual(await names('routes'), ['orders', 'orders-write']);
    const [consumer] = (await api('GET', '/v1/consumers')).data as Array<{ id: string }>;
    const keys = (await api('GET', `/v1/consumers/${consumer!.id}/keys`)).data as Array<{ name: string }>;
    assert.deepEqual(keys.map((k) => k.name).sort(), ['ci', 'generated']);
    assert.equal((await cli(['diff', '--prune', '-f', file])).code, 0);
  });

  test('export never contains key material, and applying the export is a no-op', async () => {
    const out = join(dir, 'exported.yaml');
    const r = await cli(['export', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const text = await readFile(out, 'utf8');
    assert.match(text, /^_format_version: "1"/);
    assert.ok(!text.includes(byoKey), 'the exported file must not contain the key');
    assert.doesNotMatch(text, /key: /);
    assert.match(text, /- name: ci/);
    const stdout = await cli(['export']);
    assert.equal(stdout.stdout, text);

    const before = await snapshot();
    const again = await cli(['apply', '--prune', '-f', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
    assert.equal(await snapshot(), before);
    assert.equal((await cli(['diff', '--prune', '-f', out])).code, 0);
    // `-f -` reads the file from stdin.
    const piped = await cli(['diff', '--prune', '-f', '-'], {}, stdout.stdout);
    assert.equal(piped.code, 0, piped.stderr);
  });

  test('a broken file is refused with file paths, exit 1, and nothing changes', async () => {
    const before = await snapshot();
    const broken = await write(
      'broken.yaml',
      `_format_version: "1"
upstreams:
  - name: orders
    targets: [{ host: 10.0.0.5, port: 99999 }]
routes:
  - name: x
    service: nowhere
    paths: [/ok, "no-slash"]
    methods: [FETCH]
`,
    );
    const r = await cli(['apply', '--prune', '-f', broken]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /upstreams\[0\]\.targets\[0\]\.port: must be <= 65535/);
    assert.match(r.stderr, /routes\[0\]\.paths\[1\]: must be a route path/);
    assert.match(r.stderr, /routes\[0\]\.methods\[0\]: must be one of: "GET"/);
    assert.equal(await snapshot(), before);

    const syntax = await cli(['diff', '-f', await write('syntax.yaml', '_format_version: "1"\nroutes: [\n')]);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /line \d+, column \d+/);

    const dangling = await cli(['apply', '-f', await write('dangling.yaml', '_format_version: "1"\nroutes:\n  - { name: x, service: nowhere, paths: [/x] }\n')]);
    assert.equal(dangling.code, 1);
    assert.match(dangling.stderr, /routes\[0\]\.service: no service named "nowhere" in this file/);
    assert.equal(await snapshot(), before);
  });

  test('an API error names the operation, the code and the field path in the file', async () => {
    const before = await snapshot();
    // A new route on the same path, methods and priority as `orders-write`: the control plane refuses it.
    const file = await write('conflict.yaml', `${pruned()}  - name: orders-dup\n    service: orders\n    paths: [/orders]\n    methods: [POST]\n`.replace(/\nconsumers:[\s\S]*?(?=  - name: orders-dup)/, '\n'));
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /create route "orders-dup" \(routes\[2\]\) failed: TP_ERR_CONFLICT: route conflicts with route "orders-write"/);
    assert.match(r.stderr, /routes\[2\]\.paths: conflicts with route/);
    assert.match(r.stderr, /0 of 1 operations were applied/);
    assert.equal(await snapshot(), before);
  });

  test('a missing token, a wrong token and an unreachable control plane are clear errors', async () => {
    const file = join(dir, 'v3.yaml');
    const none = await cli(['diff', '-f', file], { TP_ADMIN_TOKEN: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no admin token: pass --token or set TP_ADMIN_TOKEN/);
    // `turnpike up` keeps its token in <data dir>/admin-token: used when no token is given.
    await mkdir(join(dir, '.turnpike'), { recursive: true });
    await writeFile(join(dir, '.turnpike', 'admin-token'), `${token}\n`);
    const fromUp = await cli(['diff', '-f', file], { TP_ADMIN_TOKEN: '' });
    assert.equal(fromUp.code, 0, fromUp.stderr);
    await rm(join(dir, '.turnpike'), { recursive: true });
    const wrong = await cli(['diff', '-f', file, '--token', 'tpa_wrong']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /TP_ERR_AUTH_TOKEN_INVALID/);
    const down = await cli(['export', '--url', 'http://127.0.0.1:1']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
  });

  test('upstream policies and integrations: apply, then export, then apply is a no-op; a service switches target', async () => {
    const text = `_format_version: "1"
upstreams:
  - name: pol
    targets: [{ host: 10.1.0.1, port: 80 }, { host: 10.1.0.2, port: 80 }]
    algorithm: consistent-hash
    hash_on: { source: cookie, name: session }
    total_timeout_ms: 20000
    retries: { attempts: 2, on: [connect-failure, reset] }
    health_checks: { active: { path: /healthz }, passive: {} }
    circuit_breaker: { failure_threshold: 10, window_ms: 5000, open_ms: 15000, half_open_requests: 1 }
services:
  - name: pol-http
    integration: { type: http, upstream: pol }
  - name: pol-ws
    integration: { type: websocket, upstream: pol, idle_timeout_ms: 60000, subprotocols: [graphql-ws] }
  - name: pol-lambda
    integration: { type: lambda, function_name: orders-fn, region: eu-west-1, timeout_ms: 3000 }
  - name: pol-ai
    integration: { type: ai, provider_ids: [] }
`;
    const file = await write('policies.yaml', text);
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied: 5 created, 0 updated, 0 deleted/);
    const up = ((await api('GET', '/v1/upstreams?limit=1000')).data as Array<Record<string, unknown>>).find((u) => u.name === 'pol')!;
    assert.deepEqual(up.retries, { attempts: 2, on: ['connect-failure', 'reset'], budget_percent: 20, only_idempotent: true });
    assert.equal((up.health_checks as { active: { interval_ms: number } }).active.interval_ms, 10_000);
    const svcs = (await api('GET', '/v1/services?limit=1000')).data as Array<{ name: string; upstream_id: string | null; integration: Record<string, unknown> | null }>;
    const svc = (n: string) => svcs.find((s) => s.name === n)!;
    assert.equal(svc('pol-http').upstream_id, up.id);
    assert.equal(svc('pol-http').integration, null);
    assert.equal(svc('pol-ws').integration!.upstream_id, up.id);
    assert.equal(svc('pol-lambda').integration!.payload_format, '2.0');
    // The http integration is the same thing as `upstream:`: the file and the server agree.
    assert.equal((await cli(['diff', '-f', file])).code, 0);

    const out = join(dir, 'exported-policies.yaml');
    const exportRun = await cli(['export', '-o', out]);
    assert.equal(exportRun.code, 0, exportRun.stderr);
    const exported = await readFile(out, 'utf8');
    assert.match(exported, /- name: pol-http\n\s+upstream: pol\n/);
    assert.match(exported, /type: websocket\n\s+upstream: pol\n/);
    assert.doesNotMatch(exported, /upstream_id|: null/);
    const before = await snapshot();
    const again = await cli(['apply', '--prune', '-f', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
    assert.equal(await snapshot(), before);

    // A lambda service becomes an http one: upstream_id set, integration cleared.
    const switched = await write('policies-2.yaml', text.replace('  - name: pol-lambda\n    integration: { type: lambda, function_name: orders-fn, region: eu-west-1, timeout_ms: 3000 }', '  - name: pol-lambda\n    upstream: pol'));
    const s2 = await cli(['apply', '-f', switched]);
    assert.equal(s2.code, 0, s2.stderr);
    assert.match(s2.stdout, /applied: 0 created, 1 updated, 0 deleted/);
    const lambda = ((await api('GET', '/v1/services?limit=1000')).data as Array<{ name: string; upstream_id: string | null; integration: unknown }>).find((s) => s.name === 'pol-lambda')!;
    assert.equal(lambda.upstream_id, up.id);
    assert.equal(lambda.integration, null);
    assert.equal((await cli(['diff', '-f', switched])).code, 0);
  });

  test('service splits name their upstreams: apply resolves them, export writes names, re-apply is a no-op, a missing name is a file error', async () => {
    const text = `_format_version: "1"
upstreams:
  - name: split-stable
    targets: [{ host: 10.2.0.1, port: 80 }]
  - name: split-canary
    targets: [{ host: 10.2.0.2, port: 80 }]
services:
  - name: split-svc
    upstream: split-stable
    splits:
      - { upstream: split-canary, weight: 10 }
      - { upstream: split-canary, weight: 0, header: { name: X-Canary, value: "yes" } }
`;
    const file = await write('splits.yaml', text);
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    const ups = (await api('GET', '/v1/upstreams?limit=1000')).data as Array<{ id: string; name: string }>;
    const canary = ups.find((u) => u.name === 'split-canary')!.id;
    const svc = ((await api('GET', '/v1/services?limit=1000')).data as Array<{ name: string; splits: unknown }>).find((s) => s.name === 'split-svc')!;
    assert.deepEqual(svc.splits, [
      { upstream_id: canary, weight: 10 },
      { upstream_id: canary, weight: 0, header: { name: 'X-Canary', value: 'yes' } },
    ]);
    assert.equal((await cli(['diff', '-f', file])).code, 0);
    const out = join(dir, 'exported-splits.yaml');
    assert.equal((await cli(['export', '-o', out])).code, 0);
    const exported = await readFile(out, 'utf8');
    assert.match(exported, /splits:\n\s+- upstream: split-canary\n\s+weight: 10\n/);
    const before = await snapshot();
    const again = await cli(['apply', '--prune', '-f', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
    assert.equal(await snapshot(), before);
    const changed = await cli(['apply', '-f', await write('splits-2.yaml', text.replace('weight: 10', 'weight: 30'))]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /applied: 0 created, 1 updated, 0 deleted/);
    const bad = await cli(['apply', '-f', await write('splits-bad.yaml', text.replace('{ upstream: split-canary, weight: 10 }', '{ upstream: nowhere, weight: 10 }'))]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /services\[0\]\.splits\[0\]\.upstream: no upstream named "nowhere"/);
  });

  test('key expiry: created with its expires_at, changed and cleared in place by PATCH (same key), exported, and the export re-applies as a no-op', async () => {
    const oldKey = `tp_old_${randomBytes(16).toString('hex')}`;
    const newKey = `tp_new_${randomBytes(16).toString('hex')}`;
    const rotation = (oldExpiry: string | undefined, newExpiry?: string): string => `_format_version: "1"
consumers:
  - username: rotator
    keys:
      - name: old
        key: ${oldKey}
${oldExpiry === undefined ? '' : `        expires_at: ${oldExpiry}
`}      - name: new
        key: ${newKey}
${newExpiry === undefined ? '' : `        expires_at: ${newExpiry}
`}`;
    type Key = { id: string; name: string; prefix: string; expires_at: string | null; updated_at: string };
    const keysOf = async (): Promise<Record<string, Key>> => {
      const c = ((await api('GET', '/v1/consumers?limit=1000')).data as Array<{ id: string; username: string }>).find((x) => x.username === 'rotator')!;
      const list = (await api('GET', `/v1/consumers/${c.id}/keys`)).data as Key[];
      return Object.fromEntries(list.map((k) => [k.name, k]));
    };

    // Created with the expiry (an offset is the same instant as the API's UTC form: no difference after).
    const v1 = await write('rotation-1.yaml', rotation('2027-06-01T02:00:00+02:00'));
    const created = await cli(['apply', '-f', v1]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /\+ key "old" of consumer "rotator"\n {4}\+ key: \(given in the file\)\n {4}\+ expires_at: "2027-06-01T00:00:00\.000Z"/);
    assert.match(created.stdout, /applied: 3 created, 0 updated, 0 deleted/);
    const first = await keysOf();
    assert.equal(first.old!.expires_at, '2027-06-01T00:00:00.000Z');
    assert.equal(first.old!.prefix, oldKey.slice(0, 8));
    assert.equal(first.new!.expires_at, null);
    assert.equal((await cli(['diff', '-f', v1])).code, 0);

    // Changed: diff shows it, apply PATCHes the same key (id and prefix kept; the other key untouched).
    const v2 = await write('rotation-2.yaml', rotation('"2027-03-01T12:30:00Z"'));
    const diff = await cli(['diff', '-f', v2]);
    assert.equal(diff.code, 2, diff.stdout + diff.stderr);
    assert.match(diff.stdout, /~ key "old" of consumer "rotator"\n {4}~ expires_at: "2027-06-01T00:00:00\.000Z" → "2027-03-01T12:30:00\.000Z"\n/);
    assert.match(diff.stdout, /0 to create, 1 to update, 0 to delete/);
    const changed = await cli(['apply', '-f', v2]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /applied: 0 created, 1 updated, 0 deleted/);
    const second = await keysOf();
    assert.equal(second.old!.expires_at, '2027-03-01T12:30:00.000Z');
    assert.equal(second.old!.id, first.old!.id);
    assert.equal(second.old!.prefix, first.old!.prefix);
    assert.deepEqual(second.new, first.new);
    assert.equal((await cli(['diff', '-f', v2])).code, 0);

    // Cleared: a key without expires_at never expires.
    const cleared = await cli(['apply', '-f', await write('rotation-3.yaml', rotation(undefined))]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /~ expires_at: "2027-03-01T12:30:00\.000Z" → null/);
    assert.match(cleared.stdout, /applied: 0 created, 1 updated, 0 deleted/);
    const third = await keysOf();
    assert.equal(third.old!.expires_at, null);
    assert.equal(third.old!.id, first.old!.id);

    // Export writes the expiry where there is one (never key material, never a null), and re-applies as a no-op.
    assert.equal((await cli(['apply', '-f', await write('rotation-4.yaml', rotation(undefined, '2028-01-01T00:00:00Z'))])).code, 0);
    const out = join(dir, 'exported-rotation.yaml');
    assert.equal((await cli(['export', '-o', out])).code, 0);
    const exported = await readFile(out, 'utf8');
    assert.match(exported, /- username: rotator\n\s+tags: \[\]\n\s+keys:\n\s+- name: old\n\s+- name: new\n\s+expires_at: 2028-01-01T00:00:00\.000Z\n/);
    assert.doesNotMatch(exported, /expires_at: null/);
    assert.ok(!exported.includes(oldKey) && !exported.includes(newKey), 'the exported file must not contain key material');
    const before = await snapshot();
    const again = await cli(['apply', '--prune', '-f', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
    assert.equal(await snapshot(), before);
  });
});
