// Versioned prompt templates over real HTTP, PostgreSQL and NATS KV: a write that changes what the model is
// sent makes a new immutable version (a tags- or description-only write does not); the versions list (newest
// first, paged) and single versions with their 404/400; services pinning a version (422 for a version that
// does not exist or without a template); the KV entry carrying the current and the pinned versions only,
// re-published as pins come and go; restore as a new version; the same over gRPC; templates stored before
// the migration become their own version 1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey } from '@turnpike/common';
import { createTestDatabase, waitFor } from '@turnpike/common/testing';
import { connectPostgres } from '../src/db/connect.js';
import { loadMigrations, migrate } from '../src/db/migrate.js';
import { status } from '@grpc/grpc-js';
import { adminClients, failure, serviceClient } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

type Obj = Record<string, unknown>;

/** The KV data of the template once `until` holds (polls). */
async function kvTemplate(h: Harness, id: string, until: (d: Obj) => boolean): Promise<Obj> {
  return await waitFor(`prompt_templates.${id} in KV`, async () => {
    const raw = await h.bus.get(entityKey('prompt_templates', id));
    if (raw === null) return null;
    const data = (JSON.parse(raw) as { data: Obj }).data;
    return until(data) ? data : null;
  });
}

const publishedVersions = (d: Obj): number[] => ((d.versions ?? []) as Array<{ version: number }>).map((v) => v.version);

