// What every service module needs: the pool, a hook run after each committed config write (the outbox
// publisher's in-process notify), and — per request — who is calling, in which tenant.
import type { Sql } from 'postgres';
import type { Keyring } from '@turnpike/common';
import { SYSTEM_AUTH, type AuthContext } from './access.js';
import type { IdempotentWrite } from './idempotency.js';

export interface ServiceContext {
  sql: Sql;
  onCommit(): void;
  /**
   * Set (on a per-request copy of the context) for a create carrying an idempotency key: the write
   * transaction refuses a used key and stores the response with the entity.
   */
  idempotency?: IdempotentWrite | undefined;
  /** The caller and tenant of the request (absent in library use: the default tenant, every right). */
  auth?: AuthContext | undefined;
  /** Recorded in the audit log. */
  requestId?: string | undefined;
  /** Seals secrets at rest (AI provider keys, HMAC secrets); null: secret-bearing writes answer 503. */
  keyring?: Keyring | null | undefined;
}

export function authOf(ctx: ServiceContext): AuthContext {
  return ctx.auth ?? SYSTEM_AUTH;
}
