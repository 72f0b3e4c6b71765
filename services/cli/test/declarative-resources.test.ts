// The generic resource kinds (consumer groups, plans, subscriptions, plugins, AI providers, prompt templates,
// credentials) through `turnpike apply | diff | export`: the real CLI binary against an in-process control
// plane (with a secret key, so secrets can be sealed) on its own database. A whole tenant round-trips.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessConfigBus, generateSecretKey, keyringOf } from '@turnpike/common';
import { createTestDatabase } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));

const SECRETS = {
  TP_TEST_OPENAI_KEY: `sk-${randomBytes(12).toString('hex')}`,
  TP_TEST_HMAC_SECRET: randomBytes(24).toString('hex'),
  TP_TEST_PASSWORD: `pw-${randomBytes(8).toString('hex')}`,
};

const file = (o: { maxBody?: number; prunable?: boolean } = {}): string => `
_format_version: "1"
upstreams: [{ name: app, targets: [{ host: 10.0.0.5, port: 8080 }] }]
services:
  - { name: orders, upstream: app }
routes:
  - { name: orders, service: orders, paths: [/orders] }
consumer_groups:
  - { name: partners, description: External partners, tags: [b2b] }
consumers:
  - username: acme
    groups: [partners]
    credentials:
      - { type: hmac, key_id: acme-decl-${SUFFIX}, secret: "\${env:TP_TEST_HMAC_SECRET}" }
      - { type: basic, username: acme-decl-${SUFFIX}, password: "\${env:TP_TEST_PASSWORD}" }
      - { type: jwt, issuer: "https://idp-${SUFFIX}.example", algorithms: [RS256], jwks_uri: "https://idp-${SUFFIX}.example/jwks" }
  - { username: beta }
plans:
  - { name: gold, rate_limit: { requests: 100, per: minute }, quotas: [{ period: month, requests: 100000 }] }
ai_providers:
  - name: oai
    type: openai
    api_key: "\${env:TP_TEST_OPENAI_KEY}"
    models: [{ name: gpt-4o, input_cost_per_mtok: 2.5, output_cost_per_mtok: 10 }]
prompt_templates:
  - { name: summarize, provider: oai, model: gpt-4o, messages: [{ role: user, content: "Summarize {{ text }}" }], variables: [{ name: text }] }
subscriptions:
${o.prunable === false ? '' : '  - { consumer: acme, service: orders, plan: gold, status: approved, note: partner access }\n'}  - { consumer: beta, service: orders }
plugins:
${o.prunable === false ? '' : '  - { type: key-auth, scope: { route: orders } }\n'}  - { type: request-size-limiting, name: small, scope: { service: orders, consumer: acme }, config: { max_body_bytes: ${o.maxBody ?? 2048} } }
`;
const SUFFIX = randomBytes(4).toString('hex');

