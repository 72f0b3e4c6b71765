import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TurnpikeError } from '@turnpike/common';
import { parseCallsFilter } from './analytics.js';

describe('analytics query parameters', { timeout: 5_000 }, () => {
  it('accepts ms epoch and ISO times, uuids, status and status classes', () => {
    const f = parseCallsFilter(
      { from: '1700000000000', to: '2023-11-14T22:20:00Z', service_id: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', status: '404', status_class: '5xx', limit: '10' },
      true,
    );
    assert.deepEqual(f, {
      from: 1700000000000,
      to: Date.parse('2023-11-14T22:20:00Z'),
      service_id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      status: 404,
      status_class: 5,
      limit: 10,
    });
  });

  it('rejects bad values and unknown parameters with field paths', () => {
    try {
      parseCallsFilter({ from: 'yesterday', service_id: 'x', status: '42', limit: '0', colour: 'red' }, true);
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof TurnpikeError);
      assert.equal(e.status, 400);
      assert.deepEqual(e.fields!.map((f) => f.path).sort(), ['/colour', '/from', '/limit', '/service_id', '/status']);
    }
    assert.throws(() => parseCallsFilter({ from: '2000', to: '1000' }, false), TurnpikeError);
    assert.throws(() => parseCallsFilter({ limit: '5' }, false), TurnpikeError);
  });
});
