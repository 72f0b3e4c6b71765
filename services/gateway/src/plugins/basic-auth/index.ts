// basic-auth: `Authorization: Basic base64(username:password)` against a consumer's `basic` credential,
// whose password the node holds only as a scrypt hash (N=2^15, r=8: ~32 MiB and tens of milliseconds a check,
// by design). So a check is:
//
// - cached: the outcome of a check is kept per node, keyed by SHA-256(username ":" password) — successes for
//   the policy's cache_ttl_s, failures (the same wrong password again) for at least 5 s — in two bounded LRUs
//   (a flood of wrong passwords cannot evict the good ones). An entry is only trusted while the credential
//   still has the hash it was checked against, so a password change takes effect at once. A cache hit is
//   answered synchronously;
// - asynchronous on a miss: crypto.scrypt runs on libuv's thread pool and verifyBasic returns a Promise;
//   concurrent checks of the same credentials share one scrypt;
// - capped: at most `maxConcurrent` scrypts run at once on the node (default 2) and `maxQueued` wait (default
//   64); beyond that the request is answered 503 TP_ERR_AUTH_UNAVAILABLE at once (load shedding: guessing
//   passwords can cost the node at most that much CPU and thread pool, and the pool also serves fs and dns).
//
// An unknown username is refused without a scrypt (cheap, and it reveals through timing only that the name
// is not a basic credential's: usernames are identifiers, not secrets).
import { hash, scrypt, timingSafeEqual } from 'node:crypto';
import { parsePasswordHash, type BasicAuthConfig, type PasswordHashParams } from '@turnpike/common';

// ---- results ---------------------------------------------------------------------------------------------

export type BasicFailureCode = 'TP_ERR_AUTH_BASIC_MISSING' | 'TP_ERR_AUTH_BASIC_INVALID' | 'TP_ERR_AUTH_UNAVAILABLE';

export interface BasicOk {
  readonly ok: true;
  readonly consumerId: string;
  readonly credentialId: string;
  readonly username: string;
}

export interface BasicFailure {
  readonly ok: false;
  readonly code: BasicFailureCode;
  /** 401, or 503 for TP_ERR_AUTH_UNAVAILABLE (an overload or outage is not a bad credential). */
  readonly status: 401 | 503;
  /** Safe for the client and the call log (never the password). */
  readonly message: string;
  /** `Basic realm="<realm>", charset="UTF-8"` with a 401; null with 503. */
  readonly wwwAuthenticate: string | null;
}

export type BasicResult = BasicOk | BasicFailure;

export interface BasicFailures {
  readonly missing: BasicFailure;
  readonly malformed: BasicFailure;
  readonly invalid: BasicFailure;
  readonly unusable: BasicFailure;
  readonly busy: BasicFailure;
}

// ---- policy ------------------------------------------------------------------------------------------------

export interface BasicPolicy {
  readonly realm: string;
  readonly hideCredentials: boolean;
  /** How long a success is reused. */
  readonly ttlMs: number;
  /** How long a failure (that same wrong password) is reused: cache_ttl_s, at least 5 s. */
  readonly negativeTtlMs: number;
  readonly failures: BasicFailures;
}

const MIN_NEGATIVE_TTL_MS = 5_000;
const REALM = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

export function compileBasicPolicy(cfg: Partial<BasicAuthConfig>): BasicPolicy {
  const realm = cfg.realm !== undefined && REALM.test(cfg.realm) ? cfg.realm : 'turnpike';
  const ttlMs = (cfg.cache_ttl_s ?? 60) * 1000;
  const challenge = `Basic realm="${realm}", charset="UTF-8"`;
  const f = (code: BasicFailureCode, message: string): BasicFailure =>
    Object.freeze({ ok: false, code, status: code === 'TP_ERR_AUTH_UNAVAILABLE' ? 503 : 401, message, wwwAuthenticate: code === 'TP_ERR_AUTH_UNAVAILABLE' ? null : challenge });
  return {
    realm,
    hideCredentials: cfg.hide_credentials ?? true,
    ttlMs,
    negativeTtlMs: Math.max(ttlMs, MIN_NEGATIVE_TTL_MS),
    failures: Object.freeze({
      missing: f('TP_ERR_AUTH_BASIC_MISSING', 'basic credentials are required'),
      malformed: f('TP_ERR_AUTH_BASIC_INVALID', 'the Authorization header is not well-formed basic credentials'),
      invalid: f('TP_ERR_AUTH_BASIC_INVALID', 'the username or password is not valid'),
      unusable: f('TP_ERR_AUTH_UNAVAILABLE', "the credential's password hash is unusable on this node"),
      busy: f('TP_ERR_AUTH_UNAVAILABLE', 'too many password checks in progress; try again shortly'),
    }),
  };
}