describe('prompt template versions', { timeout: 90_000 }, () => {
  let h: Harness;
  let id = '';
  const v1 = {
    name: 'greeter',
    messages: [{ role: 'user', content: 'Say hello to {{ who }}' }],
    variables: [{ name: 'who' }],
    parameters: { temperature: 0.1 },
  };

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  it('create is version 1; tags, name and description edits keep the version; content edits make new ones', async () => {
    const created = await h.rest('POST', '/v1/prompt-templates', v1);
    assert.equal(created.status, 201, created.text);
    id = created.json.id;
    assert.equal(created.json.version, 1);
    assert.equal(created.json.versions_count, 1);

    const tagged = await h.rest('PATCH', `/v1/prompt-templates/${id}`, { tags: ['team-a'], description: 'greets', name: 'greeter-2' });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal(tagged.json.version, 1, 'no content change, no version');
    assert.equal(tagged.json.versions_count, 1);
    assert.equal(tagged.headers.get('etag'), '"2"', 'the ETag still counts every write');
    // A full replacement with the same content (defaults filled in the same way) is no change either.
    const same = await h.rest('PUT', `/v1/prompt-templates/${id}`, { ...v1, name: 'greeter', tags: ['team-a'] });
    assert.equal(same.status, 200, same.text);
    assert.equal(same.json.version, 1);

    const v2 = await h.rest('PATCH', `/v1/prompt-templates/${id}`, { messages: [{ role: 'user', content: 'Say hi to {{ who }}' }] });
    assert.equal(v2.json.version, 2);
    assert.equal(v2.json.versions_count, 2);
    const v3 = await h.rest('PATCH', `/v1/prompt-templates/${id}`, { parameters: { temperature: 0.9 } });
    assert.equal(v3.json.version, 3);
    const v4 = await h.rest('PATCH', `/v1/prompt-templates/${id}`, { model: 'some-model' });
    assert.equal(v4.json.version, 4);
    assert.equal(v4.json.versions_count, 4);
    assert.equal((await h.rest('GET', `/v1/prompt-templates/${id}`)).json.version, 4);

    const kv = await kvTemplate(h, id, (d) => d.version === 4);
    assert.deepEqual(publishedVersions(kv), [4], 'no service pins one: only the current version travels');
    assert.equal(kv.model, 'some-model');
  });

  it('lists versions newest first, paged, and gets one (404 unknown, 400 not a number)', async () => {
    const all = await h.rest('GET', `/v1/prompt-templates/${id}/versions`);
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json.data.map((v: Obj) => v.version), [4, 3, 2, 1]);
    assert.equal(all.json.next_cursor, null);
    const p1 = await h.rest('GET', `/v1/prompt-templates/${id}/versions?limit=3`);
    assert.deepEqual(p1.json.data.map((v: Obj) => v.version), [4, 3, 2]);
    const p2 = await h.rest('GET', `/v1/prompt-templates/${id}/versions?limit=3&cursor=${p1.json.next_cursor}`);
    assert.deepEqual(p2.json.data.map((v: Obj) => v.version), [1]);
    assert.equal(p2.json.next_cursor, null);

    const one = await h.rest('GET', `/v1/prompt-templates/${id}/versions/1`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json.messages, v1.messages);
    assert.deepEqual(one.json.variables, [{ name: 'who', required: true }]);
    assert.deepEqual(one.json.parameters, { temperature: 0.1 });
    assert.equal(one.json.model, null);
    assert.equal(one.json.provider_id, null);
    assert.equal(one.json.template_id, id);
    assert.match(one.json.created_at, /^\d{4}-/);

    const missing = await h.rest('GET', `/v1/prompt-templates/${id}/versions/5`);
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json.error.code, 'TP_ERR_NOT_FOUND');
    assert.equal((await h.rest('GET', `/v1/prompt-templates/${id}/versions/zero`)).status, 400);
    const noTemplate = '00000000-0000-4000-8000-00000000beef';
    assert.equal((await h.rest('GET', `/v1/prompt-templates/${noTemplate}/versions`)).status, 404);
    assert.equal((await h.rest('GET', `/v1/prompt-templates/${noTemplate}/versions/1`)).status, 404);
  });

  it('services pin existing versions only (422 at /integration/prompt_template_version); the KV entry follows the pins', async () => {
    const p = await h.rest('POST', '/v1/ai-providers', { name: 'local', type: 'ollama', base_url: 'http://127.0.0.1:11434' });
    assert.equal(p.status, 201, p.text);
    const ai = (extra: Obj): Obj => ({ type: 'ai', provider_ids: [p.json.id], ...extra });

    const unknown = await h.rest('POST', '/v1/services', { name: 'pin-bad', integration: ai({ prompt_template_id: id, prompt_template_version: 9 }) });
    assert.equal(unknown.status, 422, unknown.text);
    assert.deepEqual(unknown.json.error.fields.map((f: Obj) => f.path), ['/integration/prompt_template_version']);
    assert.match(unknown.json.error.fields[0].message, /no version 9/);
    const orphan = await h.rest('POST', '/v1/services', { name: 'pin-orphan', integration: ai({ prompt_template_version: 1 }) });
    assert.equal(orphan.status, 422, orphan.text);
    assert.deepEqual(orphan.json.error.fields.map((f: Obj) => f.path), ['/integration/prompt_template_version']);
    const zero = await h.rest('POST', '/v1/services', { name: 'pin-zero', integration: ai({ prompt_template_id: id, prompt_template_version: 0 }) });
    assert.equal(zero.status, 400, zero.text);

    const pinned = await h.rest('POST', '/v1/services', { name: 'pin-2', integration: ai({ prompt_template_id: id, prompt_template_version: 2 }) });
    assert.equal(pinned.status, 201, pinned.text);
    assert.equal(pinned.json.integration.prompt_template_version, 2);
    const kv = await kvTemplate(h, id, (d) => publishedVersions(d).includes(2));
    assert.deepEqual(publishedVersions(kv), [2, 4]);
    const v2 = (kv.versions as Obj[])[0]!;
    assert.deepEqual(v2.messages, [{ role: 'user', content: 'Say hi to {{ who }}' }]);
    assert.deepEqual(v2.parameters, { temperature: 0.1 });
    assert.equal(kv.version, 4);

    // Another pin, then moving the first one: each re-publishes the template.
    const other = await h.rest('POST', '/v1/services', { name: 'pin-1', integration: ai({ prompt_template_id: id, prompt_template_version: 1 }) });
    assert.equal(other.status, 201, other.text);
    await kvTemplate(h, id, (d) => publishedVersions(d).join() === '1,2,4');
    const moved = await h.rest('PATCH', `/v1/services/${pinned.json.id}`, { integration: ai({ prompt_template_id: id, prompt_template_version: 3 }) });
    assert.equal(moved.status, 200, moved.text);
    await kvTemplate(h, id, (d) => publishedVersions(d).join() === '1,3,4');
    const badMove = await h.rest('PATCH', `/v1/services/${pinned.json.id}`, { integration: ai({ prompt_template_id: id, prompt_template_version: 5 }) });
    assert.equal(badMove.status, 422, badMove.text);
    assert.deepEqual(badMove.json.error.fields.map((f: Obj) => f.path), ['/integration/prompt_template_version']);

    // A content edit moves the current version; the pinned ones stay.
    const v5 = await h.rest('PATCH', `/v1/prompt-templates/${id}`, { model: 'another-model' });
    assert.equal(v5.json.version, 5);
    await kvTemplate(h, id, (d) => publishedVersions(d).join() === '1,3,5');

    // Unpinning (following the current version) and deleting a pinned service drop their versions.
    const unpinned = await h.rest('PATCH', `/v1/services/${pinned.json.id}`, { integration: ai({ prompt_template_id: id }) });
    assert.equal(unpinned.status, 200, unpinned.text);
    assert.equal(unpinned.json.integration.prompt_template_version, undefined);
    await kvTemplate(h, id, (d) => publishedVersions(d).join() === '1,5');
    assert.equal((await h.rest('DELETE', `/v1/services/${other.json.id}`)).status, 204);
    await kvTemplate(h, id, (d) => publishedVersions(d).join() === '5');
    assert.equal((await h.rest('DELETE', `/v1/services/${pinned.json.id}`)).status, 204);
  });

  it('restore makes a new version equal to the old one; restoring the current content changes nothing', async () => {
    const restored = await h.rest('POST', `/v1/prompt-templates/${id}/versions/1/restore`);
    assert.equal(restored.status, 200, restored.text);
    assert.equal(restored.json.version, 6);
    assert.equal(restored.json.versions_count, 6);
    assert.deepEqual(restored.json.messages, v1.messages);
    assert.deepEqual(restored.json.parameters, v1.parameters);
    assert.equal(restored.json.model, null);
    assert.equal(restored.json.name, 'greeter', 'fields outside the content are kept');
    const six = await h.rest('GET', `/v1/prompt-templates/${id}/versions/6`);
    const one = await h.rest('GET', `/v1/prompt-templates/${id}/versions/1`);
    const content = (v: Obj): Obj => ({ ...v, version: 0, created_at: '' });
    assert.deepEqual(content(six.json), content(one.json));

    const again = await h.rest('POST', `/v1/prompt-templates/${id}/versions/6/restore`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.version, 6);
    assert.equal(again.json.versions_count, 6);
    assert.equal(again.headers.get('etag'), restored.headers.get('etag'), 'no write happened');

    assert.equal((await h.rest('POST', `/v1/prompt-templates/${id}/versions/7/restore`)).status, 404);
    const stale = await h.rest('POST', `/v1/prompt-templates/${id}/versions/2/restore`, undefined, { 'if-match': '"1"' });
    assert.equal(stale.status, 412, stale.text);
    await kvTemplate(h, id, (d) => d.version === 6 && publishedVersions(d).join() === '6');
  });
});

