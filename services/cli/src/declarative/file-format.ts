// The declarative config file (`turnpike.yaml`): parsing, validation against the @turnpike/common schemas,
// normalization (defaults filled in exactly as the control plane fills them), and serialization for export.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { Type, type Static } from '@sinclair/typebox';
import { parseDocument, stringify, LineCounter } from 'yaml';
import { ConsumerCreate, Name, RouteCreate, ServiceCreate, UpstreamCreate, type ServiceLifecycle } from '@turnpike/common';
import { fieldErrors } from '@turnpike/control-plane/validation';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;

export const FORMAT_VERSION = '1';

const ServiceEntry = Type.Object(
  { ...Type.Omit(ServiceCreate, ['upstream_id']).properties, upstream: Name },
  { additionalProperties: false },
);
const RouteEntry = Type.Object({ ...Type.Omit(RouteCreate, ['service_id']).properties, service: Name }, { additionalProperties: false });
const KeyEntry = Type.Object(
  {
    // Required here (optional in the API): keys are matched by name, and a nameless key cannot be matched.
    name: Name,
    key: Type.Optional(Type.String({ minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })),
  },
  { additionalProperties: false },
);
const ConsumerEntry = Type.Object(
  { ...ConsumerCreate.properties, keys: Type.Optional(Type.Array(KeyEntry, { maxItems: 256 })) },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    _format_version: Type.Literal(FORMAT_VERSION),
    upstreams: Type.Optional(Type.Array(UpstreamCreate)),
    services: Type.Optional(Type.Array(ServiceEntry)),
    routes: Type.Optional(Type.Array(RouteEntry)),
    consumers: Type.Optional(Type.Array(ConsumerEntry)),
  },
  { additionalProperties: false },
);

/** Entities in their normalized form: every defaulted field present, references by name. */
export interface UpstreamSpec {
  name: string;
  scheme: 'http' | 'https';
  targets: Array<{ host: string; port: number; weight: number }>;
  connect_timeout_ms: number;
  read_timeout_ms: number;
  tags: string[];
}
export interface ServiceSpec {
  name: string;
  upstream: string;
  base_path: string;
  tags: string[];
  lifecycle: ServiceLifecycle;
  version: string;
  /** ISO 8601 as the API writes it (`toISOString()`), so that equal instants compare equal; null for none. */
  sunset_at: string | null;
  catalog_visibility: 'public' | 'private';
  /** The attached OpenAPI document; null for none (and then left out of exported files). */
  openapi: Record<string, unknown> | null;
}
export interface RouteSpec {
  name: string;
  service: string;
  hosts: string[];
  paths: string[];
  methods: string[];
  strip_path: boolean;
  priority: number;
  plugins: Record<string, unknown>;
  tags: string[];
}
export interface KeySpec {
  name: string;
  /** Only in files (bring-your-own key); never read back from the API. */
  key?: string;
}
export interface ConsumerSpec {
  username: string;
  custom_id?: string;
  tags: string[];
  keys: KeySpec[];
}

export interface DeclarativeConfig {
  upstreams: UpstreamSpec[];
  services: ServiceSpec[];
  routes: RouteSpec[];
  consumers: ConsumerSpec[];
}

export type EntityKind = 'upstream' | 'service' | 'route' | 'consumer';

export interface FileProblem {
  /** `routes[2].paths[0]`, or `line 3, column 5` for YAML syntax errors. */
  path: string;
  message: string;
}

export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigFileError';
  }
}

export interface ParsedConfig {
  config: DeclarativeConfig;
  /** Where each entity sits in the file, `routes[1]` or `consumers[0].keys[2]`, by `entityKey()`. */
  locations: Map<string, string>;
}

export function entityKey(kind: EntityKind | 'key', name: string, consumer?: string): string {
  return kind === 'key' ? `key:${consumer ?? ''}/${name}` : `${kind}:${name}`;
}

