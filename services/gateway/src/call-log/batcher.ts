// Batches call records off the gateway hot path into a LogSink: record() only pushes to an array;
// flushing (serialising, publishing, retrying) happens later on timers, one batch in flight at a time.
// Memory is bounded: past maxBuffered records the oldest are dropped and counted.
// With a CallSpool (spool.ts), batches the sink keeps refusing go to disk instead of waiting in memory, and
// are replayed, oldest first, before anything newer once the sink takes batches again.
import type { CallRecord, LogSink } from '@turnpike/common';
import type { CallSpool, CallSpoolStats, SpooledBatch } from './spool.js';

export interface CallLogBatcherOptions {
  /** Records per batch; reaching it triggers a flush. */
  maxBatch?: number;
  /** Flush whatever is buffered at least this often. */
  flushIntervalMs?: number;
  /** Records held at most (buffered + in flight); beyond it the oldest are dropped. */
  maxBuffered?: number;
  /** First retry delay after a sink failure; doubles per consecutive failure up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** On-disk overflow for batches the sink cannot take (NATS unreachable). */
  spool?: CallSpool;
  /** With a spool: a batch that failed this many consecutive writes goes to the spool (default 3). */
  spoolAfterFailures?: number;
  /**
   * With a spool: while the sink is failing (its last write failed, or spooled batches wait for replay) and
   * no memory batch is in flight, buffered full batches beyond this many records move to the spool (default
   * 10 × maxBatch).
   */
  spillThreshold?: number;
}

export interface CallLogBatcherStats {
  buffered: number;
  dropped: number;
  sent: number;
}

export class CallLogBatcher {
  readonly #sink: LogSink;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  // Records waiting to be sent, oldest first, in chunks of up to maxBatch so that taking a batch is O(1)
  // and dropping the oldest record is an index bump (#head) instead of an O(n) shift.
  #chunks: CallRecord[][] = [[]];
  #head = 0;
  #queued = 0;
  #inflight: CallRecord[] | null = null;
  #flushing: Promise<void> | null = null;
  #kickScheduled = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #failures = 0;
  #closed = false;
  readonly #interval: NodeJS.Timeout;
  #dropped = 0;
  #sent = 0;
  readonly #spool: CallSpool | null;
  readonly #spoolAfterFailures: number;
  readonly #spillThreshold: number;
  /** Set when close() stops sending (its deadline passed or the sink failed). */
  #abandoned = false;

  constructor(sink: LogSink, opts: CallLogBatcherOptions = {}) {
    this.#sink = sink;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.#maxBuffered = Math.max(this.#maxBatch, opts.maxBuffered ?? 100_000);
    this.#minBackoffMs = opts.minBackoffMs ?? 100;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 5_000;
    this.#spool = opts.spool ?? null;
    this.#spoolAfterFailures = Math.max(1, opts.spoolAfterFailures ?? 3);
    this.#spillThreshold = Math.max(this.#maxBatch, opts.spillThreshold ?? 10 * this.#maxBatch);
    this.#interval = setInterval(() => this.#onTick(), opts.flushIntervalMs ?? 200);
    this.#interval.unref();
  }

  /** Hot path: O(1), never throws, never waits. */
  record(rec: CallRecord): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    const chunks = this.#chunks;
    let tail = chunks[chunks.length - 1] as CallRecord[];
    if (tail.length >= this.#maxBatch) {
      tail = [];
      chunks.push(tail);
    }
    tail.push(rec);
    this.#queued++;
    if (this.#queued + (this.#inflight?.length ?? 0) > this.#maxBuffered) this.#dropOldest();
    if (this.#queued >= this.#maxBatch && !this.#kickScheduled && this.#flushing === null && this.#retryTimer === null) {
      // Serialising and publishing happen on a later turn, never inside the request handler.
      this.#kickScheduled = true;
      setImmediate(() => {
        this.#kickScheduled = false;
        this.#startFlush();
      });
    }
  }

