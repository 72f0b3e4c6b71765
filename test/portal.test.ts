// The developer portal in real Chromium against real processes: control plane (PostgreSQL), NATS, a gateway
// node, the ingester and ClickHouse. A developer signs up, browses the catalog and an API's reference,
// requests a subscription (pending), creates a key, and that key is refused by the gateway (403, no approved
// subscription) until the operator approves it in the console (its own tab); then "try it" and direct calls get
// 200 and the usage page shows the calls. No browser console errors allowed.
// TP_SCREENSHOTS=<dir> saves full-page PNGs of the main pages (portal-<page>.png).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { Page } from 'playwright-core';
import { waitFor } from '@turnpike/common/testing';
import { launchBrowser, saveScreenshot, type BrowserSession } from './support/browser.js';
import { startStack, type Stack } from './support/stack.js';

const ORDERS_DOC = {
  openapi: '3.0.3',
  info: { title: 'Orders API', version: '1.2.0', description: 'Orders of the shop.' },
  paths: {
    '/orders/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' }, example: 7 }],
      get: {
        summary: 'Reads one order',
        parameters: [{ name: 'expand', in: 'query', schema: { type: 'boolean' } }],
        responses: {
          '200': { description: 'The order', content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } } },
          '404': { description: 'No such order' },
        },
      },
    },
  },
  components: {
    schemas: {
      Order: {
        type: 'object',
        required: ['id', 'total_cents'],
        properties: { id: { type: 'integer' }, total_cents: { type: 'integer', description: 'Amount in cents' }, items: { type: 'array', items: { $ref: '#/components/schemas/Item' } } },
      },
      Item: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } },
    },
  },
};

