// Route matching end to end: real gateway processes (src/main.ts) fed by a private nats-server's config
// bucket, a real upstream, requests through the proxy port. Which route matched shows in the path the
// upstream sees: every route has its own service with its own base path.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, configBucketName, entityKey, type EntityKind } from '@turnpike/common';
import { freePort, startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const now = new Date().toISOString();

interface GatewayNode {
  proc: ChildProcess;
  proxyPort: number;
  statusPort: number;
  dataDir: string;
}

async function startNode(natsUrl: string, cluster: string, name: string, extraEnv: Record<string, string>): Promise<GatewayNode> {
  const proxyPort = await freePort();
  const statusPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `tp-rm-${name}-`));
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      TP_NATS_URL: natsUrl,
      TP_CLUSTER: cluster,
      TP_NODE_ID: `rm-${name}`,
      TP_PROXY_HOST: '127.0.0.1',
      TP_PROXY_PORT: String(proxyPort),
      TP_STATUS_PORT: String(statusPort),
      TP_DATA_DIR: dataDir,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway ${name} not ready in 15 s:\n${output.join('')}`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      output.push(d.toString());
      if (output.join('').includes('"event":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway ${name} exited with ${code}:\n${output.join('')}`));
    });
  });
  return { proc, proxyPort, statusPort, dataDir };
}

async function stopNode(n: GatewayNode | undefined): Promise<void> {
  if (!n) return;
  if (n.proc.exitCode === null) {
    await new Promise<void>((resolve) => {
      n.proc.once('exit', () => resolve());
      n.proc.kill('SIGTERM');
    });
  }
  rmSync(n.dataDir, { recursive: true, force: true });
}