// ---- credentials -------------------------------------------------------------------------------------------

export interface BasicCredential {
  readonly username: string;
  readonly credentialId: string;
  readonly consumerId: string;
  /** The encoded hash as pushed (cache entries are tied to it). */
  readonly passwordHash: string;
  /** null: the hash is not one this node can check (requests get 503). */
  readonly params: PasswordHashParams | null;
  readonly ok: BasicOk;
}

export interface BasicRejection {
  key: string;
  reason: string;
}

export interface BasicCredentialTable {
  readonly users: ReadonlyMap<string, BasicCredential>;
  readonly cache: BasicCheckCache;
  readonly limiter: ScryptLimiter;
  readonly rejected: readonly BasicRejection[];
}

export interface BasicCredentialOptions {
  /** The previous table's cache (entries stay valid while their credential's hash is unchanged). */
  cache?: BasicCheckCache;
  /** The node's scrypt limiter (default: one per process, `nodeScryptLimiter`). */
  limiter?: ScryptLimiter;
}

/** `entries`: the node's `credentials.<id>` entries (any type; only `basic` ones are read). */
export function compileBasicCredentials(entries: Iterable<{ id: string; data: unknown }>, options: BasicCredentialOptions = {}): BasicCredentialTable {
  const users = new Map<string, BasicCredential>();
  const rejected: BasicRejection[] = [];
  const basic = [...entries].filter((e) => (e.data as { type?: unknown } | null)?.type === 'basic').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const { id, data } of basic) {
    const key = `credentials.${id}`;
    const d = data as Record<string, unknown>;
    const username = d.username;
    if (typeof username !== 'string' || username === '' || username.includes(':')) {
      rejected.push({ key, reason: 'basic credential without a valid username' });
      continue;
    }
    if (typeof d.consumer_id !== 'string' || d.consumer_id === '') {
      rejected.push({ key, reason: 'basic credential without a consumer_id' });
      continue;
    }
    const prior = users.get(username);
    if (prior) {
      rejected.push({ key, reason: `username ${JSON.stringify(username)} is already credential ${prior.credentialId}'s` });
      continue;
    }
    const passwordHash = typeof d.password_hash === 'string' ? d.password_hash : '';
    const params = passwordHash === '' ? null : parsePasswordHash(passwordHash);
    if (params === null) rejected.push({ key, reason: 'password_hash is not a scrypt hash this node can check' });
    const ok: BasicOk = Object.freeze({ ok: true, consumerId: d.consumer_id, credentialId: id, username });
    users.set(username, { username, credentialId: id, consumerId: d.consumer_id, passwordHash, params, ok });
  }
  return { users, cache: options.cache ?? new BasicCheckCache(), limiter: options.limiter ?? nodeScryptLimiter, rejected };
}

// ---- the check cache ---------------------------------------------------------------------------------------

interface CheckEntry {
  /** When the check was made. */
  at: number;
  /** The encoded hash it was made against. */
  passwordHash: string;
}

/** Outcomes of password checks by SHA-256(username:password), successes and failures apart; LRU-bounded. */
export class BasicCheckCache {
  readonly good = new Map<string, CheckEntry>();
  readonly bad = new Map<string, CheckEntry>();
  /** Checks in progress, so that concurrent requests with the same credentials share one scrypt. */
  readonly inflight = new Map<string, Promise<boolean>>();
  readonly #max: number;

  constructor(maxEntries = 10_000) {
    this.#max = Math.max(1, maxEntries);
  }

