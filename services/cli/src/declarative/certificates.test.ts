// Certificates in declarative files, without a control plane: parsing (key split off as a secret, upstreams
// naming their client certificate), planning (a changed certificate takes the file's key with it; prune
// order around the upstreams that present one), reading the API form back by name, and export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromApi, toDeclarative, type CurrentState } from './current-state.js';
import { ConfigFileError, entityKey, parseConfigFile, toYaml, type DeclarativeConfig } from './file-format.js';
import { plan, type Operation } from './plan.js';
import { CONFIG_LIST, RESOURCE_KINDS, emptyResources } from './resource-kinds.js';
import type { Upstream } from '@turnpike/common';

// Parsing and planning never read the PEM (the control plane checks it), so placeholder text will do.
const cert = (n: string): string => `-----BEGIN CERTIFICATE-----\\nMII${n}\\n-----END CERTIFICATE-----\\n`;
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n';

const file = (o: { edge?: string; presents?: string; scheme?: string } = {}): string => `
_format_version: "1"
certificates:
  - { name: edge, cert_pem: "${o.edge ?? cert('edge')}", key_pem: "\${env:TP_TEST_EDGE_KEY}", tags: [edge] }
  - { name: client, cert_pem: "${cert('client')}", key_pem: "\${env:TP_TEST_CLIENT_KEY}", snis: [client.internal] }
upstreams:
  - { name: secure, scheme: ${o.scheme ?? 'https'}, targets: [{ host: h, port: 443 }], tls: { client_certificate: ${o.presents ?? 'client'} } }
`;

