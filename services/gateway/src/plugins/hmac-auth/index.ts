// hmac-auth: HTTP request signatures in Kong's hmac-auth format (itself after the draft-cavage "Signature"
// header). The client sends
//
//   Authorization: hmac username="<key_id>", algorithm="hmac-sha256", headers="@request-target date digest",
//                  signature="<base64 HMAC of the signing string>"
//
// The signing string is one line per name in `headers`, in that order, joined by "\n": `<name>: <value>`,
// the name as listed (lower case) and the value as received; the pseudo-header `@request-target` (or the
// draft's spelling `(request-target)`, rendered as listed) is `<lower-case method> <path?query>`. `headers` absent means `date`. `username` names an `hmac` credential's
// key_id (unique cluster-wide); the credential's sealed secret is the HMAC key and its consumer the caller.
//
// Checks, in order: the header parses; the algorithm is allowed by the route and the credential; the
// signature covers the route's enforce_headers and the request's date (X-Date when present, else Date);
// that date is within clock_skew_s of the node's clock; every signed header is present; the signature
// matches (constant time); with validate_request_body, the signed `Digest: SHA-256=<base64>` matches the
// body; the signature was not seen before within the skew window (a per-node cache: a signature replayed to
// another node within the window is not caught — put the nodes' clock skew low or pin clients to a node).
//
// Synchronous: the credential table holds opened secrets, so a request costs one HMAC (and one SHA-256 of
// the body when validated).
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { HMAC_ALGORITHMS, isSealed, open, type HmacAuthConfig, type Keyring } from '@turnpike/common';

// ---- results ---------------------------------------------------------------------------------------------

export type HmacFailureCode =
  | 'TP_ERR_AUTH_SIGNATURE_MISSING'
  | 'TP_ERR_AUTH_SIGNATURE_INVALID'
  | 'TP_ERR_AUTH_SIGNATURE_EXPIRED'
  | 'TP_ERR_AUTH_SIGNATURE_REPLAYED'
  | 'TP_ERR_AUTH_DIGEST_MISMATCH'
  | 'TP_ERR_AUTH_UNAVAILABLE';

export interface HmacOk {
  readonly ok: true;
  readonly consumerId: string;
  readonly credentialId: string;
  readonly keyId: string;
}

export interface HmacFailure {
  readonly ok: false;
  readonly code: HmacFailureCode;
  /** 401, or 503 for TP_ERR_AUTH_UNAVAILABLE (an outage is not a bad credential). */
  readonly status: 401 | 503;
  /** Safe for the client and the call log (never the signature or the secret). */
  readonly message: string;
  /** `hmac realm="turnpike", headers="<what must be signed>"` with a 401; null with 503. */
  readonly wwwAuthenticate: string | null;
}

export type HmacResult = HmacOk | HmacFailure;

/** The failures of one policy (their WWW-Authenticate names its enforced headers), built once per policy. */
export interface HmacFailures {
  readonly missing: HmacFailure;
  readonly malformed: HmacFailure;
  readonly unknownKey: HmacFailure;
  readonly algorithm: HmacFailure;
  readonly unsigned: HmacFailure;
  readonly noDate: HmacFailure;
  readonly headerAbsent: HmacFailure;
  readonly signature: HmacFailure;
  readonly expired: HmacFailure;
  readonly replayed: HmacFailure;
  readonly digest: HmacFailure;
  readonly unavailable: HmacFailure;
}

function failures(challenge: string): HmacFailures {
  const f = (code: HmacFailureCode, message: string): HmacFailure =>
    Object.freeze({ ok: false, code, status: code === 'TP_ERR_AUTH_UNAVAILABLE' ? 503 : 401, message, wwwAuthenticate: code === 'TP_ERR_AUTH_UNAVAILABLE' ? null : challenge });
  return Object.freeze({
    missing: f('TP_ERR_AUTH_SIGNATURE_MISSING', 'an HMAC request signature is required'),
    malformed: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'the Authorization header is not a well-formed hmac signature'),
    unknownKey: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'the signature key id is not known'),
    algorithm: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'the signature algorithm is not allowed'),
    unsigned: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'the signature does not cover every required header'),
    noDate: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'a valid Date or X-Date header is required'),
    headerAbsent: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'a signed header is absent from the request'),
    signature: f('TP_ERR_AUTH_SIGNATURE_INVALID', 'the request signature is not valid'),
    expired: f('TP_ERR_AUTH_SIGNATURE_EXPIRED', 'the request date is outside the allowed clock skew'),
    replayed: f('TP_ERR_AUTH_SIGNATURE_REPLAYED', 'this request signature has already been used'),
    digest: f('TP_ERR_AUTH_DIGEST_MISMATCH', 'the Digest header does not match the request body'),
    unavailable: f('TP_ERR_AUTH_UNAVAILABLE', "the signing key's secret is unavailable on this node; try again later"),
  });
}

