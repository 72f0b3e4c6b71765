// `turnpike up` end to end: the embedded all-in-one starts from one command, proxies, logs the call to
// analytics, keeps its data across a restart, and stops cleanly on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, waitFor } from '@turnpike/common/testing';
import { startProcess } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream } from './support/upstream.js';

test('turnpike up: one command runs everything; data survives a restart; Ctrl-C stops cleanly', { timeout: 300_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-up-'));
  chmodSync(dataDir, 0o755); // embedded PostgreSQL runs as `postgres` when we are root: it must reach the dir
  const upstream = await startEchoUpstream('up-echo');
  const [proxyPort, statusPort, adminPort, grpcPort, pgPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const args = ['up', '--data-dir', dataDir, '--host', '127.0.0.1', '--proxy-port', `${proxyPort}`, '--status-port', `${statusPort}`,
    '--admin-port', `${adminPort}`, '--grpc-port', `${grpcPort}`, '--pg-port', `${pgPort}`];
  try {
    let tp = await startProcess(args, {}, 180_000);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    assert.match(tp.output(), new RegExp(`admin token\\s+${token}`), 'the first start prints the admin token');
    assert.match(tp.output(), new RegExp(`http://127.0.0.1:${proxyPort}`), 'prints the proxy URL');
    assert.match(tp.output(), new RegExp(`console\\s+http://127.0.0.1:${adminPort}/console/`), 'prints the console URL');
    // The console is served (the built app, not the JSON 503 of an unbuilt one).
    const consolePage = await request(`http://127.0.0.1:${adminPort}/console/`);
    assert.equal(consolePage.statusCode, 200);
    assert.match(await consolePage.body.text(), /<div id="app">/);
    const admin = new AdminClient(`http://127.0.0.1:${adminPort}`, token);
    // The portal's try-it goes to this process's own node unless the tenant names another gateway.
    assert.equal((await admin.call('GET', '/v1/portal/settings')).body.effective_gateway_url, `http://127.0.0.1:${proxyPort}`);

    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port }] });
    const svc = await admin.create('/v1/services', { name: 'echo', upstream_id: up.id });
    await admin.create('/v1/routes', { name: 'echo', service_id: svc.id, paths: ['/echo'] });

    const proxied = await waitFor('route to reach the embedded gateway', async () => {
      const r = await request(`http://127.0.0.1:${proxyPort}/echo/hello?x=1`);
      const body = await r.body.text();
      return r.statusCode === 200 ? { headers: r.headers, body: JSON.parse(body) } : null;
    }, 20_000);
    assert.equal(proxied.body.upstream, 'up-echo');
    assert.equal(proxied.body.url, '/echo/hello?x=1');
    const requestId = proxied.headers['x-request-id'];
    assert.ok(typeof requestId === 'string' && requestId.length > 0, 'the response carries a request id');

    const logged = await waitFor('the call to appear in analytics', async () => {
      const r = await admin.call('GET', `/v1/analytics/calls?service_id=${svc.id}`);
      return r.status === 200 && r.body.data.find((c: { request_id: string }) => c.request_id === requestId);
    }, 20_000);
    assert.equal(logged.status, 200);
    assert.equal(logged.method, 'GET');
    assert.equal(logged.path, '/echo/hello');

    // Secrets: the first start generated a secret key (0600) that seals them; a credential's secret is sealed.
    const keyFile = join(dataDir, 'secret-key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const secretKey = readFileSync(keyFile, 'utf8');
    const consumer = await admin.create('/v1/consumers', { username: 'signer' });
    const cred = await admin.create(`/v1/consumers/${consumer.id}/credentials`, { type: 'hmac', key_id: 'signer-1' });
    assert.ok(typeof cred.secret === 'string' && cred.secret.length > 0, 'a generated HMAC secret is shown once');

    assert.equal(await tp.stop('SIGINT'), 0, 'Ctrl-C stops everything with exit 0');

    // Second start: same data dir, nothing re-created.
    tp = await startProcess(args, {}, 180_000);
    assert.doesNotMatch(tp.output(), /shown once/, 'the token is not issued again');
    const again = await waitFor('config restored after restart', async () => {
      const r = await request(`http://127.0.0.1:${proxyPort}/echo/again`);
      await r.body.text();
      return r.statusCode === 200;
    }, 20_000);
    assert.ok(again);
    const still = await admin.call('GET', `/v1/analytics/calls?service_id=${svc.id}`);
    assert.ok(still.body.data.some((c: { request_id: string }) => c.request_id === requestId), 'analytics survived the restart');
    assert.equal(readFileSync(keyFile, 'utf8'), secretKey, 'the secret key is kept, not regenerated');
    // The credential stored under that key is still writable (and its secret still never returned).
    const patched = await admin.call('PATCH', `/v1/consumers/${consumer.id}/credentials/${cred.id}`, { tags: ['after-restart'] });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.secret, undefined, 'the secret is never returned again');
    assert.equal(await tp.stop('SIGINT'), 0);
  } finally {
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
