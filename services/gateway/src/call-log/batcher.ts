// Batches call records off the gateway hot path into a LogSink: record() only pushes to an array;
// flushing (serialising, publishing, retrying) happens later on timers, one batch in flight at a time.
// Memory is bounded: past maxBuffered records the oldest are dropped and counted.
import type { CallRecord, LogSink } from '@turnpike/common';

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

  constructor(sink: LogSink, opts: CallLogBatcherOptions = {}) {
    this.#sink = sink;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.#maxBuffered = Math.max(this.#maxBatch, opts.maxBuffered ?? 100_000);
    this.#minBackoffMs = opts.minBackoffMs ?? 100;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 5_000;
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
    if (this.#queued >= this.#maxBatch && !this.#kickScheduled && this.#inflight === null && this.#retryTimer === null) {
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

  /** Stops accepting records, sends what it can within deadlineMs, then closes the sink. */
  async close(deadlineMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#interval);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline && (this.#queued > 0 || this.#flushing)) {
      if (!this.#flushing) this.#startFlush();
      const failuresBefore = this.#failures;
      await raceDeadline(this.#flushing ?? Promise.resolve(), deadline);
      if (this.#failures > failuresBefore) await sleepUntil(Math.min(deadline, Date.now() + this.#backoffMs()));
      if (this.#retryTimer) clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    // Past the deadline: whatever is left (queued or still in flight) counts as dropped.
    this.#dropped += this.#queued + (this.#inflight?.length ?? 0);
    this.#inflight = null;
    this.#queued = 0;
    this.#chunks = [[]];
    this.#head = 0;
    await raceDeadline(this.#sink.close().catch(() => undefined), Date.now() + 1_000);
  }

  #onTick(): void {
    if (this.#queued > 0 && this.#inflight === null && this.#retryTimer === null) this.#startFlush();
  }

  #startFlush(): void {
    if (this.#flushing || this.#queued === 0) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = null;
    });
  }

  async #flush(): Promise<void> {
    // Keep sending while full batches are waiting; a partial batch waits for the next tick.
    do {
      const batch = this.#take();
      this.#inflight = batch;
      let ok = false;
      try {
        await this.#sink.write(batch);
        ok = true;
      } catch {
        ok = false;
      }
      // close() gave up on this write at its deadline and already counted the batch as dropped.
      if (this.#inflight !== batch) return;
      this.#inflight = null;
      if (!ok) {
        this.#putBack(batch);
        this.#failures++;
        if (!this.#closed) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = null;
            this.#startFlush();
          }, this.#backoffMs());
          this.#retryTimer.unref();
        }
        return;
      }
      this.#sent += batch.length;
      this.#failures = 0;
    } while (this.#queued >= this.#maxBatch || (this.#closed && this.#queued > 0));
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