let validator: ValidateFunction | undefined;
function validate(value: unknown): ErrorObject[] {
  if (!validator) {
    // The same ajv settings as the control plane's: defaults filled, nothing removed, no coercion.
    const ajv = new Ajv({ allErrors: true, useDefaults: true, removeAdditional: false, strict: false, coerceTypes: false });
    addFormats(ajv);
    validator = ajv.compile(ConfigFileSchema);
  }
  return validator(value) ? [] : (validator.errors ?? []);
}

/** Parses YAML (or JSON, which is YAML) text into a validated, normalized config; throws ConfigFileError. */
export function parseConfigFile(text: string, file = 'config'): ParsedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigFileError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: pos ? `line ${pos.line}, column ${pos.col}` : 'file', message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '') };
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) throw new ConfigFileError(file, [{ path: 'file', message: `is empty (expected at least _format_version: "${FORMAT_VERSION}")` }]);
  const value = structuredClone(raw);
  const errors = validate(value);
  if (errors.length > 0) throw new ConfigFileError(file, schemaProblems(errors));
  const typed = value as Static<typeof ConfigFileSchema>;
  const config = normalize(typed);
  const { locations, problems } = checkReferences(config);
  if (problems.length > 0) throw new ConfigFileError(file, problems);
  return { config, locations };
}

function normalize(f: Static<typeof ConfigFileSchema>): DeclarativeConfig {
  return {
    upstreams: (f.upstreams ?? []).map((u) => ({
      name: u.name,
      scheme: u.scheme ?? 'http',
      targets: u.targets.map((t) => ({ host: t.host, port: t.port, weight: t.weight })),
      connect_timeout_ms: u.connect_timeout_ms ?? 5_000,
      read_timeout_ms: u.read_timeout_ms ?? 60_000,
      tags: u.tags ?? [],
    })),
    services: (f.services ?? []).map((s) => ({
      name: s.name,
      upstream: s.upstream,
      base_path: s.base_path ?? '',
      tags: s.tags ?? [],
      lifecycle: s.lifecycle ?? 'published',
      version: s.version ?? '',
      sunset_at: s.sunset_at ? new Date(s.sunset_at).toISOString() : null,
      catalog_visibility: s.catalog_visibility ?? 'private',
      openapi: s.openapi ?? null,
    })),
    routes: (f.routes ?? []).map((r) => ({
      name: r.name,
      service: r.service,
      hosts: r.hosts ?? [],
      paths: r.paths,
      methods: r.methods ?? [],
      strip_path: r.strip_path ?? false,
      priority: r.priority ?? 0,
      plugins: (r.plugins ?? {}) as Record<string, unknown>,
      tags: r.tags ?? [],
    })),
    consumers: (f.consumers ?? []).map((c) => {
      const spec: ConsumerSpec = { username: c.username, tags: c.tags ?? [], keys: (c.keys ?? []).map((k) => (k.key === undefined ? { name: k.name } : { name: k.name, key: k.key })) };
      if (c.custom_id !== undefined) spec.custom_id = c.custom_id;
      return spec;
    }),
  };
}

/** Unique names per kind, and references that resolve within the file (the file is the whole config). */
function checkReferences(c: DeclarativeConfig): { locations: Map<string, string>; problems: FileProblem[] } {
  const locations = new Map<string, string>();
  const problems: FileProblem[] = [];
  const claim = (key: string, at: string, what: string): void => {
    const first = locations.get(key);
    if (first !== undefined) problems.push({ path: at, message: `${what} is also defined at ${first}` });
    else locations.set(key, at);
  };
  c.upstreams.forEach((u, i) => claim(entityKey('upstream', u.name), `upstreams[${i}]`, `upstream ${JSON.stringify(u.name)}`));
  c.services.forEach((s, i) => claim(entityKey('service', s.name), `services[${i}]`, `service ${JSON.stringify(s.name)}`));
  c.routes.forEach((r, i) => claim(entityKey('route', r.name), `routes[${i}]`, `route ${JSON.stringify(r.name)}`));
  c.consumers.forEach((k, i) => {
    claim(entityKey('consumer', k.username), `consumers[${i}]`, `consumer ${JSON.stringify(k.username)}`);
    k.keys.forEach((key, j) => claim(entityKey('key', key.name, k.username), `consumers[${i}].keys[${j}]`, `key ${JSON.stringify(key.name)}`));
  });
  c.services.forEach((s, i) => {
    if (!locations.has(entityKey('upstream', s.upstream))) problems.push({ path: `services[${i}].upstream`, message: `no upstream named ${JSON.stringify(s.upstream)} in this file` });
  });
  c.routes.forEach((r, i) => {
    if (!locations.has(entityKey('service', r.service))) problems.push({ path: `routes[${i}].service`, message: `no service named ${JSON.stringify(r.service)} in this file` });
  });
  return { locations, problems };
}

