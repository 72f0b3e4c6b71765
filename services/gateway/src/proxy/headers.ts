// Header filtering at the proxy boundary. Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection
// and never cross the proxy; neither do headers the gateway itself owns (forwarding, request id, consumer).

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
