import { test } from 'node:test';
import assert from 'node:assert/strict';
import { periodEnd, periodStart } from './periods.js';

const t = (iso: string): number => Date.parse(iso);

test('a day runs from 00:00 UTC to the next 00:00 UTC', () => {
  assert.equal(periodStart('day', t('2026-12-06T23:59:59.999Z')), t('2026-12-06T00:00:00Z'));
  assert.equal(periodStart('day', t('2026-12-07T00:00:00Z')), t('2026-12-07T00:00:00Z'));
  assert.equal(periodEnd('day', t('2026-12-06T00:00:00Z')), t('2026-12-07T00:00:00Z'));
});

test('an ISO week starts on Monday 00:00 UTC, Sunday belongs to the week before', () => {
  // 2026-12-07 is a Monday; 2026-12-06 a Sunday.
  assert.equal(periodStart('week', t('2026-12-06T12:00:00Z')), t('2026-11-30T00:00:00Z'));
  assert.equal(periodStart('week', t('2026-12-07T00:00:00Z')), t('2026-12-07T00:00:00Z'));
  assert.equal(periodStart('week', t('2026-12-13T23:59:59Z')), t('2026-12-07T00:00:00Z'));
  assert.equal(periodEnd('week', t('2026-12-07T00:00:00Z')), t('2026-12-14T00:00:00Z'));
  // Across a year boundary: 2027-01-01 is a Friday, its week began Monday 2026-12-28.
  assert.equal(periodStart('week', t('2027-01-01T08:00:00Z')), t('2026-12-28T00:00:00Z'));
});

test('a month is the calendar month in UTC, of any length', () => {
  assert.equal(periodStart('month', t('2026-12-31T23:59:59Z')), t('2026-12-01T00:00:00Z'));
  assert.equal(periodEnd('month', t('2026-12-01T00:00:00Z')), t('2027-01-01T00:00:00Z'));
  assert.equal(periodEnd('month', t('2028-02-01T00:00:00Z')), t('2028-03-01T00:00:00Z'));
  assert.equal(periodStart('month', t('2028-02-29T12:00:00Z')), t('2028-02-01T00:00:00Z'));
});

test('a time zone other than UTC does not move the boundaries', () => {
  // Local midnight in UTC+14 is still the previous UTC day.
  assert.equal(periodStart('day', t('2026-12-07T00:30:00+14:00')), t('2026-12-06T00:00:00Z'));
});
