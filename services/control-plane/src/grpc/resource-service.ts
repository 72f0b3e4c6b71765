// The gRPC services of the generic resource kinds (resources/registry.ts): one adapter serves every kind's
// Create/Get/List/Update/Delete and actions over the store (resources/store.ts), converting messages by
// walking the kind's typebox schemas (resource-convert.ts), so a kind's service is declarations only.
//
// RECIPE: adding a kind `Foo` (ResourceDef with title 'Foo', kind 'foos') to gRPC
//  1. admin.proto, at the end of the file (targeted edit, never renumber), a block like ConsumerGroup's:
//     - `message Foo`: every field of the entity schema under its JSON name (same order as REST is fine),
//       then `int64 version`; nullable scalars `optional`; nested objects as nested messages (named
//       `Foo<Thing>`); lists `repeated`; integers int32 (int64 above 2^31), decimals double; a record of
//       typed values (Type.Record(Type.String(), Type.String())) `map<string, string>`; any other free-form
//       JSON object (Type.Record(Type.String(), Type.Unknown())) `google.protobuf.Struct`, a free-form JSON
//       value (Type.Unknown) `google.protobuf.Value` (the file already imports struct.proto). A union of
//       object shapes (told apart by `type`) is one flat message holding every variant's fields. Fields
//       shown once on create (the def's `revealOnce`) as `optional string`.
//     - `message FooInput`: every field of the create schema, scalars `optional`, lists `repeated`.
//       A kind under a consumer (def.parent) adds `string consumer_id` to FooInput.
//     - `message UpdateFooRequest { string id; FooInput foo; repeated string update_mask; optional int64
//       expected_version; }` — the input field is the snake_case title (`ai_provider` for AiProvider).
//     - `message ListFoosRequest { int32 limit; string cursor; optional string name (only if the kind has
//       names); optional string tag; optional string <filter> for each key of def.filters; }` and
//       `message ListFoosResponse { repeated Foo data; string next; }`.
//     - Get/Delete take GetRequest/DeleteRequest; a kind under a consumer declares
//       `FooRequest { string consumer_id; string id; optional int64 expected_version; }` for both and adds
//       `string consumer_id` to UpdateFooRequest and ListFoosRequest.
//     - each action `bar_baz` → `rpc BarBazFoo(FooBarBazRequest) returns (Foo)` with
//       `{ string id; [string consumer_id;] optional int64 expected_version; ...the action input's fields }`.
//     - `service FooService { CreateFoo(FooInput) GetFoo ListFoos UpdateFoo DeleteFoo [actions] }`; the
//       plural is title + s (y → ies); else set `plural` in the registration.
//  2. One line in GRPC_RESOURCES below: `{ kind: 'foos' }` (+ `plural: 'Feet'` if irregular).
//  3. load-proto.ts AdminProto: `FooService: grpc.ServiceClientConstructor;` (for typed clients in tests).
//  4. A test in test/grpc-resources.test.ts (the one that checks every kind is registered fails until 2).
// The server refuses to start when a registered kind's service is missing from the .proto or an RPC has no
// counterpart (an action, a CRUD verb), so a mismatch shows in the first test run.
import type * as grpc from '@grpc/grpc-js';
import { TurnpikeError, type ResourceKind } from '@turnpike/common';
import { createResource, defOf, deleteResource, getResource, listResources, runAction, updateResource, type ResourceDef, type ResourceEntity } from '../resources/index.js';
import type { ServiceContext } from '../service/index.js';
import { isUuid } from '../service/ids.js';
import { listOptionsFrom, pageToProto, versioned, type ProtoObject } from './mappers/input-mask.js';
import { fromProto, patchFromProto, toProto } from './resource-convert.js';
import { promptTemplateVersionRpcs } from './prompt-template-versions.js';

export interface GrpcResource {
  kind: ResourceKind;
  /** The plural stem of `List<plural>` when title + s (y → ies) is wrong. */
  plural?: string;
  /** Entity fields under another name on the wire (one whose name proto gives the concurrency `version`). */
  renames?: Readonly<Record<string, string>>;
  /** RPCs of the kind's service beyond CRUD and actions (a prompt template's versions); `out` maps an entity. */
  extraRpcs?(u: Handler, out: (e: ResourceEntity) => ProtoObject): Record<string, grpc.handleUnaryCall<ProtoObject, unknown>>;
}

/** Every generic kind served over gRPC: one line per kind (see the recipe above). */
export const GRPC_RESOURCES: readonly GrpcResource[] = [{ kind: 'consumer_groups' }, { kind: 'plans' }, { kind: 'subscriptions' }, { kind: 'plugins' }, { kind: 'ai_providers' }, { kind: 'prompt_templates', renames: { version: 'template_version' }, extraRpcs: promptTemplateVersionRpcs }, { kind: 'ai_budgets' }, { kind: 'credentials' }, { kind: 'certificates' }];

export type Handler = (fn: (req: ProtoObject, ctx: ServiceContext) => Promise<unknown>) => grpc.handleUnaryCall<ProtoObject, unknown>;

export function pluralOf(title: string): string {
  return /[^aeiou]y$/.test(title) ? `${title.slice(0, -1)}ies` : `${title}s`;
}

