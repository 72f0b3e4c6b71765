// ip-restriction: allow/deny lists of CIDR blocks compiled into sorted, merged ranges (binary search per
// request, no allocation), and the client address found through trusted proxies.
//
// Client address (what `clientIpOf` returns and `checkIp` tests):
//  - the TCP peer, unless the peer is a trusted proxy;
//  - when it is, the configured header (X-Forwarded-For, or RFC 7239 Forwarded `for=`; only one is ever read,
//    since a proxy that writes one passes the other through as the client sent it) is walked from the right,
//    skipping trusted proxies: the first untrusted address is the client. If every listed address is trusted,
//    the leftmost is the client. A trusted peer that sent no header is itself the client;
//  - an entry that is not an address (garbage, `unknown`, an obfuscated `_id`) ends the walk with no client:
//    `clientIpOf` returns '' and `checkIp` refuses, whatever the lists say (fail closed);
//  - IPv4-mapped IPv6 (`::ffff:10.1.2.3`) is IPv4 everywhere; ports (`1.2.3.4:5678`, `[2001:db8::1]:80`) and
//    brackets are stripped; a zone (`fe80::1%eth0`) is not an address.
import { TurnpikeError, ipRestrictionProblems, parseCidr, parseIpInto, type FieldError, type IpRestrictionConfig } from '@turnpike/common';

/** A set of IPv4 and IPv6 blocks as sorted, non-overlapping inclusive ranges. */
export class IpSet {
  /** IPv4 range starts and ends (parallel arrays). */
  readonly v4First: Uint32Array;
  readonly v4Last: Uint32Array;
  /** IPv6 ranges, 8 words each: first (4 words, big-endian) then last. */
  readonly v6: Uint32Array;

  private constructor(v4First: Uint32Array, v4Last: Uint32Array, v6: Uint32Array) {
    this.v4First = v4First;
    this.v4Last = v4Last;
    this.v6 = v6;
  }

  static readonly EMPTY = new IpSet(new Uint32Array(0), new Uint32Array(0), new Uint32Array(0));

