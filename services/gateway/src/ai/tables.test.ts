// Prompt templates in the AI tables: each published version compiled under its number, the current one
// apart; a version that cannot be compiled is reported without losing the others.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileAiTables } from './tables.js';

const ID = '33333333-3333-4333-8333-333333333333';
const content = (version: number, text: string) => ({
  version,
  provider_id: null,
  model: null,
  messages: [{ role: 'user', content: `${text} {{ who }}` }],
  variables: [{ name: 'who', required: true }],
  parameters: {},
});
const entry = (data: Record<string, unknown>) => ({ key: `prompt_templates.${ID}`, id: ID, data: { id: ID, name: 'greet', ...data } });

describe('compileAiTables: prompt template versions', () => {
  it('compiles the current version and every published one by number', () => {
    const v1 = content(1, 'Hello');
    const v3 = content(3, 'Bye');
    const { tables, problems } = compileAiTables([], [entry({ ...v3, versions: [v1, v3] })], null);
    assert.deepEqual(problems, []);
    const t = tables.templates.get(ID)!;
    assert.equal(t.current.version, 3);
    assert.deepEqual([...t.byVersion.keys()].sort(), [1, 3]);
    assert.equal(t.byVersion.get(3), t.current);
    assert.deepEqual(t.byVersion.get(1)!.template.render({ who: 'Ada' }), [{ role: 'user', content: 'Hello Ada' }]);
    assert.deepEqual(t.current.template.render({ who: 'Ada' }), [{ role: 'user', content: 'Bye Ada' }]);
    assert.equal(t.byVersion.get(2), undefined);
  });

  it('an entry without versions (an older control plane) is its own version 1', () => {
    const { version: _v, ...plain } = content(1, 'Hi');
    const { tables } = compileAiTables([], [entry(plain)], null);
    const t = tables.templates.get(ID)!;
    assert.equal(t.current.version, 1);
    assert.deepEqual([...t.byVersion.keys()], [1]);
  });

  it('a pinned version that cannot be compiled is reported; the current one still serves', () => {
    const broken = { ...content(1, 'x'), messages: [{ role: 'user', content: 'Hello {{ who' }] };
    const v2 = content(2, 'Hi');
    const { tables, problems } = compileAiTables([], [entry({ ...v2, versions: [broken, v2] })], null);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.reason, /version 1/);
    const t = tables.templates.get(ID)!;
    assert.equal(t.current.version, 2);
    assert.equal(t.byVersion.get(1), undefined);
  });
});