describe('portal: the developer portal in Chromium', { timeout: 120_000 }, () => {
  let stack: Stack;
  let browser: BrowserSession;
  let page: Page;
  let serviceId: string;
  let apiKey: string;
  let okCalls = 0;

  const screenshot = (name: string) => saveScreenshot(page, `portal-${name}`);
  const go = async (name: string) => {
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name, exact: true }).click();
    await page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 10_000 });
  };
  const callOrders = async (key: string) => {
    const r = await request(`${stack.proxy}/orders/7`, { headers: { apikey: key } });
    const body = (await r.body.json()) as { error?: { code: string } };
    return { status: r.statusCode, code: body.error?.code };
  };

  before(async () => {
    [stack, browser] = await Promise.all([startStack('portal', { portalGatewayUrl: true }), launchBrowser()]);
    // The operator: open sign-up, publish a key-auth service that needs a subscription, offer a plan.
    assert.equal((await stack.admin.call('PATCH', '/v1/portal/settings', { signup: 'open' })).status, 200);
    const up = await stack.admin.create('/v1/upstreams', { name: 'orders', targets: [{ host: '127.0.0.1', port: stack.upstream.port }] });
    const svc = await stack.admin.create('/v1/services', { name: 'orders', upstream_id: up.id, catalog_visibility: 'public', subscription_required: true, version: 'v1', openapi: ORDERS_DOC });
    serviceId = svc.id;
    await stack.admin.create('/v1/routes', { name: 'orders', service_id: svc.id, paths: ['/orders/{id}'], methods: ['GET'], plugins: { 'key-auth': {} } });
    await stack.admin.create('/v1/plans', { name: 'standard', tags: ['portal'], quotas: [{ period: 'day', requests: 10_000 }] });
    // A private service never shows in the catalog.
    await stack.admin.create('/v1/services', { name: 'internal-billing', upstream_id: up.id });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('sign up with the keyboard; a bad password shows its field error', { timeout: 30_000 }, async () => {
    await page.goto(`${stack.base}/portal/`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ timeout: 15_000 });
    await screenshot('signin');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create a developer account' }).waitFor();
    // Keyboard only: the fields in tab order, Enter submits.
    await page.getByLabel('Display name').focus();
    await page.keyboard.type('Dana Developer');
    await page.keyboard.press('Tab');
    await page.keyboard.type('dana@example.com');
    await page.keyboard.press('Tab');
    await page.keyboard.type('short');
    await page.keyboard.press('Enter');
    await page.locator('#password-error').getByText(/fewer than 10 characters|must NOT have fewer/).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Password').fill('a long enough passphrase');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'API catalog' }).waitFor({ timeout: 10_000 });
  });

  test('the catalog lists the public API only; its page renders the OpenAPI reference', { timeout: 20_000 }, async () => {
    const cards = page.locator('.cards li');
    await cards.first().waitFor();
    assert.equal(await cards.count(), 1);
    assert.match(await cards.first().innerText(), /Orders API[\s\S]*orders[\s\S]*version v1[\s\S]*Subscription required/);
    await screenshot('catalog');
    await page.getByRole('link', { name: 'Orders API' }).click();
    await page.getByRole('heading', { level: 1, name: 'Orders API' }).waitFor();
    const op = page.locator('section.operation').first();
    assert.match(await op.locator('h3').innerText(), /GET\s+\/orders\/\{id\}/);
    const text = await op.innerText();
    assert.match(text, /Reads one order/);
    assert.match(text, /expand/);
    assert.match(text, /Order\s+object/);
    assert.match(text, /total_cents \*: integer — Amount in cents/);
    assert.match(text, /items: Item object|items:\s*array/);
    await screenshot('reference');
  });

  test('request access: pending; a key created in the portal is refused by the gateway until the operator approves', { timeout: 40_000 }, async () => {
    await page.getByLabel('Plan').selectOption({ label: 'standard (needs approval, 10000 per day)' });
    await page.getByLabel(/What will you use it for/).fill('my shop');
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
    const row = page.locator('tr[data-subscription]');
    await row.getByText('pending').waitFor();
    assert.match(await row.innerText(), /orders/);

    await go('API keys');
    await page.getByLabel('Name of the new key').fill('ci');
    await page.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByTestId('new-key');
    await shown.waitFor();
    apiKey = (await shown.innerText()).trim();
    assert.match(apiKey, /^tp_/);
    await screenshot('keys');
    // Copy works (the clipboard may be refused headless: then the key is selected instead).
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByText(/Copied\.|Selected: press Ctrl\+C/).waitFor();
    await page.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.getByTestId('new-key').count(), 0, 'the key is shown once');
    assert.match(await page.locator('tbody tr').first().innerText(), new RegExp(`ci\\s+${apiKey.slice(0, 8)}`));

    // The key reaches the gateway, which refuses it: no approved subscription yet.
    const refused = await waitFor('the key to reach the gateway', async () => {
      const r = await callOrders(apiKey);
      return r.status === 401 ? null : r;
    }, 15_000, 50);
    assert.deepEqual(refused, { status: 403, code: 'TP_ERR_SUBSCRIPTION_REQUIRED' });

    // The operator approves it in the console (its own tab: the console keeps its token per tab).
    const pending = await stack.admin.call('GET', `/v1/subscriptions?status=pending&service_id=${serviceId}`);
    assert.equal(pending.body.data.length, 1);
    const operator = await browser.newPage();
    await operator.goto(`${stack.base}/console/`);
    await operator.fill('#token', stack.token);
    await operator.getByRole('button', { name: 'Sign in' }).click();
    await operator.locator('nav.side').getByRole('link', { name: 'Approvals', exact: true }).click();
    const queued = operator.locator(`tr[data-id="${pending.body.data[0].id}"]`);
    await queued.waitFor({ timeout: 10_000 });
    await queued.getByRole('button', { name: 'Approve' }).click();
    await queued.waitFor({ state: 'detached', timeout: 10_000 });
    await operator.close();
    assert.equal((await stack.admin.call('GET', `/v1/subscriptions/${pending.body.data[0].id}`)).body.status, 'approved');
    await waitFor('the approval to reach the gateway', async () => (await callOrders(apiKey)).status === 200, 15_000, 50);
    okCalls++;

    await go('Subscriptions');
    await page.locator('tr[data-subscription]').getByText('approved').waitFor({ timeout: 10_000 });
    await screenshot('subscriptions');
  });

  test('"try it" sends the request through the gateway with the new key', { timeout: 20_000 }, async () => {
    await go('Catalog');
    await page.getByRole('link', { name: 'Orders API' }).click();
    // Subscribed: the page shows the subscription instead of the request form.
    assert.match(await page.locator('p.subscribe').innerText({ timeout: 10_000 }), /Your subscription: approved/);
    await page.getByRole('button', { name: 'Try it' }).click();
    const form = page.getByRole('form', { name: 'Try GET /orders/{id}' });
    assert.equal(await form.getByLabel(/^id/).inputValue(), '7', 'the example fills the parameter');
    assert.equal(await form.getByLabel(/API key/).inputValue(), apiKey, 'the key created in this tab is offered');
    await form.getByLabel(/^expand/).fill('true');
    await form.getByRole('button', { name: 'Send request' }).click();
    await form.getByText('HTTP 200').waitFor({ timeout: 10_000 });
    assert.match(await form.locator('.try-body').innerText(), /"url": "\/orders\/7\?expand=true"/);
    okCalls++;
    await screenshot('try-it');
  });

  test('usage shows the calls and quota', { timeout: 40_000 }, async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await callOrders(apiKey)).status, 200);
      okCalls++;
    }
    await go('Usage');
    // Calls reach ClickHouse through NATS and the ingester: refresh until they are all counted.
    await waitFor('the calls on the usage page', async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(300);
      const n = Number((await page.getByTestId('requests').innerText().catch(() => '0')).replace(/,/g, ''));
      return n >= okCalls;
    }, 25_000, 500);
    assert.match(await page.locator('table').first().innerText(), /orders GET \/orders\/\{id\}/, 'busiest routes by API and path');
    assert.match(await page.locator('table').last().innerText(), /orders\s+day/);
    await screenshot('usage');
  });

  test('rotate (old key revoked at once) and revoke on the keys page take effect at the gateway; sign out; no console errors', { timeout: 40_000 }, async () => {
    await go('API keys');
    await page.getByLabel(/Old key after rotating/).selectOption('0');
    await page.getByRole('button', { name: 'Rotate ci' }).click();
    const shown = page.getByTestId('new-key');
    await shown.waitFor();
    const rotated = (await shown.innerText()).trim();
    assert.notEqual(rotated, apiKey);
    await page.getByRole('button', { name: 'Done' }).click();
    await waitFor('the old key to be refused', async () => (await callOrders(apiKey)).status === 401, 15_000, 50);
    await waitFor('the new key to work', async () => (await callOrders(rotated)).status === 200, 15_000, 50);
    assert.equal(await page.locator('tbody tr').count(), 1, 'the old key is gone from the list');

    await page.getByRole('button', { name: 'Revoke ci' }).click();
    await page.getByRole('button', { name: 'Confirm revoke ci' }).click();
    await page.getByText('No keys yet.').waitFor();
    await waitFor('the revoked key to be refused', async () => (await callOrders(rotated)).status === 401, 15_000, 50);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.deepEqual(browser.errors, []);
  });
});