  /** Throws TP_ERR_VALIDATION with `<path>/<index>` field errors for entries that are not blocks. */
  static from(cidrs: readonly string[], path = ''): IpSet {
    const v4: [number, number][] = [];
    const v6: [Uint32Array, Uint32Array][] = [];
    const fields: FieldError[] = [];
    cidrs.forEach((text, i) => {
      const r = parseCidr(text);
      if ('error' in r) fields.push({ path: `${path}/${i}`, message: `${JSON.stringify(text)} ${r.error}` });
      else if (r.family === 4) v4.push([r.first, r.last]);
      else v6.push([r.first, r.last]);
    });
    if (fields.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `${fields[0]!.path} ${fields[0]!.message}`, fields);

    v4.sort((a, b) => a[0] - b[0]);
    const m4: [number, number][] = [];
    for (const r of v4) {
      const top = m4[m4.length - 1];
      if (top && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
      else m4.push([r[0], r[1]]);
    }
    v6.sort((a, b) => cmpWords(a[0], 0, b[0]));
    const m6: [Uint32Array, Uint32Array][] = [];
    for (const r of v6) {
      const top = m6[m6.length - 1];
      if (top && cmpWords(r[0], 0, top[1]) <= 0) {
        if (cmpWords(r[1], 0, top[1]) > 0) top[1] = r[1];
      } else m6.push([r[0], r[1]]);
    }
    const flat6 = new Uint32Array(m6.length * 8);
    m6.forEach(([f, l], i) => {
      flat6.set(f, i * 8);
      flat6.set(l, i * 8 + 4);
    });
    return new IpSet(Uint32Array.from(m4, (r) => r[0]), Uint32Array.from(m4, (r) => r[1]), flat6);
  }

  get size(): number {
    return this.v4First.length + this.v6.length / 8;
  }

  has4(ip: number): boolean {
    const first = this.v4First;
    let lo = 0;
    let hi = first.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (first[mid]! <= ip) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && ip <= this.v4Last[hi]!;
  }

  /** `w`: four big-endian words. */
  has6(w: Uint32Array): boolean {
    const r = this.v6;
    let lo = 0;
    let hi = r.length / 8 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmpAt(r, mid * 8, w) <= 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && cmpAt(r, hi * 8 + 4, w) >= 0;
  }

  /** After `parseIpInto` returned `family` into `w`. */
  has(family: 0 | 4 | 6, w: Uint32Array): boolean {
    return family === 4 ? this.has4(w[0]!) : family === 6 ? this.has6(w) : false;
  }
}

function cmpWords(a: Uint32Array, off: number, b: Uint32Array): number {
  for (let k = 0; k < 4; k++) {
    const x = a[off + k]!;
    const y = b[k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
/** Compares the range word block at `r[off..off+3]` with `w`. */
function cmpAt(r: Uint32Array, off: number, w: Uint32Array): number {
  return cmpWords(r, off, w);
}

/** Which header a trusted proxy writes the client into. */
export const ClientIpHeader = { XForwardedFor: 0, Forwarded: 1 } as const;
export type ClientIpHeader = (typeof ClientIpHeader)[keyof typeof ClientIpHeader];

export interface TrustedProxies {
  set: IpSet;
  header: ClientIpHeader;
}

export const NO_TRUSTED_PROXIES: TrustedProxies = { set: IpSet.EMPTY, header: ClientIpHeader.XForwardedFor };

/** The node's trusted proxies, e.g. from TP_TRUSTED_PROXIES (comma-separated blocks); throws TP_ERR_VALIDATION. */
export function compileTrustedProxies(list: readonly string[] | string, header: 'x-forwarded-for' | 'forwarded' = 'x-forwarded-for'): TrustedProxies {
  const cidrs = typeof list === 'string' ? list.split(',').map((s) => s.trim()).filter((s) => s !== '') : list;
  if (cidrs.length === 0 && header === 'x-forwarded-for') return NO_TRUSTED_PROXIES;
  return { set: IpSet.from(cidrs), header: header === 'forwarded' ? ClientIpHeader.Forwarded : ClientIpHeader.XForwardedFor };
}

export interface IpPolicy {
  /** null: every address not denied is allowed. */
  allow: IpSet | null;
  deny: IpSet | null;
  trusted: TrustedProxies;
}

/**
 * Compiles a validated config; `nodeTrusted` applies when the config's `trusted_proxies` is null. Throws
 * TP_ERR_VALIDATION with field paths (relative to the config) for what the schema cannot check.
 */
export function compileIpRestriction(cfg: IpRestrictionConfig, nodeTrusted: TrustedProxies = NO_TRUSTED_PROXIES): IpPolicy {
  const problems = ipRestrictionProblems(cfg);
  if (problems.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `${problems[0]!.path} ${problems[0]!.message}`, problems);
  const header: ClientIpHeader = cfg.client_ip_header === 'forwarded' ? ClientIpHeader.Forwarded : ClientIpHeader.XForwardedFor;
  return {
    allow: cfg.allow.length > 0 ? IpSet.from(cfg.allow, '/allow') : null,
    deny: cfg.deny.length > 0 ? IpSet.from(cfg.deny, '/deny') : null,
    trusted: cfg.trusted_proxies === null ? { set: nodeTrusted.set, header } : { set: IpSet.from(cfg.trusted_proxies, '/trusted_proxies'), header },
  };
}

export interface AccessDenial {
  code: 'TP_ERR_IP_FORBIDDEN';
  status: 403;
  message: string;
}
export const IP_FORBIDDEN: AccessDenial = Object.freeze({ code: 'TP_ERR_IP_FORBIDDEN', status: 403, message: 'the client address is not allowed here' });

// ---- client address resolution (allocation-free; results in module scratch) ----

const W = new Uint32Array(4);
/** Where the chosen address lies: in `peerIp` (SRC_PEER) or the header, with its bounds. */
const SRC_PEER = 0;
const SRC_HEADER = 1;
let src = SRC_PEER;
let addrStart = 0;
let addrEnd = 0;

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Strips spaces, brackets and a port from `s[from, to)` into addrStart/addrEnd; false when malformed. */
function addressBounds(s: string, from: number, to: number): boolean {
  while (from < to && isSpace(s.charCodeAt(from))) from++;
  while (to > from && isSpace(s.charCodeAt(to - 1))) to--;
  if (from === to) return false;
  if (s.charCodeAt(from) === 91 /* [ */) {
    const close = s.indexOf(']', from);
    if (close === -1 || close >= to) return false;
    if (close + 1 !== to && s.charCodeAt(close + 1) !== 58 /* : */) return false;
    addrStart = from + 1;
    addrEnd = close;
    return true;
  }
  // `a.b.c.d:port`: one colon after a dot-quad (an IPv6 address has at least two colons).
  const colon = s.indexOf(':', from);
  if (colon !== -1 && colon < to && s.lastIndexOf(':', to - 1) === colon && s.lastIndexOf('.', colon) >= from) to = colon;
  addrStart = from;
  addrEnd = to;
  return true;
}

/** The `for=` node of the forwarded-element `s[from, to)` into addrStart/addrEnd; false when absent or not an address form. */
function forwardedFor(s: string, from: number, to: number): boolean {
  let p = from;
  while (p < to) {
    // one parameter: [p, semi)
    let semi = p;
    let quoted = false;
    while (semi < to) {
      const c = s.charCodeAt(semi);
      if (c === 34) quoted = !quoted;
      else if (c === 59 /* ; */ && !quoted) break;
      semi++;
    }
    let n = p;
    while (n < semi && isSpace(s.charCodeAt(n))) n++;
    if (
      semi - n > 4 &&
      (s.charCodeAt(n) | 32) === 102 /* f */ &&
      (s.charCodeAt(n + 1) | 32) === 111 /* o */ &&
      (s.charCodeAt(n + 2) | 32) === 114 /* r */ &&
      s.charCodeAt(n + 3) === 61 /* = */
    ) {
      let vs = n + 4;
      let ve = semi;
      while (ve > vs && isSpace(s.charCodeAt(ve - 1))) ve--;
      if (s.charCodeAt(vs) === 34) {
        if (ve - vs < 2 || s.charCodeAt(ve - 1) !== 34) return false;
        vs++;
        ve--;
        if (s.indexOf('\\', vs) !== -1 && s.indexOf('\\', vs) < ve) return false;
      }
      return addressBounds(s, vs, ve);
    }
    p = semi + 1;
  }
  return false;
}

/**
 * Resolves the client address into the scratch words; returns its family (0: unknown). See the file header
 * for the rules. `xff` / `forwarded`: the header values ('' when absent); only the one `trusted.header` names is read.
 */
function resolveClient(peerIp: string, xff: string, forwarded: string, trusted: TrustedProxies): 0 | 4 | 6 {
  src = SRC_PEER;
  let fam = parseIpInto(peerIp, 0, peerIp.length, W);
  if (fam === 0 || !trusted.set.has(fam, W)) return fam;
  const fwd = trusted.header === ClientIpHeader.Forwarded;
  const h = fwd ? forwarded : xff;
  let end = h.length;
  let seen = false;
  while (end > 0) {
    // the list member [start, end): back to the previous comma (outside quotes in Forwarded; XFF has none)
    let start = end;
    let quoted = false;
    while (start > 0) {
      const c = h.charCodeAt(start - 1);
      if (c === 34 && fwd) quoted = !quoted;
      else if (c === 44 /* , */ && !quoted) break;
      start--;
    }
    let blank = true;
    for (let i = start; i < end; i++) {
      if (!isSpace(h.charCodeAt(i))) {
        blank = false;
        break;
      }
    }
    if (!blank) {
      if (!(fwd ? forwardedFor(h, start, end) : addressBounds(h, start, end))) return 0;
      const f = parseIpInto(h, addrStart, addrEnd, W);
      if (f === 0) return 0;
      src = SRC_HEADER;
      fam = f;
      seen = true;
      if (!trusted.set.has(f, W)) return f;
    }
    end = start - 1;
  }
  // Every entry was trusted (or there were none): the leftmost one, or the peer, is the client.
  if (!seen) src = SRC_PEER;
  return fam;
}

/**
 * The client address as text: the peer, or the header entry chosen by the rules above (IPv4-mapped IPv6
 * written as IPv4, brackets and port stripped); '' when it cannot be known.
 */
export function clientIpOf(peerIp: string, xffHeader: string, forwardedHeader: string, trusted: TrustedProxies): string {
  const fam = resolveClient(peerIp, xffHeader, forwardedHeader, trusted);
  if (fam === 0) return '';
  const text = src === SRC_PEER ? peerIp : (trusted.header === ClientIpHeader.Forwarded ? forwardedHeader : xffHeader).slice(addrStart, addrEnd);
  if (fam === 4 && text.includes(':')) {
    const v = W[0]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return text;
}

/** Whether the address family/words in scratch pass the lists: deny wins, then a non-empty allow must match. */
function admits(policy: IpPolicy, fam: 0 | 4 | 6): boolean {
  if (fam === 0) return false;
  if (policy.deny !== null && policy.deny.has(fam, W)) return false;
  return policy.allow === null || policy.allow.has(fam, W);
}

/**
 * The per-request check: null to admit, IP_FORBIDDEN to refuse (403). Allocates nothing. Pass the
 * X-Forwarded-For and Forwarded values ('' when absent; only `policy.trusted.header`'s is read, so the other
 * may be '' always); repeated header lines must arrive joined with ', '.
 */
export function checkIp(policy: IpPolicy, peerIp: string, xffHeader: string, forwardedHeader: string): AccessDenial | null {
  return admits(policy, resolveClient(peerIp, xffHeader, forwardedHeader, policy.trusted)) ? null : IP_FORBIDDEN;
}

/** Whether one address (no proxies involved) passes the lists; for tests and admin tooling. */
export function ipAllowed(policy: IpPolicy, ip: string): boolean {
  return admits(policy, parseIpInto(ip, 0, ip.length, W));
}