function parse(text: string): DeclarativeConfig {
  const saved = { a: process.env.TP_TEST_EDGE_KEY, b: process.env.TP_TEST_CLIENT_KEY };
  process.env.TP_TEST_EDGE_KEY = KEY;
  process.env.TP_TEST_CLIENT_KEY = KEY;
  try {
    return parseConfigFile(text, 'f.yaml').config;
  } finally {
    for (const [k, v] of [['TP_TEST_EDGE_KEY', saved.a], ['TP_TEST_CLIENT_KEY', saved.b]] as const) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigFileError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected the file to be refused');
}

function applied(d: DeclarativeConfig): CurrentState {
  let n = 0;
  const id = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const resources = emptyResources() as CurrentState['resources'];
  for (const kind of RESOURCE_KINDS) resources[CONFIG_LIST[kind]] = d[CONFIG_LIST[kind]].map((e) => ({ ...structuredClone(e), id: id() }));
  return { upstreams: d.upstreams.map((u) => ({ ...structuredClone(u), id: id() })), services: [], routes: [], consumers: [], resources };
}

const brief = (ops: Operation[]): string[] => ops.map((o) => `${o.action} ${o.kind} ${o.name}`);

test('certificates parse with the key split off as a secret; an upstream names its client certificate', { timeout: 5_000 }, () => {
  const c = parse(file());
  assert.deepEqual(c.certificates, [
    { name: 'edge', cert_pem: cert('edge').replace(/\\n/g, '\n'), snis: null, tags: ['edge'] },
    { name: 'client', cert_pem: cert('client').replace(/\\n/g, '\n'), snis: ['client.internal'], tags: [] },
  ]);
  assert.deepEqual(c.secrets?.get(entityKey('certificate', 'edge')), { key_pem: KEY });
  assert.deepEqual(c.upstreams[0]!.tls, { verify: true, client_certificate: 'client' });
});

test('an unknown certificate name, and a client certificate over plain http, are refused at their paths', { timeout: 5_000 }, () => {
  assert.deepEqual(problems(file({ presents: 'nope' })), ['upstreams[0].tls.client_certificate: no certificate named "nope" in this file']);
  assert.deepEqual(problems(file({ scheme: 'http' })), ['upstreams[0].tls: sni, ca_pem and client_certificate apply only to scheme https']);
  // The file names certificates; ids are the API's business.
  assert.deepEqual(problems(file().replace('tls: {', 'tls: { client_certificate_id: 00000000-0000-4000-8000-000000000001,')), ['upstreams[0].tls.client_certificate_id: is not allowed']);
});

test('an empty control plane: certificates are created before the upstream that presents one', { timeout: 5_000 }, () => {
  const p = plan(applied({ ...parse(file()), certificates: [], upstreams: [] }), parse(file()), { prune: true });
  assert.deepEqual(brief(p.operations), ['create certificate edge', 'create certificate client', 'create upstream secure']);
});

test('a changed certificate takes the key from the file with it; an unchanged one sends it only with --update-secrets', { timeout: 5_000 }, () => {
  const state = applied(parse(file()));
  assert.deepEqual(plan(state, parse(file()), { prune: true }).operations, []);
  const rotated = plan(state, parse(file({ edge: cert('rotated') })), { prune: true }).operations;
  assert.equal(rotated.length, 1);
  const op = rotated[0]!;
  assert.ok(op.action === 'update' && op.kind === 'certificate');
  assert.deepEqual(
    op.changes.map((c) => `${c.field}${c.secret ? ' (secret)' : ''}`),
    ['cert_pem', 'key_pem (secret)'],
  );
  const resent = plan(state, parse(file()), { prune: true, updateSecrets: true }).operations;
  assert.deepEqual(brief(resent), ['update certificate edge', 'update certificate client']);
  // A rotation in a file without the key (an export) sends the certificate alone: the control plane then
  // checks it against the stored key.
  const noKey = parse(file({ edge: cert('rotated') }));
  noKey.secrets?.delete(entityKey('certificate', 'edge'));
  const alone = plan(state, noKey, { prune: true }).operations[0]!;
  assert.ok(alone.action === 'update');
  assert.deepEqual(alone.changes.map((c) => c.field), ['cert_pem']);
});

test('prune: a certificate no upstream presents is deleted first, one that is presented after the upstreams', { timeout: 5_000 }, () => {
  const state = applied(parse(file()));
  const swapped = parse(file({ presents: 'client2' }).replace('  - { name: edge,', `  - { name: client2, cert_pem: "${cert('c2')}", key_pem: "x-----BEGIN PRIVATE KEY-----" }\n  - { name: edge2,`));
  swapped.certificates = swapped.certificates.filter((c) => c.name !== 'client');
  const p = plan(state, swapped, { prune: true });
  assert.deepEqual(brief(p.operations), ['delete certificate edge', 'create certificate client2', 'create certificate edge2', 'update upstream secure', 'delete certificate client']);
  const kept = plan(state, swapped, { prune: false });
  assert.deepEqual(kept.unmanaged.map((u) => `${u.kind} ${u.name}`).sort(), ['certificate client', 'certificate edge']);
});

test('the API form reads back by name (client_certificate_id → the certificate name); export holds no key', { timeout: 5_000 }, () => {
  const now = new Date().toISOString();
  const certificates = [
    { id: 'c1', name: 'client', cert_pem: cert('client'), snis: null, tags: [], server_names: ['client'], subject: 'CN=client', not_after: now, fingerprint_sha256: 'AA', created_at: now, updated_at: now },
  ];
  const upstream = {
    id: 'u1',
    name: 'secure',
    scheme: 'https',
    targets: [{ host: 'h', port: 443, weight: 100 }],
    connect_timeout_ms: 5_000,
    read_timeout_ms: 60_000,
    tags: [],
    tls: { verify: true, client_certificate_id: 'c1' },
    created_at: now,
    updated_at: now,
  } as unknown as Upstream;
  const state = fromApi({ upstreams: [upstream], services: [], routes: [], consumers: [], keys: [], resources: { certificates } });
  assert.deepEqual(state.upstreams[0]!.tls, { verify: true, client_certificate: 'client' });
  assert.deepEqual(state.resources.certificates, [{ id: 'c1', name: 'client', cert_pem: cert('client'), snis: null, tags: [] }]);
  const y = toYaml(toDeclarative(state));
  assert.ok(y.indexOf('certificates:') < y.indexOf('upstreams:'), y);
  assert.match(y, /client_certificate: client\n/);
  assert.ok(!/key_pem|snis|fingerprint|server_names|client_certificate_id/.test(y), y);
});

test('PEM and server name fields are checked by the schema and said in words (the key never echoed)', { timeout: 5_000 }, () => {
  const bad = file().replace(`cert_pem: "${cert('edge')}"`, 'cert_pem: "not a certificate"').replace('snis: [client.internal]', 'snis: ["bad host"]');
  // (ajv also reports the nullable union's other branch for snis, as the API does.)
  const found = problems(bad);
  for (const p of [
    'certificates[0].cert_pem: must be PEM text starting with -----BEGIN CERTIFICATE----- (the certificate, then its intermediates)',
    'certificates[1].snis[0]: must be a host name, or "*." and a domain for one label of any name',
  ])
    assert.ok(found.includes(p), `${p} in ${found.join('\n')}`);
  process.env.TP_TEST_BAD_KEY = 'secret-value-that-is-not-a-key';
  try {
    const p = problems(file().replace('${env:TP_TEST_EDGE_KEY}', '${env:TP_TEST_BAD_KEY}'));
    assert.deepEqual(p, ['certificates[0].key_pem: must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)']);
  } finally {
    delete process.env.TP_TEST_BAD_KEY;
  }
});
