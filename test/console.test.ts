// The operators' console in real Chromium against real processes: control plane (PostgreSQL), NATS, a
// gateway node, the ingester and ClickHouse. Signs in, creates an upstream, a service and a route through
// the schema-driven forms (one bad input shows its field error), sends traffic and sees it on the dashboard,
// approves a pending subscription, finds the node on the cluster page and a call in the call log, round-
// trips the declarative config, draws 30 days of hourly rollups, invalidates a cached route (the next request
// is a MISS), restores a prompt template version, shows usage, opens portal sign-up and finds the upstream's
// creation in the audit log. No browser console errors allowed.
// TP_SCREENSHOTS=<dir> saves full-page PNGs of the main pages (console-<page>.png).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, request } from 'undici';
import type { Page } from 'playwright-core';
import { hourlyRollupsSql, waitFor } from '@turnpike/common/testing';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from './support/process.js';
import { launchBrowser, saveScreenshot, type BrowserSession } from './support/browser.js';
import { startStack, type Stack } from './support/stack.js';

const HOUR = 3_600_000;

describe('console: the operators\' console in Chromium', { timeout: 150_000 }, () => {
  let stack: Stack;
  let browser: BrowserSession;
  let page: Page;
  let serviceId: string;
  let requestId: string;
  let sent = 0;

  const screenshot = (name: string) => saveScreenshot(page, `console-${name}`);
  const go = async (path: string) => {
    // In-app navigation through the side menu, as a user would (a full reload would also work).
    await page.locator('nav.side').getByRole('link', { name: path, exact: true }).click();
  };

  before(async () => {
    [stack, browser] = await Promise.all([startStack('console'), launchBrowser()]);
    page = await browser.newPage();
    // Every wait in the page is bounded well below the suite's timeout.
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('sign in with the admin token; the first load stays under the JS budget', async () => {
    const js: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith('.js')) void r.body().then((b) => js.push(Number(r.headers()['content-length'] ?? b.length)), () => undefined);
    });
    const res = await page.goto(`${stack.base}/console/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.locator('#token').waitFor();
    const firstLoad = js.reduce((a, b) => a + b, 0);
    await screenshot('signin');
    await page.fill('#token', stack.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('nav.side').waitFor();
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('turnpike.console.token')), stack.token);
    console.log(`console first load: ${js.length} JS files, ${firstLoad} bytes on the wire (compressed)`);
    assert.ok(firstLoad > 0 && firstLoad < 300 * 1024, `first-load JS ${firstLoad} bytes`);
  });

  test('create an upstream, a service and a route through the forms; a bad name shows its field error', async () => {
    await go('Upstreams');
    await page.getByRole('button', { name: 'Create upstream' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Create upstream' }).click();
    await page.fill('#f-name', 'bad name!');
    await page.fill('#f-targets', JSON.stringify([{ host: '127.0.0.1', port: stack.upstream.port, weight: 100 }]));
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const err = page.locator('#f-name-err');
    await err.waitFor();
    assert.match(await err.innerText(), /must match the pattern/);
    assert.equal(await page.getAttribute('#f-name', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'f-name', 'focus moves to the first invalid field');
    await screenshot('upstream-form-error');
    await page.fill('#f-name', 'shop');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByText('Created upstream shop').waitFor();
    await page.locator('tr', { hasText: 'shop' }).getByText(`127.0.0.1:${stack.upstream.port}`).waitFor();

    // What only the server can check: a taken name is the API's 409 with fields [{path: "/name"}], shown
    // under the name field. Chromium logs the 409 response as a console error: expected here, and removed.
    const before = browser.errors.length;
    await page.getByRole('button', { name: 'Create upstream' }).click();
    await page.fill('#f-name', 'shop');
    await page.fill('#f-targets', JSON.stringify([{ host: '127.0.0.1', port: stack.upstream.port }]));
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator('#f-name-err', { hasText: 'is already taken' }).waitFor();
    await page.locator('dialog[open] [role=alert]', { hasText: 'TP_ERR_CONFLICT' }).waitFor();
    const logged = browser.errors.splice(before);
    assert.ok(logged.length === 1 && /status of 409/.test(logged[0]!), `only the expected 409 logged: ${JSON.stringify(logged)}`);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.locator('dialog[open]').waitFor({ state: 'detached' });

    await go('Services');
    await page.getByRole('button', { name: 'Create service' }).click();
    await page.fill('#f-name', 'shop');
    await page.locator('#f-upstream_id option', { hasText: 'shop' }).waitFor({ state: 'attached' });
    await page.selectOption('#f-upstream_id', { label: 'shop' });
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByText('Created service shop').waitFor();

    await go('Routes');
    await page.getByRole('button', { name: 'Create route' }).click();
    await page.fill('#f-name', 'shop');
    await page.locator('#f-service_id option', { hasText: 'shop' }).waitFor({ state: 'attached' });
    await page.selectOption('#f-service_id', { label: 'shop' });
    await page.fill('#f-paths', '/shop/{id}');
    await page.check('input[name=methods][value=GET]');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByText('Created route shop').waitFor();
    await screenshot('routes');

    const routes = (await stack.admin.call('GET', '/v1/routes')).body.data;
    assert.equal(routes.length, 1);
    assert.deepEqual(routes[0].paths, ['/shop/{id}']);
    assert.deepEqual(routes[0].methods, ['GET']);
    serviceId = routes[0].service_id;
  });

  test('traffic through the gateway shows on the requests chart', async () => {
    await waitFor('the route on the node', async () => {
      const r = await request(`${stack.proxy}/shop/0`);
      await r.body.text();
      if (r.statusCode === 200) sent++;
      return r.statusCode === 200;
    }, 20_000, 50);
    for (let i = 1; i <= 6; i++) {
      const r = await request(`${stack.proxy}/shop/${i}`);
      await r.body.text();
      assert.equal(r.statusCode, 200);
      requestId = r.headers['x-request-id'] as string;
      sent++;
    }
    await waitFor('the calls in ClickHouse', async () => {
      const r = await stack.admin.call('GET', `/v1/analytics/timeseries?service_id=${serviceId}&from=${Date.now() - HOUR}`);
      return r.status === 200 && r.body.points.reduce((a: number, p: any) => a + p.requests, 0) === sent;
    }, 30_000, 200);

    await go('Analytics');
    await page.selectOption('select[name=range]', '1h');
    await page.locator('select[name=service_id] option', { hasText: 'shop' }).first().waitFor({ state: 'attached' });
    await page.selectOption('select[name=service_id]', { label: 'shop' });
    await waitFor('the request count on the dashboard', async () => (await page.locator('[data-testid=total-requests]').innerText()) === String(sent), 10_000, 100);
    assert.ok(await page.locator('[data-chart=requests] canvas').count() >= 1, 'the requests chart is drawn');
    // The x axis spans the hour asked for, though the calls fill one or two minute buckets.
    const fig = page.locator('[data-chart=requests][data-x-max]');
    const span = Number(await fig.getAttribute('data-x-max', { timeout: 5_000 })) - Number(await fig.getAttribute('data-x-min'));
    assert.ok(Math.abs(span - 3600) <= 5, `x axis spans ${span} s`);
    await page.locator('table[data-top=route_id] tr', { hasText: 'shop' }).waitFor();
    await screenshot('dashboard');
  });

  test('every resource kind lists and opens its create form; edit, lifecycle actions and an API key shown once', async () => {
    const kinds = ['Upstreams', 'Services', 'Routes', 'Consumers', 'Consumer groups', 'Plans', 'Subscriptions', 'Plugins', 'Certificates', 'AI providers', 'Prompt templates', 'AI budgets', 'Admin tokens', 'Users', 'Tenants'];
    for (const label of kinds) {
      await go(label);
      await page.getByRole('heading', { level: 1, name: label }).waitFor();
      await page.getByRole('button', { name: /^Create / }).click();
      const form = page.locator('dialog[open] form.schema-form');
      await form.waitFor();
      assert.ok((await form.locator('label').count()) >= 1, `${label}: the form has labelled fields`);
      await page.keyboard.press('Escape');
      await form.waitFor({ state: 'detached' });
    }
    await go('Members');
    // The bootstrap token's home tenant, from /v1/me, without choosing one.
    await page.getByRole('heading', { level: 1, name: 'Members of default' }).waitFor();

    await go('Upstreams');
    await page.getByRole('button', { name: 'Edit shop' }).click();
    await page.fill('#f-read_timeout_ms', '5000');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved upstream shop').waitFor();
    const up = (await stack.admin.call('GET', '/v1/upstreams?name=shop')).body.data[0];
    assert.equal(up.read_timeout_ms, 5000);
    assert.equal(up.targets[0].port, stack.upstream.port, 'fields not edited are not sent');

    await go('Services');
    const svcRow = page.locator('tr', { hasText: 'shop' });
    await svcRow.getByRole('button', { name: 'Deprecate' }).click();
    await page.getByText('shop: deprecated').waitFor();
    assert.equal((await stack.admin.call('GET', `/v1/services/${serviceId}`)).body.lifecycle, 'deprecated');
    await svcRow.getByRole('button', { name: 'Publish' }).click();
    await page.getByText('shop: published').waitFor();
    assert.equal((await stack.admin.call('GET', `/v1/services/${serviceId}`)).body.lifecycle, 'published');

    await go('Consumers');
    await page.getByRole('button', { name: 'Create consumer' }).click();
    await page.fill('#f-username', 'ops-buyer');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByText('Created consumer ops-buyer').waitFor();
    await page.locator('tr', { hasText: 'ops-buyer' }).getByRole('button', { name: 'Keys & credentials' }).click();
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.fill('#f-name', 'laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.locator('[data-testid=secret-value]').innerText();
    assert.match(key, /^tp_/);
    await page.locator('dialog[open] tr', { hasText: 'laptop' }).waitFor();
    await screenshot('consumer-keys');
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
  });

  test('a pending subscription is approved in the queue', async () => {
    const consumer = await stack.admin.create('/v1/consumers', { username: 'dev-1' });
    const plan = await stack.admin.create('/v1/plans', { name: 'gold', approval: 'manual' });
    const sub = await stack.admin.create('/v1/subscriptions', { consumer_id: consumer.id, service_id: serviceId, plan_id: plan.id, note: 'for the shop app' });
    assert.equal(sub.status, 'pending');
    await go('Approvals');
    const row = page.locator(`tr[data-id="${sub.id}"]`);
    await row.getByText('dev-1').waitFor();
    await screenshot('approvals');
    await row.getByRole('button', { name: 'Approve' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await stack.admin.call('GET', `/v1/subscriptions/${sub.id}`)).body.status, 'approved');
  });

  test('the cluster page shows the node with its applied revision (reached by keyboard)', async () => {
    // Keyboard only: Tab from the menu entry before it, follow the link with Enter; the focus ring is drawn.
    await page.locator('nav.side').getByRole('link', { name: 'Approvals', exact: true }).focus();
    await page.keyboard.press('Tab');
    const link = page.locator('nav.side').getByRole('link', { name: 'Cluster', exact: true });
    assert.equal(await link.evaluate((el) => el === (globalThis as any).document.activeElement && el.matches(':focus-visible')), true);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Cluster' }).waitFor();
    const row = page.locator('tr[data-node="node-a"]');
    await row.waitFor();
    await waitFor('node healthy', async () => (await row.innerText()).includes('healthy'), 10_000, 200);
    await screenshot('cluster');
  });

  test('the call log finds a request id and opens its detail', async () => {
    await go('Call log');
    await page.fill('input[name=request_id]', requestId);
    await page.getByRole('button', { name: 'Search' }).click();
    const link = page.locator(`tr[data-request-id="${requestId}"]`).getByRole('link', { name: requestId });
    await link.waitFor();
    await waitFor('only the searched call listed', async () => (await page.locator('table.calls tbody tr').count()) === 1, 10_000, 100);
    await screenshot('calls');
    await link.click();
    await page.getByRole('heading', { name: `Call ${requestId}` }).waitFor();
    await page.locator('dl.detail', { hasText: '/shop/6' }).waitFor();
    await screenshot('call-detail');
  });

  test('declarative config: export, then an import shows its plan before applying it', async () => {
    await go('Config import/export');
    await page.getByRole('button', { name: 'Export current config' }).click();
    const exported = await waitFor('the export', async () => {
      const v = await page.inputValue('#export-text').catch(() => '');
      return v.includes('upstreams:') ? v : null;
    }, 15_000, 100);
    assert.match(exported, /name: shop/);
    assert.match(exported, /\/shop\/\{id\}/);
    await stack.admin.create('/v1/upstreams', { name: 'extra', targets: [{ host: '127.0.0.1', port: stack.upstream.port }] });

    await page.getByRole('button', { name: 'Copy into import' }).click();
    await page.check('text=prune');
    await page.getByRole('button', { name: 'Show plan' }).click();
    const plan = page.locator('[data-testid=plan]');
    await plan.waitFor();
    const text = await plan.innerText();
    assert.match(text, /- upstream "extra"/);
    assert.match(text, /0 to create, 0 to update, 1 to delete/);
    await screenshot('config');
    await page.getByRole('button', { name: 'Apply plan' }).click();
    await page.locator('[data-testid=apply-result]', { hasText: '1 deleted' }).waitFor();
    const names = (await stack.admin.call('GET', '/v1/upstreams')).body.data.map((u: any) => u.name);
    assert.deepEqual(names, ['shop']);
  });

  test('30 days of hourly rollups render in under a second', async () => {
    const start = Math.floor((Date.now() - 30 * 24 * HOUR) / HOUR) * HOUR;
    const hours = 30 * 24;
    const svc = randomUUID();
    const sql = hourlyRollupsSql(stack.chDatabase, svc, start, hours);
    const ins = await request(`${stack.env.clickhouseUrl}/`, { method: 'POST', body: sql });
    assert.equal(ins.statusCode, 200, await ins.body.text());

    await go('Analytics');
    await page.locator('.dashboard[data-loaded-range]').waitFor();
    const t0 = Date.now();
    await page.selectOption('select[name=range]', '30d');
    const dash = page.locator('.dashboard[data-loaded-range="30d"]');
    await dash.waitFor({ timeout: 10_000 });
    const wall = Date.now() - t0;
    const measured = Number(await dash.getAttribute('data-render-ms'));
    const buckets = await page.locator('.dashboard p.muted', { hasText: 'hour buckets' }).innerText();
    console.log(`30-day dashboard: ${buckets}; fetch + draw ${measured} ms in the page, ${wall} ms seen by the test`);
    assert.match(buckets, /^(719|720|721) hour buckets/);
    assert.ok(measured < 1000, `rendered in ${measured} ms`);
    assert.equal(await page.locator('[data-chart] canvas').count() >= 4, true);
    await screenshot('dashboard-30d');
  });

  test('cache invalidation from a route row and by prefix: the next request is a MISS at the gateway', async (t) => {
    const route = (await stack.admin.call('GET', '/v1/routes?name=shop')).body.data[0];
    await stack.admin.create('/v1/plugins', { type: 'proxy-cache', scope: { route_id: route.id }, config: { ttl_s: 300 } });
    // One connection, so one proxy thread: each of the node's worker threads has a cache of its own.
    const gw = new Client(stack.proxy, { keepAliveTimeout: 30_000 });
    t.after(() => gw.close());
    const xCache = async (path: string) => {
      const r = await gw.request({ method: 'GET', path });
      await r.body.text();
      assert.equal(r.statusCode, 200);
      return String(r.headers['x-cache'] ?? '');
    };
    // Cached once the plugin reached the node: a HIT after the first MISS.
    await waitFor('the cache plugin on the node', async () => (await xCache('/shop/cached')) === 'HIT', 20_000, 50);

    await go('Routes');
    await page.getByRole('button', { name: 'Invalidate cache: shop' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Invalidate cache' }).click();
    const result = page.locator('[data-testid=invalidation-result]');
    await result.waitFor();
    assert.match(await result.innerText(), /route shop[\s\S]*1 of 1 gateway node healthy/);
    await screenshot('cache-invalidation');
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
    // Nodes apply it within milliseconds of the 202: the entry is gone (a MISS), then cached again.
    await waitFor('a MISS after the invalidation', async () => (await xCache('/shop/cached')) === 'MISS', 5_000, 20);
    assert.equal(await xCache('/shop/cached'), 'HIT');

    // The page: a prefix without its leading "/" is the API's 400, shown under the field (and logged once
    // by Chromium as a failed response: expected, removed); a good one is accepted and drops the entry.
    await go('Cache invalidation');
    await page.getByRole('heading', { level: 1, name: 'Cache invalidation' }).waitFor();
    const before = browser.errors.length;
    await page.fill('#cache-prefix', 'shop');
    await page.getByRole('button', { name: 'Invalidate cache' }).click();
    await page.locator('#cache-prefix-err', { hasText: 'pattern' }).waitFor();
    assert.equal(await page.getAttribute('#cache-prefix', 'aria-invalid'), 'true');
    const logged = browser.errors.splice(before);
    assert.ok(logged.length === 1 && /status of 400/.test(logged[0]!), `only the expected 400 logged: ${JSON.stringify(logged)}`);
    await page.fill('#cache-prefix', '/shop/');
    await page.getByRole('button', { name: 'Invalidate cache' }).click();
    await page.locator('[data-testid=invalidation-result]', { hasText: 'paths under /shop/' }).waitFor();
    assert.equal(await page.locator('#cache-prefix-err').count(), 0);
    await waitFor('a MISS after the prefix invalidation', async () => (await xCache('/shop/cached')) === 'MISS', 5_000, 20);
  });

  test('prompt template versions: list them and restore an older one (confirmed)', async () => {
    const v1 = [{ role: 'user', content: 'Say hello to {{ who }}' }];
    const t = await stack.admin.create('/v1/prompt-templates', { name: 'greeter', messages: v1, variables: [{ name: 'who' }] });
    const v2 = await stack.admin.call('PATCH', `/v1/prompt-templates/${t.id}`, { messages: [{ role: 'user', content: 'Say hi to {{ who }}' }] });
    assert.equal(v2.body.version, 2);

    await go('Prompt templates');
    await page.getByRole('button', { name: 'Versions: greeter' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.locator('tr[data-version="2"]', { hasText: 'current' }).waitFor();
    await dialog.getByRole('button', { name: 'View version 1' }).click();
    assert.match(await dialog.locator('[data-testid=version-content]').innerText(), /Say hello to/);
    await dialog.getByRole('button', { name: 'Restore version 1' }).click();
    // Nothing is written before the confirmation, which takes the focus.
    const confirm = dialog.getByRole('button', { name: 'Yes, restore version 1' });
    await confirm.waitFor();
    await waitFor('the focus on the confirmation', () => confirm.evaluate((el) => el === (globalThis as any).document.activeElement), 2_000, 20);
    assert.equal((await stack.admin.call('GET', `/v1/prompt-templates/${t.id}`)).body.version, 2);
    await screenshot('prompt-versions');
    await page.keyboard.press('Enter');
    await dialog.getByText('Restored version 1 as version 3').waitFor();
    await dialog.locator('tr[data-version="3"]', { hasText: 'current' }).waitFor();

    const now = (await stack.admin.call('GET', `/v1/prompt-templates/${t.id}`)).body;
    assert.equal(now.version, 3);
    assert.deepEqual(now.messages, v1);
    assert.deepEqual((await stack.admin.call('GET', `/v1/prompt-templates/${t.id}/versions/3`)).body.messages, v1);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('greeter: restored version 1 as version 3').waitFor();
  });

  test("an AI budget's and a consumer's usage are shown read-only", async () => {
    const buyer = (await stack.admin.call('GET', '/v1/consumers?limit=1000')).body.data.find((c: any) => c.username === 'ops-buyer');
    await stack.admin.create('/v1/ai-budgets', { name: 'buyer-daily', scope: { type: 'consumer', id: buyer.id }, period: 'day', limits: { tokens: 5000, requests: 10 } });
    const plan = await stack.admin.create('/v1/plans', { name: 'metered', approval: 'auto', quotas: [{ period: 'day', requests: 100 }] });
    const sub = await stack.admin.create('/v1/subscriptions', { consumer_id: buyer.id, service_id: serviceId, plan_id: plan.id });
    assert.equal(sub.status, 'approved');

    await go('AI budgets');
    await page.getByRole('button', { name: 'Usage: buyer-daily' }).click();
    const tokens = page.locator('dialog[open] tr[data-dimension=tokens]');
    await tokens.waitFor();
    assert.deepEqual((await tokens.locator('td').allInnerTexts()).map((x) => x.trim()), ['tokens', '0', '0', '5,000', '5,000']);
    assert.match(await page.locator('dialog[open] tr[data-dimension=cost_usd]').innerText(), /no limit/);
    await page.keyboard.press('Escape');

    await go('Consumers');
    await page.getByRole('button', { name: 'Usage: ops-buyer' }).click();
    try {
      // The row comes with the service's id and shows its name once the services are loaded: wait for the name.
      const day = page.locator('dialog[open] tr[data-period=day]').filter({ has: page.locator('td', { hasText: /^shop$/ }) });
      await day.waitFor();
      const cells = (await day.locator('td').allInnerTexts()).map((x) => x.trim());
      assert.deepEqual(cells.slice(0, 6), ['shop', 'metered', 'day', '0', '100', '100']);
    } finally {
      // Closed even when an assertion failed, so that the next test's clicks are not caught by the dialog.
      await page.keyboard.press('Escape');
      await page.locator('dialog[open]').waitFor({ state: 'detached' });
    }
  });

  test('the developer portal page opens sign-up; the portal API says so', async () => {
    const config = async () => (await (await request(`${stack.base}/portal/api/v1/config`)).body.json()) as { signup: string };
    assert.equal((await config()).signup, 'closed');
    await go('Developer portal');
    await page.locator('[data-testid=portal-signup]', { hasText: 'closed' }).waitFor();
    // A URL the API refuses comes back as its field error under the input (one expected 400 logged).
    const before = browser.errors.length;
    await page.fill('#portal-gateway_url', 'ftp://gateway');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('#portal-gateway_url-err').waitFor();
    assert.equal(browser.errors.splice(before).length, 1);
    await page.fill('#portal-gateway_url', '');
    await page.getByLabel(/^open/).check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved: sign-up is open.').waitFor();
    await page.locator('[data-testid=portal-signup]', { hasText: 'open' }).waitFor();
    assert.equal((await config()).signup, 'open');
    await page.getByText('No developer has signed up yet.').waitFor();
    await screenshot('portal');
  });

  test('the tenant switcher addresses another tenant', async () => {
    await stack.admin.create('/v1/tenants', { name: 'team-b' });
    await page.reload();
    await page.locator('nav.side').waitFor();
    await go('Upstreams');
    await page.locator('tr', { hasText: 'shop' }).waitFor();
    await page.locator('.tenant select option', { hasText: 'team-b' }).waitFor({ state: 'attached' });
    await page.locator('.tenant select option', { hasText: 'home tenant (default)' }).waitFor({ state: 'attached' });
    await page.selectOption('.tenant select', 'team-b');
    await page.getByText('No upstreams yet.').waitFor();
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('turnpike.console.tenant')), 'team-b');
    await page.selectOption('.tenant select', '');
    await page.locator('tr', { hasText: 'shop' }).waitFor();
  });

  test('the audit log filters by resource type and shows the created upstream in its detail', async () => {
    const up = (await stack.admin.call('GET', '/v1/upstreams?name=shop')).body.data[0];
    await go('Audit log');
    await page.locator('h1', { hasText: 'Audit log' }).waitFor();
    await page.selectOption('select[name=resource_type]', 'upstreams');
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`tr[data-resource-id="${up.id}"][data-action=create]`);
    await row.waitFor();
    // Only upstream rows are listed once the filter applies.
    await waitFor('only upstream rows', async () => {
      const types = await page.locator('table.audit tbody tr td:nth-child(4)').allInnerTexts();
      return types.length > 0 && types.every((t) => t === 'upstreams');
    }, 10_000, 50);
    // The detail opens from the keyboard, shows the created object in `after`, and Esc closes it.
    await row.getByRole('button', { name: /^Details of create upstreams/ }).focus();
    await page.keyboard.press('Enter');
    const after = page.locator('dialog[open] [data-testid=audit-after]');
    await after.waitFor();
    const shown = JSON.parse(await after.innerText());
    assert.equal(shown.name, 'shop');
    assert.equal(shown.id, up.id);
    assert.match(await page.locator('dialog[open] [data-testid=audit-before]').innerText(), /^null/);
    await screenshot('audit');
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
  });

  test('no console errors in the browser', async () => {
    await go('Consumers');
    await page.locator('tr', { hasText: 'dev-1' }).waitFor();
    await screenshot('consumers');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#token').waitFor();
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('turnpike.console.token')), null);
    assert.deepEqual(browser.errors, []);
  });
});

// The config page runs the CLI's file parser with ajv replaced by an interpreter (the console's CSP forbids
// ajv's generated code): the CLI's declarative-config tests and the control plane's validator tests must pass
// against it as they do against ajv.
describe('console: the ajv interpreter of the config page', { timeout: 60_000 }, () => {
  test("the CLI's declarative-config tests and the validator tests pass with it", () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'services/console/src/console/ajv-interpreter.check.mjs')], { encoding: 'utf8', timeout: 50_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
    assert.match(r.stdout, /# fail 0/);
  });
});
