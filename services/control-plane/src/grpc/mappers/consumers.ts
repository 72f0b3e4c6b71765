// Consumer and ApiKey <-> turnpike.admin.v1 messages.
import type { ApiKey, ApiKeyCreated, Consumer } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['username', 'custom_id', 'tags', 'group_ids'] as const;
const LISTS = ['tags', 'group_ids'] as const;

export function consumerToProto(c: Consumer): ProtoObject {
  return versioned(c, { ...c });
}

export function consumerFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  return maskedInput(input, mask, FIELDS, LISTS);
}

export function apiKeyToProto(k: ApiKey | ApiKeyCreated): ProtoObject {
  const { name, ...rest } = k;
  return versioned(k, name === null ? rest : { ...rest, name });
}

export function apiKeyCreateFromProto(req: ProtoObject): ProtoObject {
  const out: ProtoObject = {};
  if (req.name !== undefined) out.name = req.name;
  if (req.key !== undefined) out.key = req.key;
  return out;
}