// ---- policy (the plugin instance's config) ---------------------------------------------------------------

export interface HmacPolicy {
  /** Names every signature must cover, besides the request's date header. */
  readonly enforceHeaders: readonly string[];
  readonly algorithms: ReadonlySet<string>;
  readonly skewMs: number;
  readonly validateBody: boolean;
  readonly hideCredentials: boolean;
  readonly failures: HmacFailures;
}

export function compileHmacPolicy(cfg: Partial<HmacAuthConfig>): HmacPolicy {
  const enforce = (cfg.enforce_headers ?? ['@request-target']).map((h) => (h === '(request-target)' ? '@request-target' : h.toLowerCase()));
  // A body digest is only proof when it is signed.
  if (cfg.validate_request_body === true && !enforce.includes('digest')) enforce.push('digest');
  const shown = [...enforce.filter((h) => h !== 'date' && h !== 'x-date'), 'date'];
  return {
    enforceHeaders: enforce.filter((h) => h !== 'date' && h !== 'x-date'),
    algorithms: new Set(cfg.algorithms ?? HMAC_ALGORITHMS),
    skewMs: (cfg.clock_skew_s ?? 300) * 1000,
    validateBody: cfg.validate_request_body ?? false,
    hideCredentials: cfg.hide_credentials ?? false,
    failures: failures(`hmac realm="turnpike", headers="${shown.join(' ')}"`),
  };
}

// ---- credentials (compiled from `credentials.<id>` entries of type hmac) ----------------------------------

export interface HmacCredential {
  readonly keyId: string;
  readonly credentialId: string;
  readonly consumerId: string;
  /** The opened secret; null when this node cannot open it (requests signed with it get 503). */
  readonly key: Buffer | null;
  readonly algorithms: ReadonlySet<string>;
  /** The result a valid signature returns (shared, read only). */
  readonly ok: HmacOk;
}

export interface HmacRejection {
  key: string;
  reason: string;
}

export interface HmacCredentialTable {
  readonly credentials: ReadonlyMap<string, HmacCredential>;
  /** Signatures seen, per node; pass it to the next compile to keep it across credential changes. */
  readonly replay: ReplayCache;
  /** Credentials left out or unusable on this node, for the node's rejected list. */
  readonly rejected: readonly HmacRejection[];
}

export interface HmacCredentialOptions {
  /** Opens the secrets (sealed by the control plane with the credential's id as context). */
  keyring: Keyring | null;
  /** The previous table's cache, so that a credential change does not reopen the replay window. */
  replay?: ReplayCache;
  /** Bound of a new replay cache (default 100,000 signatures, ~15 MB). */
  replayEntries?: number;
}

const ALGS: ReadonlySet<string> = new Set(HMAC_ALGORITHMS);

