// Route <-> turnpike.admin.v1.Route / RouteInput. Plugins are typed messages; `key-auth` is `key_auth`.
import type { Route } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['name', 'service_id', 'hosts', 'paths', 'methods', 'strip_path', 'priority', 'plugins', 'tags'] as const;
const LISTS = ['hosts', 'paths', 'methods', 'tags'] as const;

export function routeToProto(r: Route): ProtoObject {
  const { plugins, ...rest } = r;
  const p: ProtoObject = {};
  if (plugins['key-auth']) p.key_auth = plugins['key-auth'];
  return versioned(r, { ...rest, plugins: p });
}

export function routeFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  const out = maskedInput(input, mask, FIELDS, LISTS);
  const plugins = out.plugins as ProtoObject | undefined;
  if (plugins !== undefined) {
    const p: ProtoObject = {};
    if (plugins.key_auth !== undefined) p['key-auth'] = plugins.key_auth;
    out.plugins = p;
  }
  return out;
}