/** `/routes/2/paths/0` → `routes[2].paths[0]` (and `/plugins/key-auth` → `plugins.key-auth`). */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

// ajv would print the schema's regular expression; these say the same in words.
const NAME_RULE = 'must be a name: 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit';
const PATTERN_MESSAGES: Record<string, string> = {
  name: NAME_RULE,
  username: NAME_RULE,
  upstream: NAME_RULE,
  service: NAME_RULE,
  paths: 'must be a route path: "/" then segments of literal text or {param}, e.g. /users/{id}',
  hosts: 'must be a host name (letters, digits, "." and "-"; no port)',
  host: 'must be a host name or IP address (no scheme, no port)',
  base_path: 'must be empty or start with "/" (no query, fragment or spaces)',
  header_names: 'must be a header name (letters, digits and "-")',
  key: 'must be printable ASCII without spaces',
};

/** The last named segment of a JSON pointer: `/routes/2/paths/0` → `paths`. */
function lastSegment(pointer: string): string {
  const segs = pointer.split('/').filter((s) => s !== '' && !/^\d+$/.test(s));
  return segs[segs.length - 1] ?? '';
}

// The control plane's mapping of ajv errors (one per path and message, unions of literals collapsed),
// shown as file paths, with the format version and regular-expression rules said in words.
function schemaProblems(errors: ErrorObject[]): FileProblem[] {
  const out: FileProblem[] = [];
  // The version is checked before anything else can be trusted: one clear message for it.
  if (errors.some((e) => e.instancePath === '/_format_version' && e.keyword === 'const')) {
    out.push({ path: '_format_version', message: `must be "${FORMAT_VERSION}" (the only format this turnpike knows)` });
  }
  for (const f of fieldErrors(errors.filter((e) => e.instancePath !== '/_format_version'))) {
    const patternRule = f.message.startsWith('must match pattern') ? PATTERN_MESSAGES[lastSegment(f.path)] : undefined;
    out.push({ path: pointerToPath(f.path) || 'file', message: patternRule ?? f.message });
  }
  return out;
}

/** The file form of a config: the format version first, then the lists in dependency order. */
export function toConfigFile(c: DeclarativeConfig): Record<string, unknown> {
  return {
    _format_version: FORMAT_VERSION,
    upstreams: c.upstreams,
    // Unset optional service fields are left out rather than written as nulls.
    services: c.services.map((svc) => {
      const { sunset_at, openapi, ...rest } = svc;
      const out: Record<string, unknown> = { ...rest };
      if (sunset_at !== null) out.sunset_at = sunset_at;
      if (openapi !== null) out.openapi = openapi;
      return out;
    }),
    routes: c.routes,
    consumers: c.consumers.map((k) => {
      const out: Record<string, unknown> = { username: k.username };
      if (k.custom_id !== undefined) out.custom_id = k.custom_id;
      out.tags = k.tags;
      // Key material is a secret and is never exported: only the names that identify the keys.
      if (k.keys.length > 0) out.keys = k.keys.map((key) => ({ name: key.name }));
      return out;
    }),
  };
}

export function toYaml(c: DeclarativeConfig): string {
  return stringify(toConfigFile(c), { lineWidth: 0 });
}
