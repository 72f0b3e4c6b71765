// Route matching fields (wildcard hosts, catch-all and regex paths, header/query matchers, stage) through
// `turnpike apply | diff | export`: the real CLI binary against an in-process control plane on its own database.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessConfigBus } from '@turnpike/common';
import { createTestDatabase } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));

const file = (o: { stage?: string | null; canary?: string } = {}): string => `
_format_version: "1"
upstreams:
  - { name: app, targets: [{ host: 10.0.0.5, port: 8080 }] }
services:
  - { name: app, upstream: app }
routes:
  - name: users
    service: app
    hosts: ["*.example.com", "api.*"]
    paths: ["~^/v[0-9]+/users/(?<id>[0-9]+)$", "/files/{rest*}"]
    headers:
      - { name: x-canary, match: exact, value: "${o.canary ?? 'yes'}", ignore_case: true }
      - { name: x-debug, match: absent }
    query: [{ name: beta, match: present }]
${o.stage === null ? '' : `    stage: ${o.stage ?? 'prod'}\n`}  - { name: plain, service: app, paths: [/plain] }
`;

describe('route matchers through the turnpike CLI', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_declr_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    await new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
      );
    });
  const write = async (name: string, text: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const route = async (name: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${url}/v1/routes?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { data: Array<Record<string, unknown>> };
    return body.data.find((r) => r.name === name)!;
  };

  before(async () => {
    db = await createTestDatabase('tp_cli_declr');
    cp = await startControlPlane({ pgUrl: db.url, bus: new InProcessConfigBus(), restPort: 0, grpcPort: 0, bootstrapToken: token, log: () => undefined });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-declr-'));
  });

  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('apply, then diff, export and applying the export are all no-ops', async () => {
    const f = await write('v1.yaml', file());
    const r = await cli(['apply', '-f', f]);
    assert.equal(r.code, 0, r.stderr);
    const users = await route('users');
    assert.equal(users.stage, 'prod');
    assert.deepEqual(users.query, [{ name: 'beta', match: 'present', ignore_case: false }]);
    assert.match((await cli(['diff', '-f', f])).stdout, /no changes/);

    const out = join(dir, 'exported.yaml');
    assert.equal((await cli(['export', '-o', out])).code, 0);
    const text = await readFile(out, 'utf8');
    assert.match(text, /stage: prod/);
    assert.match(text, /x-canary/);
    const again = await cli(['apply', '-f', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
  });

  test('changed matchers and a dropped stage are updated in place', async () => {
    const f = await write('v2.yaml', file({ stage: null, canary: 'always' }));
    const d = await cli(['diff', '-f', f]);
    assert.equal(d.code, 2, d.stdout + d.stderr);
    assert.match(d.stdout, /~ route "users"/);
    assert.match(d.stdout, /stage: "prod" → null/);
    const r = await cli(['apply', '-f', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied: 0 created, 1 updated, 0 deleted/);
    const users = await route('users');
    assert.equal(users.stage, null);
    assert.equal((users.headers as Array<{ value?: string }>)[0]!.value, 'always');
    assert.equal((await cli(['diff', '-f', f])).code, 0);
  });

  test('a bad regex is reported with its file path before anything is sent', async () => {
    const f = await write('bad.yaml', file().replace('(?<id>[0-9]+)$', '(?<id>([0-9]+)+)$'));
    const r = await cli(['apply', '-f', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /routes\[0\]\.paths\[0\]: regular expression repeats a group/);
  });
});
