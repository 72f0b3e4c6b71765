// AI budgets through `turnpike apply | diff | export`: scopes by name (a consumer, one of its named keys, the
// tenant itself), created after the consumers and keys they name; export round-trips with no change; a
// limit change is one update; file errors (bad scope, unknown key) are reported with their paths; prune
// deletes a budget before its consumer.
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
const DEFAULT_TENANT = '00000000-0000-4000-8000-000000000001';

const file = (o: { tpm?: number; withKeyBudget?: boolean } = {}): string => `
_format_version: "1"
consumers:
  - username: alice
    keys: [{ name: laptop }]
  - { username: bob }
ai_budgets:
  - { name: alice-tpm, scope: { consumer: alice }, period: minute, limits: { tokens: ${o.tpm ?? 100000} } }
${o.withKeyBudget === false ? '' : '  - { name: laptop-daily, scope: { consumer: alice, key: laptop }, period: day, limits: { cost_usd: 2.5, requests: 500 } }\n'}  - { name: team-month, description: whole team, scope: { tenant: true }, period: month, limits: { cost_usd: 1000 }, tags: [finance] }
`;

describe('AI budgets through the turnpike CLI', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_declb_${randomBytes(16).toString('hex')}`;

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
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  const list = async (path: string): Promise<any[]> => {
    const res = await fetch(`${url}${path}?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { data: unknown[] }).data;
  };

  before(async () => {
    db = await createTestDatabase('tp_cli_declb');
    cp = await startControlPlane({ pgUrl: db.url, bus: new InProcessConfigBus(), restPort: 0, grpcPort: 0, bootstrapToken: token, log: () => undefined });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-declb-'));
  });
  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('apply creates budgets with scopes resolved to the consumer, its key and the tenant', async () => {
    const r = await cli(['apply', '-f', await write('b.yaml', file())]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /created AI budget "laptop-daily"/);
    const alice = (await list('/v1/consumers')).find((c) => c.username === 'alice');
    const [key] = await list(`/v1/consumers/${String(alice.id)}/keys`);
    const byName = new Map((await list('/v1/ai-budgets')).map((b) => [b.name, b]));
    assert.deepEqual(byName.get('alice-tpm').scope, { type: 'consumer', id: alice.id });
    assert.deepEqual(byName.get('laptop-daily').scope, { type: 'api_key', id: key.id });
    assert.deepEqual(byName.get('laptop-daily').limits, { cost_usd: 2.5, requests: 500 });
    assert.deepEqual(byName.get('team-month').scope, { type: 'tenant', id: DEFAULT_TENANT });
    // This control plane has no ledger (no NATS): the usage endpoint says so instead of showing zeros.
    const usage = await fetch(`${url}/v1/ai-budgets/${String(byName.get('team-month').id)}/usage`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(usage.status, 503);
    assert.equal(((await usage.json()) as { error: { code: string } }).error.code, 'TP_ERR_UNAVAILABLE');
  });

  test('export states the scopes by name; applying the export changes nothing; a limit change is one update', async () => {
    const exported = await cli(['export']);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /scope:\s*\n\s*consumer: alice\s*\n\s*key: laptop/);
    assert.match(exported.stdout, /tenant: true/);
    const again = await cli(['diff', '-f', await write('exported.yaml', exported.stdout)]);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    const changed = await cli(['apply', '-f', await write('b2.yaml', file({ tpm: 50000 }))]);
    assert.equal(changed.code, 0, changed.stderr + changed.stdout);
    assert.match(changed.stdout, /updated AI budget "alice-tpm"/);
    assert.doesNotMatch(changed.stdout, /laptop-daily|team-month/);
    assert.deepEqual((await list('/v1/ai-budgets')).find((b) => b.name === 'alice-tpm').limits, { tokens: 50000 });
  });

  test('file errors name the entry: a scope that is neither consumer nor tenant, a key the consumer lacks, no limits', async () => {
    const bad = `
_format_version: "1"
consumers: [{ username: carol }]
ai_budgets:
  - { name: b1, scope: { tenant: true, consumer: carol }, period: day, limits: { requests: 1 } }
  - { name: b2, scope: { consumer: carol }, period: day, limits: {} }
`;
    const r = await cli(['diff', '-f', await write('bad.yaml', bad)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /ai_budgets\[0\]\.scope: must name either consumer/);
    assert.match(r.stderr + r.stdout, /ai_budgets\[1\]\.limits/);
    // References are checked once the entries are well-formed.
    const dangling = `
_format_version: "1"
consumers: [{ username: carol }]
ai_budgets:
  - { name: b1, scope: { consumer: carol, key: phone }, period: day, limits: { requests: 1 } }
  - { name: b2, scope: { consumer: dave }, period: day, limits: { requests: 1 } }
`;
    const d = await cli(['diff', '-f', await write('dangling.yaml', dangling)]);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr + d.stdout, /ai_budgets\[0\]\.scope\.key: consumer "carol" has no key named "phone"/);
    assert.match(d.stderr + d.stdout, /ai_budgets\[1\]\.scope\.consumer: no consumer named "dave"/);
  });

  test('prune deletes a budget the file no longer has', async () => {
    const r = await cli(['apply', '--prune', '-f', await write('b3.yaml', file({ withKeyBudget: false }))]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /deleted AI budget "laptop-daily"/);
    assert.deepEqual((await list('/v1/ai-budgets')).map((b) => b.name).sort(), ['alice-tpm', 'team-month']);
  });
});
