// Pure planning: the live config and the desired one (both normalized) → the ordered operations that turn
// one into the other. Entities are matched by name; only changed fields are updated; equal configs plan nothing.
import type { CurrentState } from './current-state.js';
import type { ConsumerSpec, DeclarativeConfig, EntityKind, RouteSpec, ServiceSpec, UpstreamSpec } from './file-format.js';

export type EntitySpec = UpstreamSpec | ServiceSpec | RouteSpec | Omit<ConsumerSpec, 'keys'>;

export interface FieldChange {
  field: string;
  /** undefined: the field is not set on the server. */
  from: unknown;
  /** undefined: the file leaves it unset (only optional fields without a default, like custom_id). */
  to: unknown;
}

export type Operation =
  | { action: 'create'; kind: EntityKind; name: string; spec: EntitySpec }
  | {
      action: 'update';
      kind: EntityKind;
      name: string;
      id: string;
      changes: FieldChange[];
      /** `replace` (PUT) when a field must be unset, which a PATCH cannot say; otherwise `patch` with the changes. */
      mode: 'patch' | 'replace';
      spec: EntitySpec;
    }
  | { action: 'delete'; kind: EntityKind; name: string; id: string }
  | { action: 'create'; kind: 'key'; consumer: string; name: string; key?: string }
  | { action: 'delete'; kind: 'key'; consumer: string; consumerId: string; name: string; id: string };

export interface PlanOptions {
  /** Delete what the file does not mention. */
  prune: boolean;
}

export interface Plan {
  operations: Operation[];
  /** Entities (and named keys) on the server that the file does not mention; deleted only with prune. */
  unmanaged: Array<{ kind: EntityKind | 'key'; name: string }>;
}

export function plan(current: CurrentState, desired: DeclarativeConfig, opts: PlanOptions): Plan {
  const ops: Operation[] = [];
  const unmanaged: Plan['unmanaged'] = [];

  const upstreams = diffKind('upstream', current.upstreams, desired.upstreams, (e) => e.name);
  const services = diffKind('service', current.services, desired.services, (e) => e.name);
  const routes = diffKind('route', current.routes, desired.routes, (e) => e.name);
  const consumers = diffKind('consumer', current.consumers.map(withoutKeys), desired.consumers.map(withoutKeys), (e) => e.username);

  // Creates and updates go upstream → service → route so that references exist before they are used.
  // Routes are deleted first among routes (a pruned route may hold the path an updated or new one takes),
  // and services and upstreams are deleted last, once no route or service points at them any more.
  ops.push(...upstreams.upserts, ...services.upserts);
  if (opts.prune) ops.push(...routes.deletes);
  ops.push(...routes.upserts);
  if (opts.prune) ops.push(...services.deletes, ...upstreams.deletes);
  if (opts.prune) ops.push(...consumers.deletes);
  ops.push(...consumers.upserts);
  for (const d of [upstreams, services, routes, consumers]) if (!opts.prune) unmanaged.push(...d.deletes.map((o) => ({ kind: o.kind, name: o.name })));

  // Keys: matched by name within their consumer. Existing keys are never compared (the API does not return
  // key material), so a named key that exists is left as it is. Keys go with a pruned consumer.
  const keyCreates: Operation[] = [];
  const keyDeletes: Operation[] = [];
  const live = new Map(current.consumers.map((c) => [c.username, c]));
  const wanted = new Map(desired.consumers.map((c) => [c.username, c]));
  for (const c of desired.consumers) {
    const have = new Set((live.get(c.username)?.keys ?? []).map((k) => k.name));
    for (const k of c.keys) {
      if (have.has(k.name)) continue;
      const op: Operation = { action: 'create', kind: 'key', consumer: c.username, name: k.name };
      if (k.key !== undefined) op.key = k.key;
      keyCreates.push(op);
    }
  }
  for (const c of current.consumers) {
    const want = wanted.get(c.username);
    if (!want) continue;
    const names = new Set(want.keys.map((k) => k.name));
    const matched = new Set<string>();
    for (const k of c.keys) {
      // Nameless keys cannot be stated in a file, so they are not managed here (never pruned).
      if (k.name === null) continue;
      // The first key with a wanted name is the match; later keys with the same name are extras.
      if (names.has(k.name) && !matched.has(k.name)) {
        matched.add(k.name);
        continue;
      }
      if (opts.prune) keyDeletes.push({ action: 'delete', kind: 'key', consumer: c.username, consumerId: c.id, name: k.name, id: k.id });
      else unmanaged.push({ kind: 'key', name: `${c.username}/${k.name}` });
    }
  }
  // Deletes first: a removed key may hold the key value a new one registers.
  ops.push(...keyDeletes, ...keyCreates);
  return { operations: ops, unmanaged };
}

function withoutKeys<T extends { keys: unknown }>(c: T): Omit<T, 'keys'> {
  const { keys: _keys, ...rest } = c;
  return rest;
}

interface KindDiff {
  upserts: Operation[];
  deletes: Array<Extract<Operation, { action: 'delete'; kind: EntityKind }>>;
}

function diffKind<D extends EntitySpec, C extends D & { id: string }>(kind: EntityKind, current: C[], desired: D[], nameOf: (e: D) => string): KindDiff {
  const byName = new Map<string, C>();
  for (const c of current) if (!byName.has(nameOf(c))) byName.set(nameOf(c), c);
  const wanted = new Set(desired.map(nameOf));
  const upserts: Operation[] = [];
  for (const d of desired) {
    const name = nameOf(d);
    const c = byName.get(name);
    if (!c) {
      upserts.push({ action: 'create', kind, name, spec: d });
      continue;
    }
    const changes = fieldChanges(c, d);
    if (changes.length > 0) {
      const mode = changes.some((ch) => ch.to === undefined) ? 'replace' : 'patch';
      upserts.push({ action: 'update', kind, name, id: c.id, changes, mode, spec: d });
    }
  }
  // Deletes in reverse creation order: the newest first.
  const deletes: KindDiff['deletes'] = [];
  for (const c of [...current].reverse()) if (!wanted.has(nameOf(c))) deletes.push({ action: 'delete', kind, name: nameOf(c), id: c.id });
  return { upserts, deletes };
}

export function fieldChanges(current: object, desired: object): FieldChange[] {
  const cur = current as Record<string, unknown>;
  const des = desired as Record<string, unknown>;
  const fields = [...Object.keys(des), ...Object.keys(cur).filter((k) => !(k in des))].filter((k) => k !== 'id');
  const out: FieldChange[] = [];
  for (const field of fields) {
    if (!sameValue(cur[field], des[field])) out.push({ field, from: cur[field], to: des[field] });
  }
  return out;
}

/** Structural equality of JSON values (object key order ignored, array order significant). */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}
