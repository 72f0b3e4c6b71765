// The wire form of a batch of call records on the calls stream (one JetStream message per batch).
//
// Format 3 (what nodes publish): columnar JSON with a per-batch dictionary for the fields whose values repeat
// from call to call (ids of the node, service, route, consumer and credential, method, host, client address,
// user agent, …): `f` names the fields once, `d` holds each dictionary field's distinct values, and a record's
// row carries the index of its value there instead of the string. Numbers are small integers: `ts` is the
// offset in ms from the batch's `t`, and the five latencies travel as whole microseconds (`*_us` columns; the
// node rounds them to the µs anyway) — V8 writes a small integer several times faster than a double:
//   {"v":3,"t":1733…,"f":["request_id","ts","node_id",…,"upstream_latency_us",…],"d":{"node_id":["n1"],…},"r":[["01J…",12,0,…,734,…],…]}
// Against format 2 (every value written out, latencies as ms doubles) it is ~40 % of the bytes and about half
// the encoding CPU on the node (docs/benchmarks.md), where the call log competes with proxying.
// Format 2: {"v":2,"f":[…],"r":[[…],…]}; format 1: a JSON array of record objects. Readers (the ingester, the
// quota aggregator) take all three and key values by the names in `f`: a column they do not know is ignored,
// one they miss reads as absent. A format newer than the reader's is reported as such (`isNewerFormat`), so
// a reader can leave the message for an upgraded reader instead of discarding it.
import type { CallRecord } from './call-log.js';

export const CALL_BATCH_FORMAT = 3;

/** The start of decodeCallBatch's answer for a batch in a format newer than this reader knows. */
export const NEWER_FORMAT_REASON = 'unknown call batch format';

/** Whether decodeCallBatch's reason says the batch is in a newer format (not malformed: an upgraded reader can read it). */
export function isNewerFormat(reason: string): boolean {
  if (!reason.startsWith(NEWER_FORMAT_REASON)) return false;
  const v = Number(reason.slice(NEWER_FORMAT_REASON.length + 1));
  return Number.isInteger(v) && v > CALL_BATCH_FORMAT;
}

/** The fields every record carries, in format 2's row order. */
const BASE_FIELDS = [
  'request_id',
  'ts',
  'node_id',
  'service_id',
  'route_id',
  'consumer_id',
  'method',
  'path',
  'status',
  'upstream_latency_ms',
  'total_latency_ms',
  'bytes_in',
  'bytes_out',
  'error_code',
  'credential_id',
  'plan_id',
  'client_ip',
  'user_agent',
  'host',
  'gateway_latency_ms',
  'upstream_connect_ms',
  'upstream_ttfb_ms',
  'upstream_addr',
] as const satisfies readonly (keyof CallRecord)[];

/** The latencies, which format 3 sends as whole µs under these column names. */
const US_COLUMN_OF: Readonly<Partial<Record<keyof CallRecord, string>>> = {
  upstream_latency_ms: 'upstream_latency_us',
  total_latency_ms: 'total_latency_us',
  gateway_latency_ms: 'gateway_latency_us',
  upstream_connect_ms: 'upstream_connect_us',
  upstream_ttfb_ms: 'upstream_ttfb_us',
};

/** Format 3's columns: BASE_FIELDS with the latencies renamed (`ts` is an offset from the batch's `t`). */
const BASE_FIELDS_V3: readonly string[] = BASE_FIELDS.map((f) => US_COLUMN_OF[f] ?? f);

/** A format 3 µs column → the record's ms field. */
const MS_OF_US: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(US_COLUMN_OF).map(([ms, us]) => [us, ms]));

/** ms → whole µs (null for a record without the field: absent on the reader). */
function us(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 1000);
}

/** Fields most records leave out: a column only when some record of the batch has it. */
const OPTIONAL_FIELDS = ['ai_provider', 'ai_model', 'ai_prompt_tokens', 'ai_completion_tokens', 'ai_cached_tokens', 'ai_cost_usd', 'captured'] as const satisfies readonly (keyof CallRecord)[];

/** Fields whose values repeat across calls: sent once per batch in `d`, rows carry indices (format 3). */
const DICTIONARY_FIELDS = [
  'node_id',
  'service_id',
  'route_id',
  'consumer_id',
  'method',
  'error_code',
  'credential_id',
  'plan_id',
  'client_ip',
  'user_agent',
  'host',
  'upstream_addr',
] as const satisfies readonly (keyof CallRecord)[];

/** One field's distinct values in a batch, in order of first appearance. */
class Dictionary {
  readonly values: string[] = [];
  readonly #index = new Map<string, number>();
  // The previous record's value and index: consecutive records mostly repeat it (same node, method, route),
  // and comparing with it is cheaper than hashing a fresh string for the Map.
  #last: string | undefined = undefined;
  #lastIndex = 0;

