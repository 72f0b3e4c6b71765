import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowBinaryWriter } from './row-binary.js';

/** Reads one LEB128 length-prefixed string at `off`: [string, next offset]. */
function readString(b: Buffer, off: number): [string, number] {
  let n = 0;
  let shift = 0;
  for (;;) {
    const byte = b[off++]!;
    n += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  return [b.toString('utf8', off, off + n), off + n];
}

test('strings: LEB128 byte length (not UTF-16 length) then UTF-8, across the prefix sizes', () => {
  const values = ['', 'a', 'x'.repeat(127), 'x'.repeat(128), 'é'.repeat(63), 'é'.repeat(64), '😀'.repeat(32), 'y'.repeat(16_383), 'y'.repeat(16_384), 'z'.repeat(300_000)];
  const w = new RowBinaryWriter(8);
  for (const v of values) w.string(v);
  const b = w.bytes();
  let off = 0;
  for (const v of values) {
    const [got, next] = readString(b, off);
    assert.equal(got, v, `a string of ${v.length} UTF-16 units`);
    off = next;
  }
  assert.equal(off, b.length);
  // 128 bytes take a two-byte prefix: 0x80 0x01.
  const one = new RowBinaryWriter();
  one.string('x'.repeat(128));
  assert.deepEqual([...one.bytes().subarray(0, 2)], [0x80, 0x01]);
  // 'é' x 64 is 128 bytes: the byte count, not the character count, decides the prefix.
  const two = new RowBinaryWriter();
  two.string('é'.repeat(64));
  assert.deepEqual([...two.bytes().subarray(0, 2)], [0x80, 0x01]);
});

test('a lone surrogate is written as U+FFFD (valid UTF-8 for ClickHouse)', () => {
  const w = new RowBinaryWriter();
  w.string('a\uD800b');
  assert.equal(readString(w.bytes(), 0)[0], 'a\uFFFDb');
});

test('numbers: little-endian at the column width; UInt64 past 2^32 and up to 2^53', () => {
  const w = new RowBinaryWriter(4);
  w.uint16(65535);
  w.uint32(0xfffffffe);
  w.uint64(2 ** 32 + 5);
  w.uint64(Number.MAX_SAFE_INTEGER);
  w.float64(-0.5);
  const b = w.bytes();
  assert.equal(b.length, 2 + 4 + 8 + 8 + 8);
  assert.equal(b.readUInt16LE(0), 65535);
  assert.equal(b.readUInt32LE(2), 0xfffffffe);
  assert.equal(b.readBigUInt64LE(6), 2n ** 32n + 5n);
  assert.equal(b.readBigUInt64LE(14), BigInt(Number.MAX_SAFE_INTEGER));
  assert.equal(b.readDoubleLE(22), -0.5);
});
