import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executionLevels } from './execute.js';
import type { Operation } from './plan.js';

const op = (action: 'create' | 'update' | 'delete', kind: 'upstream' | 'service' | 'route', name: string): Operation =>
  action === 'create'
    ? { action, kind, name, spec: { name } as never }
    : action === 'update'
      ? { action, kind, name, id: name, changes: [], mode: 'patch', spec: { name } as never }
      : { action, kind, name, id: name };

test('levels: runs of one kind and action class in plan order, updates before creates within a run', () => {
  const plan = [
    op('create', 'upstream', 'u1'),
    op('create', 'upstream', 'u2'),
    op('create', 'service', 's1'),
    op('delete', 'route', 'old'),
    op('create', 'route', 'r1'),
    op('update', 'route', 'r2'),
    op('create', 'route', 'r3'),
    op('delete', 'service', 'gone'),
  ];
  assert.deepEqual(
    executionLevels(plan).map((l) => l.map((o) => o.name)),
    [['u1', 'u2'], ['s1'], ['old'], ['r2'], ['r1', 'r3'], ['gone']],
  );
  assert.deepEqual(executionLevels([]), []);
});