  /** The value's index (added on first sight); null for a record without the field (absent on the reader). */
  id(value: string | undefined): number | null {
    if (value === undefined) return null;
    if (value === this.#last) return this.#lastIndex;
    let i = this.#index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.#index.set(value, i);
    }
    this.#last = value;
    this.#lastIndex = i;
    return i;
  }
}

/**
 * A batch in format 3, encoded a slice of records at a time: the call-log sink encodes a 500-record batch
 * in several turns of the event loop (`step` per turn) instead of one ~0.5 ms block, which requests arriving
 * meanwhile would wait behind. The text is exactly what one `JSON.stringify` of the whole batch gives.
 */
export class CallBatchEncoder {
  readonly #batch: readonly CallRecord[];
  readonly #optional: (typeof OPTIONAL_FIELDS)[number][] | null;
  readonly #t: number;
  #next = 0;
  /** The rows' JSON, one piece per step, without the enclosing brackets. */
  readonly #parts: string[] = [];
  // One dictionary per field, in fields: monomorphic calls, no per-record lookup of the dictionary.
  readonly #node = new Dictionary();
  readonly #service = new Dictionary();
  readonly #route = new Dictionary();
  readonly #consumer = new Dictionary();
  readonly #method = new Dictionary();
  readonly #error = new Dictionary();
  readonly #credential = new Dictionary();
  readonly #plan = new Dictionary();
  readonly #clientIp = new Dictionary();
  readonly #userAgent = new Dictionary();
  readonly #host = new Dictionary();
  readonly #upstreamAddr = new Dictionary();

  constructor(batch: readonly CallRecord[]) {
    this.#batch = batch;
    let optional: (typeof OPTIONAL_FIELDS)[number][] | null = null;
    for (const f of OPTIONAL_FIELDS) {
      for (let i = 0; i < batch.length; i++) {
        if (batch[i]![f] !== undefined) {
          (optional ??= []).push(f);
          break;
        }
      }
    }
    this.#optional = optional;
    this.#t = batch.length > 0 ? batch[0]!.ts : 0;
  }

