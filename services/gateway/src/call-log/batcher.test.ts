import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord, LogSink } from '@turnpike/common';
import { CallLogBatcher } from './batcher.js';
import { testRecord } from './testing.js';

/** An in-memory LogSink that fails its first `failures` writes, then stores batches. */
class MemorySink implements LogSink {
  batches: CallRecord[][] = [];
  attempts = 0;
  closed = false;
  constructor(
    public failures = 0,
    public delayMs = 0,
  ) {}
  async write(batch: CallRecord[]): Promise<void> {
    this.attempts++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failures > 0) {
      this.failures--;
      throw new Error('sink down');
    }
    this.batches.push(batch.slice());
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  get ids(): string[] {
    return this.batches.flat().map((r) => r.request_id);
  }
}

const rec = testRecord;

async function until(what: string, fn: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('CallLogBatcher', { timeout: 20_000 }, () => {
  test('a full batch is sent without waiting for the interval', async () => {
    const sink = new MemorySink();
    const b = new CallLogBatcher(sink, { maxBatch: 10, flushIntervalMs: 60_000 });
    for (const i of range(25)) b.record(rec(i));
    // record() itself never sends: nothing happened synchronously.
    assert.equal(sink.attempts, 0);
    await until('two full batches', () => sink.batches.length === 2);
    assert.deepEqual(
      sink.batches.map((x) => x.length),
      [10, 10],
    );
    assert.deepEqual(b.stats(), { buffered: 5, dropped: 0, sent: 20 });
    await b.close();
    assert.deepEqual(sink.ids, range(25).map((i) => `r${i}`));
    assert.equal(sink.closed, true);
  });

  test('a partial batch is sent on the interval', async () => {
    const sink = new MemorySink();
    const b = new CallLogBatcher(sink, { maxBatch: 500, flushIntervalMs: 20 });
    b.record(rec(1));
    b.record(rec(2));
    await until('interval flush', () => sink.batches.length === 1);
    assert.deepEqual(sink.ids, ['r1', 'r2']);
    await b.close();
  });

  test('a failing sink gets the same batch again with backoff, then everything in order', async () => {
    const sink = new MemorySink(3);
    const b = new CallLogBatcher(sink, { maxBatch: 5, flushIntervalMs: 10, minBackoffMs: 10, maxBackoffMs: 40 });
    for (const i of range(12)) b.record(rec(i));
    await until('all sent', () => b.stats().sent === 12);
    assert.equal(sink.attempts, 3 + 3);
    assert.deepEqual(sink.ids, range(12).map((i) => `r${i}`));
    assert.deepEqual(sink.batches[0]?.map((r) => r.request_id), range(5).map((i) => `r${i}`));
    assert.deepEqual(b.stats(), { buffered: 0, dropped: 0, sent: 12 });
    await b.close();
  });

  test('only one write is in flight at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const sink: LogSink = {
      write: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 15));
        inFlight--;
      },
      close: async () => undefined,
    };
    const b = new CallLogBatcher(sink, { maxBatch: 2, flushIntervalMs: 1 });
    for (const i of range(20)) b.record(rec(i));
    await until('drained', () => b.stats().sent === 20);
    assert.equal(maxInFlight, 1);
    await b.close();
  });

  test('when the buffer is full the oldest records are dropped and counted', async () => {
    const sink = new MemorySink(Number.MAX_SAFE_INTEGER);
    const b = new CallLogBatcher(sink, { maxBatch: 10, maxBuffered: 50, flushIntervalMs: 5, minBackoffMs: 5, maxBackoffMs: 5 });
    for (const i of range(200)) b.record(rec(i));
    assert.deepEqual(b.stats(), { buffered: 50, dropped: 150, sent: 0 });
    await until('a few failed attempts', () => sink.attempts >= 3);
    for (const i of range(170, 30)) b.record(rec(i));
    const s = b.stats();
    assert.equal(s.buffered, 50);
    assert.equal(s.dropped, 150 + 170);
    // The sink recovers: exactly the newest 50 records arrive, in order.
    sink.failures = 0;
    await until('recovered', () => b.stats().sent === 50);
    assert.deepEqual(sink.ids, range(50, 150).map((i) => `r${i}`));
    await b.close();
  });

  test('record() never throws and is cheap', () => {
    const sink = new MemorySink(Number.MAX_SAFE_INTEGER);
    const b = new CallLogBatcher(sink, { maxBatch: 500, maxBuffered: 10_000, flushIntervalMs: 60_000 });
    const r = rec(0);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i++) b.record(r);
    const nsPerRecord = Number(process.hrtime.bigint() - t0) / 1_000_000;
    assert.equal(b.stats().buffered, 10_000);
    assert.equal(b.stats().dropped, 990_000);
    // Generous bound (shared CI cores); typical is well under 50 ns.
    assert.ok(nsPerRecord < 1_000, `record() took ${nsPerRecord} ns`);
    void b.close(10);
  });

  test('close() flushes what is buffered and stops accepting records', async () => {
    const sink = new MemorySink(1);
    const b = new CallLogBatcher(sink, { maxBatch: 100, flushIntervalMs: 60_000, minBackoffMs: 10 });
    for (const i of range(7)) b.record(rec(i));
    await b.close(1_000);
    assert.deepEqual(sink.ids, range(7).map((i) => `r${i}`));
    b.record(rec(99));
    assert.deepEqual(b.stats(), { buffered: 0, dropped: 1, sent: 7 });
  });

  test('close() gives up at its deadline when the sink stays down', async () => {
    const sink = new MemorySink(Number.MAX_SAFE_INTEGER, 5);
    const b = new CallLogBatcher(sink, { maxBatch: 100, flushIntervalMs: 60_000, minBackoffMs: 10 });
    for (const i of range(3)) b.record(rec(i));
    const t0 = Date.now();
    await b.close(150);
    assert.ok(Date.now() - t0 < 1_500);
    assert.deepEqual(b.stats(), { buffered: 0, dropped: 3, sent: 0 });
  });
});
