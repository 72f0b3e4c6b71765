// Route <-> turnpike.admin.v1.Route / RouteInput. Plugins are typed messages; `key-auth` is `key_auth`.
// Matchers are RouteMatcher messages; `stage` is unset for none, and an empty string in an input clears it.
import type { Route } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['name', 'service_id', 'hosts', 'paths', 'methods', 'strip_path', 'priority', 'plugins', 'tags', 'headers', 'query', 'stage'] as const;
const LISTS = ['hosts', 'paths', 'methods', 'tags', 'headers', 'query'] as const;

export function routeToProto(r: Route): ProtoObject {
  const { plugins, stage, ...rest } = r;
  const p: ProtoObject = {};
  if (plugins['key-auth']) p.key_auth = plugins['key-auth'];
  const msg: ProtoObject = { ...rest, plugins: p };
  if (stage) msg.stage = stage;
  return versioned(r, msg);
}

export function routeFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  const out = maskedInput(input, mask, FIELDS, LISTS);
  const plugins = out.plugins as ProtoObject | undefined;
  if (plugins !== undefined) {
    const p: ProtoObject = {};
    if (plugins.key_auth !== undefined) p['key-auth'] = plugins.key_auth;
    out.plugins = p;
  }
  if (out.stage === '') out.stage = null;
  return out;
}
