// Consumer credentials other than API keys (those stay at /v1/consumers/{id}/keys): JWT issuers, HMAC
// secrets and basic-auth passwords, addressed under their consumer and deleted with it. Clear secrets never
// reach the public doc: HMAC and JWT (HS) secrets are sealed with the keyring (bound to the credential's id),
// passwords hashed with scrypt; nodes receive the sealed value or the hash.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import {
  Credential,
  CredentialCreate,
  CredentialUpdate,
  TurnpikeError,
  hashPassword,
  isSealed,
  open,
  seal,
  type JwtAlgorithm,
  type Keyring,
  type SealedSecret,
} from '@turnpike/common';
import type { ResourceDef, ResourceDoc, SecretMaterial } from '../definition.js';
import { requireKeyring, unprocessable } from './errors.js';



/**
 * The stored sealed secret, kept on a write that sends none — re-sealed under the active key when it was
 * sealed with an older one the keyring still holds, so re-saving a credential completes a key rotation.
 */
function keepSealed(sealed: SealedSecret, id: string, keyring: Keyring | null): SealedSecret {
  if (!keyring || sealed.kid === keyring.activeKid || !keyring.keys.has(sealed.kid)) return sealed;
  return seal(keyring, open(keyring, sealed, id), id);
}

const isHs = (a: string): boolean => a.startsWith('HS');
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const HS_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** Why `key` cannot verify `alg`, or null when it can. */
function keyMismatch(key: KeyObject, alg: JwtAlgorithm): string | null {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa' ? null : `needs an RSA key, the public key is ${String(type)}`;
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss' ? null : `needs an RSA key, the public key is ${String(type)}`;
  if (alg.startsWith('ES')) {
    if (type !== 'ec') return `needs an EC key, the public key is ${String(type)}`;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === EC_CURVES[alg] ? null : `needs curve ${EC_CURVES[alg]!}, the public key is on ${String(curve)}`;
  }
  if (alg === 'EdDSA') return type === 'ed25519' || type === 'ed448' ? null : `needs an Ed25519 or Ed448 key, the public key is ${String(type)}`;
  return `is not an asymmetric algorithm`;
}

function parsePublicKey(pem: string): KeyObject {
  // createPublicKey also accepts a private key (and derives its public half): refuse it rather than store
  // a private key in the clear.
  if (/PRIVATE KEY-----/.test(pem)) throw unprocessable([{ path: '/public_key', message: 'is a private key; give the PEM public key' }]);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw unprocessable([{ path: '/public_key', message: 'is not a valid PEM public key' }]);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) throw unprocessable([{ path: '/public_key', message: `is a ${bits}-bit RSA key; at least 2048 bits are required` }]);
  return key;
}

interface Prepared {
  doc: ResourceDoc;
  material: SecretMaterial | null;
  reveal?: Record<string, string>;
}

/**
 * JWT rules beyond the schema. Shared-secret (HS) and asymmetric algorithms never share a credential: a
 * verifier that accepts both can be fooled into checking an RS-signed token's signature with the public
 * key used as an HMAC secret (algorithm confusion).
 */