/** `ConsumerGroup` → `consumer_group`: the input field of Update<T>Request. */
export function snakeOf(title: string): string {
  return title.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase();
}

/** `rotate_secret` → `RotateSecret`. */
function pascalOf(name: string): string {
  return name.replace(/(^|[_-])([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
}

function expected(req: ProtoObject): { expectedVersions?: number[] } {
  return req.expected_version === undefined || req.expected_version === null ? {} : { expectedVersions: [Number(req.expected_version)] };
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The entity as its proto message (nulls unset, Struct/Value built, fields renamed, `version` added). */
export function resourceToProto(def: ResourceDef, e: ResourceEntity, renames: Readonly<Record<string, string>> = {}): ProtoObject {
  const msg = toProto(def.entity, e) as ProtoObject;
  for (const [from, to] of Object.entries(renames)) {
    if (from in msg) msg[to] = msg[from];
    delete msg[from];
  }
  return versioned(e, msg);
}

/** The unary handlers of one kind's service, by RPC name. */
export function resourceHandlers(def: ResourceDef, u: Handler, plural = pluralOf(def.title), r: Omit<GrpcResource, 'kind' | 'plural'> = {}): Record<string, grpc.handleUnaryCall<ProtoObject, unknown>> {
  const T = def.title;
  const parentField = def.parent?.field;
  const parentOf = (req: ProtoObject): string | undefined => (parentField ? (text(req[parentField]) ?? '') : undefined);
  const out = (e: ResourceEntity): ProtoObject => resourceToProto(def, e, r.renames);
  const filters = Object.keys(def.filters ?? {});

  const handlers: Record<string, grpc.handleUnaryCall<ProtoObject, unknown>> = {
    [`Create${T}`]: u(async (req, ctx) => {
      const input: ProtoObject = { ...req };
      if (parentField) delete input[parentField];
      return out(await createResource(ctx, def, fromProto(def.create, input), parentOf(req)));
    }),
    [`Get${T}`]: u(async (req, ctx) => out(await getResource(ctx, def, String(req.id ?? ''), parentOf(req)))),
    [`List${plural}`]: u(async (req, ctx) => {
      const where: Record<string, string> = {};
      for (const f of filters) {
        const v = text(req[f]);
        if (v === undefined) continue;
        if (f.endsWith('_id') && !isUuid(v)) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid filter: /${f} must be a uuid`, [{ path: `/${f}`, message: 'must be a uuid' }]);
        where[f] = f.endsWith('_id') ? v.toLowerCase() : v;
      }
      const name = text(req.name);
      const tag = text(req.tag);
      const opts = { ...listOptionsFrom(req as { limit?: number; cursor?: string }), ...(name !== undefined ? { name } : {}), ...(tag !== undefined ? { tag } : {}), where };
      return pageToProto(await listResources(ctx, def, opts, parentOf(req)), out);
    }),
    [`Update${T}`]: u(async (req, ctx) => {
      const patch = patchFromProto(def.update, req[snakeOf(T)], req.update_mask as string[] | undefined);
      return out(await updateResource(ctx, def, String(req.id ?? ''), patch, 'patch', expected(req), parentOf(req)));
    }),
    [`Delete${T}`]: u(async (req, ctx) => (await deleteResource(ctx, def, String(req.id ?? ''), expected(req), parentOf(req)), {})),
  };
  for (const action of def.actions ?? []) {
    handlers[`${pascalOf(action.name)}${T}`] = u(async (req, ctx) => {
      const { id, expected_version: _v, ...rest } = req;
      const pid = parentOf(req);
      if (parentField) {
        delete rest[parentField];
        // The store's actions address the resource by id alone: check it lives under this parent first.
        await getResource(ctx, def, String(id ?? ''), pid);
      }
      return out(await runAction(ctx, def, action.name, String(id ?? ''), fromProto(action.input, rest), expected(req)));
    });
  }
  Object.assign(handlers, r.extraRpcs?.(u, out) ?? {});
  return handlers;
}

/**
 * Adds every GRPC_RESOURCES kind's service to the server. `services`: the loaded package's service
 * constructors by name. Throws when the .proto and a kind disagree (see the recipe).
 */
export function addResourceServices(server: grpc.Server, services: Readonly<Record<string, grpc.ServiceClientConstructor | undefined>>, u: Handler): void {
  for (const r of GRPC_RESOURCES) {
    const def = defOf(r.kind);
    if (!def) throw new Error(`GRPC_RESOURCES names ${r.kind}, which resources/registry.ts does not define`);
    const name = `${def.title}Service`;
    const ctor = services[name];
    if (!ctor) throw new Error(`admin.proto has no ${name} for ${def.kind}: add its block (recipe in grpc/resource-service.ts)`);
    const impl = resourceHandlers(def, u, r.plural, r);
    const rpcs = Object.keys(ctor.service);
    const unknown = rpcs.filter((m) => !impl[m]);
    const missing = Object.keys(impl).filter((m) => !rpcs.includes(m));
    if (unknown.length > 0 || missing.length > 0) {
      throw new Error(`${name} in admin.proto does not match ${def.kind}: ${[...unknown.map((m) => `unknown rpc ${m}`), ...missing.map((m) => `missing rpc ${m}`)].join(', ')}`);
    }
    server.addService(ctor.service, impl);
  }
}
