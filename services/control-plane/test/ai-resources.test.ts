// AI providers and prompt templates over real HTTP, Postgres and NATS KV: provider CRUD; the API key is
// sealed (never in GET, lists, the audit log, an Idempotency-Key replay or the KV payload in clear, while
// the KV's sealed value opens to it with the keyring); rotation by PATCH; 503 without a keyring; the
// cross-field rules with their paths; template checks (placeholders, variables, models) and the
// provider ↔ template delete restriction.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey, generateSecretKey, isSealed, keyringOf, open, type AiProviderConfig, type Keyring } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { status } from '@grpc/grpc-js';
import { failure, serviceClient, type Call } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const OPENAI_KEY = 'sk-test-0123456789abcdefghijklmnopqrstuvWXYZ';
const ROTATED_KEY = 'sk-test-rotated-zyxwvutsrqponmlkjihgfedcba9876';

const openaiBody = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'openai',
  api_key: OPENAI_KEY,
  models: [
    { name: 'gpt-4o', input_cost_per_mtok: 2.5, output_cost_per_mtok: 10, cached_input_cost_per_mtok: 1.25, context_window: 128000, aliases: ['gpt-4o-latest'] },
    { name: 'gpt-4o-mini', input_cost_per_mtok: 0.15, output_cost_per_mtok: 0.6 },
  ],
  default_model: 'gpt-4o-mini',
  tags: ['llm'],
  ...extra,
});

/** The KV value of an entity once published with at least `minRevisionOf` applied (polls). */
async function kvData(h: Harness, kind: 'ai_providers' | 'prompt_templates', id: string, until: (data: Record<string, unknown>) => boolean = () => true): Promise<{ raw: string; data: Record<string, unknown> }> {
  return await waitFor(`${kind}.${id} in KV`, async () => {
    const raw = await h.bus.get(entityKey(kind, id));
    if (raw === null) return null;
    const data = (JSON.parse(raw) as { data: Record<string, unknown> }).data;
    return until(data) ? { raw, data } : null;
  });
}

