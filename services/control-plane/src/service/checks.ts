// Integrity checks run inside a write transaction. Writes are serialized by the config_revision row
// lock, so a check and the write that follows it cannot interleave with another control-plane write.
import type postgres from 'postgres';
import type { TransactionSql } from 'postgres';
import { TurnpikeError } from '@turnpike/common';

type Table = 'upstreams' | 'services' | 'routes' | 'consumers' | 'api_keys';

/** 409 TP_ERR_CONFLICT when another row of `table` in the tenant already has `value` in `column`. */
export async function assertUnique(
  tx: TransactionSql,
  table: Table,
  column: string,
  value: string,
  exceptId: string | null,
  what: string,
  tenantId: string,
): Promise<void> {
  const rows = await tx`SELECT id FROM ${tx(table)}
    WHERE tenant_id = ${tenantId} AND ${tx(column)} = ${value} AND id IS DISTINCT FROM ${exceptId} LIMIT 1`;
  if (rows.length > 0) {
    throw new TurnpikeError('TP_ERR_CONFLICT', `${what} with ${column} ${JSON.stringify(value)} already exists`, [
      { path: `/${column}`, message: 'is already taken' },
    ]);
  }
}

/**
 * 422 TP_ERR_UNPROCESSABLE when the referenced row does not exist in the tenant (`field` names the
 * referring field): another tenant's entity is reported exactly like a missing one.
 */
export async function assertReference(tx: TransactionSql, table: Table, id: string, field: string, what: string, tenantId: string): Promise<void> {
  const rows = await tx`SELECT id FROM ${tx(table)} WHERE id = ${id} AND tenant_id = ${tenantId} FOR KEY SHARE`;
  if (rows.length === 0) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${field.slice(1)} refers to ${what} ${JSON.stringify(id)}, which does not exist`, [
      { path: field, message: `${what} does not exist` },
    ]);
  }
}

/** 409 TP_ERR_IN_USE when rows of `table` still refer to the entity being deleted. */
export async function assertUnused(tx: TransactionSql, table: Table, column: string, id: string, what: string, by: string): Promise<void> {
  const rows = await tx<{ id: string }[]>`SELECT id FROM ${tx(table)} WHERE ${tx(column)} = ${id} ORDER BY seq LIMIT 5`;
  if (rows.length > 0) {
    throw new TurnpikeError(
      'TP_ERR_IN_USE',
      `${what} ${JSON.stringify(id)} is used by ${by} ${rows.map((r) => r.id).join(', ')}${rows.length === 5 ? ', ...' : ''}`,
    );
  }
}

/** A jsonb parameter (serialized once by postgres.js; a pre-stringified value would be stored as a JSON string). */
export function jsonb(tx: TransactionSql, v: unknown): postgres.Parameter {
  return tx.json(v as postgres.JSONValue);
}

export function iso(d: Date): string {
  return d.toISOString();
}
