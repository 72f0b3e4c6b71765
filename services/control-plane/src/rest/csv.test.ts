import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, toCsv } from './csv.js';

describe('csv', () => {
  it('quotes commas, quotes and line breaks (RFC 4180)', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('cr\r'), '"cr\r"');
    assert.equal(csvField(42), '42');
    assert.equal(csvField(undefined), '');
  });

  it('defuses spreadsheet formulas in text fields, not in numbers', () => {
    assert.equal(csvField('=HYPERLINK("x")'), '"\'=HYPERLINK(""x"")"');
    assert.equal(csvField('@sum'), "'@sum");
    assert.equal(csvField(-5), '-5');
  });

  it('writes a header and rows in column order with CRLF', () => {
    const body = toCsv(['a', 'b'], [{ b: 'x,y', a: 1 }, { a: 2 }]);
    assert.equal(body, 'a,b\r\n1,"x,y"\r\n2,\r\n');
  });
});
