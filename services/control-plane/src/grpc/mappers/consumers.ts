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
  const { name, expires_at, ...rest } = k;
  const out: ProtoObject = { ...rest };
  if (name !== null) out.name = name;
  if (expires_at !== null && expires_at !== undefined) out.expires_at = expires_at;
  return versioned(k, out);
}

export function apiKeyCreateFromProto(req: ProtoObject): ProtoObject {
  const out: ProtoObject = {};
  if (req.name !== undefined) out.name = req.name;
  if (req.key !== undefined) out.key = req.key;
  if (req.expires_at !== undefined) out.expires_at = req.expires_at;
  return out;
}

/** UpdateApiKey: only the fields set; "" clears (proto3 strings cannot be null). */
export function apiKeyUpdateFromProto(req: ProtoObject): ProtoObject {
  const out: ProtoObject = {};
  if (req.name !== undefined) out.name = req.name === '' ? null : req.name;
  if (req.expires_at !== undefined) out.expires_at = req.expires_at === '' ? null : req.expires_at;
  return out;
}
