// What every service module needs: the pool, and a hook run after each committed config write
// (the outbox publisher's in-process notify).
import type { Sql } from 'postgres';
import type { IdempotentWrite } from './idempotency.js';

export interface ServiceContext {
  sql: Sql;
  onCommit(): void;
  /**
   * Set (on a per-request copy of the context) for a create carrying an idempotency key: the write
   * transaction refuses a used key and stores the response with the entity.
   */
  idempotency?: IdempotentWrite | undefined;
}
