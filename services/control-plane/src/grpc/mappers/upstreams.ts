// Upstream <-> turnpike.admin.v1.Upstream / UpstreamInput.
import type { Upstream } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['name', 'scheme', 'targets', 'connect_timeout_ms', 'read_timeout_ms', 'tags'] as const;
const LISTS = ['targets', 'tags'] as const;

export function upstreamToProto(u: Upstream): ProtoObject {
  return versioned(u, { ...u });
}

export function upstreamFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  return maskedInput(input, mask, FIELDS, LISTS);
}
