// `turnpike apply --concurrency N`: operations of one level in flight together must leave exactly the state a
// one-at-a-time apply leaves (references resolved across levels: services → upstreams, routes → services,
// keys and group memberships → consumers, plugins → routes), and a failure must stop the run with the same
// message and exit code, starting nothing of a later level.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { InProcessConfigBus } from '@turnpike/common';
import { createTestDatabase } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));
const SUFFIX = randomBytes(4).toString('hex');

const UPSTREAMS = 4;
const SERVICES = 8;
const ROUTES = 40;
const CONSUMERS = 30;

/**
 * Dependent entities in every level; `extra` adds 51 operations (enough to run concurrently): 31 routes, one of
 * them (`dup`) on route-3's path, and 20 consumers.
 */
function configFile(o: { extra?: boolean } = {}): string {
  const lines = ['_format_version: "1"', 'upstreams:'];
  for (let u = 0; u < UPSTREAMS; u++) lines.push(`  - { name: up-${u}, targets: [{ host: 10.0.0.${u + 1}, port: 8080 }] }`);
  lines.push('services:');
  for (let s = 0; s < SERVICES; s++) lines.push(`  - { name: svc-${s}, upstream: up-${s % UPSTREAMS}, base_path: /b${s} }`);
  lines.push('routes:');
  for (let r = 0; r < ROUTES; r++) lines.push(`  - { name: route-${r}, service: svc-${r % SERVICES}, paths: [/r${r}], methods: [GET] }`);
  if (o.extra) {
    for (let r = 0; r < 30; r++) lines.push(`  - { name: new-${r}, service: svc-0, paths: [/new${r}], methods: [GET] }`);
    // Same path, methods and priority as route-3, which exists: the control plane refuses it (409).
    lines.push('  - { name: dup, service: svc-3, paths: [/r3], methods: [GET] }');
  }
  lines.push('consumer_groups:', '  - { name: gold }', '  - { name: silver }', 'consumers:');
  for (let c = 0; c < CONSUMERS; c++) {
    lines.push(`  - username: user-${c}`, `    groups: [${c % 2 === 0 ? 'gold' : 'silver'}]`, '    keys:');
    lines.push(`      - { name: main, key: tp_conc_${SUFFIX}_${c}_main }`, `      - { name: spare, key: tp_conc_${SUFFIX}_${c}_spare }`);
  }
  if (o.extra) for (let c = 0; c < 20; c++) lines.push(`  - { username: late-${c} }`);
  lines.push('plugins:');
  for (let r = 0; r < ROUTES; r += 4) lines.push(`  - { type: key-auth, scope: { route: route-${r} } }`);
  return `${lines.join('\n')}\n`;
}

/** An export with its lists in a canonical order: entities created concurrently are listed in another order. */
function canonicalExport(yaml: string): unknown {
  const doc = parse(yaml) as Record<string, unknown>;
  const sortBy = (xs: unknown[]): unknown[] => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  for (const [section, value] of Object.entries(doc)) {
    if (!Array.isArray(value)) continue;
    if (section === 'consumers') {
      for (const c of value as Array<Record<string, unknown>>) if (Array.isArray(c.keys)) c.keys = sortBy(c.keys);
    }
    doc[section] = sortBy(value);
  }
  return doc;
}

/** The failure as the user sees it, without what differs between runs (request id, how many were applied). */
function failureMessage(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !/^\s*\(request id /.test(l) && !/operations were applied before the failure/.test(l))
    .join('\n');
}

describe('turnpike apply --concurrency', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_conc_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    await new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
      );
    });
  const write = async (name: string, text: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const usernames = async (): Promise<string[]> => {
    const res = await fetch(`${url}/v1/consumers?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { data: Array<{ username: string }> }).data.map((c) => c.username);
  };
  const exported = async (): Promise<unknown> => {
    const r = await cli(['export']);
    assert.equal(r.code, 0, r.stderr);
    return canonicalExport(r.stdout);
  };

  before(async () => {
    db = await createTestDatabase('tp_cli_conc');
    cp = await startControlPlane({ pgUrl: db.url, bus: new InProcessConfigBus(), restPort: 0, grpcPort: 0, bootstrapToken: token, log: () => undefined });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-conc-'));
  });

  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a concurrent apply leaves exactly the state of a one-at-a-time apply', async () => {
    const file = await write('full.yaml', configFile());
    const empty = await write('empty.yaml', '_format_version: "1"\n');
    const total = UPSTREAMS + SERVICES + ROUTES + 2 + CONSUMERS * 3 + ROUTES / 4;

    const one = await cli(['apply', '-f', file, '--concurrency', '1']);
    assert.equal(one.code, 0, one.stderr + one.stdout);
    assert.match(one.stdout, new RegExp(`applied: ${total} created, 0 updated, 0 deleted`));
    const sequential = await exported();

    // Deleting everything concurrently: keys go with their consumers, references are released before their targets.
    const pruned = await cli(['apply', '-f', empty, '--prune', '--concurrency', '16']);
    assert.equal(pruned.code, 0, pruned.stderr + pruned.stdout);
    assert.deepEqual(await usernames(), []);

    const many = await cli(['apply', '-f', file, '--concurrency', '16']);
    assert.equal(many.code, 0, many.stderr + many.stdout);
    assert.match(many.stdout, new RegExp(`applied: ${total} created, 0 updated, 0 deleted`));
    // Many operations: a counter line per kind instead of a line per entity.
    assert.match(many.stdout, new RegExp(`\\] routes: ${ROUTES} created\\n`));
    assert.match(many.stdout, new RegExp(`\\] keys: ${CONSUMERS * 2} created\\n`));
    assert.doesNotMatch(many.stdout, /created route "route-1"/);
    assert.deepEqual(await exported(), sequential);

    const again = await cli(['diff', '-f', file]);
    assert.equal(again.code, 0, again.stdout);
  });

  test('a rejected operation stops a concurrent apply with the same message and exit code as a sequential one', async () => {
    const base = await write('base.yaml', configFile());
    const failing = await write('failing.yaml', configFile({ extra: true }));
    const restored = await cli(['apply', '-f', base, '--prune']);
    assert.equal(restored.code, 0, restored.stderr);

    const concurrent = await cli(['apply', '-f', failing, '--concurrency', '16']);
    assert.equal(concurrent.code, 1, concurrent.stdout);
    assert.match(concurrent.stderr, /create route "dup" \(routes\[70\]\) failed: TP_ERR_CONFLICT: route conflicts with route "route-3"/);
    assert.match(concurrent.stderr, /\d+ of 51 operations were applied before the failure/);
    // Consumers come after routes: no operation of a later level started.
    assert.deepEqual((await usernames()).filter((u) => u.startsWith('late-')), []);

    const back = await cli(['apply', '-f', base, '--prune']);
    assert.equal(back.code, 0, back.stderr);
    const sequential = await cli(['apply', '-f', failing, '--concurrency', '1']);
    assert.equal(sequential.code, concurrent.code);
    assert.equal(failureMessage(sequential.stderr), failureMessage(concurrent.stderr));
    assert.match(sequential.stderr, /30 of 51 operations were applied before the failure/);
  });

  test('--concurrency must be a whole number from 1 to 256', async () => {
    const file = await write('bad-flag.yaml', configFile());
    for (const bad of ['0', '1.5', 'many', '1000']) {
      const r = await cli(['apply', '-f', file, '--concurrency', bad]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stderr, /--concurrency must be a whole number from 1 to 256/);
    }
  });
});