  /** Encodes up to `n` more records; true once every record is encoded. */
  step(n: number): boolean {
    const batch = this.#batch;
    const end = Math.min(batch.length, this.#next + Math.max(1, n));
    const optional = this.#optional;
    const t = this.#t;
    const rows = new Array<unknown[]>(end - this.#next);
    for (let i = this.#next; i < end; i++) {
      const r = batch[i]!;
      // In BASE_FIELDS_V3 order, written out field by field: monomorphic property loads. undefined becomes
      // null in JSON, which the reader treats as absent.
      const row: unknown[] = [
        r.request_id,
        r.ts - t,
        this.#node.id(r.node_id),
        this.#service.id(r.service_id),
        this.#route.id(r.route_id),
        this.#consumer.id(r.consumer_id),
        this.#method.id(r.method),
        r.path,
        r.status,
        us(r.upstream_latency_ms),
        us(r.total_latency_ms),
        r.bytes_in,
        r.bytes_out,
        this.#error.id(r.error_code),
        this.#credential.id(r.credential_id),
        this.#plan.id(r.plan_id),
        this.#clientIp.id(r.client_ip),
        this.#userAgent.id(r.user_agent),
        this.#host.id(r.host),
        us(r.gateway_latency_ms),
        us(r.upstream_connect_ms),
        us(r.upstream_ttfb_ms),
        this.#upstreamAddr.id(r.upstream_addr),
      ];
      if (optional !== null) for (const f of optional) row.push(r[f] ?? null);
      rows[i - this.#next] = row;
    }
    if (rows.length > 0) this.#parts.push(JSON.stringify(rows).slice(1, -1));
    this.#next = end;
    return end === batch.length;
  }

  /** The batch's text; encodes whatever `step` has not yet. */
  text(): string {
    if (this.#next < this.#batch.length) this.step(this.#batch.length - this.#next);
    const d = {
      node_id: this.#node.values,
      service_id: this.#service.values,
      route_id: this.#route.values,
      consumer_id: this.#consumer.values,
      method: this.#method.values,
      error_code: this.#error.values,
      credential_id: this.#credential.values,
      plan_id: this.#plan.values,
      client_ip: this.#clientIp.values,
      user_agent: this.#userAgent.values,
      host: this.#host.values,
      upstream_addr: this.#upstreamAddr.values,
    } satisfies Record<(typeof DICTIONARY_FIELDS)[number], string[]>;
    const f = this.#optional === null ? BASE_FIELDS_V3 : [...BASE_FIELDS_V3, ...this.#optional];
    // The key order of JSON.stringify({v, t, f, d, r}).
    return `{"v":${CALL_BATCH_FORMAT},"t":${JSON.stringify(this.#t)},"f":${JSON.stringify(f)},"d":${JSON.stringify(d)},"r":[${this.#parts.join(',')}]}`;
  }
}

/** A batch in format 3, in one go. */
export function encodeCallBatch(batch: readonly CallRecord[]): string {
  return new CallBatchEncoder(batch).text();
}

/** Format 2, as nodes before format 3 published it (kept for the readers' tests and the encoding benchmark). */
export function encodeCallBatchV2(batch: readonly CallRecord[]): string {
  let optional: (typeof OPTIONAL_FIELDS)[number][] | null = null;
  for (const f of OPTIONAL_FIELDS) {
    for (let i = 0; i < batch.length; i++) {
      if (batch[i]![f] !== undefined) {
        (optional ??= []).push(f);
        break;
      }
    }
  }
  const rows = new Array<unknown[]>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i]!;
    const row: unknown[] = [];
    for (const f of BASE_FIELDS) row.push(r[f]);
    if (optional !== null) for (const f of optional) row.push(r[f] ?? null);
    rows[i] = row;
  }
  return JSON.stringify({ v: 2, f: optional === null ? BASE_FIELDS : [...BASE_FIELDS, ...optional], r: rows });
}

/**
 * The records of a message in any format, as plain objects for `parseCallRecord` (null values left out, as
 * absent fields); a string says why the message is not a batch (see `isNewerFormat`).
 */
export function decodeCallBatch(text: string): unknown[] | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (Array.isArray(v)) return v; // format 1
  if (typeof v !== 'object' || v === null) return 'not a call batch';
  const b = v as { v?: unknown; t?: unknown; f?: unknown; d?: unknown; r?: unknown };
  if (b.v !== 2 && b.v !== 3) return `${NEWER_FORMAT_REASON} ${JSON.stringify(b.v)}`;
  if (!Array.isArray(b.f) || !b.f.every((x) => typeof x === 'string') || !Array.isArray(b.r)) return `a format ${b.v} batch needs string field names \`f\` and rows \`r\``;
  const fields = b.f as string[];
  // Format 3: per column, its dictionary (null: the column holds values); the name a column's value goes
  // under (µs columns become the record's ms fields); the base the `ts` offsets add to.
  const dicts = new Array<readonly unknown[] | null>(fields.length).fill(null);
  const names = fields.slice();
  const scales = new Array<number>(fields.length).fill(1);
  let tsColumn = -1;
  let base = 0;
  if (b.v === 3) {
    if (typeof b.d !== 'object' || b.d === null || Array.isArray(b.d)) return 'a format 3 batch needs dictionaries `d`';
    if (typeof b.t !== 'number' || !Number.isFinite(b.t)) return 'a format 3 batch needs its base time `t`';
    base = b.t;
    tsColumn = fields.indexOf('ts');
    for (let j = 0; j < fields.length; j++) {
      const ms = Object.hasOwn(MS_OF_US, fields[j]!) ? MS_OF_US[fields[j]!] : undefined;
      if (ms !== undefined) {
        names[j] = ms;
        scales[j] = 1000;
      }
    }
    const d = b.d as Record<string, unknown>;
    for (let j = 0; j < fields.length; j++) {
      if (!Object.hasOwn(d, fields[j]!)) continue;
      const values = d[fields[j]!];
      if (!Array.isArray(values)) return `dictionary ${JSON.stringify(fields[j])}: not an array`;
      dicts[j] = values;
    }
  }
  const out = new Array<unknown>(b.r.length);
  for (let i = 0; i < b.r.length; i++) {
    const row = b.r[i] as unknown;
    if (!Array.isArray(row) || row.length !== fields.length) return `row ${i}: not an array of ${fields.length} values`;
    const rec: Record<string, unknown> = {};
    for (let j = 0; j < fields.length; j++) {
      let value = row[j] as unknown;
      if (value === null) continue;
      const dict = dicts[j];
      if (dict != null) {
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) >= dict.length) return `row ${i}: ${fields[j]} index ${JSON.stringify(value)} is not in its dictionary`;
        value = dict[value as number];
      } else if (j === tsColumn) {
        // Not a number: left as it is, for parseCallRecord to refuse with the field's name.
        if (typeof value === 'number') value = base + value;
      } else if (scales[j] !== 1 && typeof value === 'number') value = value / scales[j]!;
      rec[names[j]!] = value;
    }
    out[i] = rec;
  }
  return out;
}
