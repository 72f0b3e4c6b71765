// Admin API tokens: stored as SHA-256 only; checked by hash lookup plus a constant-time comparison.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { TurnpikeError } from '@turnpike/common';
import { LOCK_BOOTSTRAP } from '../db/locks.js';
import type { ServiceContext } from './context.js';

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function generateAdminToken(): string {
  return `tpa_${randomBytes(32).toString('base64url')}`;
}

/**
 * At first start (no token at all) creates the bootstrap token — `preferred` when given — and returns it
 * in clear, the only time it is ever visible. Returns undefined when tokens already exist.
 */
export async function ensureBootstrapToken(ctx: ServiceContext, preferred?: string): Promise<string | undefined> {
  return await ctx.sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_BOOTSTRAP})`;
    const [row] = await tx<{ n: string }[]>`SELECT count(*) AS n FROM admin_tokens`;
    if (Number(row!.n) > 0) return undefined;
    const token = preferred && preferred.length > 0 ? preferred : generateAdminToken();
    await tx`INSERT INTO admin_tokens (id, name, token_sha256) VALUES (${randomUUID()}, 'bootstrap', ${sha256(token).toString('hex')})`;
    return token;
  });
}

/** Resolves a bearer token to its admin token id, or throws TP_ERR_AUTH_TOKEN_INVALID. */
export async function authenticateAdminToken(ctx: ServiceContext, token: string): Promise<string> {
  const digest = sha256(token);
  const rows = await ctx.sql<{ id: string; token_sha256: string }[]>`
    SELECT id, token_sha256 FROM admin_tokens WHERE token_sha256 = ${digest.toString('hex')}`;
  const row = rows[0];
  if (row && timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), digest)) return row.id;
  throw new TurnpikeError('TP_ERR_AUTH_TOKEN_INVALID', 'the admin token is not valid');
}

/** Parses an `Authorization: Bearer <token>` value (REST header or gRPC metadata). */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new TurnpikeError('TP_ERR_AUTH_REQUIRED', 'an admin token is required: Authorization: Bearer <token>');
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) throw new TurnpikeError('TP_ERR_AUTH_TOKEN_INVALID', 'the Authorization header must be "Bearer <token>"');
  return m[1]!;
}