  /** true / false: a fresh outcome for this hash; undefined: none. */
  lookup(key: string, passwordHash: string, nowMs: number, ttlMs: number, negativeTtlMs: number): boolean | undefined {
    const g = this.good.get(key);
    if (g !== undefined && g.passwordHash === passwordHash && nowMs - g.at < ttlMs) {
      // LRU: move to the most recent end.
      this.good.delete(key);
      this.good.set(key, g);
      return true;
    }
    const b = this.bad.get(key);
    if (b !== undefined && b.passwordHash === passwordHash && nowMs - b.at < negativeTtlMs) return false;
    return undefined;
  }

  record(key: string, passwordHash: string, ok: boolean, nowMs: number): void {
    const m = ok ? this.good : this.bad;
    (ok ? this.bad : this.good).delete(key);
    m.delete(key);
    if (m.size >= this.#max) m.delete(m.keys().next().value!);
    m.set(key, { at: nowMs, passwordHash });
  }
}

// ---- the scrypt limiter ------------------------------------------------------------------------------------

/** At most `maxConcurrent` scrypt checks at once, `maxQueued` waiting; `tryRun` refuses beyond. */
export class ScryptLimiter {
  #active = 0;
  readonly #queue: (() => void)[] = [];
  /** Checks refused because the limiter was full (for metrics). */
  refused = 0;

  constructor(
    readonly maxConcurrent = 2,
    readonly maxQueued = 64,
  ) {}

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Runs `params` against `password` when a slot is free; null when the limiter is full. */
  tryRun(password: string, params: PasswordHashParams): Promise<boolean> | null {
    if (this.#active >= this.maxConcurrent) {
      if (this.#queue.length >= this.maxQueued) {
        this.refused++;
        return null;
      }
      return new Promise<void>((resolve) => this.#queue.push(resolve)).then(() => this.#check(password, params));
    }
    return this.#check(password, params);
  }

  #check(password: string, params: PasswordHashParams): Promise<boolean> {
    this.#active++;
    return new Promise<boolean>((resolve) => {
      scrypt(password, params.salt, params.expected.length, params.options, (err, got) => {
        this.#active--;
        const next = this.#queue.shift();
        if (next) next();
        resolve(err === null && got.length === params.expected.length && timingSafeEqual(got, params.expected));
      });
    });
  }
}

/** The process's limiter: scrypt shares libuv's thread pool (UV_THREADPOOL_SIZE, default 4) with fs and dns. */
export const nodeScryptLimiter = new ScryptLimiter();

// ---- verification ------------------------------------------------------------------------------------------

/** Longer Authorization headers are refused undecoded. */
export const MAX_BASIC_HEADER_CHARS = 1024;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Verifies `authorization` (the header's value, '' when absent) at `nowMs`: a result at once when no scrypt
 * is needed (missing, malformed, unknown user, cached outcome, limiter full), a Promise otherwise.
 */
export function verifyBasic(policy: BasicPolicy, table: BasicCredentialTable, authorization: string, nowMs: number): BasicResult | Promise<BasicResult> {
  const F = policy.failures;
  if (authorization.length < 6 || authorization.charCodeAt(5) !== 32 || authorization.slice(0, 5).toLowerCase() !== 'basic') {
    // No header, or another scheme: no basic credentials were presented.
    return authorization.trim().toLowerCase() === 'basic' ? F.malformed : F.missing;
  }
  if (authorization.length > MAX_BASIC_HEADER_CHARS) return F.malformed;
  const b64 = authorization.slice(6).trim();
  if (!B64.test(b64)) return F.malformed;
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return F.malformed;
  const cred = table.users.get(decoded.slice(0, colon));
  if (cred === undefined) return F.invalid;
  const params = cred.params;
  if (params === null) return F.unusable;

  const key = hash('sha256', decoded, 'base64');
  const cache = table.cache;
  const known = cache.lookup(key, cred.passwordHash, nowMs, policy.ttlMs, policy.negativeTtlMs);
  if (known !== undefined) return known ? cred.ok : F.invalid;

  let check = cache.inflight.get(key);
  if (check === undefined) {
    const started = table.limiter.tryRun(decoded.slice(colon + 1), params);
    if (started === null) return F.busy;
    const passwordHash = cred.passwordHash;
    check = started.then((ok) => {
      cache.inflight.delete(key);
      cache.record(key, passwordHash, ok, nowMs);
      return ok;
    });
    cache.inflight.set(key, check);
  }
  return check.then((ok) => (ok ? cred.ok : F.invalid));
}