describe('generic resource kinds through the turnpike CLI', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let url: string;
  const token = `tpa_declg_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[], env: Record<string, string> = SECRETS): Promise<{ code: number; stdout: string; stderr: string }> =>
    await new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token, ...env }, timeout: 30_000 },
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
    const res = await fetch(`${url}${path}${path.includes('?') ? '&' : '?'}limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { data: unknown[] }).data;
  };
  /** Every generic entity with its timestamps: equal snapshots mean nothing was written. */
  const snapshot = async (): Promise<string> => {
    const parts: unknown[] = [];
    for (const p of ['/v1/consumers', '/v1/consumer-groups', '/v1/plans', '/v1/subscriptions', '/v1/plugins', '/v1/ai-providers', '/v1/prompt-templates']) parts.push(await list(p));
    for (const c of await list('/v1/consumers')) parts.push(await list(`/v1/consumers/${String(c.id)}/credentials`));
    return JSON.stringify(parts);
  };

  before(async () => {
    db = await createTestDatabase('tp_cli_declg');
    cp = await startControlPlane({
      pgUrl: db.url,
      bus: new InProcessConfigBus(),
      restPort: 0,
      grpcPort: 0,
      bootstrapToken: token,
      keyring: keyringOf(generateSecretKey()),
      log: () => undefined,
    });
    url = `http://127.0.0.1:${cp.restPort}`;
    dir = await mkdtemp(join(tmpdir(), 'tp-declg-'));
  });

  after(async () => {
    await cp?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('apply creates every kind, references by name, secrets from the environment; the approval runs', async () => {
    const f = await write('t.yaml', file());
    const r = await cli(['apply', '-f', f]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /created subscription "acme -> orders"/);
    assert.match(r.stdout, /created plugin "key-auth @ route orders"/);

    const [group] = await list('/v1/consumer-groups');
    const acme = (await list('/v1/consumers')).find((c) => c.username === 'acme');
    assert.deepEqual(acme.group_ids, [group.id]);
    const subs = await list('/v1/subscriptions');
    assert.deepEqual(subs.map((s) => s.status).sort(), ['approved', 'pending']);
    const [provider] = await list('/v1/ai-providers');
    assert.equal(provider.api_key_set, true);
    assert.equal(provider.api_key_last4, SECRETS.TP_TEST_OPENAI_KEY.slice(-4));
    const [template] = await list('/v1/prompt-templates');
    assert.equal(template.provider_id, provider.id);
    const creds = await list(`/v1/consumers/${String(acme.id)}/credentials`);
    assert.deepEqual(creds.map((c) => `${String(c.type)}:${String(c.secret_set)}`).sort(), ['basic:true', 'hmac:true', 'jwt:false']);
    const plugins = await list('/v1/plugins');
    assert.equal(plugins.find((p) => p.type === 'request-size-limiting').config.max_body_bytes, 2048);
  });

  test('export holds no secrets; applying the export and the file again changes nothing; diff exits 0', async () => {
    const before = await snapshot();
    const exported = await cli(['export']);
    assert.equal(exported.code, 0, exported.stderr);
    for (const secret of Object.values(SECRETS)) assert.ok(!exported.stdout.includes(secret), 'a secret was exported');
    for (const kind of ['consumer_groups:', 'plans:', 'subscriptions:', 'plugins:', 'ai_providers:', 'prompt_templates:', 'credentials:', 'groups:']) assert.ok(exported.stdout.includes(kind), kind);
    const e = await write('export.yaml', exported.stdout);
    // The export has no secrets and needs no environment: entities that exist keep their stored secrets.
    const again = await cli(['apply', '-f', e], {});
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /no changes: the control plane matches the file/);
    const same = await cli(['apply', '-f', join(dir, 't.yaml')]);
    assert.match(same.stdout, /no changes/);
    assert.equal(await snapshot(), before);
    assert.equal((await cli(['diff', '-f', join(dir, 't.yaml'), '--prune'])).code, 0);
    assert.equal((await cli(['diff', '-f', e, '--prune'], {})).code, 0);
  });

  test('a changed plugin config: diff exits 2 and names it, apply updates it in place, diff exits 0', async () => {
    const f = await write('t2.yaml', file({ maxBody: 4096 }));
    const d = await cli(['diff', '-f', f]);
    assert.equal(d.code, 2, d.stdout + d.stderr);
    assert.match(d.stdout, /~ plugin "request-size-limiting @ service orders \+ consumer acme"/);
    assert.match(d.stdout, /config: .*2048.* → .*4096/);
    const a = await cli(['apply', '-f', f]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /\[1\/1\] updated plugin/);
    assert.equal((await list('/v1/plugins')).find((p) => p.type === 'request-size-limiting').config.max_body_bytes, 4096);
    assert.equal((await cli(['diff', '-f', f])).code, 0);
  });

  test('--update-secrets re-sends the secrets; without it existing secrets are not part of the plan', async () => {
    const f = join(dir, 't2.yaml');
    const rotated = { ...SECRETS, TP_TEST_OPENAI_KEY: `sk-${randomBytes(12).toString('hex')}` };
    assert.match((await cli(['apply', '-f', f], rotated)).stdout, /no changes/);
    const r = await cli(['apply', '-f', f, '--update-secrets'], rotated);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /updated AI provider "oai"/);
    assert.match(r.stdout, /updated credential "acme\/basic:/);
    const [provider] = await list('/v1/ai-providers');
    assert.equal(provider.api_key_last4, rotated.TP_TEST_OPENAI_KEY.slice(-4));
  });

  test('an unset variable is refused with its name and line; nothing is sent', async () => {
    const r = await cli(['apply', '-f', join(dir, 't2.yaml')], { TP_TEST_OPENAI_KEY: '', TP_TEST_PASSWORD: 'x-long-enough' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line \d+, column \d+: \$\{env:TP_TEST_HMAC_SECRET\}: environment variable TP_TEST_HMAC_SECRET is not set/);
  });

  test('--prune removes a plugin and revokes a subscription that the file drops', async () => {
    const f = await write('t3.yaml', file({ maxBody: 4096, prunable: false }));
    const kept = await cli(['apply', '-f', f]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /not in the file \(kept; --prune deletes them\): .*subscription "acme -> orders".*plugin "key-auth @ route orders"/);
    const r = await cli(['apply', '-f', f, '--prune']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /- subscription "acme -> orders" \(revoke\)/);
    assert.match(r.stdout, /revoked subscription "acme -> orders"/);
    assert.match(r.stdout, /deleted plugin "key-auth @ route orders"/);
    assert.deepEqual((await list('/v1/plugins')).map((p) => p.type), ['request-size-limiting']);
    const subs = await list('/v1/subscriptions');
    assert.deepEqual(subs.map((s) => s.status).sort(), ['pending', 'revoked']);
    assert.equal((await cli(['diff', '-f', f, '--prune'])).code, 0);
    // The revoked subscription is history, not config: the export leaves it out.
    const exported = await cli(['export']);
    assert.ok(!exported.stdout.includes('partner access'));
    const text = await readFile(f, 'utf8');
    assert.ok(text.includes('beta'));
  });

  test('approving needs the admin role: an editor token is told so (exit 1), the request itself is created', async () => {
    const res = await fetch(`${url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'decl-editor', role: 'editor' }),
    });
    const editor = ((await res.json()) as { token: string }).token;
    const text = (await readFile(join(dir, 't3.yaml'), 'utf8'))
      .replace('  - { username: beta }', '  - { username: beta }\n  - { username: gamma }')
      .replace('subscriptions:\n', 'subscriptions:\n  - { consumer: gamma, service: orders, plan: gold, status: approved }\n');
    const f = await write('t4.yaml', text);
    const r = await cli(['apply', '-f', f], { ...SECRETS, TP_ADMIN_TOKEN: editor });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /create subscription "gamma -> orders" \(subscriptions\[0\]\) failed: TP_ERR_FORBIDDEN: .*needs the admin role/);
    const gamma = (await list('/v1/consumers')).find((c) => c.username === 'gamma');
    assert.deepEqual((await list(`/v1/subscriptions?consumer_id=${String(gamma.id)}`)).map((s) => s.status), ['pending']);
    // An admin token finishes it: the pending one is approved in place.
    const d = await cli(['diff', '-f', f]);
    assert.equal(d.code, 2);
    assert.match(d.stdout, /~ status: "pending" → "approved"/);
    assert.equal((await cli(['apply', '-f', f])).code, 0);
    assert.deepEqual((await list(`/v1/subscriptions?consumer_id=${String(gamma.id)}`)).map((s) => s.status), ['approved']);
  });
});
