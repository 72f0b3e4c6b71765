// IP addresses and CIDR blocks, parsed by one strict, allocation-free parser shared by the control plane
// (validating plugin configs at write time) and the gateway (per-request client addresses), so the two can
// never disagree on what an address is. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is reported as IPv4.

/** Where `parseIpInto` writes: IPv4 in `[0]`, IPv6 as four big-endian 32-bit words. */
export type IpWords = Uint32Array;

const COLON = 58;
const DOT = 46;

// Module scratch: parsing runs to completion synchronously, so one set per thread is enough.
const GROUPS = new Uint16Array(8);
let v4Value = 0;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Dotted quad, four decimal octets without leading zeros (`010` is ambiguous: octal in some parsers). */
function parse4(s: string, i: number, end: number): boolean {
  let value = 0;
  let parts = 0;
  while (parts < 4) {
    const from = i;
    let octet = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
      if (i - from > 3) return false;
    }
    const len = i - from;
    if (len === 0 || octet > 255 || (len > 1 && s.charCodeAt(from) === 48)) return false;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== DOT) return false;
      i++;
    }
  }
  if (i !== end) return false;
  v4Value = value >>> 0;
  return true;
}

/** RFC 4291 text forms: up to eight groups, one `::`, an optional dotted-quad tail. No zone (`%eth0`). */
function parse6(s: string, i: number, end: number, out: IpWords): boolean {
  if (end - i < 2) return false;
  let n = 0;
  let dc = -1;
  if (s.charCodeAt(i) === COLON) {
    if (s.charCodeAt(i + 1) !== COLON) return false;
    dc = 0;
    i += 2;
  }
  while (i < end) {
    if (n === 8) return false;
    let j = i;
    let v = 0;
    while (j < end && j - i < 5) {
      const h = hexVal(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j === i) return false;
    if (j < end && s.charCodeAt(j) === DOT) {
      if (n > 6 || !parse4(s, i, end)) return false;
      GROUPS[n++] = v4Value >>> 16;
      GROUPS[n++] = v4Value & 0xffff;
      i = end;
      break;
    }
    if (j - i > 4) return false;
    GROUPS[n++] = v;
    if (j === end) {
      i = j;
      break;
    }
    if (s.charCodeAt(j) !== COLON) return false;
    j++;
    if (j === end) return false; // a single trailing colon
    if (s.charCodeAt(j) === COLON) {
      if (dc !== -1) return false;
      dc = n;
      j++;
    }
    i = j;
  }
  if (dc === -1) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false; // `::` stands for at least one group
    const tail = n - dc;
    for (let k = 0; k < tail; k++) GROUPS[7 - k] = GROUPS[n - 1 - k]!;
    for (let k = dc; k < 8 - tail; k++) GROUPS[k] = 0;
  }
  out[0] = ((GROUPS[0]! << 16) | GROUPS[1]!) >>> 0;
  out[1] = ((GROUPS[2]! << 16) | GROUPS[3]!) >>> 0;
  out[2] = ((GROUPS[4]! << 16) | GROUPS[5]!) >>> 0;
  out[3] = ((GROUPS[6]! << 16) | GROUPS[7]!) >>> 0;
  return true;
}

/**
 * Parses `s.slice(start, end)` as an IP address into `out` without allocating: returns 4 (IPv4, also for
 * IPv4-mapped IPv6, value in `out[0]`), 6 (IPv6 in `out[0..3]`) or 0 (not an address).
 */
export function parseIpInto(s: string, start: number, end: number, out: IpWords): 0 | 4 | 6 {
  if (end - start < 2 || end - start > 45) return 0;
  let colon = false;
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) === COLON) {
      colon = true;
      break;
    }
  }
  if (!colon) {
    if (!parse4(s, start, end)) return 0;
    out[0] = v4Value;
    return 4;
  }
  if (!parse6(s, start, end, out)) return 0;
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3]!;
    return 4;
  }
  return 6;
}

/** A parsed CIDR block as an inclusive range. */
export type CidrRange = { family: 4; first: number; last: number } | { family: 6; first: IpWords; last: IpWords };

/**
 * `a.b.c.d[/n]` or an IPv6 address with an optional `/n`; a bare address is a /32 or /128. An IPv4-mapped
 * IPv6 block of /96 or longer becomes the IPv4 block (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). Host bits
 * must be zero (`10.0.0.1/8` is refused: it is usually a typo for an address or for another block).
 */
export function parseCidr(text: string): CidrRange | { error: string } {
  const slash = text.indexOf('/');
  const addrEnd = slash === -1 ? text.length : slash;
  const words = new Uint32Array(4);
  let family = parseIpInto(text, 0, addrEnd, words);
  if (family === 0) return { error: 'is not an IPv4 or IPv6 address or CIDR block' };
  let mapped = false;
  if (family === 4 && text.includes(':')) mapped = true;
  const max = family === 4 ? (mapped ? 128 : 32) : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return { error: `has an invalid prefix length (0–${max})` };
    prefix = Number(p);
  }
  if (mapped) {
    if (prefix < 96) {
      // A block wider than ::ffff:0:0/96 is an IPv6 block that only partly covers IPv4-mapped space.
      family = 6;
      words[3] = words[0]!;
      words[0] = 0;
      words[1] = 0;
      words[2] = 0xffff;
    } else prefix -= 96;
  }
  if (family === 4) {
    const v = words[0]!;
    const hostMask = prefix === 0 ? 0xffffffff : prefix === 32 ? 0 : (0xffffffff >>> prefix) >>> 0;
    if ((v & hostMask) >>> 0 !== 0) return { error: 'has host bits set (the address must be the first of its block)' };
    return { family: 4, first: v, last: (v | hostMask) >>> 0 };
  }
  const first = new Uint32Array(4);
  const last = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    const bits = prefix - k * 32; // prefix bits that fall in this word
    const hostMask = bits >= 32 ? 0 : bits <= 0 ? 0xffffffff : (0xffffffff >>> bits) >>> 0;
    if ((words[k]! & hostMask) >>> 0 !== 0) return { error: 'has host bits set (the address must be the first of its block)' };
    first[k] = words[k]!;
    last[k] = (words[k]! | hostMask) >>> 0;
  }
  return { family: 6, first, last };
}

/** Characters a CIDR or address may contain: a cheap schema-level pattern; `parseCidr` has the last word. */
export const CIDR_PATTERN = '^[0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?$';

/** Field errors for a list of CIDR blocks, at `<path>/<index>`. */
export function cidrListProblems(list: readonly string[] | null | undefined, path: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (!list) return out;
  list.forEach((text, i) => {
    const r = parseCidr(text);
    if ('error' in r) out.push({ path: `${path}/${i}`, message: `${JSON.stringify(text)} ${r.error}` });
  });
  return out;
}
