import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Operation } from './plan.js';
import { ApplyProgress, DETAILED_UP_TO } from './progress.js';

const route = (name: string): Operation => ({ action: 'create', kind: 'route', name, spec: { name } as never });
const key = (consumer: string): Operation => ({ action: 'create', kind: 'key', consumer, name: 'main' });

test('few operations: one line each, the generated key under its line', () => {
  const lines: string[] = [];
  const p = new ApplyProgress({ total: 2, print: (l) => lines.push(l) });
  p.operationDone(route('a'), {});
  p.operationDone(key('acme'), { generatedKey: 'tp_k' });
  p.flush();
  assert.deepEqual(lines, ['[1/2] created route "a"', '[2/2] created key "main" of consumer "acme"', '      key: tp_k  (shown once: store it now)']);
});

test('many operations: a line per kind, a counter every interval, generated keys always shown', () => {
  const lines: string[] = [];
  let now = 0;
  const total = DETAILED_UP_TO + 10;
  const p = new ApplyProgress({ total, print: (l) => lines.push(l), intervalMs: 1_000, now: () => now });
  for (let i = 0; i < DETAILED_UP_TO; i++) {
    now += 50;
    p.operationDone(route(`r${i}`), {});
  }
  for (let i = 0; i < 10; i++) p.operationDone(key(`c${i}`), i === 0 ? { generatedKey: 'tp_once' } : {});
  p.flush();
  assert.deepEqual(lines, [
    `[20/${total}] routes: 20 created so far`,
    `[40/${total}] routes: 40 created so far`,
    `[${DETAILED_UP_TO}/${total}] routes: ${DETAILED_UP_TO} created`,
    '      key: tp_once  (shown once: store it now) for key "main" of consumer "c0"',
    `[${total}/${total}] keys: 10 created`,
  ]);
});