/** `entries`: the node's `credentials.<id>` entries (any type; only `hmac` ones are read). */
export function compileHmacCredentials(entries: Iterable<{ id: string; data: unknown }>, options: HmacCredentialOptions): HmacCredentialTable {
  const credentials = new Map<string, HmacCredential>();
  const rejected: HmacRejection[] = [];
  const hmac = [...entries].filter((e) => (e.data as { type?: unknown } | null)?.type === 'hmac').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const { id, data } of hmac) {
    const key = `credentials.${id}`;
    const d = data as Record<string, unknown>;
    const keyId = d.key_id;
    if (typeof keyId !== 'string' || keyId === '') {
      rejected.push({ key, reason: 'hmac credential without a key_id' });
      continue;
    }
    if (typeof d.consumer_id !== 'string' || d.consumer_id === '') {
      rejected.push({ key, reason: 'hmac credential without a consumer_id' });
      continue;
    }
    const algs = d.algorithms ?? ['hmac-sha256'];
    if (!Array.isArray(algs) || algs.length === 0 || !algs.every((a) => typeof a === 'string' && ALGS.has(a))) {
      rejected.push({ key, reason: 'algorithms must be a list of hmac-sha256, hmac-sha384, hmac-sha512' });
      continue;
    }
    const prior = credentials.get(keyId);
    if (prior) {
      rejected.push({ key, reason: `key_id ${JSON.stringify(keyId)} is already credential ${prior.credentialId}'s` });
      continue;
    }
    let secret: Buffer | null = null;
    if (!isSealed(d.secret)) rejected.push({ key, reason: 'hmac credential without a sealed secret' });
    else if (!options.keyring) rejected.push({ key, reason: 'this node has no secret key to open the HMAC secret (set TP_SECRET_KEY or TP_SECRET_KEYS)' });
    else {
      try {
        secret = Buffer.from(open(options.keyring, d.secret, id), 'utf8');
      } catch (e) {
        rejected.push({ key, reason: `the HMAC secret cannot be opened: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    const ok: HmacOk = Object.freeze({ ok: true, consumerId: d.consumer_id, credentialId: id, keyId });
    credentials.set(keyId, { keyId, credentialId: id, consumerId: d.consumer_id, key: secret, algorithms: new Set(algs as string[]), ok });
  }
  return { credentials, replay: options.replay ?? new ReplayCache(options.replayEntries), rejected };
}

// ---- replay cache ------------------------------------------------------------------------------------------

/**
 * Signatures accepted recently, each until the end of its date's skew window (after which the date check
 * refuses it anyway). Bounded: at the bound the oldest entry goes first (counted in `evicted`, which should
 * stay 0; a non-zero count means the bound is too low for the node's signed-request rate × the window).
 */
export class ReplayCache {
  readonly #until = new Map<string, number>();
  readonly #max: number;
  evicted = 0;

  constructor(maxEntries = 100_000) {
    this.#max = Math.max(1, maxEntries);
  }

  get size(): number {
    return this.#until.size;
  }

  /** True when `sig` was recorded and has not expired; otherwise records it until `untilMs` and returns false. */
  seen(sig: string, nowMs: number, untilMs: number): boolean {
    const m = this.#until;
    const prior = m.get(sig);
    if (prior !== undefined && prior > nowMs) return true;
    if (prior !== undefined) m.delete(sig);
    // Expired entries from the oldest end (amortized: each entry is removed once).
    for (const [k, until] of m) {
      if (until > nowMs && m.size < this.#max) break;
      if (until > nowMs) this.evicted++;
      m.delete(k);
    }
    m.set(sig, untilMs);
    return false;
  }
}

// ---- verification ------------------------------------------------------------------------------------------

/** What verifyHmac reads of a request. */
export interface HmacRequest {
  /** Upper-case method as received. */
  readonly method: string;
  /** The request target as received: path and, when present, `?query`. */
  readonly pathWithQuery: string;
  /** A header's value by lower-case name; '' when absent. */
  header(lowerName: string): string;
  /** The whole body (validate_request_body only); null for none. */
  readonly body: Buffer | null;
}

/** Longer Authorization headers are refused unparsed. */
export const MAX_AUTHORIZATION_CHARS = 8192;
const MAX_SIGNED_HEADERS = 32;
const HASH_OF: Readonly<Record<string, string>> = { 'hmac-sha256': 'sha256', 'hmac-sha384': 'sha384', 'hmac-sha512': 'sha512' };
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

interface Params {
  username: string;
  algorithm: string;
  headers: string;
  signature: string;
}

/** Parses `k="v", k="v"` after the scheme; null when malformed (unquoted values, duplicates, missing fields). */
function parseParams(v: string, from: number): Params | null {
  const p: Params = { username: '', algorithm: '', headers: 'date', signature: '' };
  let sawHeaders = false;
  let i = from;
  const n = v.length;
  while (i < n) {
    while (i < n && (v.charCodeAt(i) === 32 || v.charCodeAt(i) === 44)) i++; // spaces and commas
    if (i >= n) break;
    const eq = v.indexOf('=', i);
    if (eq < 0 || v.charCodeAt(eq + 1) !== 34) return null;
    const name = v.slice(i, eq).trim().toLowerCase();
    const close = v.indexOf('"', eq + 2);
    if (close < 0) return null;
    const value = v.slice(eq + 2, close);
    if (name === 'username' || name === 'keyid') {
      if (p.username !== '') return null;
      p.username = value;
    } else if (name === 'algorithm') {
      if (p.algorithm !== '') return null;
      p.algorithm = value.toLowerCase();
    } else if (name === 'headers') {
      if (sawHeaders) return null;
      sawHeaders = true;
      p.headers = value;
    } else if (name === 'signature') {
      if (p.signature !== '') return null;
      p.signature = value;
    }
    // Other parameters (`created`, `expires` of later drafts) are ignored, as Kong does.
    i = close + 1;
  }
  if (p.username === '' || p.algorithm === '' || p.signature === '') return null;
  return p;
}

/** The scheme `hmac` (any case) and a space; returns where the parameters start, or -1. */
function schemeEnd(v: string): number {
  if (v.length < 4 || v.slice(0, 4).toLowerCase() !== 'hmac') return -1;
  if (v.length === 4) return 4;
  return v.charCodeAt(4) === 32 ? 5 : -1;
}

/**
 * Verifies the request's signature at `nowMs`. Returns `policy.failures.*` (shared, frozen) or the
 * credential's `ok` (shared): no allocation beyond the signing string and the digests.
 */
export function verifyHmac(policy: HmacPolicy, table: HmacCredentialTable, req: HmacRequest, nowMs: number): HmacResult {
  const F = policy.failures;
  const auth = req.header('authorization');
  if (auth === '') return F.missing;
  if (auth.length > MAX_AUTHORIZATION_CHARS) return F.malformed;
  const start = schemeEnd(auth);
  if (start < 0) return F.missing; // another scheme: no hmac signature was presented
  const p = parseParams(auth, start);
  if (p === null || !BASE64.test(p.signature)) return F.malformed;
  const hashName = HASH_OF[p.algorithm];
  if (hashName === undefined || !policy.algorithms.has(p.algorithm)) return F.algorithm;
  const cred = table.credentials.get(p.username);
  if (cred === undefined) return F.unknownKey;
  if (!cred.algorithms.has(p.algorithm)) return F.algorithm;
  if (cred.key === null) return F.unavailable;

  const names = p.headers.trim().toLowerCase().split(/ +/);
  if (names.length > MAX_SIGNED_HEADERS) return F.malformed;
  const enforce = policy.enforceHeaders;
  for (let i = 0; i < enforce.length; i++) {
    const e = enforce[i]!;
    if (!names.includes(e) && !(e === '@request-target' && names.includes('(request-target)'))) return F.unsigned;
  }

  // The request's date: X-Date when present (clients that cannot set Date), else Date; it must be signed.
  const xDate = req.header('x-date');
  const dateName = xDate !== '' ? 'x-date' : 'date';
  const dateValue = xDate !== '' ? xDate : req.header('date');
  if (dateValue === '') return F.noDate;
  if (!names.includes(dateName)) return F.unsigned;
  const dateMs = Date.parse(dateValue);
  if (Number.isNaN(dateMs)) return F.noDate;
  if (Math.abs(nowMs - dateMs) > policy.skewMs) return F.expired;

  let signing = '';
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let value: string;
    if (name === '@request-target' || name === '(request-target)') value = req.method.toLowerCase() + ' ' + req.pathWithQuery;
    else {
      value = req.header(name);
      if (value === '') return F.headerAbsent;
    }
    signing += (i === 0 ? '' : '\n') + name + ': ' + value;
  }
  const expected = createHmac(hashName, cred.key).update(signing, 'utf8').digest();
  const presented = Buffer.from(p.signature, 'base64');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return F.signature;

  if (policy.validateBody && !digestMatches(req.header('digest'), req.body)) return F.digest;

  // Canonical form (decoded and re-encoded), so that another padding of the same bytes is the same signature.
  if (table.replay.seen(presented.toString('base64'), nowMs, dateMs + policy.skewMs + 1)) return F.replayed;
  return cred.ok;
}

const EMPTY = Buffer.alloc(0);

/** `Digest` (RFC 3230) holds a `SHA-256=<base64>` entry equal to the body's SHA-256. */
function digestMatches(header: string, body: Buffer | null): boolean {
  if (header === '') return false;
  const want = hash('sha256', body ?? EMPTY, 'base64');
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() !== 'sha-256') continue;
    const got = Buffer.from(part.slice(eq + 1).trim(), 'latin1');
    const exp = Buffer.from(want, 'latin1');
    return got.length === exp.length && timingSafeEqual(got, exp);
  }
  return false;
}
