// Header filtering at the proxy boundary. Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection
// and never cross the proxy; neither do headers the gateway itself owns (forwarding, request id, consumer).
import { randomFillSync } from 'node:crypto';

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const HOP_BY_HOP_VALUES: ReadonlySet<string> = new Set(['keep-alive', 'close', 'upgrade']);

/** Request headers the gateway sets itself or that undici must not receive. */
const REQUEST_OWNED: ReadonlySet<string> = new Set([
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-request-id',
  'x-consumer-id',
  'x-consumer-username',
  // Set only by mtls-auth from a verified client certificate: a client's own copies never pass (any route).
  'x-client-cert-fingerprint',
  'x-client-cert-subject',
  'x-client-cert-san',
]);

/** Response headers uWS writes itself (content-length, date) or the gateway sets (x-request-id). */
const RESPONSE_OWNED: ReadonlySet<string> = new Set(['content-length', 'date', 'x-request-id']);

/** Lower-cased header names listed in a Connection header value. */
export function connectionTokens(value: string): string[] {
  // The usual values name only hop-by-hop options, which are dropped anyway.
  if (value.length <= 10 && HOP_BY_HOP_VALUES.has(value.toLowerCase())) return [];
  const out: string[] = [];
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name) out.push(name);
  }
  return out;
}

/** `name` must be lower case (uWS gives request header names lower-cased). */
export function dropRequestHeader(name: string): boolean {
  return HOP_BY_HOP.has(name) || REQUEST_OWNED.has(name);
}

export function dropResponseHeader(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || RESPONSE_OWNED.has(lowerName);
}

/** Removes the names listed in Connection from a flat [name, value, …] array (names lower-case). */
export function removeConnectionListed(flat: string[], connection: string): string[] {
  const listed = connectionTokens(connection);
  if (listed.length === 0) return flat;
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!listed.includes(name)) out.push(name, flat[i + 1] as string);
  }
  return out;
}

export interface ResponseHeaders {
  /** Flat [name, value, …] to forward to the client, as undici gave them (Buffers pass to uWS as-is). */
  pairs: (Buffer | string)[];
  /** Declared content-length, or -1 when absent/invalid (the body is then streamed chunked). */
  contentLength: number;
}

// Only names as long as one we drop need decoding: most response headers pass through as raw Buffers.
const DROP_LENGTH = new Uint8Array(64);
for (const n of [...HOP_BY_HOP, ...RESPONSE_OWNED]) DROP_LENGTH[n.length] = 1;