describe('prompt template versions over gRPC', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  it('shows template_version beside the concurrency version, lists, gets and restores versions; services pin one', async () => {
    const templates = serviceClient(h.cp.grpcPort, 'PromptTemplateService', h.token);
    const admin = adminClients(h.cp.grpcPort, h.token);
    try {
      const t = await templates.call('CreatePromptTemplate', { name: 'g', messages: [{ role: 'user', content: 'one' }] });
      const id = String(t.id);
      assert.equal(t.template_version, 1);
      assert.equal(t.versions_count, 1);
      assert.equal(t.version, 1, 'version is the concurrency counter, as for every kind');
      const tagged = await templates.call('UpdatePromptTemplate', { id, prompt_template: { tags: ['x'] }, update_mask: ['tags'] });
      assert.equal(tagged.template_version, 1);
      assert.equal(tagged.version, 2);
      const two = await templates.call('UpdatePromptTemplate', { id, prompt_template: { messages: [{ role: 'user', content: 'two' }] }, update_mask: ['messages'] });
      assert.equal(two.template_version, 2);
      assert.equal(two.versions_count, 2);

      const list = await templates.call('ListPromptTemplateVersions', { id, limit: 1 });
      assert.deepEqual((list.data as Obj[]).map((v) => v.version), [2]);
      const rest = await templates.call('ListPromptTemplateVersions', { id, cursor: list.next });
      assert.deepEqual((rest.data as Obj[]).map((v) => v.version), [1]);
      assert.equal(rest.next, '');
      const v1 = await templates.call('GetPromptTemplateVersion', { id, version: 1 });
      assert.deepEqual(v1.messages, [{ role: 'user', content: 'one' }]);
      assert.equal(v1.template_id, id);
      assert.equal((await failure(templates.call('GetPromptTemplateVersion', { id, version: 3 }))).code, status.NOT_FOUND);
      assert.equal((await failure(templates.call('GetPromptTemplateVersion', { id }))).code, status.INVALID_ARGUMENT);
      const stale = await failure(templates.call('RestorePromptTemplateVersion', { id, version: 1, expected_version: 1 }));
      assert.equal(stale.code, status.FAILED_PRECONDITION);
      const restored = await templates.call('RestorePromptTemplateVersion', { id, version: 1, expected_version: 3 });
      assert.equal(restored.template_version, 3);
      assert.deepEqual(restored.messages, [{ role: 'user', content: 'one' }]);

      const svc = await admin.services('CreateService', { name: 'pinned', integration: { type: 'ai', provider_ids: [], prompt_template_id: id, prompt_template_version: 2 } });
      assert.equal((svc.integration as Obj).prompt_template_version, 2);
      assert.equal((await h.rest('GET', `/v1/services/${String(svc.id)}`)).json.integration.prompt_template_version, 2);
      const bad = await failure(admin.services('CreateService', { name: 'pinned-bad', integration: { type: 'ai', provider_ids: [], prompt_template_id: id, prompt_template_version: 4 } }));
      assert.equal(bad.code, status.FAILED_PRECONDITION);
      assert.match(bad.details, /prompt_template_version/);
    } finally {
      templates.close();
      admin.close();
    }
  });
});

