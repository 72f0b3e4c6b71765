// call-capture's redaction: header values by name (case-insensitive) and JSON body fields by name or by
// path, replaced with "[REDACTED]". Pure: compiled once per plugin instance, applied per captured request.

export const REDACTED = '[REDACTED]';

/** Always redacted, whatever the configuration says: credentials and sessions. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'apikey'];

/** Lower-cased names, the built-in ones included. */
export function headerRedactor(extra: readonly string[]): ReadonlySet<string> {
  const names = new Set(ALWAYS_REDACTED_HEADERS);
  for (const n of extra) names.add(n.toLowerCase());
  return names;
}

/**
 * Flat [name, value, …] pairs → an object for the record, redacted; a repeated name's values are joined
 * with ", " (set-cookie is redacted anyway).
 */
export function capturedHeaders(pairs: readonly string[], redact: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!.toLowerCase();
    const value = redact.has(name) ? REDACTED : pairs[i + 1]!;
    const prior = out[name];
    out[name] = prior === undefined ? value : prior === REDACTED ? REDACTED : `${prior}, ${value}`;
  }
  return out;
}

/** Compiled redact_json_fields: bare names (any depth) and root paths (segments, `*` for any). */
export interface JsonRedaction {
  readonly names: ReadonlySet<string>;
  readonly paths: readonly (readonly string[])[];
}

export function compileJsonRedaction(fields: readonly string[]): JsonRedaction {
  const names = new Set<string>();
  const paths: string[][] = [];
  for (const f of fields) {
    if (f.startsWith('/')) paths.push(f.slice(1).split('/').map(unescapePointer));
    else names.add(f);
  }
  return { names, paths };
}

// JSON Pointer escapes (RFC 6901): ~1 is '/', ~0 is '~'.
function unescapePointer(s: string): string {
  return s.includes('~') ? s.replace(/~1/g, '/').replace(/~0/g, '~') : s;
}

/** The value with every matching field replaced (a new value; the input is not changed). */
export function redactJson(value: unknown, r: JsonRedaction): unknown {
  return walk(value, r, r.paths.length > 0 ? r.paths.map((p) => ({ path: p, at: 0 })) : NO_CURSORS);
}

interface Cursor {
  path: readonly string[];
  at: number;
}
const NO_CURSORS: Cursor[] = [];

function walk(value: unknown, r: JsonRedaction, cursors: Cursor[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      const next = advance(cursors, String(i));
      if (next.done) return REDACTED;
      return walk(v, r, next.cursors);
    });
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const next = advance(cursors, k);
    out[k] = r.names.has(k) || next.done ? REDACTED : walk(v, r, next.cursors);
  }
  return out;
}

/** The cursors that go on below `key`; done when some path ends exactly at it. */
function advance(cursors: Cursor[], key: string): { done: boolean; cursors: Cursor[] } {
  if (cursors.length === 0) return { done: false, cursors: NO_CURSORS };
  let done = false;
  const next: Cursor[] = [];
  for (const c of cursors) {
    const seg = c.path[c.at]!;
    if (seg !== '*' && seg !== key) continue;
    if (c.at + 1 === c.path.length) done = true;
    else next.push({ path: c.path, at: c.at + 1 });
  }
  return { done, cursors: next };
}

/** A captured body for the record: text, redacted when it is JSON, cut to the cap. */
export interface CapturedBody {
  body: string;
  /** The body was longer than the cap (`body` holds its first max bytes, or nothing, see below). */
  truncated: boolean;
  /** Its full size in bytes, as far as it was seen. */
  bytes: number;
}

/**
 * `data`: the first bytes of the body (at most `max`, more are not kept); `total`: its full size. A JSON
 * body (by content type, or by its first character) is parsed and redacted; when it cannot be parsed
 * (cut by the cap, or invalid) and fields are to be redacted, nothing of it is kept: a field to redact
 * could not be found in it. Other bodies are kept as UTF-8 text.
 */
export function captureBody(data: Buffer, total: number, max: number, contentType: string, r: JsonRedaction): CapturedBody {
  const truncated = total > max;
  const text = data.subarray(0, max).toString('utf8');
  if (!looksJson(contentType, text)) return { body: text, truncated, bytes: total };
  if (r.names.size === 0 && r.paths.length === 0) return { body: text, truncated, bytes: total };
  if (truncated) return { body: '[REDACTED: JSON body larger than max_body_bytes]', truncated, bytes: total };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { body: '[REDACTED: unparseable JSON body]', truncated, bytes: total };
  }
  return { body: JSON.stringify(redactJson(parsed, r)), truncated, bytes: total };
}

function looksJson(contentType: string, text: string): boolean {
  const ct = contentType.toLowerCase();
  if (ct.includes('json')) return true;
  if (ct !== '' && !ct.startsWith('text/plain')) return false;
  const first = text.trimStart().charCodeAt(0);
  return first === 0x7b || first === 0x5b; // { or [
}
