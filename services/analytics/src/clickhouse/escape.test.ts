import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, ident, float, dateTime, join, literal, quoteString, Sql, SqlBindError, type SqlValue } from './escape.js';

test('strings are quoted with backslash escapes for backslash, quote and control characters', () => {
  assert.equal(quoteString('plain'), "'plain'");
  assert.equal(quoteString(''), "''");
  assert.equal(quoteString("O'Brien"), "'O\\'Brien'");
  assert.equal(quoteString('a\\b'), "'a\\\\b'");
  assert.equal(quoteString('l1\nl2\r\t\0'), "'l1\\nl2\\r\\t\\0'");
  assert.equal(quoteString('\u0001\u001f\u007f'), "'\\x01\\x1f\\x7f'");
  assert.equal(quoteString('é😀'), "'é😀'");
});

test('injection attempts stay inside one string literal', () => {
  const attempts = [
    "x' OR 1=1 --",
    "x\\' OR 1=1 --",
    "'; DROP TABLE calls; --",
    "\\'; DROP DATABASE turnpike; --",
    "x\\",
    "x\\\\' UNION SELECT 1 --",
    "a\nSELECT 1",
    '`; DROP TABLE calls',
  ];
  for (const a of attempts) {
    const q = sql`SELECT * FROM t WHERE s = ${a}`.text;
    const lit = q.slice('SELECT * FROM t WHERE s = '.length);
    // The literal is one quoted token: it starts and ends with a quote and every inner quote is escaped.
    assert.ok(lit.startsWith("'") && lit.endsWith("'"), lit);
    const inner = lit.slice(1, -1);
    let i = 0;
    while (i < inner.length) {
      if (inner[i] === '\\') {
        i += 2;
        continue;
      }
      assert.notEqual(inner[i], "'", `unescaped quote in ${lit}`);
      assert.notEqual(inner[i], '\n', `raw newline in ${lit}`);
      i++;
    }
    assert.equal(i, inner.length, `literal ends inside an escape: ${lit}`);
  }
});

test('numbers must be safe integers unless passed through float()', () => {
  assert.equal(sql`LIMIT ${100}`.text, 'LIMIT 100');
  assert.equal(sql`${-5}`.text, '-5');
  assert.equal(sql`${0}`.text, '0');
  assert.equal(sql`${-0}`.text, '0');
  for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
    assert.throws(() => sql`${bad}`, SqlBindError);
  }
  assert.equal(sql`${12345678901234567890n}`.text, '12345678901234567890');
  assert.equal(float(1.5).text, '1.5');
  assert.equal(float(-0.001).text, '-0.001');
  assert.equal(float(1e21).text, '1e+21');
  for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => float(bad), SqlBindError);
  assert.throws(() => float('1' as unknown as number), SqlBindError);
});

test('booleans and arrays', () => {
  assert.equal(sql`${true}, ${false}`.text, '1, 0');
  assert.equal(sql`IN ${['a', "b'c"]}`.text, "IN ['a', 'b\\'c']");
  assert.equal(sql`${[1, 2, [3]]}`.text, '[1, 2, [3]]');
  assert.equal(sql`${[]}`.text, '[]');
  assert.throws(() => sql`${[1, 1.5]}`, SqlBindError);
});

test('DateTime from milliseconds is a time-zone free toDateTime(<seconds>)', () => {
  assert.equal(dateTime(1700000000999).text, 'toDateTime(1700000000)');
  assert.equal(dateTime(0).text, 'toDateTime(0)');
  for (const bad of [-1, NaN, Infinity, 2 ** 32 * 1000]) assert.throws(() => dateTime(bad), SqlBindError);
});

test('identifiers are validated and backquoted', () => {
  assert.equal(ident('turnpike').text, '`turnpike`');
  assert.equal(ident('tp_test_1ab').text, '`tp_test_1ab`');
  for (const bad of ['', '1abc', 'a-b', 'a b', 'a`b', 'db.calls', "x'; DROP", 'a'.repeat(129), 'é']) {
    assert.throws(() => ident(bad), SqlBindError, bad);
  }
});

test('fragments compose and only typed values are accepted', () => {
  const where = join([sql`a = ${1}`, sql`b = ${'x'}`], ' AND ');
  assert.equal(sql`SELECT 1 FROM ${ident('t')} WHERE ${where}`.text, "SELECT 1 FROM `t` WHERE a = 1 AND b = 'x'");
  for (const bad of [null, undefined, {}, new Date(0), Symbol('s'), () => 1]) {
    assert.throws(() => literal(bad as unknown as SqlValue), SqlBindError);
  }
  // A Sql cannot be forged from outside: the constructor needs a private token.
  assert.throws(() => new Sql('1; DROP TABLE t', Symbol('sql') as never), TypeError);
});
