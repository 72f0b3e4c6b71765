// `turnpike apply | diff | export --tenant` (and TURNPIKE_TENANT): the real CLI binary against a control plane
// started in-process, each tenant reading and writing only its own configuration.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

// Route paths and hosts are checked for conflicts across tenants, so the file both tenants share holds no
// routes; names are per tenant, so the same upstream, service and consumer names live in both.
const SHARED = `
_format_version: "1"
upstreams:
  - name: orders
    targets: [{ host: 10.0.0.5, port: 8080 }]
services:
  - name: orders
    upstream: orders
consumers:
  - username: acme
    keys:
      - name: ci
`;
const B_ONLY = `${SHARED.replace('upstreams:\n', 'upstreams:\n  - name: b-only\n    targets: [{ host: 10.0.0.9, port: 80 }]\n')}routes:
  - name: b-route
    service: orders
    paths: [/b-only]
`;

describe('declarative config per tenant through the turnpike CLI', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_decl_t_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    await new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token, TURNPIKE_TENANT: '', ...env }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
      );
      child.stdin?.end('');
    });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  const api = async (method: string, path: string, body?: unknown, tenant?: string): Promise<any> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (tenant) headers['x-turnpike-tenant'] = tenant;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const upstreamNames = async (tenant: string): Promise<string[]> =>
    ((await api('GET', '/v1/upstreams?limit=1000', undefined, tenant)).data as Array<{ name: string }>).map((u) => u.name);
  let shared: string;
  let bFile: string;

  before(async () => {
    db = await createTestDatabase('tp_cli_tenant');
    cp = await startControlPlane({ pgUrl: db.url, bus: new InProcessConfigBus(), restPort: 0, grpcPort: 0, bootstrapToken: token, log: () => undefined });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-decl-tenant-'));
    await api('POST', '/v1/tenants', { name: 'team-a' });
    await api('POST', '/v1/tenants', { name: 'team-b' });
    shared = join(dir, 'shared.yaml');
    bFile = join(dir, 'b.yaml');
    await writeFile(shared, SHARED);
    await writeFile(bFile, B_ONLY);
  });
  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the same file applies into two tenants (--tenant and TURNPIKE_TENANT), each getting its own copy', async () => {
    const a = await cli(['apply', '--tenant', 'team-a', '-f', shared]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /applied: 4 created/);
    const b = await cli(['apply', '-f', shared], { TURNPIKE_TENANT: 'team-b' });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /applied: 4 created/, 'team-a\'s copy is not seen from team-b');
    assert.deepEqual(await upstreamNames('team-a'), ['orders']);
    assert.deepEqual(await upstreamNames('team-b'), ['orders']);
    assert.deepEqual(await upstreamNames('default'), [], 'the default tenant is untouched');
    const more = await cli(['apply', '--tenant', 'team-b', '-f', bFile]);
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stdout, /applied: 2 created, 0 updated/);
  });

  test('export from each tenant shows only its own configuration', async () => {
    const a = await cli(['export', '--tenant', 'team-a']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /- name: orders/);
    assert.doesNotMatch(a.stdout, /b-only|b-route/);
    const b = await cli(['export'], { TURNPIKE_TENANT: 'team-b' });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /- name: b-only/);
    assert.match(b.stdout, /- name: b-route/);
    // --tenant wins over the environment.
    const flagWins = await cli(['export', '--tenant', 'team-a'], { TURNPIKE_TENANT: 'team-b' });
    assert.equal(flagWins.stdout, a.stdout);
  });

  test("diff of team-a against team-b's file exits 2; against its own, 0", async () => {
    const cross = await cli(['diff', '--tenant', 'team-a', '-f', bFile]);
    assert.equal(cross.code, 2, cross.stdout + cross.stderr);
    assert.match(cross.stdout, /\+ upstream "b-only"/);
    assert.match(cross.stdout, /\+ route "b-route"/);
    assert.equal((await cli(['diff', '--tenant', 'team-b', '-f', bFile])).code, 0);
    assert.equal((await cli(['diff', '--tenant', 'team-a', '-f', shared])).code, 0);
  });

  test('a tenant that does not exist, or that the token has no role in, is an error naming it', async () => {
    for (const cmd of [['export'], ['diff', '-f', shared], ['apply', '-f', shared]]) {
      const r = await cli([...cmd, '--tenant', 'no-such-team']);
      assert.equal(r.code, 1, `${cmd[0]}: ${r.stdout}`);
      assert.match(r.stderr, /tenant "no-such-team" does not exist, or this admin token has no role in it/);
    }
    // A service token of team-a: team-b is as invisible to it as a missing tenant.
    const aToken = (await api('POST', '/v1/tokens', { name: 'a-editor', role: 'editor' }, 'team-a')).token as string;
    const home = await cli(['diff', '-f', shared], { TP_ADMIN_TOKEN: aToken });
    assert.equal(home.code, 0, `without --tenant the token's home tenant (team-a): ${home.stdout}${home.stderr}`);
    const other = await cli(['export', '--tenant', 'team-b'], { TP_ADMIN_TOKEN: aToken });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /tenant "team-b" does not exist, or this admin token has no role in it/);
  });
});
