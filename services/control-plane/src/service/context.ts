// What every service module needs: the pool, and a hook run after each committed config write
// (the outbox publisher's in-process notify).
import type { Sql } from 'postgres';

export interface ServiceContext {
  sql: Sql;
  onCommit(): void;
}
