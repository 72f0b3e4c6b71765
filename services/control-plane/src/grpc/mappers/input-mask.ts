// Shapes a decoded *Input message into the JSON the service layer validates, applying `update_mask`.
import { TurnpikeError } from '@turnpike/common';
import { versionOf } from '../../service/versions.js';

export type ProtoObject = Record<string, unknown>;

/** The entity's `version` field (the service layer attaches it beside the entity; see service/versions.ts). */
export function versioned(entity: object, msg: ProtoObject): ProtoObject {
  const v = versionOf(entity);
  return v === undefined ? msg : { ...msg, version: v };
}

/**
 * Create: the fields that are set. Update: with an empty mask the fields that are set; with a mask exactly
 * the named fields, a named list that is unset becoming `[]`.
 */
export function maskedInput(input: ProtoObject | undefined, mask: readonly string[] | undefined, known: readonly string[], lists: readonly string[]): ProtoObject {
  const src = input ?? {};
  if (!mask || mask.length === 0) return { ...src };
  const out: ProtoObject = {};
  const bad = mask.filter((m) => !known.includes(m));
  if (bad.length > 0) {
    throw new TurnpikeError('TP_ERR_VALIDATION', `unknown field in update_mask: ${bad.join(', ')}`, bad.map((b) => ({ path: `/update_mask/${b}`, message: 'is not a field' })));
  }
  for (const m of mask) {
    if (src[m] !== undefined) out[m] = src[m];
    else if (lists.includes(m)) out[m] = [];
  }
  return out;
}

/** The service layer's list options from a ListRequest (proto3 zero values mean "unset"). */
export function listOptionsFrom(req: { limit?: number; cursor?: string }): { limit?: number; cursor?: string } {
  const o: { limit?: number; cursor?: string } = {};
  if (req.limit) o.limit = req.limit;
  if (req.cursor) o.cursor = req.cursor;
  return o;
}

export function pageToProto<T, P>(page: { data: T[]; next_cursor: string | null }, map: (t: T) => P): { data: P[]; next: string } {
  return { data: page.data.map(map), next: page.next_cursor ?? '' };
}
