// Service <-> turnpike.admin.v1.Service / ServiceInput.
import type { Service } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['name', 'upstream_id', 'base_path', 'tags'] as const;
const LISTS = ['tags'] as const;

export function serviceToProto(s: Service): ProtoObject {
  return versioned(s, { ...s });
}

export function serviceFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  return maskedInput(input, mask, FIELDS, LISTS);
}