/** Filters upstream raw headers (undici's alternating Buffer name/value list). */
export function filterResponseHeaders(raw: readonly (Buffer | string)[]): ResponseHeaders {
  let contentLength = -1;
  let connection = '';
  const pairs: (Buffer | string)[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const rawName = raw[i] as Buffer | string;
    const rawValue = raw[i + 1] as Buffer | string;
    if (rawName.length < 64 && DROP_LENGTH[rawName.length] === 1) {
      const name = rawName.toString().toLowerCase();
      if (name === 'content-length') {
        const n = Number(rawValue.toString());
        if (Number.isSafeInteger(n) && n >= 0) contentLength = n;
        continue;
      }
      if (name === 'connection') connection = connection ? `${connection},${rawValue.toString()}` : rawValue.toString();
      if (dropResponseHeader(name)) continue;
    }
    pairs.push(rawName, rawValue);
  }
  const listed = connection === '' ? [] : connectionTokens(connection);
  if (listed.length === 0) return { pairs, contentLength };
  const kept: (Buffer | string)[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    if (!listed.includes(pairs[i]!.toString().toLowerCase())) kept.push(pairs[i]!, pairs[i + 1]!);
  }
  return { pairs: kept, contentLength };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A client-supplied request id is kept only when it is short and plain. */
export function validRequestId(id: string): boolean {
  return id.length > 0 && REQUEST_ID.test(id);
}

/** Host header without the port; `[v6]:port` keeps the brackets off. */
export function hostWithoutPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

// ---- Forwarded (RFC 7239), Via (RFC 9110 §7.6.3), W3C trace context ----

/** The Via entry this proxy adds to requests and responses (`received-protocol received-by`). */
export const VIA = '1.1 turnpike';

/** `prior, 1.1 turnpike`: the incoming Via (if any) with ours appended. */
/** Repeated list headers are one comma-joined list (RFC 9110 §5.3); also appends to X-Forwarded-For. */
export function joinList(prior: string, value: string): string {
  return prior === '' ? value : `${prior}, ${value}`;
}

export function viaWith(prior: string): string {
  return prior === '' ? VIA : `${prior}, ${VIA}`;
}

// RFC 9110 tchar, as a lookup table: a Forwarded value made only of these needs no quotes.
const TCHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(ch)) TCHAR[c] = 1;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A Forwarded parameter value: as a token when it is one, else a quoted-string (`"` and `\` escaped). */
export function forwardedValue(v: string): string {
  if (isToken(v)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** The `for=` node of a client address: IPv4 as is, IPv6 as `"[v6]"` (RFC 7239 §6). */
export function forwardedNode(ip: string): string {
  if (ip.includes(':')) return `"[${ip}]"`;
  return ip === '' ? 'unknown' : ip;
}

// Most requests to a node name the same few hosts: remember the last one's formatted parameter.
let lastHost = '';
let lastHostParam = '';

/** This hop's forwarded-element, appended to the incoming Forwarded (if any) as another list member. */
export function forwardedWith(prior: string, clientIp: string, proto: string, host: string): string {
  if (host !== lastHost) {
    lastHost = host;
    lastHostParam = host === '' ? '' : `;host=${forwardedValue(host)}`;
  }
  const el = `for=${forwardedNode(clientIp)};proto=${proto}${lastHostParam}`;
  return prior === '' ? el : `${prior}, ${el}`;
}

const HEX = new Uint8Array(128);
for (const ch of '0123456789abcdef') HEX[ch.charCodeAt(0)] = 1;

function lowerHex(s: string, from: number, to: number): boolean {
  let nonZero = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX[c] === 0) return false;
    if (c !== 48) nonZero = true;
  }
  return nonZero || to - from === 2;
}

/**
 * W3C Trace Context `traceparent`: `vv-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lower-case hex,
 * ids not all zero, version `ff` invalid. A higher version may append `-…` fields (kept, per the spec).
 */
export function validTraceparent(v: string): boolean {
  const n = v.length;
  if (n < 55) return false;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return false;
  if (!lowerHex(v, 0, 2) || (v.charCodeAt(0) === 102 && v.charCodeAt(1) === 102)) return false;
  if (!lowerHex(v, 3, 35) || !lowerHex(v, 36, 52) || !lowerHex(v, 53, 55)) return false;
  if (n === 55) return true;
  // Version 00 is exactly 55 characters; later versions may only extend it after a dash.
  return !(v.charCodeAt(0) === 48 && v.charCodeAt(1) === 48) && v.charCodeAt(55) === 45;
}

// Random ids for generated traceparents come from a pooled CSPRNG buffer hex-encoded in one go: one
// randomFillSync and one toString per 256 requests instead of crypto work per request.
const TRACE_POOL_IDS = 256;
const tracePool = Buffer.allocUnsafe(24 * TRACE_POOL_IDS);
let traceHex = '';
let traceNext = TRACE_POOL_IDS;

/** A fresh `00-<trace-id>-<parent-id>-00` (not sampled): lets upstream logs correlate with ours. */
export function newTraceparent(): string {
  if (traceNext === TRACE_POOL_IDS) {
    randomFillSync(tracePool);
    traceHex = tracePool.toString('hex');
    traceNext = 0;
  }
  const o = traceNext++ * 48;
  // An all-zero id is invalid; at 2^-128 / 2^-64 odds it is not worth a branch beyond this one.
  return `00-${traceHex.slice(o, o + 32)}-${traceHex.slice(o + 32, o + 48)}-00`;
}
