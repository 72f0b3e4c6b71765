// Proto message (as decoded by proto-loader: keepCase, longs as numbers, unset fields absent) ↔ the JSON of
// a generic resource kind, by walking the kind's typebox (JSON) schema. The rules (also in admin.proto):
// - an unset field is absent in JSON, and an absent or null JSON field is unset on the wire;
// - an empty repeated field is unset on the wire: absent in JSON so its default applies, except where the
//   schema requires the list (then []);
// - a record of typed values (Type.Record(Type.String(), Type.String())) is a proto `map<string, T>`;
// - any other free-form object (Type.Record(Type.String(), Type.Unknown()), an object schema without
//   `properties`) is a google.protobuf.Struct; a free-form value (Type.Unknown/Any) a google.protobuf.Value;
// - fields the schema does not know pass through unchanged (validation then names them; `version` and
//   once-shown secrets ride along on the way out).
import { TurnpikeError } from '@turnpike/common';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

/** The parts of a JSON schema the walk reads. */
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  additionalProperties?: unknown;
  patternProperties?: Record<string, Schema>;
}

type Shape =
  | { k: 'object'; props: Record<string, Schema>; required: string[] }
  | { k: 'array'; items: Schema }
  | { k: 'map'; values: Schema }
  | { k: 'struct' }
  | { k: 'value' }
  | { k: 'scalar' };

function variants(s: Schema): Schema[] {
  const alts = s.anyOf ?? s.oneOf;
  return alts ? alts.flatMap(variants) : [s];
}

function isNull(s: Schema): boolean {
  return s.type === 'null';
}

/** Whether JSON null is allowed (a nullable field: unset on the wire, cleared by an update mask). */
export function nullable(s: Schema | undefined): boolean {
  return s !== undefined && variants(s).some(isNull);
}

/** What a schema position is on the wire. Unions of objects merge into one flat message (as Integration does). */
function shapeOf(s: Schema): Shape {
  const vs = variants(s).filter((v) => !isNull(v));
  // An object without declared properties that admits others is free-form (a Struct), not a message.
  const freeForm = (v: Schema): boolean => Object.keys(v.properties ?? {}).length === 0 && v.additionalProperties !== false;
  const objects = vs.filter((v) => v.properties !== undefined && !freeForm(v));
  if (objects.length > 0) {
    const props: Record<string, Schema> = {};
    for (const o of objects) Object.assign(props, o.properties);
    // A property is required only where every variant requires it.
    const required = objects.length === 1 ? (objects[0]!.required ?? []) : Object.keys(props).filter((p) => objects.every((o) => o.required?.includes(p)));
    return { k: 'object', props, required };
  }
  const arr = vs.find((v) => v.type === 'array');
  if (arr) return { k: 'array', items: arr.items ?? {} };
  const open = vs.find((v) => v.type === 'object');
  if (open) {
    // A record of typed values (Type.Record(String, String)) is a proto map; of anything, a Struct.
    const values = Object.values(open.patternProperties ?? {})[0] ?? (typeof open.additionalProperties === 'object' ? (open.additionalProperties as Schema) : undefined);
    return values && shapeOf(values).k !== 'value' ? { k: 'map', values } : { k: 'struct' };
  }
  if (vs.length === 0 || vs.every((v) => v.type === undefined && v.const === undefined && v.enum === undefined)) return { k: 'value' };
  return { k: 'scalar' };
}

export function propertiesOf(s: Schema): Record<string, Schema> {
  const sh = shapeOf(s);
  return sh.k === 'object' ? sh.props : {};
}

// ---- google.protobuf.Struct / Value. proto-loader loads the well-known types from protobufjs's bundled
// descriptors, whose field names are camelCase (`stringValue`) even with keepCase; snake_case is read too.

function pickField(v: Obj, camel: string, snake: string): unknown {
  return v[camel] !== undefined ? v[camel] : v[snake];
}

export function valueToJson(v: unknown): Json {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Obj;
  const struct = pickField(o, 'structValue', 'struct_value');
  if (struct !== undefined) return structToJson(struct);
  const list = pickField(o, 'listValue', 'list_value');
  if (list !== undefined) return (((list as Obj).values as unknown[] | undefined) ?? []).map(valueToJson);
  const str = pickField(o, 'stringValue', 'string_value');
  if (str !== undefined) return String(str);
  const num = pickField(o, 'numberValue', 'number_value');
  if (num !== undefined) return Number(num);
  const bool = pickField(o, 'boolValue', 'bool_value');
  if (bool !== undefined) return Boolean(bool);
  return null;
}

