// Only one control plane writes to the config bus at a time (publisher or reconciler): a transaction-scoped
// advisory lock, tried rather than waited for — whoever holds it is already doing the work.
import type { Sql, TransactionSql } from 'postgres';
import { LOCK_BUS_WRITER } from '../db/locks.js';

export async function withBusLock<T>(sql: Sql, fn: (tx: TransactionSql) => Promise<T>): Promise<{ locked: false } | { locked: true; value: T }> {
  const out = await sql.begin(async (tx) => {
    const [row] = await tx<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${LOCK_BUS_WRITER}) AS locked`;
    if (!row!.locked) return { locked: false as const };
    return { locked: true as const, value: await fn(tx) };
  });
  return out as { locked: false } | { locked: true; value: T };
}
