import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallRecord, LogSink } from '@turnpike/common';
import { CallSpool } from './spool.js';
import { CallLogBatcher } from './batcher.js';
import { testRecord } from './testing.js';

const rec = testRecord;

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const batch = (ids: number[]): CallRecord[] => ids.map(rec);

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tp-spool-'));
  dirs.push(d);
  return join(d, 'call-spool');
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Replays everything, acking each batch; returns the request ids in the order handed out. */
function drain(spool: CallSpool): string[] {
  const ids: string[] = [];
  for (let b = spool.peek(); b; b = spool.peek()) {
    ids.push(...b.records.map((r) => r.request_id));
    spool.ack(b);
  }
  return ids;
}

const names = (dir: string): string[] => readdirSync(dir).sort();

describe('CallSpool', () => {
  test('replays batches in append order across segments and deletes segments once acked', () => {
    const dir = tempDir();
    const spool = new CallSpool(dir, { maxBytes: 1024 * 1024, segmentBytes: 2_000 });
    for (let i = 0; i < 20; i++) spool.append(batch(range(3, i * 3)));
    const st = spool.stats();
    assert.equal(st.records, 60);
    assert.equal(st.spooled, 60);
    assert.ok(st.segments > 3, `segments: ${st.segments}`);
    assert.equal(
      names(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0),
      st.bytes,
    );
    for (const f of names(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    // peek() hands out the same batch until it is acked.
    const first = spool.peek()!;
    assert.deepEqual(spool.peek()!.records, first.records);
    assert.deepEqual(drain(spool), range(60).map((i) => `r${i}`));
    assert.deepEqual(spool.stats(), { bytes: 0, records: 0, segments: 0, spooled: 60, replayed: 60, dropped: 0 });
    assert.deepEqual(names(dir), []);
  });

  test('batches appended while a replay runs come after it', () => {
    const spool = new CallSpool(tempDir(), { maxBytes: 1024 * 1024 });
    spool.append(batch([1, 2]));
    const b = spool.peek()!;
    spool.append(batch([3]));
    spool.ack(b);
    spool.append(batch([4]));
    assert.deepEqual(drain(spool), ['r3', 'r4']);
    assert.equal(spool.stats().replayed, 4);
  });

  test('when full, the oldest segment is deleted and its unacked records counted as dropped', () => {
    const dir = tempDir();
    const maxBytes = 8_192;
    const spool = new CallSpool(dir, { maxBytes, segmentBytes: 1_024 });
    const line = Buffer.byteLength(`1 ${JSON.stringify(batch([0]))}\n`);
    for (let i = 0; i < 200; i++) {
      spool.append(batch([i]));
      assert.ok(spool.stats().bytes <= maxBytes);
    }
    const st = spool.stats();
    assert.equal(st.spooled, 200);
    assert.equal(st.records + st.dropped, 200);
    assert.ok(st.dropped > 0);
    assert.ok(st.bytes > maxBytes - 2 * 1_024 - line, `bytes ${st.bytes}`);
    assert.equal(names(dir).length, st.segments);
    // What is left is exactly the newest records, in order.
    assert.deepEqual(drain(spool), range(st.records, 200 - st.records).map((i) => `r${i}`));
    assert.equal(spool.stats().dropped, st.dropped);
  });

  test('dropping the segment being replayed counts only its unacked records', () => {
    const spool = new CallSpool(tempDir(), { maxBytes: 4_096, segmentBytes: 512 });
    spool.append(batch([0]));
    spool.append(batch([1]));
    const b = spool.peek()!;
    spool.ack(b);
    const before = spool.stats();
    assert.equal(before.records, 1);
    // Fill until the half-replayed first segment is deleted by the bound.
    let i = 2;
    while (spool.stats().dropped === 0) spool.append(batch([i++]));
    assert.equal(spool.stats().dropped, 1);
    const ids = drain(spool);
    assert.equal(ids[0], 'r2');
    assert.equal(ids.length, i - 2);
    assert.equal(spool.stats().replayed, 1 + ids.length);
  });

  test('a batch in the sink\'s hands when the bound deletes its segment is counted by how its write ends', () => {
    for (const outcome of ['ack', 'release'] as const) {
      const spool = new CallSpool(tempDir(), { maxBytes: 8_192, segmentBytes: 1_024 });
      spool.append(batch([0, 1]));
      spool.append(batch([2]));
      spool.close(); // seals the first segment: 3 records
      const b = spool.peek()!;
      let i = 3;
      while (spool.stats().dropped === 0) spool.append(batch([i++]));
      // The first segment held 3 records; the 2 in flight are not counted yet.
      assert.equal(spool.stats().dropped, 1);
      if (outcome === 'ack') spool.ack(b);
      else spool.release(b);
      const st = spool.stats();
      assert.equal(st.replayed, outcome === 'ack' ? 2 : 0);
      assert.equal(st.dropped, outcome === 'ack' ? 1 : 3);
      // A second ack or release of it changes nothing; the rest replays in order.
      spool.ack(b);
      spool.release(b);
      assert.deepEqual(spool.stats(), st);
      const ids = drain(spool);
      assert.equal(ids[0], 'r3');
      assert.equal(spool.stats().replayed + spool.stats().dropped, i);
    }
  });

  test('a batch refused before the bound deletes its segment counts as dropped with it', () => {
    const spool = new CallSpool(tempDir(), { maxBytes: 8_192, segmentBytes: 1_024 });
    spool.append(batch([0, 1]));
    spool.append(batch([2]));
    spool.close();
    spool.release(spool.peek()!); // a failed write; the retry waits for its backoff
    let i = 3;
    while (spool.stats().dropped === 0) spool.append(batch([i++]));
    assert.equal(spool.stats().dropped, 3);
    assert.equal(drain(spool).length + 3, i);
  });

  test('a batch larger than the whole spool is dropped and counted', () => {
    const spool = new CallSpool(tempDir(), { maxBytes: 1_024 });
    spool.append(batch([1]));
    spool.append(batch(range(50)));
    assert.equal(spool.stats().dropped, 50);
    assert.deepEqual(drain(spool), ['r1']);
  });

  test('a new spool on the same directory replays what the previous one left, then newer batches', () => {
    const dir = tempDir();
    const a = new CallSpool(dir, { segmentBytes: 600, maxBytes: 64 * 1024 });
    for (let i = 0; i < 10; i++) a.append(batch([2 * i, 2 * i + 1]));
    // Half replayed before the "crash": the acked batches are replayed again (JetStream dedupes them).
    const b = a.peek()!;
    a.ack(b);
    a.close();
    const b2 = new CallSpool(dir, { segmentBytes: 600, maxBytes: 64 * 1024 });
    assert.ok(b2.pending >= 18);
    assert.equal(b2.stats().bytes, names(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0));
    b2.append(batch([100]));
    const ids = drain(b2);
    assert.deepEqual(ids.slice(-19), [...range(18, 2).map((i) => `r${i}`), 'r100']);
    assert.deepEqual(new Set(ids).size, ids.length);
    assert.deepEqual(names(dir), []);
  });

  test('a torn last line is cut off on open; a corrupt line is skipped and counted', () => {
    const dir = tempDir();
    const a = new CallSpool(dir, { maxBytes: 64 * 1024 });
    a.append(batch([1, 2]));
    a.append(batch([3]));
    a.close();
    const [file] = names(dir);
    const path = join(dir, file!);
    const good = readFileSync(path, 'utf8');
    // A crash mid-write leaves half a line.
    appendFileSync(path, `2 ${JSON.stringify(batch([4, 5])).slice(0, 40)}`);
    const b = new CallSpool(dir, { maxBytes: 64 * 1024 });
    assert.equal(readFileSync(path, 'utf8'), good);
    assert.equal(b.pending, 3);
    assert.deepEqual(drain(b), ['r1', 'r2', 'r3']);
    assert.equal(b.stats().dropped, 0);

    // A complete line whose JSON is damaged (bit rot): skipped, its records counted as dropped.
    const c = new CallSpool(dir, { maxBytes: 64 * 1024 });
    c.append(batch([6]));
    c.close();
    const p2 = join(dir, names(dir)[0]!);
    writeFileSync(p2, `2 [{"request_id":"r7"},{broken\n` + readFileSync(p2, 'utf8') + `oops\n`);
    const d = new CallSpool(dir, { maxBytes: 64 * 1024 });
    assert.equal(d.pending, 3);
    assert.deepEqual(drain(d), ['r6']);
    assert.equal(d.stats().dropped, 2);
    assert.equal(d.pending, 0);
  });

  test('an empty or missing directory is an empty spool and nothing is created until an append', () => {
    const dir = tempDir();
    const s = new CallSpool(dir);
    assert.equal(s.peek(), null);
    assert.throws(() => readdirSync(dir), /ENOENT/);
    assert.deepEqual(s.stats(), { bytes: 0, records: 0, segments: 0, spooled: 0, replayed: 0, dropped: 0 });
  });
});

/** A sink that fails while `down` is set, and records what it stored. */
class SwitchSink implements LogSink {
  down = false;
  batches: CallRecord[][] = [];
  attempts = 0;
  async write(b: CallRecord[]): Promise<void> {
    this.attempts++;
    await new Promise((r) => setImmediate(r));
    if (this.down) throw new Error('sink down');
    this.batches.push(b.slice());
  }
  async close(): Promise<void> {}
  get ids(): string[] {
    return this.batches.flat().map((r) => r.request_id);
  }
}

async function until(what: string, fn: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('CallLogBatcher with a spool', { timeout: 30_000 }, () => {
  const fast = { maxBatch: 10, flushIntervalMs: 5, minBackoffMs: 5, maxBackoffMs: 20, spoolAfterFailures: 2, spillThreshold: 20 };

  test('a sink outage moves batches to disk; on recovery they are replayed first, in order, nothing lost', async () => {
    const sink = new SwitchSink();
    const spool = new CallSpool(tempDir(), { maxBytes: 1024 * 1024 });
    const b = new CallLogBatcher(sink, { ...fast, spool, maxBuffered: 300 });
    for (const i of range(30)) b.record(rec(i));
    await until('first records sent', () => b.stats().sent === 30);
    sink.down = true;
    // 1,000 records while the sink is down: over three times what memory may hold, yet none is dropped.
    for (const i of range(1_000, 30)) {
      b.record(rec(i));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await until('spooled', () => (b.spoolStats()?.spooled ?? 0) >= 900);
    assert.equal(b.stats().dropped, 0);
    assert.ok(b.stats().buffered <= 300);
    sink.down = false;
    for (const i of range(50, 1_030)) b.record(rec(i));
    await until('all sent', () => b.stats().sent === 1_080);
    const st = b.spoolStats()!;
    assert.equal(st.records, 0);
    assert.equal(st.replayed, st.spooled);
    assert.equal(st.dropped, 0);
    // Each record exactly once, and in the order recorded (spooled batches before newer memory ones).
    assert.deepEqual(sink.ids, range(1_080).map((i) => `r${i}`));
    await b.close();
  });

  test('close() with the sink down spools what is left; the next start replays it before new records', async () => {
    const dir = tempDir();
    const sink = new SwitchSink();
    sink.down = true;
    const b1 = new CallLogBatcher(sink, { ...fast, spool: new CallSpool(dir) });
    for (const i of range(25)) b1.record(rec(i));
    await until('a failed write', () => sink.attempts >= 1);
    await b1.close(500);
    assert.equal(b1.stats().dropped, 0);
    assert.equal(b1.spoolStats()!.records, 25);

    sink.down = false;
    const spool2 = new CallSpool(dir);
    assert.equal(spool2.pending, 25);
    const b2 = new CallLogBatcher(sink, { ...fast, spool: spool2 });
    for (const i of range(5, 25)) b2.record(rec(i));
    await until('replayed and sent', () => b2.stats().sent === 30);
    assert.deepEqual(sink.ids, range(30).map((i) => `r${i}`));
    assert.equal(b2.spoolStats()!.replayed, 25);
    await b2.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a full spool drops its oldest records and counts them', async () => {
    const sink = new SwitchSink();
    sink.down = true;
    const spool = new CallSpool(tempDir(), { maxBytes: 16 * 1024, segmentBytes: 2_048 });
    const b = new CallLogBatcher(sink, { ...fast, spool });
    for (const i of range(600)) {
      b.record(rec(i));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await until('spilled', () => b.stats().buffered <= 20 + 10);
    const st = b.spoolStats()!;
    assert.ok(st.dropped > 0);
    assert.ok(st.bytes <= 16 * 1024);
    sink.down = false;
    await until('spool replayed', () => b.spoolStats()!.records === 0 && b.stats().buffered === 0);
    await b.close(3_000);
    const ids = sink.ids;
    const lost = 600 - ids.length;
    assert.equal(lost, b.spoolStats()!.dropped + b.stats().dropped);
    // What survived is a contiguous newest run, in order — except that a batch already in the sink's hands
    // when the bound deleted its segment is not lost if that write gets through (it was issued while the sink
    // was down and landed after it came back): then one older batch (≤ maxBatch records, contiguous) leads.
    const n = (id: string): number => Number(id.slice(1));
    const gap = ids.findIndex((id, i) => i > 0 && n(id) !== n(ids[i - 1]!) + 1);
    const lead = gap === -1 ? [] : ids.slice(0, gap);
    const newest = gap === -1 ? ids : ids.slice(gap);
    assert.ok(lead.length <= fast.maxBatch, `an older run of ${lead.length} records survived: ${lead.join(' ')}`);
    assert.deepEqual(newest, range(newest.length, 600 - newest.length).map((i) => `r${i}`));
    if (lead.length > 0) assert.ok(n(lead[lead.length - 1]!) < n(newest[0]!));
  });
});
