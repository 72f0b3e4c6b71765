// Entity ids are UUIDs; anything else cannot name an entity, so it is "not found" (never a 500 from
// PostgreSQL's uuid parser).
import { TurnpikeError } from '@turnpike/common';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID.test(s);
}

export function notFound(what: string, id: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_NOT_FOUND', `${what} ${JSON.stringify(id)} not found`);
}

/** Returns the id lower-cased, or throws TP_ERR_NOT_FOUND when it is not a UUID. */
export function requireId(what: string, id: unknown): string {
  if (!isUuid(id)) throw notFound(what, String(id));
  return id.toLowerCase();
}