  stats(): CallLogBatcherStats {
    return { buffered: this.#queued + (this.#inflight?.length ?? 0), dropped: this.#dropped, sent: this.#sent };
  }

  /** The spool's figures (null without a spool). */
  spoolStats(): CallSpoolStats | null {
    return this.#spool?.stats() ?? null;
  }

  /** Stops accepting records, sends what it can within deadlineMs, then closes the sink. */
  async close(deadlineMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#interval);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline && (this.#queued > 0 || this.#flushing || (this.#spool?.pending ?? 0) > 0)) {
      if (!this.#flushing) {
        // With a spool, what a failing sink cannot take is kept on disk for the next start instead of
        // waiting out the deadline; a working sink gets the spooled batches first, then memory.
        if (this.#spool && this.#failures > 0) break;
        this.#startFlush();
      }
      const failuresBefore = this.#failures;
      await raceDeadline(this.#flushing ?? Promise.resolve(), deadline);
      if (this.#failures > failuresBefore && !this.#spool) await sleepUntil(Math.min(deadline, Date.now() + this.#backoffMs()));
      if (this.#retryTimer) clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    // Past the deadline: whatever is left (queued or still in flight) goes to the spool, oldest first, or
    // counts as dropped. A spooled in-flight batch that did get through is de-duplicated by its msgID.
    this.#abandoned = true;
    if (this.#spool) {
      if (this.#inflight) this.#toSpool(this.#inflight);
      this.#inflight = null;
      while (this.#queued > 0 && this.#toSpool(this.#take()));
      try {
        this.#spool.close();
      } catch {
        // Best effort: every batch was already written with write(2).
      }
    }
    this.#dropped += this.#queued + (this.#inflight?.length ?? 0);
    this.#inflight = null;
    this.#queued = 0;
    this.#chunks = [[]];
    this.#head = 0;
    await raceDeadline(this.#sink.close().catch(() => undefined), Date.now() + 1_000);
  }

  #onTick(): void {
    this.#spill();
    if ((this.#queued > 0 || (this.#spool?.pending ?? 0) > 0) && this.#flushing === null && this.#retryTimer === null) this.#startFlush();
  }

  #startFlush(): void {
    if (this.#flushing || (this.#queued === 0 && (this.#spool?.pending ?? 0) === 0)) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = null;
    });
  }

  async #flush(): Promise<void> {
    // Spooled batches first (they are older than anything in memory), then memory: the first batch even if
    // partial, after it only full batches; a partial batch waits for the next tick.
    let first = true;
    for (;;) {
      const spool = this.#spool;
      // close() gave up at its deadline: what is left stays in the spool for the next start.
      if (this.#abandoned) return;
      if (spool && spool.pending > 0) {
        let sb: SpooledBatch | null;
        try {
          sb = spool.peek();
        } catch {
          // A segment that cannot be read now (I/O error): retried after the backoff like a sink failure.
          return this.#failed();
        }
        if (sb) {
          const ok = await this.#write(sb.records);
          if (!ok) {
            spool.release(sb);
            return this.#failed();
          }
          spool.ack(sb);
          this.#sent += sb.records.length;
          this.#failures = 0;
          continue;
        }
      }
      if (this.#queued === 0 || (!first && this.#queued < this.#maxBatch && !this.#closed)) return;
      first = false;
      const batch = this.#take();
      this.#inflight = batch;
      const ok = await this.#write(batch);
      // close() gave up on this write at its deadline and already spooled or dropped the batch.
      if (this.#inflight !== batch) return;
      this.#inflight = null;
      if (!ok) {
        if (spool && this.#failures + 1 >= this.#spoolAfterFailures) this.#toSpool(batch);
        else this.#putBack(batch);
        return this.#failed();
      }
      this.#sent += batch.length;
      this.#failures = 0;
    }
  }

  async #write(batch: CallRecord[]): Promise<boolean> {
    try {
      await this.#sink.write(batch);
      return true;
    } catch {
      return false;
    }
  }

  /** After a failed write: count it, move memory to the spool if due, retry after the backoff. */
  #failed(): void {
    this.#failures++;
    this.#spill();
    if (!this.#closed) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        this.#startFlush();
      }, this.#backoffMs());
      this.#retryTimer.unref();
    }
  }

  /** Moves full batches from memory to the spool while the sink is failing and memory holds too many. */
  #spill(): void {
    const spool = this.#spool;
    if (!spool || this.#closed || this.#queued <= this.#spillThreshold) return;
    // A memory batch in flight is older than what is buffered: if it fails it goes to the spool first, so
    // nothing may be spilled ahead of it.
    if (this.#inflight !== null) return;
    if (this.#failures === 0 && spool.pending === 0) return;
    // Memory is newer than anything spooled, so appending oldest-first keeps the overall order.
    while (this.#queued >= this.#maxBatch) {
      if (!this.#toSpool(this.#take())) break;
    }
  }

  /** Appends a batch to the spool; on an I/O error it goes back to memory (where drop-oldest applies). */
  #toSpool(batch: CallRecord[]): boolean {
    try {
      this.#spool!.append(batch);
      return true;
    } catch {
      this.#putBack(batch);
      return false;
    }
  }

  #backoffMs(): number {
    const base = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(this.#failures - 1, 20));
    return base / 2 + Math.random() * (base / 2);
  }

  /** Removes and returns the oldest chunk (a batch). */
  #take(): CallRecord[] {
    const first = this.#chunks[0] as CallRecord[];
    const batch = this.#head > 0 ? first.slice(this.#head) : first;
    if (this.#chunks.length > 1) this.#chunks.shift();
    else this.#chunks[0] = [];
    this.#head = 0;
    this.#queued -= batch.length;
    return batch;
  }

  /** Returns a failed batch to the front, unchanged, so the retry publishes the same batch (same msgID). */
  #putBack(batch: CallRecord[]): void {
    if (this.#head > 0) {
      this.#chunks[0] = (this.#chunks[0] as CallRecord[]).slice(this.#head);
      this.#head = 0;
    }
    this.#chunks.unshift(batch);
    this.#queued += batch.length;
    while (this.#queued > this.#maxBuffered) this.#dropOldest();
  }

  #dropOldest(): void {
    const first = this.#chunks[0] as CallRecord[];
    this.#head++;
    this.#queued--;
    this.#dropped++;
    if (this.#head >= first.length) {
      if (this.#chunks.length > 1) this.#chunks.shift();
      else first.length = 0;
      this.#head = 0;
    }
  }
}

async function raceDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  const ms = deadline - Date.now();
  if (ms <= 0) return;
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  if (t) clearTimeout(t);
}

async function sleepUntil(deadline: number): Promise<void> {
  const ms = deadline - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
