// key-auth: the key is looked up by its SHA-256 (the only form the data plane ever holds). The lookup
// compares the full 64-character digest; a key's digest is not something a caller can steer byte by byte,
// so a separate constant-time comparison adds nothing (and a per-key Buffer for it cost ~100 bytes a key).
import { createHash, hash } from 'node:crypto';
import type { KeyAuthConfig } from '@turnpike/common';

export interface KeyAuthPolicy {
  /** Lower-case header names, searched in order. */
  headerNames: readonly string[];
  hideCredentials: boolean;
}

/** One per consumer, shared by all of its keys. */
export interface KeyOwner {
  consumerId: string;
  username: string;
}

/** SHA-256 hex → owner. */
export type KeyTable = ReadonlyMap<string, KeyOwner>;

export const DEFAULT_KEY_HEADERS: readonly string[] = ['apikey', 'x-api-key'];

export function compileKeyAuth(cfg: Partial<KeyAuthConfig>): KeyAuthPolicy {
  return {
    headerNames: (cfg.header_names ?? DEFAULT_KEY_HEADERS).map((h) => h.toLowerCase()),
    hideCredentials: cfg.hide_credentials ?? true,
  };
}

export type KeyAuthResult = { ok: true; owner: KeyOwner } | { ok: false; code: 'TP_ERR_AUTH_KEY_MISSING' | 'TP_ERR_AUTH_KEY_INVALID' };

const MISSING: KeyAuthResult = { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' };
const INVALID: KeyAuthResult = { ok: false, code: 'TP_ERR_AUTH_KEY_INVALID' };

/** `getHeader` returns '' for an absent header (uWS semantics). */
export function authenticate(policy: KeyAuthPolicy, keys: KeyTable, getHeader: (lowerName: string) => string): KeyAuthResult {
  let presented = '';
  for (const name of policy.headerNames) {
    presented = getHeader(name);
    if (presented !== '') break;
  }
  if (presented === '') return MISSING;
  // One-shot hash: far cheaper per request than a createHash() object.
  const hex = hash('sha256', presented, 'hex');
  const owner = keys.get(hex);
  if (!owner) return INVALID;
  return { ok: true, owner };
}

export function sha256Hex(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