describe('route matching through the gateway proxy', { timeout: 90_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let bus: NatsKvConfigBus;
  let upstream: Server;
  let all: GatewayNode | undefined;
  let staging: GatewayNode | undefined;
  const cluster = `rmtest_${randomUUID().slice(0, 8)}`;
  let revision = 0;

  async function put(kind: EntityKind, data: Record<string, unknown>): Promise<void> {
    revision++;
    await bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  }

  /** A route to its own service, whose base path `/<label>` the upstream echoes back. */
  async function routeTo(label: string, upstreamId: string, fields: Record<string, unknown>): Promise<void> {
    const svc = randomUUID();
    await put('services', { id: svc, name: `svc-${label}`, upstream_id: upstreamId, base_path: `/${label}` });
    await put('routes', { id: randomUUID(), name: `route-${label}`, service_id: svc, hosts: [], methods: [], strip_path: false, priority: 0, plugins: {}, ...fields });
  }

  /** The path the upstream received, or `<status>` when the gateway answered itself. */
  async function via(node: GatewayNode, path: string, headers: Record<string, string> = {}): Promise<string> {
    const r = await request(`http://127.0.0.1:${node.proxyPort}${path}`, { headers });
    const text = await r.body.text();
    return r.statusCode === 200 ? text : `<${r.statusCode}>`;
  }

  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url });
    bus = await NatsKvConfigBus.open(nc, configBucketName(cluster));
    upstream = createServer((req, res) => res.end(req.url));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upId = randomUUID();
    await put('upstreams', {
      id: upId,
      name: 'echo',
      scheme: 'http',
      targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port, weight: 100 }],
      connect_timeout_ms: 2000,
      read_timeout_ms: 10000,
    });
    await routeTo('exact', upId, { hosts: ['api.example.com'], paths: ['/'] });
    await routeTo('wild', upId, { hosts: ['*.example.com'], paths: ['/'] });
    await routeTo('trailing', upId, { hosts: ['api.*'], paths: ['/'] });
    await routeTo('any', upId, { paths: ['/'] });
    await routeTo('files', upId, { paths: ['/files/{rest*}'], strip_path: true });
    await routeTo('users', upId, { paths: ['~^/v[0-9]+/users/(?<id>[0-9]+)$'] });
    await routeTo('app', upId, { paths: ['/app'], priority: 50 });
    await routeTo('canary', upId, { paths: ['/app'], headers: [{ name: 'x-canary', match: 'exact', value: 'yes', ignore_case: true }] });
    await routeTo('beta', upId, { paths: ['/beta'], query: [{ name: 'beta', match: 'regex', value: '^(1|on)$' }] });
    await routeTo('nodebug', upId, { paths: ['/beta'], headers: [{ name: 'x-debug', match: 'absent' }] });
    await routeTo('prod', upId, { paths: ['/staged'], stage: 'prod', priority: 1 });
    await routeTo('staging', upId, { paths: ['/staged'], stage: 'staging' });
    await routeTo('prodonly', upId, { paths: ['/prod-only'], stage: 'prod' });
    // API versions: by path prefix (each version its own service), or by a version header on one path.
    await routeTo('orders-v1', upId, { paths: ['/v1/orders'], strip_path: true });
    await routeTo('orders-v2', upId, { paths: ['/v2/orders'], strip_path: true });
    await routeTo('orders-default', upId, { paths: ['/orders'] });
    await routeTo('orders-h2', upId, { paths: ['/orders'], headers: [{ name: 'api-version', match: 'exact', value: '2' }] });
    await routeTo('orders-h3', upId, { paths: ['/orders'], headers: [{ name: 'accept', match: 'regex', value: 'version=3' }] });
    // A regex that slipped past an older control plane is rejected by the node, not fatal to it.
    await routeTo('broken', upId, { paths: ['~(a+)+$'] });

    all = await startNode(nats.url, cluster, 'all', {});
    staging = await startNode(nats.url, cluster, 'staging', { TP_STAGES: 'staging, canary' });
    for (const n of [all, staging]) {
      await waitFor('config applied', async () => {
        const r = await request(`http://127.0.0.1:${n.statusPort}/readyz`);
        const body = (await r.body.json()) as { revision?: number };
        return r.statusCode === 200 && (body.revision ?? 0) >= revision;
      });
    }
  });

  after(async () => {
    await stopNode(all);
    await stopNode(staging);
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    await nc?.close();
    await nats?.stop();
  });

  test('hosts: exact beats the wildcards, *.example.com needs a label, api.* matches any domain, port and case ignored', async () => {
    const n = all!;
    assert.equal(await via(n, '/x', { host: 'api.example.com' }), '/exact/x');
    assert.equal(await via(n, '/x', { host: 'API.Example.com:8443' }), '/exact/x');
    assert.equal(await via(n, '/x', { host: 'www.example.com' }), '/wild/x');
    assert.equal(await via(n, '/x', { host: 'a.b.example.com' }), '/wild/x');
    assert.equal(await via(n, '/x', { host: 'example.com' }), '/any/x', 'the bare domain is not *.example.com');
    assert.equal(await via(n, '/x', { host: 'api.other.org' }), '/trailing/x');
    assert.equal(await via(n, '/x', { host: 'elsewhere.test' }), '/any/x');
  });

  test('a catch-all binds the rest of the path and strip_path forwards it', async () => {
    assert.equal(await via(all!, '/files/a/b/c.txt?dl=1'), '/files/a/b/c.txt?dl=1');
    assert.equal(await via(all!, '/files'), '/files');
    assert.equal(await via(all!, '/filesystem'), '/any/filesystem');
  });

  test('a regex path with a named group routes when no trie route covers the whole path', async () => {
    assert.equal(await via(all!, '/v2/users/42'), '/users/v2/users/42');
    assert.equal(await via(all!, '/v2/users/42/extra'), '/any/v2/users/42/extra', '$ anchors the end');
    assert.equal(await via(all!, '/v2/users/abc'), '/any/v2/users/abc');
  });

  test('header and query matchers: a route with matchers beats the plain one, all matchers must hold', async () => {
    assert.equal(await via(all!, '/app', { 'x-canary': 'YES' }), '/canary/app');
    assert.equal(await via(all!, '/app', { 'x-canary': 'no' }), '/app/app');
    assert.equal(await via(all!, '/app'), '/app/app');
    assert.equal(await via(all!, '/beta?beta=on'), '/beta/beta?beta=on');
    assert.equal(await via(all!, '/beta?beta=off'), '/nodebug/beta?beta=off');
    assert.equal(await via(all!, '/beta?beta=off', { 'x-debug': '1' }), '/any/beta?beta=off');
  });

  test('API versions: by path prefix, or by a version header (or media-type parameter) on the same path', async () => {
    assert.equal(await via(all!, '/v1/orders/7'), '/orders-v1/7');
    assert.equal(await via(all!, '/v2/orders/7?x=1'), '/orders-v2/7?x=1');
    assert.equal(await via(all!, '/orders/7'), '/orders-default/orders/7', 'no version header: the default version');
    assert.equal(await via(all!, '/orders/7', { 'api-version': '2' }), '/orders-h2/orders/7');
    assert.equal(await via(all!, '/orders/7', { 'api-version': '9' }), '/orders-default/orders/7', 'an unknown version falls back to the default');
    assert.equal(await via(all!, '/orders/7', { accept: 'application/vnd.shop+json; version=3' }), '/orders-h3/orders/7');
  });

  test('TP_STAGES: a node serves its stages and stage-less routes; a node without it serves every route', async () => {
    assert.equal(await via(all!, '/staged'), '/prod/staged', 'both stages served: priority decides');
    assert.equal(await via(all!, '/prod-only'), '/prodonly/prod-only');
    assert.equal(await via(staging!, '/staged'), '/staging/staged');
    assert.equal(await via(staging!, '/prod-only'), '/any/prod-only', 'the prod route is not served here');
    assert.equal(await via(staging!, '/app', { 'x-canary': 'yes' }), '/canary/app', 'stage-less routes are served everywhere');
  });

  test('a route with an unsafe regex is rejected by the node and the rest keeps routing', async () => {
    const r = await request(`http://127.0.0.1:${all!.statusPort}/metrics`);
    const text = await r.body.text();
    assert.match(text, /^turnpike_gateway_config_rejected_entities 1$/m);
    assert.equal(await via(all!, '/aaaa'), '/any/aaaa');
  });
});
