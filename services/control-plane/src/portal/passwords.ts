// Developer passwords: scrypt with a random 16-byte salt per account, compared in constant time. The cost
// parameters are stored with each hash (`scrypt:N:r:p`), so raising them later leaves old hashes verifiable.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LEN = 64;
// N = 2^15 (~32 MiB, tens of ms per hash): OWASP's minimum for scrypt is N = 2^17 with p = 1 for offline
// attacks on a stolen table; 2^15 keeps sign-in bursts from starving a 2-core control plane while the
// sign-in lockout bounds online guessing. maxmem is raised to fit (128·N·r bytes plus slack).
const DEFAULT = { N: 1 << 15, r: 8, p: 1 };

function scrypt(password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export interface PasswordHash {
  params: string;
  salt: Buffer;
  hash: Buffer;
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  return { params: `scrypt:${DEFAULT.N}:${DEFAULT.r}:${DEFAULT.p}`, salt, hash: await scrypt(password, salt, DEFAULT) };
}

function parseParams(params: string): { N: number; r: number; p: number } {
  const m = /^scrypt:(\d+):(\d+):(\d+)$/.exec(params);
  if (!m) throw new Error(`unknown password hash parameters ${JSON.stringify(params)}`);
  return { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const got = await scrypt(password, stored.salt, parseParams(stored.params));
  return got.length === stored.hash.length && timingSafeEqual(got, stored.hash);
}

/**
 * Spends the time of one verification for an email that has no account, so that the answer's timing does
 * not tell which emails are registered.
 */
const DUMMY: PasswordHash = { params: `scrypt:${DEFAULT.N}:${DEFAULT.r}:${DEFAULT.p}`, salt: randomBytes(16), hash: randomBytes(KEY_LEN) };
export async function verifyNothing(password: string): Promise<false> {
  await verifyPassword(password, DUMMY);
  return false;
}
