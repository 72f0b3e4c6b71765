// The pure rules of WebSocket proxying (RFC 6455): which subprotocols reach the upstream, which close codes
// may cross the proxy and what an abnormal end on one side becomes on the other, the upstream's ws:// URL.

/** Close codes (RFC 6455 §7.4.1) the proxy sends or maps to. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
/** "No status received": the peer's close frame carried no code. Never sent on the wire. */
export const CLOSE_NO_STATUS = 1005;
/** "Abnormal closure": the connection dropped without a close frame. Never sent on the wire. */
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * Whether `code` may be sent in a close frame: 1000–1003, 1007–1014 (registered; 1004–1006 and 1015 are
 * reserved or local-only) and 3000–4999 (libraries and applications).
 */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** A close code (0: a close frame without one) and its reason, to send to the other side. */
export interface CloseFrame {
  code: number;
  reason: string;
}

const NO_CODE: CloseFrame = { code: 0, reason: '' };

/**
 * What to send the other side when one side closed with `code`/`reason`: a sendable code passes as is; a
 * close without a code (1005) passes as one without a code; an abnormal end (1006) becomes `abnormal` (the
 * caller's choice: 1001 toward the upstream when the client vanished, 1011 toward the client when the
 * upstream did); any other code that may not be sent becomes 1011.
 */
export function closeForOtherSide(code: number, reason: string, abnormal: CloseFrame): CloseFrame {
  if (sendableCloseCode(code)) return { code, reason: truncateReason(reason) };
  if (code === CLOSE_NO_STATUS || code === 0) return NO_CODE;
  if (code === CLOSE_ABNORMAL) return abnormal;
  return { code: CLOSE_INTERNAL_ERROR, reason: '' };
}

/** A close reason is at most 123 bytes of UTF-8 (a control frame's 125 minus the code). */
export function truncateReason(reason: string): string {
  if (reason.length <= 41 || Buffer.byteLength(reason) <= 123) return reason;
  let out = Buffer.from(reason).subarray(0, 123).toString();
  // A multi-byte character cut in half decodes to U+FFFD (3 bytes): drop characters until it fits.
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/**
 * The subprotocols to offer the upstream: those of the client's `Sec-WebSocket-Protocol` (a comma-separated
 * list, possibly over several header lines, which uWS joins) that `allowed` lists, in the client's order;
 * every one when `allowed` is null. Empty entries and duplicates are left out.
 */
export function offeredSubprotocols(header: string, allowed: ReadonlySet<string> | null): string[] {
  if (header === '') return [];
  const out: string[] = [];
  for (const part of header.split(',')) {
    const p = part.trim();
    if (p === '' || out.includes(p)) continue;
    if (allowed === null || allowed.has(p)) out.push(p);
  }
  return out;
}

/** RFC 9110 token characters: what a subprotocol name may be made of. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** The first offered name that is not a token (the upgrade is answered 400), or null. */
export function invalidSubprotocol(offered: readonly string[]): string | null {
  for (const p of offered) if (!TOKEN.test(p)) return p;
  return null;
}

/** `http://h:p` → `ws://h:p`, `https://h:p` → `wss://h:p`, then the path (with its query). */
export function upstreamWsUrl(origin: string, pathAndQuery: string): string {
  const secure = origin.charCodeAt(4) === 115; /* 's' of https */
  return (secure ? 'wss' : 'ws') + origin.slice(secure ? 5 : 4) + pathAndQuery;
}
