// Password hashes (basic-auth credentials): scrypt with a random salt, in one self-describing string
// `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`, verified in constant time. Verification costs
// milliseconds by design, so the gateway caches successful checks rather than hashing per request.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

const LOG_N = 15;
const R = 8;
const P = 1;
const LEN = 32;

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, LEN, { N: 2 ** LOG_N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${LOG_N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** A password hash's parts, ready for node:crypto scrypt (sync or async); null when `encoded` is not one. */
export interface PasswordHashParams {
  readonly salt: Buffer;
  readonly expected: Buffer;
  readonly options: { readonly N: number; readonly r: number; readonly p: number; readonly maxmem: number };
}

export function parsePasswordHash(encoded: string): PasswordHashParams | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const logN = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  if (!Number.isInteger(logN) || logN < 10 || logN > 20 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return null;
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length < 16) return null;
  return { salt: Buffer.from(parts[4]!, 'base64url'), expected, options: { N: 2 ** logN, r, p, maxmem: 256 * 1024 * 1024 } };
}

export function verifyPassword(password: string, encoded: string): boolean {
  const h = parsePasswordHash(encoded);
  if (!h) return false;
  const got = scryptSync(password, h.salt, h.expected.length, h.options);
  return timingSafeEqual(got, h.expected);
}
