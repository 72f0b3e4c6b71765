// Idempotent creates: the first successful response to a request carrying an idempotency key is stored
// in the same transaction as the entity it created, so a key is either unknown or points at a committed
// entity and its response. A replay with the same request gets the stored response; with another request,
// 422. Keys live 24 hours.
import { createHash } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import { TurnpikeError } from '@turnpike/common';
import { jsonb } from './checks.js';
import type { ServiceContext } from './context.js';

export const IDEMPOTENCY_TTL_HOURS = 24;

export interface IdempotencyRequest {
  /** Who sent it (the admin token id): keys are scoped per principal. */
  principal: string;
  key: string;
  method: string;
  path: string;
  /** sha256Hex(canonicalJson(body)). */
  requestSha256: string;
}

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  /** As stored: secrets redacted. */
  body: unknown;
}

/** What a write transaction needs to claim a key and record the response it produced. */
export interface IdempotentWrite {
  request: IdempotencyRequest;
  /** The response to store for the write's result (redacted where the result holds a secret). */
  respond(result: unknown): StoredResponse;
}

/** Thrown inside the write when the key already has a response: the write is rolled back and replayed. */
export class IdempotencyKeyUsed extends Error {
  constructor() {
    super('idempotency key already used');
    this.name = 'IdempotencyKeyUsed';
  }
}

const KEY = /^[\x21-\x7e]{1,255}$/;

export function validateIdempotencyKey(key: string): string {
  if (!KEY.test(key)) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'Idempotency-Key must be 1-255 visible ASCII characters', [
      { path: '/Idempotency-Key', message: 'must be 1-255 visible ASCII characters' },
    ]);
  }
  return key;
}

/** JSON with object keys sorted, so that the same body hashes the same whatever its key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function requestSha256(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

interface Row {
  method: string;
  path: string;
  request_sha256: string;
  response_status: number;
  response_headers: Record<string, string>;
  response_body: unknown;
}

async function findRow(sql: Sql | TransactionSql, r: IdempotencyRequest): Promise<Row | undefined> {
  const [row] = await sql<Row[]>`
    SELECT method, path, request_sha256, response_status, response_headers, response_body FROM idempotency_keys
    WHERE principal = ${r.principal} AND key = ${r.key}
      AND created_at > now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`;
  return row;
}

/**
 * The stored response for this key, or undefined when the key is unused (or expired). A key used with
 * another method, path or body is a 422.
 */
export async function findStoredResponse(ctx: ServiceContext, r: IdempotencyRequest): Promise<StoredResponse | undefined> {
  const row = await findRow(ctx.sql, r);
  if (!row) return undefined;
  if (row.method !== r.method || row.path !== r.path || row.request_sha256 !== r.requestSha256) {
    throw new TurnpikeError(
      'TP_ERR_UNPROCESSABLE',
      `Idempotency-Key ${JSON.stringify(r.key)} was already used for a different request (${row.method} ${row.path} with another body); use a new key`,
    );
  }
  return { status: row.response_status, headers: row.response_headers, body: row.response_body };
}

/**
 * Inside a write transaction, after it took the config_revision row lock (which every write takes first,
 * so a concurrent duplicate has committed by now): refuses a key that already has a response.
 */
export async function assertKeyUnused(tx: TransactionSql, r: IdempotencyRequest): Promise<void> {
  if (await findRow(tx, r)) throw new IdempotencyKeyUsed();
}

/** Records the response in the write transaction; an expired row with the same key is replaced. */
export async function storeResponse(tx: TransactionSql, r: IdempotencyRequest, res: StoredResponse): Promise<void> {
  const rows = await tx`
    INSERT INTO idempotency_keys (principal, key, method, path, request_sha256, response_status, response_headers, response_body)
    VALUES (${r.principal}, ${r.key}, ${r.method}, ${r.path}, ${r.requestSha256}, ${res.status}, ${jsonb(tx, res.headers)},
            ${jsonb(tx, res.body)})
    ON CONFLICT (principal, key) DO UPDATE SET
      method = EXCLUDED.method, path = EXCLUDED.path, request_sha256 = EXCLUDED.request_sha256,
      response_status = EXCLUDED.response_status, response_headers = EXCLUDED.response_headers,
      response_body = EXCLUDED.response_body, created_at = now()
    WHERE idempotency_keys.created_at <= now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})
    RETURNING 1`;
  if (rows.length === 0) throw new IdempotencyKeyUsed();
}

/** Deletes expired keys (run by the reconciler); returns how many. */
export async function deleteExpiredIdempotencyKeys(sql: Sql | TransactionSql): Promise<number> {
  const rows = await sql`
    DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}) RETURNING 1`;
  return rows.length;
}
