// JWS signature checks (RFC 7518 §3) with node:crypto, synchronous: a verification key is imported once
// (KeyObject, with its per-algorithm verify options built then) and checked against each token's `alg`
// before use, so an HS token never meets an RSA public key (algorithm confusion) and an RS token never an
// HMAC secret.
import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

export type KeyKind = 'secret' | 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448';

/** A key ready to verify with: imported once, reused for every token. */
export interface VerifyKey {
  readonly kind: KeyKind;
  readonly key: KeyObject;
  /** EC keys: the named curve (OpenSSL name). */
  readonly curve: string | null;
  /** A JWK's `kid`; null for a PEM key or shared secret. */
  readonly kid: string | null;
  /** A JWK's `alg`: the key verifies that algorithm only. */
  readonly alg: string | null;
  /** crypto.verify options, built at import (no per-token allocation). */
  readonly pss: { key: KeyObject; padding: number; saltLength: number } | null;
  readonly p1363: { key: KeyObject; dsaEncoding: 'ieee-p1363' } | null;
}

const EC_CURVES: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
/** IEEE P1363 r||s length per curve. */
const EC_SIG_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };
const HASH: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
/** RFC 7518 §3.3 / §3.5: RSA keys of at least 2048 bits. */
export const RSA_MIN_BITS = 2048;

/** Wraps an imported key; throws when it is not a key any JWS algorithm can verify with. */
export function verifyKeyOf(key: KeyObject, kid: string | null = null, alg: string | null = null): VerifyKey {
  let kind: KeyKind;
  if (key.type === 'secret') kind = 'secret';
  else if (key.type !== 'public') throw new Error('not a public key');
  else {
    const t = key.asymmetricKeyType;
    if (t !== 'rsa' && t !== 'rsa-pss' && t !== 'ec' && t !== 'ed25519' && t !== 'ed448') throw new Error(`unsupported key type ${String(t)}`);
    kind = t;
    if ((t === 'rsa' || t === 'rsa-pss') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < RSA_MIN_BITS) {
      throw new Error(`RSA keys must have at least ${RSA_MIN_BITS} bits`);
    }
  }
  const rsa = kind === 'rsa' || kind === 'rsa-pss';
  return {
    kind,
    key,
    curve: kind === 'ec' ? (key.asymmetricKeyDetails?.namedCurve ?? null) : null,
    kid,
    alg,
    pss: rsa ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : null,
    p1363: kind === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : null,
  };
}

/** Whether `k` may verify a token signed with `alg` (the allowlist is checked separately). */
export function keyFits(alg: string, k: VerifyKey): boolean {
  if (k.alg !== null && k.alg !== alg) return false;
  switch (alg) {
    case 'HS256':
    case 'HS384':
    case 'HS512':
      return k.kind === 'secret';
    case 'RS256':
    case 'RS384':
    case 'RS512':
      return k.kind === 'rsa';
    case 'PS256':
    case 'PS384':
    case 'PS512':
      return k.kind === 'rsa' || k.kind === 'rsa-pss';
    case 'ES256':
    case 'ES384':
    case 'ES512':
      return k.kind === 'ec' && k.curve === EC_CURVES[alg];
    case 'EdDSA':
      return k.kind === 'ed25519' || k.kind === 'ed448';
    default:
      return false;
  }
}

/**
 * Checks `sig` over `input` (the token's `header.payload` bytes). The caller has checked keyFits(alg, k).
 * Never throws: a signature of the wrong shape is simply not valid.
 */
export function verifySignature(alg: string, k: VerifyKey, input: Buffer, sig: Buffer): boolean {
  try {
    const family = alg.charCodeAt(0);
    if (alg === 'EdDSA') return verify(null, input, k.key, sig);
    const hash = HASH[alg.slice(2)];
    if (hash === undefined) return false;
    switch (family) {
      case 72: {
        // 'H': HMAC, compared in constant time.
        const mac = createHmac(hash, k.key).update(input).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 82: // 'R'
        return verify(hash, input, k.key, sig);
      case 80: // 'P'
        return verify(hash, input, k.pss!, sig);
      case 69: // 'E'
        return sig.length === EC_SIG_BYTES[alg] && verify(hash, input, k.p1363!, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
