// On-disk spool for call-log batches the sink could not take (NATS unreachable). Batches are appended to
// segment files `seg-<seq>.jsonl` under one directory, one batch per line: `<record count> <JSON array>\n`
// (the count lets a restart size the spool without parsing every batch). Replay reads the oldest sealed
// segment and hands out its batches oldest first; a segment file is deleted once all its batches are acked.
//
// Bound: the segment files together stay under maxBytes; an append that would pass it deletes the oldest
// segments first and counts their unacked records as dropped (drop oldest, as the in-memory buffer does).
//
// Durability (fsync policy): every batch is written with one write(2) straight away, so a crashed or killed
// process loses nothing it spooled; the file is fdatasync'ed when a segment is sealed and at most every
// `syncIntervalMs` (default 1 s) while appending, so a power loss costs at most about that much. A torn last
// line (crash mid-write) is cut off when the spool is opened; a line that does not parse is skipped at
// replay and counted as dropped.
//
// Replayed batches carry the same records in the same order, so the sink derives the same msgID and
// JetStream's duplicate window drops a batch that did get through before (a PubAck lost, or a restart
// after a publish but before its segment was deleted); the ingester's request-id dedupe covers the rest.
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRecord } from '@turnpike/common';

export const DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024;

export interface CallSpoolOptions {
  /** Bound on all segment files together (env TP_CALL_SPOOL_MAX_BYTES; default 256 MiB). */
  maxBytes?: number;
  /** A segment is sealed (and a new one started) past this size; default min(8 MiB, maxBytes / 8). */
  segmentBytes?: number;
  /** Longest time appended batches stay without fdatasync; default 1 s. */
  syncIntervalMs?: number;
}

export interface CallSpoolStats {
  /** Bytes of the segment files now. */
  bytes: number;
  /** Records in the spool not yet acked. */
  records: number;
  segments: number;
  /** Records appended since start. */
  spooled: number;
  /** Records acked by the sink after replay since start. */
  replayed: number;
  /** Records lost to the bound (oldest segment deleted) or to corrupt lines, since start. */
  dropped: number;
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  /** Records in the file (acked or not). */
  records: number;
  /** Records of this segment already acked. */
  acked: number;
}

/** A batch handed out by `peek`: ack it after the sink took it. */
export interface SpooledBatch {
  readonly records: CallRecord[];
  readonly seq: number;
  readonly index: number;
}

const SEGMENT_RE = /^seg-(\d{16})\.jsonl$/;
const NL = 0x0a;

export class CallSpool {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #segmentBytes: number;
  readonly #syncIntervalMs: number;
  /** Oldest first; the last one is the one being written while #fd is set. */
  readonly #segments: Segment[] = [];
  #fd: number | null = null;
  #lastSync = 0;
  #dirty = false;
  #nextSeq = 1;
  #dirReady = false;
  /** The parsed batches of the oldest (sealed) segment, being replayed; #pos is the next one. */
  #reading: { seq: number; batches: (CallRecord[] | null)[]; counts: number[] } | null = null;
  #pos = 0;
  /** A handed-out batch whose segment the bound deleted while the sink had it (see release()). */
  #orphan: SpooledBatch | null = null;
  /** peek() handed out the batch at #pos and it is not acked yet. */
  #handedOut = false;
  #bytes = 0;
  #records = 0;
  #spooled = 0;
  #replayed = 0;
  #dropped = 0;

  /** Opens the spool in `dir`, taking over what a previous run left there (nothing is created yet). */
  constructor(dir: string, opts: CallSpoolOptions = {}) {
    this.dir = dir;
    this.#maxBytes = Math.max(1024, opts.maxBytes ?? DEFAULT_SPOOL_MAX_BYTES);
    this.#segmentBytes = Math.max(512, Math.min(opts.segmentBytes ?? 8 * 1024 * 1024, Math.floor(this.#maxBytes / 8)));
    this.#syncIntervalMs = opts.syncIntervalMs ?? 1_000;
    this.#recover();
  }