describe('AI providers and prompt templates', { timeout: 120_000 }, () => {
  let h: Harness;
  let keyring: Keyring;

  before(async () => {
    keyring = keyringOf(generateSecretKey());
    h = await startHarness({ keyring });
  });
  after(async () => {
    await h?.close();
  });

  describe('AI providers', () => {
    let providerId = '';

    it('creates a provider: the response shows api_key_set and the last 4 characters, never the key', async () => {
      const res = await h.rest('POST', '/v1/ai-providers', openaiBody('openai-main'), { 'idempotency-key': 'create-openai-main' });
      assert.equal(res.status, 201, res.text);
      providerId = res.json.id;
      assert.equal(res.json.api_key_set, true);
      assert.equal(res.json.api_key_last4, 'WXYZ');
      assert.equal(res.json.base_url, null);
      assert.equal(res.json.timeout_ms, 120000);
      assert.deepEqual(res.json.headers, {});
      assert.equal(res.json.aws, null);
      // The cached-token price is kept where given and stays absent (= the input price) where not.
      assert.deepEqual(res.json.models.map((m: Record<string, unknown>) => m.cached_input_cost_per_mtok), [1.25, undefined]);
      assert.equal('api_key' in res.json, false);
      assert.ok(!res.text.includes(OPENAI_KEY));
      assert.equal(res.headers.get('location'), `/v1/ai-providers/${providerId}`);

      const replay = await h.rest('POST', '/v1/ai-providers', openaiBody('openai-main'), { 'idempotency-key': 'create-openai-main' });
      assert.equal(replay.status, 201, replay.text);
      assert.equal(replay.json.id, providerId);
      assert.ok(!replay.text.includes(OPENAI_KEY), 'an Idempotency-Key replay shows no key');
    });

    it('GET, list (with name and type filters) and the audit log never contain the key', async () => {
      const got = await h.rest('GET', `/v1/ai-providers/${providerId}`);
      assert.equal(got.status, 200);
      assert.equal(got.json.name, 'openai-main');
      assert.equal(got.json.api_key_last4, 'WXYZ');
      assert.ok(!got.text.includes(OPENAI_KEY));
      const list = await h.rest('GET', '/v1/ai-providers?type=openai');
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.data.map((p: { id: string }) => p.id), [providerId]);
      assert.ok(!list.text.includes(OPENAI_KEY));
      assert.equal((await h.rest('GET', '/v1/ai-providers?type=anthropic')).json.data.length, 0);
      assert.equal((await h.rest('GET', '/v1/ai-providers?name=openai-main')).json.data.length, 1);
      const audit = await h.rest('GET', `/v1/audit?resource_type=ai_providers&resource_id=${providerId}`);
      assert.equal(audit.status, 200, audit.text);
      assert.ok(audit.json.data.length >= 1);
      assert.ok(!audit.text.includes(OPENAI_KEY), 'the audit log holds no key');
      const [row] = await h.sql<{ doc: string; material: string }[]>`SELECT doc::text, material::text FROM resources WHERE id = ${providerId}`;
      assert.ok(!row!.doc.includes(OPENAI_KEY) && !row!.material.includes(OPENAI_KEY), 'Postgres holds only the sealed key');
    });

    it('the KV payload carries the public fields and the sealed key, which opens with the keyring (context: provider id)', async () => {
      const { raw, data } = await kvData(h, 'ai_providers', providerId);
      assert.ok(!raw.includes(OPENAI_KEY), 'no clear key on the config bus');
      const cfg = data as unknown as AiProviderConfig;
      assert.equal(cfg.name, 'openai-main');
      assert.equal(cfg.type, 'openai');
      assert.equal(cfg.default_model, 'gpt-4o-mini');
      assert.equal(cfg.models.length, 2);
      assert.ok(isSealed(cfg.secret.api_key));
      assert.equal(cfg.secret.aws_secret_access_key, null);
      assert.equal(open(keyring, cfg.secret.api_key, providerId), OPENAI_KEY);
      assert.throws(() => open(keyring, cfg.secret.api_key!, 'another-id'), /failed authentication/);
    });

    it('PATCH without api_key keeps the key; PATCH with one rotates it', async () => {
      const keep = await h.rest('PATCH', `/v1/ai-providers/${providerId}`, { timeout_ms: 30000 });
      assert.equal(keep.status, 200, keep.text);
      assert.equal(keep.json.timeout_ms, 30000);
      assert.equal(keep.json.api_key_set, true);
      assert.equal(keep.json.api_key_last4, 'WXYZ');
      const kept = await kvData(h, 'ai_providers', providerId, (d) => d.timeout_ms === 30000);
      assert.equal(open(keyring, (kept.data as unknown as AiProviderConfig).secret.api_key!, providerId), OPENAI_KEY);

      const rotated = await h.rest('PATCH', `/v1/ai-providers/${providerId}`, { api_key: ROTATED_KEY });
      assert.equal(rotated.status, 200, rotated.text);
      assert.equal(rotated.json.api_key_last4, '9876');
      assert.ok(!rotated.text.includes(ROTATED_KEY));
      const after = await kvData(h, 'ai_providers', providerId, (d) => d.api_key_last4 === '9876');
      assert.ok(!after.raw.includes(ROTATED_KEY));
      assert.equal(open(keyring, (after.data as unknown as AiProviderConfig).secret.api_key!, providerId), ROTATED_KEY);
      const audit = await h.rest('GET', `/v1/audit?resource_type=ai_providers&resource_id=${providerId}`);
      assert.ok(!audit.text.includes(ROTATED_KEY) && !audit.text.includes(OPENAI_KEY));
    });

    it('a required key cannot be removed; an optional one can (null)', async () => {
      const res = await h.rest('PATCH', `/v1/ai-providers/${providerId}`, { api_key: null });
      assert.equal(res.status, 422, res.text);
      assert.deepEqual(res.json.error.fields, [{ path: '/api_key', message: 'is required for type openai' }]);
      const local = await h.rest('POST', '/v1/ai-providers', { name: 'local-llm', type: 'openai-compatible', base_url: 'http://10.0.0.5:8080/v1', api_key: 'short' });
      assert.equal(local.status, 201, local.text);
      assert.equal(local.json.api_key_set, true);
      assert.equal(local.json.api_key_last4, null, 'a short key shows no characters');
      const cleared = await h.rest('PATCH', `/v1/ai-providers/${local.json.id}`, { api_key: null });
      assert.equal(cleared.status, 200, cleared.text);
      assert.equal(cleared.json.api_key_set, false);
      const kv = await kvData(h, 'ai_providers', local.json.id, (d) => d.api_key_set === false);
      assert.equal((kv.data as unknown as AiProviderConfig).secret.api_key, null);
    });

    it('bedrock keeps region and access key id public and seals the secret access key', async () => {
      const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      const res = await h.rest('POST', '/v1/ai-providers', {
        name: 'bedrock-us',
        type: 'bedrock',
        aws: { region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: secret },
        models: [{ name: 'anthropic.claude-3-haiku-20240307-v1:0', input_cost_per_mtok: 0.25, output_cost_per_mtok: 1.25 }],
      });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.json.aws, { region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE' });
      assert.equal(res.json.api_key_set, false);
      assert.ok(!res.text.includes(secret));
      const kv = await kvData(h, 'ai_providers', res.json.id);
      assert.ok(!kv.raw.includes(secret));
      assert.equal(open(keyring, (kv.data as unknown as AiProviderConfig).secret.aws_secret_access_key!, res.json.id), secret);
      // A PATCH of the region alone keeps the sealed secret.
      const moved = await h.rest('PATCH', `/v1/ai-providers/${res.json.id}`, { aws: { region: 'eu-west-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE' } });
      assert.equal(moved.status, 200, moved.text);
      const kv2 = await kvData(h, 'ai_providers', res.json.id, (d) => (d.aws as { region: string }).region === 'eu-west-1');
      assert.equal(open(keyring, (kv2.data as unknown as AiProviderConfig).secret.aws_secret_access_key!, res.json.id), secret);
    });

    it('names are unique per tenant (409 at /name)', async () => {
      const res = await h.rest('POST', '/v1/ai-providers', openaiBody('openai-main'));
      assert.equal(res.status, 409, res.text);
      assert.deepEqual(res.json.error.fields, [{ path: '/name', message: 'is already taken' }]);
    });

    const matrix: Array<{ what: string; body: Record<string, unknown>; status: number; paths: string[] }> = [
      { what: 'unknown type', body: { name: 'x', type: 'cohere', api_key: OPENAI_KEY }, status: 400, paths: ['/type'] },
      { what: 'openai without api_key', body: { name: 'x', type: 'openai' }, status: 422, paths: ['/api_key'] },
      { what: 'anthropic without api_key', body: { name: 'x', type: 'anthropic' }, status: 422, paths: ['/api_key'] },
      { what: 'azure without base_url and api_version', body: { name: 'x', type: 'azure-openai', api_key: OPENAI_KEY }, status: 422, paths: ['/base_url', '/api_version'] },
      { what: 'ollama without base_url', body: { name: 'x', type: 'ollama' }, status: 422, paths: ['/base_url'] },
      { what: 'openai-compatible without base_url', body: { name: 'x', type: 'openai-compatible' }, status: 422, paths: ['/base_url'] },
      { what: 'api_version on openai', body: { ...openaiBody('x'), api_version: '2024-10-21' }, status: 422, paths: ['/api_version'] },
      { what: 'bedrock without aws', body: { name: 'x', type: 'bedrock' }, status: 422, paths: ['/aws'] },
      {
        what: 'bedrock without secret_access_key',
        body: { name: 'x', type: 'bedrock', aws: { region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE' } },
        status: 422,
        paths: ['/aws/secret_access_key'],
      },
      {
        what: 'bedrock with api_key',
        body: { name: 'x', type: 'bedrock', api_key: OPENAI_KEY, aws: { region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'abc' } },
        status: 422,
        paths: ['/api_key'],
      },
      { what: 'aws on openai', body: { ...openaiBody('x'), aws: { region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE' } }, status: 422, paths: ['/aws'] },
      { what: 'bad aws region', body: { name: 'x', type: 'bedrock', aws: { region: 'Mars', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'abc' } }, status: 400, paths: ['/aws/region'] },
      { what: 'base_url with credentials', body: { ...openaiBody('x'), base_url: 'https://user:pw@api.example.com/v1' }, status: 422, paths: ['/base_url'] },
      { what: 'base_url with a query', body: { ...openaiBody('x'), base_url: 'https://api.example.com/v1?key=1' }, status: 422, paths: ['/base_url'] },
      { what: 'base_url not http', body: { ...openaiBody('x'), base_url: 'ftp://api.example.com' }, status: 400, paths: ['/base_url'] },
      { what: 'Authorization in headers', body: { ...openaiBody('x'), headers: { Authorization: 'Bearer x', 'X-Team': 'a' } }, status: 422, paths: ['/headers/Authorization'] },
      { what: 'bad header name', body: { ...openaiBody('x'), headers: { 'bad header': 'x' } }, status: 400, paths: ['/headers/bad header'] },
      { what: 'header value with a newline', body: { ...openaiBody('x'), headers: { 'X-Team': 'a\r\nInjected: 1' } }, status: 400, paths: ['/headers/X-Team'] },
      { what: 'api_key with a space', body: { ...openaiBody('x'), api_key: 'sk abc' }, status: 400, paths: ['/api_key'] },
      {
        what: 'duplicate model names and aliases',
        body: {
          ...openaiBody('x'),
          models: [
            { name: 'a', input_cost_per_mtok: 1, output_cost_per_mtok: 1, aliases: ['b'] },
            { name: 'b', input_cost_per_mtok: 1, output_cost_per_mtok: 1 },
            { name: 'a', input_cost_per_mtok: 1, output_cost_per_mtok: 1 },
          ],
          default_model: 'a',
        },
        status: 422,
        paths: ['/models/1/name', '/models/2/name'],
      },
      { what: 'negative cost', body: { ...openaiBody('x'), models: [{ name: 'a', input_cost_per_mtok: -1, output_cost_per_mtok: 1 }], default_model: null }, status: 400, paths: ['/models/0/input_cost_per_mtok'] },
      { what: 'negative cached cost', body: { ...openaiBody('x'), models: [{ name: 'a', input_cost_per_mtok: 1, output_cost_per_mtok: 1, cached_input_cost_per_mtok: -0.5 }], default_model: null }, status: 400, paths: ['/models/0/cached_input_cost_per_mtok'] },
      { what: 'model without prices', body: { ...openaiBody('x'), models: [{ name: 'a' }], default_model: null }, status: 400, paths: ['/models/0/input_cost_per_mtok', '/models/0/output_cost_per_mtok'] },
      { what: 'default_model not among models', body: { ...openaiBody('x'), default_model: 'gpt-5' }, status: 422, paths: ['/default_model'] },
      { what: 'timeout too small', body: { ...openaiBody('x'), timeout_ms: 5 }, status: 400, paths: ['/timeout_ms'] },
    ];
    for (const c of matrix) {
      it(`refuses ${c.what} (${c.status} at ${c.paths.join(', ')})`, async () => {
        const res = await h.rest('POST', '/v1/ai-providers', c.body);
        assert.equal(res.status, c.status, res.text);
        const paths = (res.json.error.fields as Array<{ path: string }>).map((f) => f.path);
        for (const p of c.paths) assert.ok(paths.includes(p), `expected ${p} in ${JSON.stringify(paths)}`);
        assert.ok(!res.text.includes(OPENAI_KEY), 'an error never echoes the key');
      });
    }

    it('default_model may be an alias; a PATCH that drops the default model is refused at /default_model', async () => {
      const res = await h.rest('POST', '/v1/ai-providers', openaiBody('alias-default', { default_model: 'gpt-4o-latest' }));
      assert.equal(res.status, 201, res.text);
      const bad = await h.rest('PATCH', `/v1/ai-providers/${res.json.id}`, { models: [{ name: 'gpt-4o-mini', input_cost_per_mtok: 0.15, output_cost_per_mtok: 0.6 }] });
      assert.equal(bad.status, 422, bad.text);
      assert.equal(bad.json.error.fields[0].path, '/default_model');
      assert.equal((await h.rest('DELETE', `/v1/ai-providers/${res.json.id}`)).status, 204);
    });

    it('every default base URL is documented by type (bedrock from its region)', async () => {
      const { effectiveBaseUrl } = await import('@turnpike/common');
      assert.equal(effectiveBaseUrl({ type: 'openai', base_url: null }), 'https://api.openai.com/v1');
      assert.equal(effectiveBaseUrl({ type: 'anthropic', base_url: null }), 'https://api.anthropic.com');
      assert.equal(effectiveBaseUrl({ type: 'bedrock', base_url: null, aws: { region: 'eu-west-1' } }), 'https://bedrock-runtime.eu-west-1.amazonaws.com');
      assert.equal(effectiveBaseUrl({ type: 'ollama', base_url: 'http://gpu-box:11434/' }), 'http://gpu-box:11434');
    });
  });

  describe('prompt templates', () => {
    let providerId = '';
    let templateId = '';

    before(async () => {
      const res = await h.rest('POST', '/v1/ai-providers', openaiBody('for-templates'));
      assert.equal(res.status, 201, res.text);
      providerId = res.json.id;
    });

    const good = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      name,
      description: 'summarises a ticket',
      messages: [
        { role: 'system', content: 'You are a {{ tone }} support agent.' },
        { role: 'user', content: 'Summarise:\n{{ticket}}' },
      ],
      variables: [
        { name: 'tone', default: 'friendly' },
        { name: 'ticket', description: 'the ticket text', max_length: 10000 },
      ],
      parameters: { temperature: 0.2, max_tokens: 512, stop: ['###'] },
      ...extra,
    });

    it('creates a template tied to a provider and model (by alias), with defaults filled in', async () => {
      const res = await h.rest('POST', '/v1/prompt-templates', good('summarise', { provider_id: providerId, model: 'gpt-4o-latest' }));
      assert.equal(res.status, 201, res.text);
      templateId = res.json.id;
      assert.equal(res.json.variables[0].required, true);
      assert.deepEqual(res.json.tags, []);
      const kv = await kvData(h, 'prompt_templates', templateId);
      assert.equal(kv.data.provider_id, providerId);
      assert.equal((kv.data.messages as unknown[]).length, 2);
      const listed = await h.rest('GET', `/v1/prompt-templates?provider_id=${providerId}`);
      assert.deepEqual(listed.json.data.map((t: { id: string }) => t.id), [templateId]);
    });

    it('a template without a provider accepts any model name', async () => {
      const res = await h.rest('POST', '/v1/prompt-templates', good('free', { model: 'whatever-model' }));
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.provider_id, null);
    });

    const errors: Array<{ what: string; patch: Record<string, unknown>; status: number; fields: Array<{ path: string; message: RegExp }> }> = [
      {
        what: 'an unterminated placeholder',
        patch: { messages: [{ role: 'user', content: 'ok {{ ticket }}' }, { role: 'user', content: 'Hello {{ tone' }] },
        status: 422,
        fields: [{ path: '/messages/1/content', message: /unterminated/ }],
      },
      { what: 'an empty placeholder', patch: { messages: [{ role: 'user', content: '{{}}' }] }, status: 422, fields: [{ path: '/messages/0/content', message: /empty placeholder/ }] },
      { what: 'a bad placeholder name', patch: { messages: [{ role: 'user', content: '{{ user.name }}' }] }, status: 422, fields: [{ path: '/messages/0/content', message: /bad placeholder name/ }] },
      {
        what: 'an undeclared placeholder',
        patch: { messages: [{ role: 'system', content: '{{ tone }}' }, { role: 'user', content: '{{ ticket }} {{ language }}' }] },
        status: 422,
        fields: [{ path: '/messages/1/content', message: /\{\{ language \}\} is not declared/ }],
      },
      {
        what: 'a duplicate variable',
        patch: { variables: [{ name: 'tone' }, { name: 'ticket' }, { name: 'tone' }] },
        status: 422,
        fields: [{ path: '/variables/2/name', message: /declared twice/ }],
      },
      {
        what: 'a default longer than max_length',
        patch: { variables: [{ name: 'tone', default: 'very friendly', max_length: 4 }, { name: 'ticket' }] },
        status: 422,
        fields: [{ path: '/variables/0/default', message: /max_length/ }],
      },
      { what: 'a bad variable name', patch: { variables: [{ name: '9lives' }] }, status: 400, fields: [{ path: '/variables/0/name', message: /pattern/ }] },
      { what: 'no messages', patch: { messages: [] }, status: 400, fields: [{ path: '/messages', message: /fewer than 1/ }] },
      { what: 'an unknown role', patch: { messages: [{ role: 'tool', content: 'x' }] }, status: 400, fields: [{ path: '/messages/0/role', message: /one of/ }] },
      { what: 'temperature out of range', patch: { parameters: { temperature: 3 } }, status: 400, fields: [{ path: '/parameters/temperature', message: /<= 2/ }] },
      { what: 'top_p out of range', patch: { parameters: { top_p: 1.5 } }, status: 400, fields: [{ path: '/parameters/top_p', message: /<= 1/ }] },
      { what: 'max_tokens of 0', patch: { parameters: { max_tokens: 0 } }, status: 400, fields: [{ path: '/parameters/max_tokens', message: />= 1/ }] },
      {
        what: 'a model the provider does not offer',
        patch: { provider_id: 'PROVIDER', model: 'gpt-5' },
        status: 422,
        fields: [{ path: '/model', message: /not offered by provider for-templates/ }],
      },
      {
        what: 'max_tokens beyond the model context window',
        patch: { provider_id: 'PROVIDER', model: 'gpt-4o', parameters: { max_tokens: 200000 } },
        status: 422,
        fields: [{ path: '/parameters/max_tokens', message: /context window of gpt-4o/ }],
      },
      {
        what: 'a provider that does not exist',
        patch: { provider_id: '00000000-0000-4000-8000-000000000000' },
        status: 422,
        fields: [{ path: '/provider_id', message: /does not exist/ }],
      },
    ];
    for (const c of errors) {
      it(`refuses ${c.what} (${c.status} at ${c.fields.map((f) => f.path).join(', ')})`, async () => {
        const body = good(`bad-${Math.random().toString(36).slice(2, 8)}`, c.patch);
        if (body.provider_id === 'PROVIDER') body.provider_id = providerId;
        const res = await h.rest('POST', '/v1/prompt-templates', body);
        assert.equal(res.status, c.status, res.text);
        const fields = res.json.error.fields as Array<{ path: string; message: string }>;
        for (const want of c.fields) {
          const got = fields.find((f) => f.path === want.path);
          assert.ok(got, `expected a field error at ${want.path} in ${JSON.stringify(fields)}`);
          assert.match(got.message, want.message);
        }
      });
    }

    it('a PATCH is checked as a whole: changing the model to one not offered is 422 at /model', async () => {
      const res = await h.rest('PATCH', `/v1/prompt-templates/${templateId}`, { model: 'claude-3' });
      assert.equal(res.status, 422, res.text);
      assert.equal(res.json.error.fields[0].path, '/model');
      const ok = await h.rest('PATCH', `/v1/prompt-templates/${templateId}`, { model: 'gpt-4o-mini', parameters: { temperature: 1 } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json.parameters, { temperature: 1 });
    });

    it('deleting a provider is refused while a template uses it, then allowed once the template is gone', async () => {
      const refused = await h.rest('DELETE', `/v1/ai-providers/${providerId}`);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.json.error.code, 'TP_ERR_IN_USE');
      assert.match(refused.json.error.message, new RegExp(`prompt template ${templateId}`));
      assert.equal((await h.rest('DELETE', `/v1/prompt-templates/${templateId}`)).status, 204);
      assert.equal((await h.rest('DELETE', `/v1/ai-providers/${providerId}`)).status, 204);
      assert.equal((await h.rest('GET', `/v1/ai-providers/${providerId}`)).status, 404);
      await waitFor('provider removed from KV', async () => (await h.bus.get(entityKey('ai_providers', providerId))) === null);
    });
  });

  describe('services with an AI integration', () => {
    it('must name providers and a template that exist; those cannot be deleted while a service names them', async () => {
      const p = await h.rest('POST', '/v1/ai-providers', { name: 'svc-ai', type: 'openai', api_key: 'sk-svc-0123456789abcdef' });
      assert.equal(p.status, 201, p.text);
      const t = await h.rest('POST', '/v1/prompt-templates', { name: 'svc-tpl', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(t.status, 201, t.text);
      const missing = '00000000-0000-4000-8000-00000000a1a1';
      const bad = await h.rest('POST', '/v1/services', { name: 'ai-bad', integration: { type: 'ai', provider_ids: [p.json.id, missing], prompt_template_id: missing } });
      assert.equal(bad.status, 422, bad.text);
      assert.deepEqual(bad.json.error.fields.map((f: { path: string }) => f.path), ['/integration/provider_ids/1', '/integration/prompt_template_id']);
      const svc = await h.rest('POST', '/v1/services', {
        name: 'ai-svc',
        integration: { type: 'ai', provider_ids: [p.json.id.toUpperCase()], prompt_template_id: t.json.id.toUpperCase() },
      });
      assert.equal(svc.status, 201, svc.text);
      for (const path of [`/v1/ai-providers/${p.json.id}`, `/v1/prompt-templates/${t.json.id}`]) {
        const refused = await h.rest('DELETE', path);
        assert.equal(refused.status, 409, refused.text);
        assert.match(refused.json.error.message, /ai-svc/);
      }
      const patched = await h.rest('PATCH', `/v1/services/${svc.json.id}`, { integration: { type: 'ai', provider_ids: [missing] } });
      assert.equal(patched.status, 422, patched.text);
      assert.equal((await h.rest('DELETE', `/v1/services/${svc.json.id}`)).status, 204);
      assert.equal((await h.rest('DELETE', `/v1/prompt-templates/${t.json.id}`)).status, 204);
      assert.equal((await h.rest('DELETE', `/v1/ai-providers/${p.json.id}`)).status, 204);
    });
  });
});

describe('AI providers without a keyring', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ keyring: null });
  });
  after(async () => {
    await h?.close();
  });

  it('answers 503 naming TP_SECRET_KEY when a key would have to be stored', async () => {
    const res = await h.rest('POST', '/v1/ai-providers', openaiBody('no-ring'));
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'TP_ERR_UNAVAILABLE');
    assert.match(res.json.error.message, /TP_SECRET_KEY/);
    assert.ok(!res.text.includes(OPENAI_KEY));
    assert.equal((await h.rest('GET', '/v1/ai-providers')).json.data.length, 0);
  });

  it('a provider without secrets (a local ollama) needs no keyring', async () => {
    const res = await h.rest('POST', '/v1/ai-providers', { name: 'ollama', type: 'ollama', base_url: 'http://127.0.0.1:11434' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.api_key_set, false);
  });
});

