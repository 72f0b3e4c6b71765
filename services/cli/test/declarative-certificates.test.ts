// Certificates through `turnpike apply | diff | export`: the real CLI binary against an in-process control
// plane (with a secret key, so private keys can be sealed) on its own database, with certificates issued by
// a test CA (openssl). Keys come from the environment and are never exported; upstreams name their client
// certificate; a rotation (new certificate and key) updates in place; pruning respects the references.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessConfigBus, generateSecretKey, keyringOf } from '@turnpike/common';
import { TestCa, createTestDatabase, type Issued } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));
const SUFFIX = randomBytes(4).toString('hex');
const EDGE_HOST = `api-${SUFFIX}.example.test`;

/** A PEM as a YAML block scalar under a key indented by `indent` spaces. */
const block = (pem: string, indent: number): string => `|\n${pem.trimEnd().split('\n').map((l) => `${' '.repeat(indent + 2)}${l}`).join('\n')}\n`;

interface FileOptions {
  edge: Issued;
  client: Issued;
  /** The certificate the upstream presents (default `client`). */
  presents?: string;
  /** Leave the key of `edge` out of the file (as an export does). */
  edgeKey?: boolean;
  /** Extra certificates (name → issued), keys from TP_TEST_KEY_<n>. */
  extra?: Array<{ name: string; cert: Issued }>;
  /** Leave out `client` (and `edge` when false). */
  withClient?: boolean;
  withEdge?: boolean;
  withUpstream?: boolean;
}

const file = (o: FileOptions): string => {
  const certs: string[] = [];
  if (o.withEdge !== false) {
    certs.push(`  - name: edge\n    cert_pem: ${block(o.edge.certPem, 4)}${o.edgeKey === false ? '' : '    key_pem: "${env:TP_TEST_EDGE_KEY}"\n'}    tags: [edge]\n`);
  }
  if (o.withClient !== false) certs.push(`  - name: client\n    cert_pem: ${block(o.client.certPem, 4)}    key_pem: "\${env:TP_TEST_CLIENT_KEY}"\n    snis: [client-${SUFFIX}.internal]\n`);
  (o.extra ?? []).forEach((x, i) => certs.push(`  - name: ${x.name}\n    cert_pem: ${block(x.cert.certPem, 4)}    key_pem: "\${env:TP_TEST_KEY_${i}}"\n`));
  const upstream =
    o.withUpstream === false
      ? ''
      : `upstreams:
  - name: secure
    scheme: https
    targets: [{ host: 10.0.0.7, port: 8443 }]
    tls: { sni: backend.internal, client_certificate: ${o.presents ?? 'client'} }
services:
  - { name: billing, upstream: secure }
`;
  return `_format_version: "1"\n${certs.length > 0 ? `certificates:\n${certs.join('')}` : ''}${upstream}`;
};