describe('migration 015: templates written before versions', { timeout: 30_000 }, () => {
  it('each existing template becomes version 1 of itself, with its content', async () => {
    const db = await createTestDatabase('tp_cp_ptv');
    const sql = connectPostgres(db.url, 1);
    try {
      const all = loadMigrations();
      const at = all.findIndex((m) => m.name === 'prompt_template_versions');
      assert.ok(at > 0);
      await migrate(sql, all.slice(0, at));
      const id = '44444444-4444-4444-8444-444444444444';
      const doc = { name: 'old', description: '', provider_id: null, model: 'm', messages: [{ role: 'user', content: 'hi {{ x }}' }], variables: [{ name: 'x', required: true }], parameters: { top_p: 0.5 }, tags: ['t'] };
      await sql`INSERT INTO resources (id, tenant_id, kind, name, doc, revision, created_at, updated_at)
        VALUES (${id}, '00000000-0000-4000-8000-000000000001', 'prompt_templates', 'old', ${sql.json(doc)}, 1, now(), now())`;
      await migrate(sql);
      const [row] = await sql<{ doc: Obj }[]>`SELECT doc FROM resources WHERE id = ${id}`;
      assert.equal(row!.doc.version, 1);
      assert.equal(row!.doc.versions_count, 1);
      const versions = await sql<{ version: number; content: Obj }[]>`SELECT version, content FROM prompt_template_versions WHERE template_id = ${id}`;
      assert.deepEqual(versions.map((v) => v.version), [1]);
      assert.deepEqual(versions[0]!.content, { messages: doc.messages, variables: doc.variables, parameters: doc.parameters, model: 'm', provider_id: null });
    } finally {
      await sql.end();
      await db.drop();
    }
  });
});
