// Upstream <-> turnpike.admin.v1.Upstream / UpstreamInput. Policy objects are typed messages of the same
// shape as the JSON; fields that are null in the API (no hash_on, no total budget, no circuit breaker) are
// unset on the wire.
import type { Upstream } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = [
  'name',
  'scheme',
  'targets',
  'connect_timeout_ms',
  'read_timeout_ms',
  'tags',
  'algorithm',
  'hash_on',
  'total_timeout_ms',
  'retries',
  'health_checks',
  'circuit_breaker',
  'tls',
] as const;
const LISTS = ['targets', 'tags'] as const;
/** Named in update_mask and unset: cleared (null). */
const NULLABLE = ['hash_on', 'total_timeout_ms', 'circuit_breaker'] as const;
/** Named in update_mask and unset: back to their defaults. */
const DEFAULTED = ['retries', 'health_checks', 'tls'] as const;

export function upstreamToProto(u: Upstream): ProtoObject {
  const msg: ProtoObject = { ...u };
  for (const f of NULLABLE) if (msg[f] === null) delete msg[f];
  return versioned(u, msg);
}

export function upstreamFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  const out = maskedInput(input, mask, FIELDS, LISTS);
  if (mask && mask.length > 0) {
    for (const f of NULLABLE) if (mask.includes(f) && out[f] === undefined) out[f] = null;
    for (const f of DEFAULTED) if (mask.includes(f) && out[f] === undefined) out[f] = {};
  }
  return out;
}
