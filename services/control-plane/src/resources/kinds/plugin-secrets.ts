// Secret settings in plugin configs (PluginType.secretFields, JSON pointers into the config: an introspection
// client_secret, an authorizer's AWS secret key). Each given value is sealed with the keyring, bound to the
// plugin instance's id, and kept only in the instance's secret material; the stored and returned config never
// holds it. A write without the value keeps the stored one (re-sealed under the active key), `null` removes
// it, and a secret whose place in the config is gone (credentials switched to `environment`) is dropped.
// Where the type's schema declares `<field>_set` beside a top-level secret, the config says whether one is
// stored (the AI providers' `api_key_set` precedent). Nodes receive the sealed values as
// `secret: { <pointer>: sealed }` and open them with the instance's id.
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { isSealed, open, seal, type Keyring, type PluginType, type SealedSecret } from '@turnpike/common';
import type { ResourceDoc, ResourceEntity, SecretMaterial } from '../definition.js';
import { requireKeyring } from './errors.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function segmentsOf(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The object holding the pointer's last segment, or null when the config has no object there. */
function parentOf(config: Obj, segs: readonly string[]): Obj | null {
  let at: unknown = config;
  for (const s of segs.slice(0, -1)) {
    if (!isObj(at)) return null;
    at = at[s];
  }
  return isObj(at) ? at : null;
}

/** The schema of a property reached through plain object schemas only (undefined through unions and the like). */
function schemaAt(schema: TSchema, segs: readonly string[]): TSchema | undefined {
  let at: TSchema | undefined = schema;
  for (const s of segs) {
    const props: Record<string, TSchema> | undefined = (at as { properties?: Record<string, TSchema> } | undefined)?.properties;
    at = props?.[s];
    if (at === undefined) return undefined;
  }
  return at;
}

/** The stored sealed value, re-sealed under the active key when an older one (still in the keyring) sealed it. */
function keepSealed(sealed: SealedSecret, id: string, keyring: Keyring | null): SealedSecret {
  if (!keyring || sealed.kid === keyring.activeKid || !keyring.keys.has(sealed.kid)) return sealed;
  return seal(keyring, open(keyring, sealed, id), id);
}

/**
 * Splits a plugin doc's config into public config and sealed secret material (see the file comment). A value
 * that is not a valid secret (wrong type, too long) is left in the config, where the type's schema refuses it.
 */
export function preparePluginSecrets(
  type: PluginType,
  args: { doc: ResourceDoc; prior: SecretMaterial | null; id: string; keyring: Keyring | null },
): { doc: ResourceDoc; material: SecretMaterial | null } {
  const pointers = type.secretFields ?? [];
  if (pointers.length === 0) return { doc: args.doc, material: null };
  const config: Obj = isObj(args.doc.config) ? structuredClone(args.doc.config) : {};
  const material: SecretMaterial = {};
  for (const pointer of pointers) {
    const segs = segmentsOf(pointer);
    const name = segs[segs.length - 1]!;
    const parent = parentOf(config, segs);
    const prior = args.prior?.[pointer];
    let sealed: SealedSecret | null = null;
    if (parent !== null) {
      const given = parent[name];
      const schema = schemaAt(type.config, segs);
      const valid = typeof given === 'string' && (schema === undefined ? given !== '' : Value.Check(schema, given));
      if (valid) {
        sealed = seal(requireKeyring(args.keyring, 'plugin secrets'), given, args.id);
        delete parent[name];
      } else if (given === undefined) {
        sealed = isSealed(prior) ? keepSealed(prior, args.id, args.keyring) : null;
      } else if (given === null) {
        delete parent[name];
      }
      // Anything else stays for the schema to refuse (the write fails).
    }
    if (sealed !== null) material[pointer] = sealed;
    if (segs.length === 1 && schemaAt(type.config, [`${name}_set`]) !== undefined) config[`${name}_set`] = sealed !== null;
  }
  return { doc: { ...args.doc, config }, material: Object.keys(material).length > 0 ? material : null };
}

/** What nodes receive: the plugin, with its sealed secrets (if any) under `secret`. */
export function pluginDataPlane(entity: ResourceEntity, material: SecretMaterial | null): Record<string, unknown> & { id: string } {
  return material === null ? entity : { ...entity, secret: material };
}
