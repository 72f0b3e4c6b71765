// key-auth: the key is looked up by its SHA-256 (the only form the data plane ever holds). The lookup
// compares the full 64-character digest; a key's digest is not something a caller can steer byte by byte,
// so a separate constant-time comparison adds nothing (and a per-key Buffer for it cost ~100 bytes a key).
//
// The key comes from the first configured header that has one, else (query_names) the first configured query
// parameter. A key may carry an expiry (`expires_at`): from then on it gets TP_ERR_AUTH_KEY_EXPIRED. Rotation
// with overlap is two keys of one consumer at once, the old one given an expires_at (docs/configuration.md).
import { hash } from 'node:crypto';
import type { KeyAuthConfig } from '@turnpike/common';

export interface KeyAuthPolicy {
  /** Lower-case header names, searched in order. */
  headerNames: readonly string[];
  /** Query parameter names (case-sensitive), searched in order when no header has a key. */
  queryNames: readonly string[];
  hideCredentials: boolean;
}

/** One per consumer, shared by all of its keys. */
export interface KeyOwner {
  consumerId: string;
  username: string;
  /** The consumer groups it belongs to (ids, lower-case); ACLs read them. Replaced, never mutated in place. */
  groupIds: readonly string[];
}

/** SHA-256 hex → owner. */
export interface KeyTable extends ReadonlyMap<string, KeyOwner> {
  /**
   * SHA-256 hex → when the key expires (epoch ms), for the keys that have an expires_at only; absent or
   * empty when none has one (then expiry costs one size check a request).
   */
  readonly expiresAt?: ReadonlyMap<string, number>;
  /** SHA-256 hex → the key's id (`keys.<id>`), for the call record's credential_id; absent: not kept. */
  readonly keyIds?: ReadonlyMap<string, string>;
}

export const DEFAULT_KEY_HEADERS: readonly string[] = ['apikey', 'x-api-key'];
const NO_NAMES: readonly string[] = Object.freeze([]);

export function compileKeyAuth(cfg: Partial<KeyAuthConfig>): KeyAuthPolicy {
  return {
    headerNames: (cfg.header_names ?? DEFAULT_KEY_HEADERS).map((h) => h.toLowerCase()),
    queryNames: cfg.query_names && cfg.query_names.length > 0 ? [...cfg.query_names] : NO_NAMES,
    hideCredentials: cfg.hide_credentials ?? true,
  };
}

export type KeyAuthFailureCode = 'TP_ERR_AUTH_KEY_MISSING' | 'TP_ERR_AUTH_KEY_INVALID' | 'TP_ERR_AUTH_KEY_EXPIRED';
/** `hex`: the presented key's digest (KeyTable.keyIds names the key by it, for the call record). */
export type KeyAuthResult = { ok: true; owner: KeyOwner; hex: string } | { ok: false; code: KeyAuthFailureCode };

const MISSING: KeyAuthResult = { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' };
const INVALID: KeyAuthResult = { ok: false, code: 'TP_ERR_AUTH_KEY_INVALID' };
const EXPIRED: KeyAuthResult = { ok: false, code: 'TP_ERR_AUTH_KEY_EXPIRED' };

/** The client-facing message of each failure. */
export const KEY_AUTH_MESSAGES: Readonly<Record<KeyAuthFailureCode, string>> = {
  TP_ERR_AUTH_KEY_MISSING: 'an API key is required',
  TP_ERR_AUTH_KEY_INVALID: 'the API key is not valid',
  TP_ERR_AUTH_KEY_EXPIRED: 'the API key has expired',
};

/**
 * `getHeader` returns '' for an absent header (uWS semantics); `query` is the raw query string without '?'
 * ('' for none; read only when the policy has query_names); `nowMs` defaults to the clock, read only for a
 * key that has an expiry.
 */
export function authenticate(policy: KeyAuthPolicy, keys: KeyTable, getHeader: (lowerName: string) => string, query = '', nowMs?: number): KeyAuthResult {
  let presented = '';
  for (const name of policy.headerNames) {
    presented = getHeader(name);
    if (presented !== '') break;
  }
  if (presented === '' && query !== '' && policy.queryNames.length > 0) presented = queryKey(query, policy.queryNames);
  if (presented === '') return MISSING;
  // One-shot hash: far cheaper per request than a createHash() object.
  const hex = hash('sha256', presented, 'hex');
  const owner = keys.get(hex);
  if (!owner) return INVALID;
  const expiry = keys.expiresAt;
  if (expiry !== undefined && expiry.size !== 0) {
    const at = expiry.get(hex);
    if (at !== undefined && (nowMs ?? Date.now()) >= at) return EXPIRED;
  }
  return { ok: true, owner, hex };
}

/** The first non-empty value of any of `names` in the raw query, in `names` order, percent-decoded ('' for none). */
function queryKey(query: string, names: readonly string[]): string {
  for (const name of names) {
    let from = 0;
    while (from < query.length) {
      const amp = query.indexOf('&', from);
      const end = amp < 0 ? query.length : amp;
      if (end - from > name.length && query.charCodeAt(from + name.length) === 61 && query.startsWith(name, from)) {
        const raw = query.slice(from + name.length + 1, end);
        if (raw !== '') {
          if (!raw.includes('%')) return raw;
          try {
            return decodeURIComponent(raw);
          } catch {
            return raw; // not percent-encoding: looked up as sent (and then not found)
          }
        }
      }
      from = end + 1;
    }
  }
  return '';
}

/** hide_credentials: the raw query without any `name` or `name=…` parameter of `names` ('' when nothing is left). */
export function withoutQueryParams(query: string, names: readonly string[]): string {
  if (query === '' || names.length === 0) return query;
  return query
    .split('&')
    .filter((p) => {
      for (const name of names) if (p.startsWith(name) && (p.length === name.length || p.charCodeAt(name.length) === 61)) return false;
      return true;
    })
    .join('&');
}

/** One-shot `crypto.hash`: ~0.27 µs for an API key against ~0.8 µs for createHash().update().digest(). */
export function sha256Hex(key: string): string {
  return hash('sha256', key, 'hex');
}