  stats(): CallSpoolStats {
    return { bytes: this.#bytes, records: this.#records, segments: this.#segments.length, spooled: this.#spooled, replayed: this.#replayed, dropped: this.#dropped };
  }

  /** Records waiting for replay. */
  get pending(): number {
    return this.#records;
  }

  /** Appends one batch at the end (newest). Throws only on I/O errors (disk full, permissions). */
  append(batch: readonly CallRecord[]): void {
    if (batch.length === 0) return;
    const line = Buffer.from(`${batch.length} ${JSON.stringify(batch)}\n`);
    if (line.length > this.#maxBytes) {
      // Bigger than the whole spool: it cannot be kept without dropping everything else.
      this.#dropped += batch.length;
      return;
    }
    while (this.#segments.length > 0 && this.#bytes + line.length > this.#maxBytes) this.#dropOldestSegment();
    let seg = this.#fd !== null ? this.#segments[this.#segments.length - 1] : undefined;
    if (seg && seg.bytes > 0 && seg.bytes + line.length > this.#segmentBytes) {
      this.#seal();
      seg = undefined;
    }
    if (!seg) seg = this.#startSegment();
    let off = 0;
    try {
      while (off < line.length) off += writeSync(this.#fd!, line, off, line.length - off);
    } catch (e) {
      // Disk full mid-line: cut the partial line off so that the next append starts on a line of its own.
      if (off > 0) ftruncateSync(this.#fd!, seg.bytes);
      throw e;
    }
    seg.bytes += line.length;
    seg.records += batch.length;
    this.#bytes += line.length;
    this.#records += batch.length;
    this.#spooled += batch.length;
    this.#dirty = true;
    const now = Date.now();
    if (now - this.#lastSync >= this.#syncIntervalMs) this.sync(now);
  }

  /** fdatasync of the segment being written (the periodic part of the fsync policy). */
  sync(now = Date.now()): void {
    this.#lastSync = now;
    if (this.#fd === null || !this.#dirty) return;
    this.#dirty = false;
    fdatasyncSync(this.#fd);
  }

  /** The oldest unacked batch, or null when the spool is empty. The same batch until it is acked. */
  peek(): SpooledBatch | null {
    for (;;) {
      const r = this.#reading;
      if (r && r.seq === this.#segments[0]?.seq) {
        while (this.#reading === r) {
          const records = r.batches[this.#pos];
          if (records) {
            this.#handedOut = true;
            return { records, seq: r.seq, index: this.#pos };
          }
          // A line that did not parse: skip it, its records (if its count was readable) are lost.
          this.#consume(r.counts[this.#pos] ?? 0, false);
        }
        continue;
      }
      this.#reading = null;
      const seg = this.#segments[0];
      if (!seg) return null;
      // The segment still being written is sealed first, so a replayed segment never changes under the reader.
      if (this.#segments.length === 1 && this.#fd !== null) this.#seal();
      this.#reading = parseSegment(seg);
      this.#pos = 0;
    }
  }

  /** The sink took `b`: advances past it (if the bound deleted its segment meanwhile, only counts it). */
  ack(b: SpooledBatch): void {
    if (this.#orphan && same(this.#orphan, b)) {
      this.#orphan = null;
      this.#replayed += b.records.length;
      return;
    }
    const r = this.#reading;
    if (!r || r.seq !== b.seq || this.#pos !== b.index) return;
    this.#consume(b.records.length, true);
  }

  /**
   * The sink refused `b` (callers of peek() report every failed write). It stays first in line, unless the
   * bound deleted its segment while the write was in flight: then it is lost now, and counted as dropped.
   */
  release(b: SpooledBatch): void {
    if (this.#orphan && same(this.#orphan, b)) {
      this.#orphan = null;
      this.#dropped += b.records.length;
    } else if (this.#reading?.seq === b.seq && this.#pos === b.index) {
      // Back in line: no longer in the sink's hands.
      this.#handedOut = false;
    }
  }

  /** Seals the segment being written (fdatasync, close); the spool stays usable. */
  close(): void {
    this.#seal();
  }

  #consume(n: number, replayed: boolean): void {
    const seg = this.#segments[0]!;
    this.#pos++;
    this.#handedOut = false;
    const k = Math.min(n, seg.records - seg.acked);
    seg.acked += k;
    this.#records -= k;
    if (replayed) this.#replayed += k;
    else this.#dropped += k;
    if (this.#pos < this.#reading!.batches.length) return;
    // Every batch of the segment is acked or skipped: delete the file now (records it no longer had, e.g.
    // cut by hand, count as dropped).
    this.#segments.shift();
    const lost = seg.records - seg.acked;
    this.#dropped += lost;
    this.#records -= lost;
    this.#deleteSegment(seg);
    this.#reading = null;
  }

  #startSegment(): Segment {
    if (!this.#dirReady) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#dirReady = true;
    }
    const seq = this.#nextSeq++;
    const path = join(this.dir, `seg-${String(seq).padStart(16, '0')}.jsonl`);
    // 0600: call records carry client IPs, consumer ids and maybe captured headers.
    this.#fd = openSync(path, 'a', 0o600);
    const seg: Segment = { seq, path, bytes: 0, records: 0, acked: 0 };
    this.#segments.push(seg);
    return seg;
  }

  #seal(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    try {
      if (this.#dirty) fdatasyncSync(fd);
    } finally {
      this.#dirty = false;
      closeSync(fd);
    }
  }

  #dropOldestSegment(): void {
    const seg = this.#segments[0]!;
    if (this.#segments.length === 1) this.#seal();
    this.#segments.shift();
    const lost = seg.records - seg.acked;
    this.#records -= lost;
    // A batch of it handed out by peek() may be in the sink's hands: counted (replayed or dropped) once its
    // write ends, by ack() or release().
    const out = this.#handedOut && this.#reading?.seq === seg.seq ? this.#reading.batches[this.#pos] : null;
    if (out) this.#orphan = { records: out, seq: seg.seq, index: this.#pos };
    this.#dropped += lost - Math.min(lost, out?.length ?? 0);
    if (this.#reading?.seq === seg.seq) {
      this.#reading = null;
      this.#handedOut = false;
    }
    this.#deleteSegment(seg);
  }

  #deleteSegment(seg: Segment): void {
    this.#bytes -= seg.bytes;
    try {
      unlinkSync(seg.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Takes over the segments a previous run left: sizes them, and cuts a torn last line. */
  #recover(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    this.#dirReady = true;
    const found = names
      .map((n) => ({ n, m: SEGMENT_RE.exec(n) }))
      .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
      .map((x) => ({ path: join(this.dir, x.n), seq: Number(x.m[1]) }))
      .sort((a, b) => a.seq - b.seq);
    for (const f of found) {
      const buf = readFileSync(f.path);
      let end = buf.length;
      if (end > 0 && buf[end - 1] !== NL) {
        end = buf.lastIndexOf(NL) + 1;
        const fd = openSync(f.path, 'r+');
        try {
          ftruncateSync(fd, end);
        } finally {
          closeSync(fd);
        }
      }
      if (end === 0) {
        unlinkSync(f.path);
        continue;
      }
      let records = 0;
      for (let start = 0; start < end; ) {
        const nl = buf.indexOf(NL, start);
        records += lineCount(buf, start, nl);
        start = nl + 1;
      }
      this.#segments.push({ seq: f.seq, path: f.path, bytes: end, records, acked: 0 });
      this.#bytes += end;
      this.#records += records;
      this.#nextSeq = f.seq + 1;
    }
  }
}

function same(a: SpooledBatch, b: SpooledBatch): boolean {
  return a.seq === b.seq && a.index === b.index;
}

/** The record count prefix of a line (0 when unreadable). */
function lineCount(buf: Buffer, start: number, nl: number): number {
  const sp = buf.indexOf(0x20, start);
  if (sp < 0 || sp > nl) return 0;
  const n = Number(buf.toString('latin1', start, sp));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function parseSegment(seg: Segment): { seq: number; batches: (CallRecord[] | null)[]; counts: number[] } {
  let buf: Buffer;
  try {
    buf = readFileSync(seg.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    buf = Buffer.alloc(0);
  }
  const batches: (CallRecord[] | null)[] = [];
  const counts: number[] = [];
  for (let start = 0; start < buf.length; ) {
    let nl = buf.indexOf(NL, start);
    if (nl < 0) nl = buf.length;
    const n = lineCount(buf, start, nl);
    counts.push(n);
    let records: CallRecord[] | null = null;
    try {
      const sp = buf.indexOf(0x20, start);
      const parsed: unknown = JSON.parse(buf.toString('utf8', sp + 1, nl));
      if (Array.isArray(parsed) && parsed.length === n) records = parsed as CallRecord[];
    } catch {
      records = null;
    }
    batches.push(records);
    start = nl + 1;
  }
  return { seq: seg.seq, batches, counts };
}