export function structToJson(v: unknown): { [k: string]: Json } {
  const fields = ((v as Obj | null)?.fields ?? {}) as Obj;
  const out: { [k: string]: Json } = {};
  for (const [k, f] of Object.entries(fields)) out[k] = valueToJson(f);
  return out;
}

export function jsonToValue(v: unknown): Obj {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'number':
      return { numberValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'object':
      return { structValue: jsonToStruct(v) };
    default:
      return { nullValue: 'NULL_VALUE' };
  }
}

export function jsonToStruct(v: unknown): Obj {
  const fields: Obj = {};
  for (const [k, f] of Object.entries((v ?? {}) as Obj)) if (f !== undefined) fields[k] = jsonToValue(f);
  return { fields };
}

// ---- the walk

function mapEntries(value: unknown, f: (v: unknown) => unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value as Obj)) {
    const mapped = f(v);
    if (mapped !== undefined) out[k] = mapped;
  }
  return out;
}

/** Entity JSON → proto message: nulls dropped, Struct/Value built. */
export function toProto(schema: Schema, value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  const sh = shapeOf(schema);
  switch (sh.k) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Obj = {};
      for (const [k, v] of Object.entries(value as Obj)) {
        const sub = sh.props[k];
        const mapped = sub ? toProto(sub, v) : v === null ? undefined : v;
        if (mapped !== undefined) out[k] = mapped;
      }
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((i) => toProto(sh.items, i)).filter((i) => i !== undefined) : value;
    case 'map':
      return mapEntries(value, (v) => toProto(sh.values, v));
    case 'struct':
      return typeof value === 'object' && !Array.isArray(value) ? jsonToStruct(value) : jsonToValue(value);
    case 'value':
      return jsonToValue(value);
    case 'scalar':
      return value;
  }
}

/** Proto message → the JSON the store validates: unset stays absent, Struct/Value unwrapped. */
export function fromProto(schema: Schema, value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  const sh = shapeOf(schema);
  switch (sh.k) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Obj = {};
      for (const [k, v] of Object.entries(value as Obj)) {
        const sub = sh.props[k];
        const mapped = sub ? fromProto(sub, v) : v;
        if (mapped === undefined) continue;
        // An empty list is what the wire says for "unset": absent, so the default applies.
        if (Array.isArray(mapped) && mapped.length === 0 && !sh.required.includes(k)) continue;
        out[k] = mapped;
      }
      // A required list that is empty cannot be told from unset on the wire: it is [].
      for (const k of sh.required) if (out[k] === undefined && sh.props[k] && shapeOf(sh.props[k]).k === 'array') out[k] = [];
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((i) => fromProto(sh.items, i)) : value;
    case 'map':
      return mapEntries(value, (v) => fromProto(sh.values, v));
    case 'struct':
      return structToJson(value);
    case 'value':
      return valueToJson(value);
    case 'scalar':
      return value;
  }
}

/**
 * An Update<T> request's input → the PATCH body. Empty mask: the fields that are set. With a mask: exactly
 * the named (top-level) fields; one that is unset is cleared: null where nullable, [] for a list, its
 * default where it has one (else left unchanged).
 */
export function patchFromProto(updateSchema: Schema, input: unknown, mask: readonly string[] | undefined): Obj {
  const props = propertiesOf(updateSchema);
  const given = (fromProto({ type: 'object', properties: props }, input ?? {}) ?? {}) as Obj;
  if (!mask || mask.length === 0) return given;
  const bad = mask.filter((m) => props[m] === undefined);
  if (bad.length > 0) {
    throw new TurnpikeError('TP_ERR_VALIDATION', `unknown field in update_mask: ${bad.join(', ')}`, bad.map((b) => ({ path: `/update_mask/${b}`, message: 'is not a field' })));
  }
  const out: Obj = {};
  for (const m of mask) {
    const sub = props[m]!;
    if (given[m] !== undefined) out[m] = given[m];
    else if (nullable(sub)) out[m] = null;
    else if (shapeOf(sub).k === 'array') out[m] = [];
    else {
      const dflt = variants(sub).find((v) => v.default !== undefined)?.default ?? sub.default;
      if (dflt !== undefined) out[m] = structuredClone(dflt);
    }
  }
  return out;
}
