// Failures that are not TurnpikeErrors yet, turned into ones in one place for both admin APIs:
// an unreachable PostgreSQL is 503 (retryable), a constraint that a pre-check missed is a 409.
import { TurnpikeError } from '@turnpike/common';

const CONNECTION_CODES = new Set([
  'CONNECTION_REFUSED',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  // PostgreSQL shutting down / not accepting connections / too many connections.
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** Returns a TurnpikeError for known failure kinds, or null for genuine internal errors. */
export function toTurnpikeError(err: unknown): TurnpikeError | null {
  if (err instanceof TurnpikeError) return err;
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return null;
  if (CONNECTION_CODES.has(code)) return new TurnpikeError('TP_ERR_UNAVAILABLE', 'the configuration database is unavailable; retry later');
  // Text PostgreSQL cannot store (U+0000 in a query parameter, say): the caller's input, not our failure.
  if (code === '22021' || code === '22P05') return new TurnpikeError('TP_ERR_VALIDATION', 'text must not contain the NUL character (\\u0000)');
  if (code === '23505') return new TurnpikeError('TP_ERR_CONFLICT', 'an entity with these unique values already exists');
  if (code === '23503') return new TurnpikeError('TP_ERR_IN_USE', 'the entity is referenced by another entity');
  if (code === '40001' || code === '40P01') return new TurnpikeError('TP_ERR_UNAVAILABLE', 'a concurrent change interfered; retry');
  return null;
}