function prepareJwt(doc: ResourceDoc, prior: SecretMaterial | null, id: string, keyring: Keyring | null): Prepared {
  const { secret, ...rest } = doc as ResourceDoc & { secret?: string };
  const out: ResourceDoc = { ...rest };
  if (out.jwks_uri === null) delete out.jwks_uri;
  if (out.public_key === null) delete out.public_key;
  const algs = out.algorithms as JwtAlgorithm[];
  const hs = algs.filter(isHs);
  if (hs.length > 0 && hs.length < algs.length) {
    throw unprocessable([{ path: '/algorithms', message: 'mixes HS (shared-secret) and asymmetric algorithms; use one credential for each (algorithm-confusion defence)' }]);
  }
  if (hs.length > 0) {
    const misplaced = (['jwks_uri', 'public_key'] as const).filter((f) => out[f] !== undefined);
    if (misplaced.length > 0) throw unprocessable(misplaced.map((f) => ({ path: `/${f}`, message: 'is only for asymmetric algorithms; HS algorithms use secret' })));
    const needed = Math.max(...hs.map((a) => HS_MIN_BYTES[a]!));
    let sealed: SealedSecret;
    if (secret !== undefined) {
      if (Buffer.byteLength(secret) < needed) throw unprocessable([{ path: '/secret', message: `must be at least ${needed} bytes for ${hs.join(', ')}` }]);
      sealed = seal(requireKeyring(keyring, 'credential secrets'), secret, id);
    } else if (isSealed(prior?.secret)) {
      // The stored secret's length was checked when it was set for the algorithms of that time; a
      // change to a longer hash needs the secret sent again.
      if ((prior.secret_bytes as number | undefined) !== undefined && (prior.secret_bytes as number) < needed) {
        throw unprocessable([{ path: '/secret', message: `the stored secret is shorter than the ${needed} bytes ${hs.join(', ')} need; send a new one` }]);
      }
      sealed = keepSealed(prior.secret, id, keyring);
    } else {
      throw unprocessable([{ path: '/secret', message: 'is required for HS algorithms' }]);
    }
    return { doc: { ...out, secret_set: true }, material: { secret: sealed, secret_bytes: secret !== undefined ? Buffer.byteLength(secret) : prior?.secret_bytes } };
  }
  if (secret !== undefined) throw unprocessable([{ path: '/secret', message: 'is only for HS algorithms; asymmetric ones use jwks_uri or public_key' }]);
  const hasJwks = out.jwks_uri !== undefined;
  const hasPem = out.public_key !== undefined;
  if (hasJwks && hasPem) throw unprocessable([{ path: '/public_key', message: 'cannot be set together with jwks_uri; give exactly one' }]);
  if (!hasJwks && !hasPem) {
    throw unprocessable([
      { path: '/jwks_uri', message: 'or public_key is required for asymmetric algorithms' },
      { path: '/public_key', message: 'or jwks_uri is required for asymmetric algorithms' },
    ]);
  }
  if (hasPem) {
    const key = parsePublicKey(String(out.public_key));
    const bad = algs.map((a, i) => ({ i, why: keyMismatch(key, a) })).filter((m) => m.why !== null);
    if (bad.length > 0) throw unprocessable(bad.map((m) => ({ path: `/algorithms/${m.i}`, message: m.why! })));
  }
  return { doc: { ...out, secret_set: false }, material: null };
}

function prepareHmac(doc: ResourceDoc, prior: SecretMaterial | null, id: string, keyring: Keyring | null, creating: boolean): Prepared {
  const { secret, ...out } = doc as ResourceDoc & { secret?: string };
  if (secret === undefined && !creating && isSealed(prior?.secret)) return { doc: { ...out, secret_set: true }, material: { secret: keepSealed(prior.secret, id, keyring) } };
  const ring = requireKeyring(keyring, 'credential secrets');
  const generated = secret === undefined ? randomBytes(32).toString('base64url') : undefined;
  const sealed = seal(ring, secret ?? generated!, id);
  return { doc: { ...out, secret_set: true }, material: { secret: sealed }, ...(generated !== undefined ? { reveal: { secret: generated } } : {}) };
}

function prepareBasic(doc: ResourceDoc, prior: SecretMaterial | null, creating: boolean): Prepared {
  const { password, ...out } = doc as ResourceDoc & { password?: string };
  if (password !== undefined) return { doc: { ...out, secret_set: true }, material: { password_hash: hashPassword(password) } };
  if (!creating && typeof prior?.password_hash === 'string') return { doc: { ...out, secret_set: true }, material: { password_hash: prior.password_hash } };
  throw new TurnpikeError('TP_ERR_VALIDATION', '/password is required', [{ path: '/password', message: 'is required' }]);
}

/** The identifier nodes look a credential up by, prefixed by type so an HMAC key id and a username never collide. */
function identifierOf(d: ResourceDoc): { field: string; value: string } {
  switch (d.type) {
    case 'jwt':
      return { field: '/issuer', value: String(d.issuer) };
    case 'hmac':
      return { field: '/key_id', value: String(d.key_id) };
    default:
      return { field: '/username', value: String(d.username) };
  }
}

export const credentials: ResourceDef = {
  kind: 'credentials',
  path: 'credentials',
  singular: 'credential',
  title: 'Credential',
  create: CredentialCreate,
  update: CredentialUpdate,
  entity: Credential,
  parent: { kind: 'consumers', field: 'consumer_id', path: 'consumers', singular: 'consumer' },
  immutable: ['type'],
  nameOf: (d) => identifierOf(d).value,
  filters: { type: 'type' },
  unique(d) {
    const { field, value } = identifierOf(d);
    return [{ field, value, scope: 'global', namespace: String(d.type) }];
  },
  secrets: {
    prepare({ doc, prior, id, keyring, creating }) {
      switch (doc.type) {
        case 'jwt':
          return prepareJwt(doc, prior, id, keyring);
        case 'hmac':
          return prepareHmac(doc, prior, id, keyring, creating);
        default:
          return prepareBasic(doc, prior, creating);
      }
    },
  },
  revealOnce: ['secret'],
  // Nodes get what they verify with and nothing clear: the sealed secret (opened with the keyring and the
  // credential's id as context) or the password hash.
  dataPlane(entity, material) {
    if (entity.type === 'basic') return { ...entity, password_hash: material?.password_hash ?? null };
    return { ...entity, secret: material?.secret ?? null };
  },
};