describe('AI providers and prompt templates over gRPC', { timeout: 60_000 }, () => {
  let h: Harness;
  let keyring: Keyring;
  let providers: Call;
  let templates: Call;
  const closers: Array<() => void> = [];

  before(async () => {
    keyring = keyringOf(generateSecretKey());
    h = await startHarness({ keyring });
    for (const [name, set] of [
      ['AiProviderService', (c: Call) => (providers = c)],
      ['PromptTemplateService', (c: Call) => (templates = c)],
    ] as const) {
      const made = serviceClient(h.cp.grpcPort, name, h.token);
      closers.push(made.close);
      set(made.call);
    }
  });
  after(async () => {
    closers.forEach((close) => close());
    await h?.close();
  });

  it('creates, updates (rotating the key) and lists a provider, never returning the key', async () => {
    const created = await providers('CreateAiProvider', {
      name: 'grpc-openai',
      type: 'openai',
      api_key: OPENAI_KEY,
      headers: { 'OpenAI-Organization': 'org-123' },
      models: [{ name: 'gpt-4o', input_cost_per_mtok: 2.5, output_cost_per_mtok: 10, cached_input_cost_per_mtok: 1.25, context_window: 128000, aliases: ['latest'] }],
      default_model: 'latest',
    });
    assert.equal(created.api_key_set, true);
    assert.equal(created.api_key_last4, 'WXYZ');
    assert.equal(created.api_key, undefined);
    assert.deepEqual(created.headers, { 'OpenAI-Organization': 'org-123' });
    assert.equal(created.timeout_ms, 120000);
    const id = String(created.id);
    const rest = await h.rest('GET', `/v1/ai-providers/${id}`);
    assert.deepEqual(rest.json.models, created.models);
    assert.equal(rest.json.models[0].cached_input_cost_per_mtok, 1.25);

    const kept = await providers('UpdateAiProvider', { id, ai_provider: { timeout_ms: 5000 } });
    assert.equal(kept.api_key_last4, 'WXYZ');
    const rotated = await providers('UpdateAiProvider', { id, ai_provider: { api_key: ROTATED_KEY }, update_mask: ['api_key'] });
    assert.equal(rotated.api_key_last4, '9876');
    assert.ok(!JSON.stringify(rotated).includes(ROTATED_KEY));
    const kv = await kvData(h, 'ai_providers', id, (d) => d.api_key_last4 === '9876');
    assert.equal(open(keyring, (kv.data as unknown as AiProviderConfig).secret.api_key!, id), ROTATED_KEY);
    // Naming api_key in the mask without a value removes it, which openai does not allow.
    const refused = await failure(providers('UpdateAiProvider', { id, ai_provider: {}, update_mask: ['api_key'] }));
    assert.equal(refused.code, status.FAILED_PRECONDITION);
    assert.match(refused.details, /api_key/);

    const list = await providers('ListAiProviders', { type: 'openai' });
    assert.deepEqual((list.data as Array<{ id: string }>).map((p) => p.id), [id]);
  });

  it('creates a template and reports placeholder errors and models not offered', async () => {
    const provider = await providers('CreateAiProvider', {
      name: 'grpc-anthropic',
      type: 'anthropic',
      api_key: OPENAI_KEY,
      models: [{ name: 'claude-3-5-haiku', input_cost_per_mtok: 0.8, output_cost_per_mtok: 4 }],
    });
    const body = {
      name: 'grpc-template',
      provider_id: provider.id,
      model: 'claude-3-5-haiku',
      messages: [{ role: 'user', content: 'Translate {{ text }} into {{ lang }}' }],
      variables: [{ name: 'text', max_length: 1000 }, { name: 'lang', default: 'French', required: false }],
      parameters: { temperature: 0.5, stop: ['END'] },
    };
    const t = await templates('CreatePromptTemplate', body);
    assert.equal(t.provider_id, provider.id);
    assert.deepEqual(t.variables, [
      { name: 'text', max_length: 1000, required: true },
      { name: 'lang', default: 'French', required: false },
    ]);
    assert.deepEqual(t.parameters, { temperature: 0.5, stop: ['END'] });
    const undeclared = await failure(templates('CreatePromptTemplate', { ...body, name: 'g2', messages: [{ role: 'user', content: '{{ nope }}' }] }));
    assert.equal(undeclared.code, status.FAILED_PRECONDITION);
    assert.match(undeclared.details, /messages\/0\/content/);
    const model = await failure(templates('CreatePromptTemplate', { ...body, name: 'g3', model: 'gpt-4o' }));
    assert.equal(model.code, status.FAILED_PRECONDITION);
    assert.match(model.details, /model/);
    const inUse = await failure(providers('DeleteAiProvider', { id: provider.id }));
    assert.equal(inUse.code, status.ABORTED);
  });
});