describe('certificates through the turnpike CLI', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ca: TestCa;
  let dir: string;
  let url: string;
  let edge: Issued;
  let client: Issued;
  let env: Record<string, string>;
  const token = `tpa_declc_${randomBytes(16).toString('hex')}`;

  // Async on purpose: the control plane runs in this process, so a synchronous spawn would deadlock it.
  const cli = async (args: string[], extraEnv: Record<string, string> = env): Promise<{ code: number; stdout: string; stderr: string }> =>
    await new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, env: { ...process.env, TP_DATA_DIR: join(dir, '.turnpike'), TP_ADMIN_URL: url, TP_ADMIN_TOKEN: token, ...extraEnv }, timeout: 30_000 },
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
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  const certificate = async (name: string): Promise<any> => (await list('/v1/certificates')).find((c) => c.name === name);
  /** Certificates and upstreams with their timestamps: equal snapshots mean nothing was written. */
  const snapshot = async (): Promise<string> => JSON.stringify([await list('/v1/certificates'), await list('/v1/upstreams'), await list('/v1/services')]);
  const keyBody = (pem: string): string => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'))[0]!;

  before(async () => {
    ca = new TestCa(`Turnpike CLI Test CA ${SUFFIX}`);
    edge = ca.issue(EDGE_HOST);
    client = ca.issue(`client-${SUFFIX}`);
    env = { TP_TEST_EDGE_KEY: edge.keyPem, TP_TEST_CLIENT_KEY: client.keyPem };
    db = await createTestDatabase('tp_cli_declc');
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
    dir = await mkdtemp(join(tmpdir(), 'tp-declc-'));
  });

  after(async () => {
    await cp?.close();
    await db?.drop();
    ca?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('apply creates the certificates (keys from the environment) and an upstream that names its client certificate', async () => {
    const f = await write('c.yaml', file({ edge, client }));
    const r = await cli(['apply', '-f', f]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    // The plan shows what the certificate is, never the key.
    assert.match(r.stdout, new RegExp(`\\+ certificate "edge"\\n {4}\\+ cert_pem: \\(certificate CN=${EDGE_HOST.replace(/\./g, '\\.')}, expires \\S+, sha256 ${edge.fingerprint.slice(0, 23)}…\\)`));
    assert.ok(!r.stdout.includes(keyBody(edge.keyPem)) && !r.stdout.includes('PRIVATE KEY'), 'the plan shows a key');
    // Certificates first: the upstream's create needs the certificate's id.
    assert.ok(r.stdout.indexOf('created certificate "client"') < r.stdout.indexOf('created upstream "secure"'), r.stdout);

    const e = await certificate('edge');
    assert.equal(e.fingerprint_sha256, edge.fingerprint);
    assert.deepEqual(e.server_names, [EDGE_HOST]);
    assert.equal(e.snis, null);
    assert.deepEqual(e.tags, ['edge']);
    assert.equal(e.key_pem, undefined);
    const c = await certificate('client');
    assert.deepEqual(c.server_names, [`client-${SUFFIX}.internal`]);
    const [upstream] = await list('/v1/upstreams');
    assert.deepEqual(upstream.tls, { verify: true, sni: 'backend.internal', client_certificate_id: c.id });
  });

  test('export names the client certificate and holds no key material; applying it (no environment) changes nothing', async () => {
    const before = await snapshot();
    const exported = await cli(['export']);
    assert.equal(exported.code, 0, exported.stderr);
    const y = exported.stdout;
    assert.ok(!y.includes('PRIVATE KEY') && !y.includes('key_pem'), 'key material was exported');
    for (const k of [edge.keyPem, client.keyPem]) assert.ok(!y.includes(keyBody(k)), 'a key was exported');
    // Certificates come before the upstreams that name them; server-derived fields are not config.
    assert.ok(y.indexOf('certificates:') < y.indexOf('upstreams:'), y);
    assert.match(y, /client_certificate: client\n/);
    assert.ok(!y.includes('client_certificate_id') && !y.includes('fingerprint_sha256') && !y.includes('server_names') && !y.includes('not_after'), y);
    assert.ok(y.includes(edge.certPem.split('\n')[1]!), 'the certificate itself is exported');
    const e = await write('export.yaml', y);
    const again = await cli(['apply', '-f', e], {});
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /no changes: the control plane matches the file/);
    assert.equal((await cli(['diff', '-f', e, '--prune'], {})).code, 0);
    assert.equal((await cli(['diff', '-f', join(dir, 'c.yaml'), '--prune'])).code, 0);
    assert.equal(await snapshot(), before);
  });

  test('a rotation (new certificate and key): diff shows both, apply sends the key with the certificate', async () => {
    const rotated = ca.issue(EDGE_HOST);
    // Without the new key the stored one is kept, which cannot match the new certificate: refused, nothing changes.
    const noKey = await write('rotate-nokey.yaml', file({ edge: rotated, client, edgeKey: false }));
    const refused = await cli(['apply', '-f', noKey]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /update certificate "edge" \(certificates\[0\]\) failed: TP_ERR_UNPROCESSABLE: .*\n {2}certificates\[0\]\.cert_pem: does not match the certificate’s public key/);
    assert.equal((await certificate('edge')).fingerprint_sha256, edge.fingerprint);

    const f = await write('rotate.yaml', file({ edge: rotated, client }));
    const rotatedEnv = { ...env, TP_TEST_EDGE_KEY: rotated.keyPem };
    const d = await cli(['diff', '-f', f], rotatedEnv);
    assert.equal(d.code, 2, d.stdout + d.stderr);
    assert.match(d.stdout, /~ certificate "edge"\n {4}~ cert_pem: \(certificate CN=\S+, expires \S+, sha256 (\S+)…\) → \(certificate CN=\S+, expires \S+, sha256 (\S+)…\)\n {4}~ key_pem: "\(stored\)" → "\(from the file\)"/);
    assert.ok(d.stdout.includes(`sha256 ${edge.fingerprint.slice(0, 23)}…) → `) && d.stdout.includes(`sha256 ${rotated.fingerprint.slice(0, 23)}…)`), d.stdout);
    assert.ok(!d.stdout.includes(keyBody(rotated.keyPem)), 'diff shows the key');
    assert.match(d.stdout, /0 to create, 1 to update, 0 to delete/);

    const a = await cli(['apply', '-f', f], rotatedEnv);
    assert.equal(a.code, 0, a.stderr + a.stdout);
    assert.match(a.stdout, /\[1\/1\] updated certificate "edge"/);
    assert.equal((await certificate('edge')).fingerprint_sha256, rotated.fingerprint);
    assert.equal((await cli(['diff', '-f', f, '--prune'], rotatedEnv)).code, 0);
    edge = rotated;
    env = rotatedEnv;
  });

  test('--update-secrets re-sends a key with an unchanged certificate; a key that does not match is refused', async () => {
    const f = join(dir, 'rotate.yaml');
    // A key for another certificate: only sent with --update-secrets, and then the control plane refuses it.
    const other = ca.issue(EDGE_HOST);
    const wrong = { ...env, TP_TEST_EDGE_KEY: other.keyPem };
    assert.match((await cli(['apply', '-f', f], wrong)).stdout, /no changes/);
    const r = await cli(['apply', '-f', f, '--update-secrets'], wrong);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /certificates\[0\]\.key_pem: does not match the certificate’s public key/);
    assert.ok(!r.stderr.includes(keyBody(other.keyPem)), 'the error shows the key');
    const ok = await cli(['apply', '-f', f, '--update-secrets']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /updated certificate "edge"/);
  });

  test('--prune: a certificate no upstream presents goes first, one that is presented after the upstream lets go', async () => {
    // `client` is replaced by `client2` (same server name) and `edge` by `edge2` (same host: it can only be
    // created once `edge` is gone).
    const client2 = ca.issue(`client2-${SUFFIX}`);
    const edge2 = ca.issue(EDGE_HOST);
    const text = file({ edge, client, withEdge: false, withClient: false, presents: 'client2', extra: [{ name: 'edge2', cert: edge2 }, { name: 'client2', cert: client2 }] });
    const f = await write('swap.yaml', text);
    const swapEnv = { TP_TEST_KEY_0: edge2.keyPem, TP_TEST_KEY_1: client2.keyPem };
    const kept = await cli(['apply', '-f', f, '--dry-run'], swapEnv);
    assert.equal(kept.code, 0, kept.stderr + kept.stdout);
    assert.match(kept.stdout, /not in the file \(kept; --prune deletes them\): .*certificate "client".*certificate "edge"|not in the file \(kept; --prune deletes them\): .*certificate "edge".*certificate "client"/);
    const r = await cli(['apply', '-f', f, '--prune'], swapEnv);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const at = (line: string): number => {
      const i = r.stdout.indexOf(line);
      assert.ok(i >= 0, `${line} in\n${r.stdout}`);
      return i;
    };
    assert.ok(at('deleted certificate "edge"') < at('created certificate "edge2"'), r.stdout);
    assert.ok(at('created certificate "client2"') < at('updated upstream "secure"'), r.stdout);
    assert.ok(at('updated upstream "secure"') < at('deleted certificate "client"'), r.stdout);
    assert.deepEqual((await list('/v1/certificates')).map((c) => c.name).sort(), ['client2', 'edge2']);
    const [upstream] = await list('/v1/upstreams');
    assert.equal(upstream.tls.client_certificate_id, (await certificate('client2')).id);
    assert.equal((await cli(['diff', '-f', f, '--prune'], swapEnv)).code, 0);

    // Everything pruned: the upstream (after its service) before the certificate it presents.
    const none = await write('none.yaml', '_format_version: "1"\n');
    const all = await cli(['apply', '-f', none, '--prune'], {});
    assert.equal(all.code, 0, all.stderr + all.stdout);
    const order = ['deleted service "billing"', 'deleted upstream "secure"', 'deleted certificate "client2"'].map((l) => all.stdout.indexOf(l));
    assert.ok(order.every((i) => i >= 0) && order[0]! < order[1]! && order[1]! < order[2]!, all.stdout);
    assert.deepEqual(await list('/v1/certificates'), []);
  });

  test('file checks: an unknown certificate name and a client certificate on plain http are refused with their paths', async () => {
    const unknown = await write('bad1.yaml', file({ edge, client, presents: 'nope' }));
    const r1 = await cli(['diff', '-f', unknown]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /upstreams\[0\]\.tls\.client_certificate: no certificate named "nope" in this file \(line \d+\)/);
    const plain = await write('bad2.yaml', file({ edge, client }).replace('scheme: https', 'scheme: http'));
    const r2 = await cli(['diff', '-f', plain]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /upstreams\[0\]\.tls: sni, ca_pem and client_certificate apply only to scheme https/);
  });
});
