// Secrets at rest: AES-256-GCM under a keyring shared by the control plane (which seals) and the gateway
// nodes (which open). Postgres and the config bus only ever hold sealed values. A keyring lists one or more
// 32-byte keys by id; the first seals, every one opens, so keys rotate by prepending a new one, re-saving
// the secrets, then dropping the old key.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { TurnpikeError } from '../errors.js';

/** A sealed secret as stored and pushed: version, key id, and base64url IV, tag and ciphertext. */
export interface SealedSecret {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

export interface Keyring {
  /** Id of the key new secrets are sealed with. */
  readonly activeKid: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** A key's id when none is given: the first 8 hex digits of its SHA-256 (stable, reveals nothing useful). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new Error(`${where}: a secret key must be 32 bytes, as 64 hex digits or base64`);
  return key;
}

/**
 * Parses `TP_SECRET_KEYS` (`kid:key,kid:key`, first = active) or a single `TP_SECRET_KEY` (`key`, its id
 * derived). Keys are 32 bytes in hex or base64. Returns null when neither is set.
 */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring | null {
  const many = env.TP_SECRET_KEYS?.trim();
  if (many) {
    const keys = new Map<string, Buffer>();
    let activeKid = '';
    for (const part of many.split(',')) {
      const colon = part.indexOf(':');
      if (colon <= 0) throw new Error('TP_SECRET_KEYS: expected kid:key[,kid:key...]');
      const kid = part.slice(0, colon).trim();
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(kid)) throw new Error(`TP_SECRET_KEYS: bad key id ${JSON.stringify(kid)}`);
      keys.set(kid, decodeKey(part.slice(colon + 1), `TP_SECRET_KEYS[${kid}]`));
      activeKid ||= kid;
    }
    return { activeKid, keys };
  }
  const one = env.TP_SECRET_KEY?.trim();
  if (one) return keyringOf(decodeKey(one, 'TP_SECRET_KEY'));
  return null;
}

export function keyringOf(key: Buffer, kid: string = keyIdOf(key)): Keyring {
  return { activeKid: kid, keys: new Map([[kid, key]]) };
}

export function generateSecretKey(): Buffer {
  return randomBytes(32);
}

/** Seals `plain` under the active key. `context` (e.g. the owning entity's id) is bound as associated data. */
export function seal(ring: Keyring, plain: string, context = ''): SealedSecret {
  const key = ring.keys.get(ring.activeKid)!;
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(context));
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return { v: 1, kid: ring.activeKid, iv: iv.toString('base64url'), tag: c.getAuthTag().toString('base64url'), ct: ct.toString('base64url') };
}

export function isSealed(v: unknown): v is SealedSecret {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return s.v === 1 && typeof s.kid === 'string' && typeof s.iv === 'string' && typeof s.tag === 'string' && typeof s.ct === 'string';
}

/** Opens a sealed secret; throws TP_ERR_UNAVAILABLE when the key is unknown or the value was tampered with. */
export function open(ring: Keyring, sealed: SealedSecret, context = ''): string {
  const key = ring.keys.get(sealed.kid);
  if (!key) throw new TurnpikeError('TP_ERR_UNAVAILABLE', `secret sealed with key ${JSON.stringify(sealed.kid)}, which this keyring does not hold`);
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(sealed.ct, 'base64url')), d.final()]).toString('utf8');
  } catch {
    throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'a sealed secret failed authentication (wrong key or tampered value)');
  }
}
