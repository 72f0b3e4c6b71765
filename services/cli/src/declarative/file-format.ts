// The declarative config file (`turnpike.yaml`): parsing, validation against the @turnpike/common schemas,
// normalization (defaults filled in exactly as the control plane fills them), and serialization for export.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { Type, type Static } from '@sinclair/typebox';
import { parseDocument, stringify, visit, LineCounter, type Document } from 'yaml';
import {
  AiIntegration,
  ApiKeyCreate,
  ConsumerCreate,
  LambdaIntegration,
  Name,
  RouteCreate,
  ServiceCreate,
  ServiceSplit,
  UpstreamCreate,
  UpstreamTls,
  WebSocketIntegration,
  normalizeIntegration,
  normalizeMatchers,
  routeProblems,
  type RouteMatcher,
  upstreamPolicies,
  upstreamRuleProblems,
  type Integration,
  type ServiceLifecycle,
  type UpstreamPolicies,
  type FieldError,
} from '@turnpike/common';
import { fieldErrors } from '@turnpike/control-plane/validation';
import {
  AiBudgetEntry,
  AiProviderEntry,
  CertificateEntry,
  ConsumerGroupEntry,
  CredentialEntry,
  PlanEntry,
  PluginEntry,
  PromptTemplateEntry,
  SubscriptionEntry,
  aiBudgetSpec,
  aiProviderSpec,
  certificateSpec,
  credentialSpec,
  emptyResources,
  entryProblems,
  groupSpec,
  identityOf,
  credentialIdentifier,
  planSpec,
  pluginConfigOf,
  pluginSpec,
  promptTemplateSpec,
  secretsOf,
  subscriptionSpec,
  toFileEntry,
  type ResourceConfig,
  type ResourceKind,
  type ResourceSpec,
  type SecretValues,
} from './resource-kinds.js';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;

export const FORMAT_VERSION = '1';

// Integrations name their upstream (http, websocket) like services do: `upstream: <name>`.
const IntegrationEntry = Type.Union([
  Type.Object({ type: Type.Literal('http'), upstream: Name }, { additionalProperties: false }),
  LambdaIntegration,
  Type.Object({ ...Type.Omit(WebSocketIntegration, ['upstream_id']).properties, upstream: Name }, { additionalProperties: false }),
  AiIntegration,
]);
type IntegrationEntry = Static<typeof IntegrationEntry>;
// Splits name their upstream too: `{upstream: <name>, weight, header?}`.
const SplitEntry = Type.Object({ ...Type.Omit(ServiceSplit, ['upstream_id']).properties, upstream: Name }, { additionalProperties: false });
const ServiceEntry = Type.Object(
  // Exactly one of `upstream` (an http service) and `integration`.
  {
    ...Type.Omit(ServiceCreate, ['upstream_id', 'integration', 'splits']).properties,
    upstream: Type.Optional(Name),
    integration: Type.Optional(IntegrationEntry),
    splits: Type.Optional(Type.Array(SplitEntry, { maxItems: 16 })),
  },
  { additionalProperties: false },
);
// An upstream names the certificate it presents to its targets: `tls: {client_certificate: <name>}`.
const UpstreamTlsEntry = Type.Object(
  { ...Type.Omit(UpstreamTls, ['client_certificate_id']).properties, client_certificate: Type.Optional(Name) },
  { additionalProperties: false, default: {} },
);
const UpstreamEntry = Type.Object({ ...Type.Omit(UpstreamCreate, ['tls']).properties, tls: Type.Optional(UpstreamTlsEntry) }, { additionalProperties: false });
const RouteEntry = Type.Object({ ...Type.Omit(RouteCreate, ['service_id']).properties, service: Name }, { additionalProperties: false });
// The API's key fields (bring-your-own `key`, `expires_at`: RFC 3339 or null for never).
const KeyEntry = Type.Object(
  {
    ...ApiKeyCreate.properties,
    // Required here (optional in the API): keys are matched by name, and a nameless key cannot be matched.
    name: Name,
  },
  { additionalProperties: false },
);
const ConsumerEntry = Type.Object(
  {
    ...Type.Omit(ConsumerCreate, ['group_ids']).properties,
    keys: Type.Optional(Type.Array(KeyEntry, { maxItems: 256 })),
    // Consumer groups by name (the API's group_ids).
    groups: Type.Optional(Type.Array(Name, { maxItems: 64, uniqueItems: true })),
    credentials: Type.Optional(Type.Array(CredentialEntry, { maxItems: 256 })),
  },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    _format_version: Type.Literal(FORMAT_VERSION),
    certificates: Type.Optional(Type.Array(CertificateEntry)),
    upstreams: Type.Optional(Type.Array(UpstreamEntry)),
    services: Type.Optional(Type.Array(ServiceEntry)),
    routes: Type.Optional(Type.Array(RouteEntry)),
    consumers: Type.Optional(Type.Array(ConsumerEntry)),
    consumer_groups: Type.Optional(Type.Array(ConsumerGroupEntry)),
    plans: Type.Optional(Type.Array(PlanEntry)),
    ai_providers: Type.Optional(Type.Array(AiProviderEntry)),
    prompt_templates: Type.Optional(Type.Array(PromptTemplateEntry)),
    subscriptions: Type.Optional(Type.Array(SubscriptionEntry)),
    plugins: Type.Optional(Type.Array(PluginEntry)),
    ai_budgets: Type.Optional(Type.Array(AiBudgetEntry)),
  },
  { additionalProperties: false },
);

/** An upstream's TLS settings with its client certificate named (`client_certificate`) instead of given by id. */
export type UpstreamTlsSpec = Omit<UpstreamTls, 'client_certificate_id'> & { client_certificate?: string };

/** Entities in their normalized form: every defaulted field present, references by name. */
export interface UpstreamSpec extends Omit<UpstreamPolicies, 'tls'> {
  name: string;
  scheme: 'http' | 'https';
  targets: Array<{ host: string; port: number; weight: number }>;
  connect_timeout_ms: number;
  read_timeout_ms: number;
  tags: string[];
  tls: UpstreamTlsSpec;
}

/**
 * An upstream's policies (defaults filled by the control plane's own function) with the client certificate
 * reference turned from an id into a name by `nameOf` (file → file: the name as it is).
 */
export function upstreamPolicySpec(
  u: Partial<Omit<UpstreamPolicies, 'tls'>> & { tls?: { client_certificate_id?: string; client_certificate?: string } & Omit<UpstreamTls, 'client_certificate_id'> },
  nameOf: (ref: string) => string = (ref) => ref,
): Omit<UpstreamSpec, 'name' | 'scheme' | 'targets' | 'connect_timeout_ms' | 'read_timeout_ms' | 'tags'> {
  const { client_certificate_id: id, client_certificate: named, ...tlsRest } = u.tls ?? {};
  const { tls: filled, ...policies } = upstreamPolicies({ ...u, tls: tlsRest });
  const tls: UpstreamTlsSpec = { ...filled };
  const ref = named ?? id;
  if (ref !== undefined) tls.client_certificate = nameOf(ref);
  return { ...policies, tls };
}
/**
 * A service's integration other than http, as the API stores it (defaults filled) but with a websocket's
 * upstream named (`upstream`) instead of given by id. An http integration normalizes to `upstream`.
 */
export type IntegrationSpec =
  | Exclude<Integration, { type: 'http' | 'websocket' }>
  | (Omit<Extract<Integration, { type: 'websocket' }>, 'upstream_id'> & { upstream: string });
export interface ServiceSpec {
  name: string;
  /** The upstream of an http service; null when `integration` is set. */
  upstream: string | null;
  integration: IntegrationSpec | null;
  base_path: string;
  tags: string[];
  lifecycle: ServiceLifecycle;
  version: string;
  /** ISO 8601 as the API writes it (`toISOString()`), so that equal instants compare equal; null for none. */
  sunset_at: string | null;
  catalog_visibility: 'public' | 'private';
  /** Consumers need an approved subscription; false by default (and then left out of exported files). */
  subscription_required: boolean;
  /** The attached OpenAPI document; null for none (and then left out of exported files). */
  openapi: Record<string, unknown> | null;
  /** Canary/weighted splits, upstreams named; [] for none (and then left out of exported files). */
  splits: SplitSpec[];
}
export interface SplitSpec {
  upstream: string;
  weight: number;
  header?: { name: string; value: string };
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
  /** Normalized as the control plane stores them (`ignore_case` always present). */
  headers: RouteMatcher[];
  query: RouteMatcher[];
  /** null for none (and then left out of exported files). */
  stage: string | null;
}
export interface KeySpec {
  name: string;
  /** Only in files (bring-your-own key); never read back from the API. */
  key?: string;
  /**
   * When the key stops working, as the API writes it (`toISOString()`), so that equal instants compare
   * equal; null: never (a file that leaves it out means never, and then it is left out of exported files).
   */
  expires_at: string | null;
}
export interface ConsumerSpec {
  username: string;
  custom_id?: string;
  tags: string[];
  /** Consumer group names; left out when the consumer is in none. */
  groups?: string[];
  keys: KeySpec[];
}

/** The core kinds plus the generic ones (credentials listed with their consumer's username). */
export interface DeclarativeConfig extends ResourceConfig {
  upstreams: UpstreamSpec[];
  services: ServiceSpec[];
  routes: RouteSpec[];
  consumers: ConsumerSpec[];
  /** Write-only values from the file (API keys, credential secrets, passwords) by `entityKey()`; never read back. */
  secrets?: Map<string, SecretValues>;
}

export type EntityKind = 'upstream' | 'service' | 'route' | 'consumer';

export interface FileProblem {
  /** `routes[2].paths[0]`, or `line 3, column 5` for YAML syntax errors. */
  path: string;
  message: string;
  /** The line in the file the path points at (when it can be found). */
  line?: number;
}

export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p.path}: ${p.message}${p.line !== undefined ? ` (line ${p.line})` : ''}`).join('\n')}`);
    this.name = 'ConfigFileError';
  }
}

export interface ParsedConfig {
  config: DeclarativeConfig;
  /** Where each entity sits in the file, `routes[1]` or `consumers[0].keys[2]`, by `entityKey()`. */
  locations: Map<string, string>;
}

export function entityKey(kind: EntityKind | ResourceKind | 'key', name: string, consumer?: string): string {
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
  const envProblems = interpolateEnv(doc, lineCounter);
  if (envProblems.length > 0) throw new ConfigFileError(file, envProblems);
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) throw new ConfigFileError(file, [{ path: 'file', message: `is empty (expected at least _format_version: "${FORMAT_VERSION}")` }]);
  // Every problem below names a field path; the line it sits on is added from the parsed document.
  const fail = (problems: FileProblem[]): ConfigFileError => new ConfigFileError(file, withLines(doc, lineCounter, problems));
  const value = structuredClone(raw);
  const errors = validate(value);
  if (errors.length > 0) throw fail(schemaProblems(errors));
  const typed = value as Static<typeof ConfigFileSchema>;
  const targets = serviceTargetProblems(typed);
  if (targets.length > 0) throw fail(targets);
  // Regular expressions and matcher values: the control plane's checks beyond the schema, per file path.
  const routeIssues = (typed.routes ?? []).flatMap((r, i) => routeProblems(r).map((f) => ({ path: pointerToPath(`/routes/${i}${f.path}`), message: f.message })));
  if (routeIssues.length > 0) throw fail(routeIssues);
  // Plugin configs (against their type's schema, defaults filled), provider and template rules.
  const { pluginConfigs, problems: resourceIssues } = resourceEntryChecks(typed);
  if (resourceIssues.length > 0) throw fail(resourceIssues);
  const config = normalize(typed, pluginConfigs);
  const { locations, problems } = checkReferences(config);
  if (problems.length > 0) throw fail(problems);
  return { config, locations };
}

// `${env:NAME}` in a string value is replaced by that environment variable; `$${env:NAME}` is the literal text.
const ENV_REF = /\$(\$?)\{env:([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Interpolates environment variables into the document's string values (not keys), in place. */
function interpolateEnv(doc: Document, lineCounter: LineCounter): FileProblem[] {
  const problems: FileProblem[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('{env:')) return;
      const at = (): string => {
        const pos = node.range ? lineCounter.linePos(node.range[0]) : undefined;
        return pos ? `line ${pos.line}, column ${pos.col}` : 'file';
      };
      node.value = node.value.replace(ENV_REF, (whole, escaped: string, name: string) => {
        if (escaped === '$') return whole.slice(1);
        if (!ENV_NAME.test(name)) {
          problems.push({ path: at(), message: `\${env:${name}}: ${JSON.stringify(name)} is not an environment variable name` });
          return whole;
        }
        const v = process.env[name];
        if (v === undefined) {
          problems.push({ path: at(), message: `\${env:${name}}: environment variable ${name} is not set` });
          return whole;
        }
        return v;
      });
    },
  });
  return problems;
}

/** Adds the line each problem's path points at (the deepest part of the path that exists in the file). */
function withLines(doc: Document, lineCounter: LineCounter, problems: FileProblem[]): FileProblem[] {
  return problems.map((p) => {
    if (p.path === 'file' || p.path.startsWith('line ')) return p;
    const segs: Array<string | number> = (p.path.match(/[^.[\]]+/g) ?? []).map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
    for (let n = segs.length; n > 0; n--) {
      const node = doc.getIn(segs.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return { ...p, line: lineCounter.linePos(node.range[0]).line };
    }
    return p;
  });
}

type ConfigFile = Static<typeof ConfigFileSchema>;

/** Checks of the generic kinds' entries that need no other entity; returns each plugin's config with defaults. */
function resourceEntryChecks(f: ConfigFile): { pluginConfigs: Array<Record<string, unknown>>; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const at = (list: string, i: number, path: string): string => pointerToPath(`/${list}/${i}${path}`);
  const pluginConfigs = (f.plugins ?? []).map((p, i) => {
    const r = pluginConfigOf(p as Record<string, unknown>);
    if ('problems' in r) {
      problems.push(...r.problems.map((x) => ({ path: at('plugins', i, x.path), message: x.message })));
      return {};
    }
    return r.config;
  });
  for (const [list, kind] of [['ai_providers', 'ai_provider'], ['prompt_templates', 'prompt_template'], ['ai_budgets', 'ai_budget']] as const) {
    (f[list] ?? []).forEach((e, i) => problems.push(...entryProblems(kind, e as Record<string, unknown>).map((x) => ({ path: at(list, i, x.path), message: x.message }))));
  }
  return { pluginConfigs, problems };
}

/** Each service names exactly one of `upstream` and `integration` (as the API requires of upstream_id / integration). */
function serviceTargetProblems(f: Static<typeof ConfigFileSchema>): FileProblem[] {
  const out: FileProblem[] = [];
  (f.services ?? []).forEach((s, i) => {
    if (s.upstream !== undefined && s.integration !== undefined) out.push({ path: `services[${i}].integration`, message: 'must not be set together with upstream (set exactly one)' });
    if (s.upstream === undefined && s.integration === undefined) out.push({ path: `services[${i}].upstream`, message: 'is required unless integration is set (set exactly one)' });
  });
  return out;
}

function normalize(f: ConfigFile, pluginConfigs: Array<Record<string, unknown>>): DeclarativeConfig {
  const resources = emptyResources();
  const secrets = new Map<string, SecretValues>();
  const add = (kind: ResourceKind, list: ResourceSpec[], spec: ResourceSpec, entry: Record<string, unknown>): void => {
    list.push(spec);
    const s = secretsOf(kind, entry);
    if (s) secrets.set(entityKey(kind, identityOf(kind, spec)), s);
  };
  for (const e of f.certificates ?? []) add('certificate', resources.certificates, certificateSpec(e), e);
  for (const e of f.consumer_groups ?? []) add('consumer_group', resources.consumer_groups, groupSpec(e), e);
  for (const e of f.plans ?? []) add('plan', resources.plans, planSpec(e), e);
  for (const e of f.ai_providers ?? []) add('ai_provider', resources.ai_providers, aiProviderSpec(e), e);
  for (const e of f.prompt_templates ?? []) add('prompt_template', resources.prompt_templates, promptTemplateSpec(e), e);
  for (const c of f.consumers ?? []) for (const e of c.credentials ?? []) add('credential', resources.credentials, credentialSpec(c.username, e as Record<string, unknown>), e as Record<string, unknown>);
  for (const e of f.subscriptions ?? []) add('subscription', resources.subscriptions, subscriptionSpec(e), e);
  (f.plugins ?? []).forEach((e, i) => add('plugin', resources.plugins, pluginSpec(e, pluginConfigs[i] ?? {}), e));
  for (const e of f.ai_budgets ?? []) add('ai_budget', resources.ai_budgets, aiBudgetSpec(e), e);
  return {
    ...resources,
    secrets,
    upstreams: (f.upstreams ?? []).map((u) => ({
      name: u.name,
      scheme: u.scheme ?? 'http',
      targets: u.targets.map((t) => ({ host: t.host, port: t.port, weight: t.weight })),
      connect_timeout_ms: u.connect_timeout_ms ?? 5_000,
      read_timeout_ms: u.read_timeout_ms ?? 60_000,
      tags: u.tags ?? [],
      ...upstreamPolicySpec(u),
    })),
    services: (f.services ?? []).map((s) => ({
      name: s.name,
      ...normalizeServiceTarget(s.upstream, s.integration),
      base_path: s.base_path ?? '',
      tags: s.tags ?? [],
      lifecycle: s.lifecycle ?? 'published',
      version: s.version ?? '',
      sunset_at: s.sunset_at ? new Date(s.sunset_at).toISOString() : null,
      catalog_visibility: s.catalog_visibility ?? 'private',
      subscription_required: s.subscription_required ?? false,
      openapi: s.openapi ?? null,
      splits: (s.splits ?? []).map((sp) => ({ upstream: sp.upstream, weight: sp.weight, ...(sp.header ? { header: { name: sp.header.name, value: sp.header.value } } : {}) })),
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
      headers: normalizeMatchers(r.headers),
      query: normalizeMatchers(r.query),
      stage: r.stage ?? null,
    })),
    consumers: (f.consumers ?? []).map((c) => {
      const keys = (c.keys ?? []).map((k): KeySpec => {
        const key: KeySpec = { name: k.name, expires_at: k.expires_at ? instant(k.expires_at) : null };
        if (k.key !== undefined) key.key = k.key;
        return key;
      });
      const spec: ConsumerSpec = { username: c.username, tags: c.tags ?? [], keys };
      if (c.custom_id !== undefined) spec.custom_id = c.custom_id;
      if (c.groups !== undefined && c.groups.length > 0) spec.groups = c.groups;
      return spec;
    }),
  };
}

/**
 * An RFC 3339 date-time as the API writes it (`2027-01-01T00:00:00.000Z`): `+02:00` offsets and missing
 * fractions compare equal to what the control plane returns. A value Date cannot read (a leap second)
 * is kept as written, for the control plane to judge.
 */
export function instant(dateTime: string): string {
  const t = Date.parse(dateTime);
  return Number.isNaN(t) ? dateTime : new Date(t).toISOString();
}

/**
 * `upstream` and `integration` of a file's service in the one normalized form (as the control plane stores
 * them: an http integration becomes `upstream`). Both or neither set is reported by checkReferences.
 */
function normalizeServiceTarget(upstream: string | undefined, integration: IntegrationEntry | undefined): Pick<ServiceSpec, 'upstream' | 'integration'> {
  if (integration === undefined) return { upstream: upstream ?? null, integration: null };
  if (integration.type === 'http') return { upstream: integration.upstream, integration: null };
  return { upstream: null, integration: specOf(integration) };
}

function specOf(i: Exclude<IntegrationEntry, { type: 'http' }>): IntegrationSpec {
  if (i.type === 'websocket') return i;
  // The control plane's normalization (lambda defaults), minus the upstream handling websocket needs.
  return normalizeIntegration(null, i).integration as IntegrationSpec;
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
  c.upstreams.forEach((u, i) => {
    for (const f of upstreamFileRuleProblems(u)) problems.push({ path: `upstreams[${i}].${pointerToPath(f.path)}`, message: f.message });
  });
  c.services.forEach((s, i) => {
    const [ref, at] = s.integration?.type === 'websocket' ? [s.integration.upstream, `services[${i}].integration.upstream`] : [s.upstream, `services[${i}].upstream`];
    if (ref !== null && !locations.has(entityKey('upstream', ref))) problems.push({ path: at, message: `no upstream named ${JSON.stringify(ref)} in this file` });
    s.splits.forEach((sp, j) => {
      if (!locations.has(entityKey('upstream', sp.upstream))) problems.push({ path: `services[${i}].splits[${j}].upstream`, message: `no upstream named ${JSON.stringify(sp.upstream)} in this file` });
    });
  });
  c.routes.forEach((r, i) => {
    if (!locations.has(entityKey('service', r.service))) problems.push({ path: `routes[${i}].service`, message: `no service named ${JSON.stringify(r.service)} in this file` });
  });
  resourceReferences(c, locations, claim, problems);
  return { locations, problems };
}

/** The control plane's upstream rules, said of the file's fields (`client_certificate`, not its id). */
function upstreamFileRuleProblems(u: UpstreamSpec): FieldError[] {
  const { client_certificate, ...tls } = u.tls;
  const problems = upstreamRuleProblems({ ...u, tls: client_certificate === undefined ? tls : { ...tls, client_certificate_id: client_certificate } });
  return problems.map((f) => ({ ...f, message: f.message.replace('client_certificate_id', 'client_certificate') }));
}

/** Identities of the generic kinds claimed, and their references (by name) checked against the file. */
function resourceReferences(c: DeclarativeConfig, locations: Map<string, string>, claim: (key: string, at: string, what: string) => void, problems: FileProblem[]): void {
  const named = (kind: ResourceKind, list: ResourceSpec[], at: string): void =>
    list.forEach((e, i) => claim(entityKey(kind, identityOf(kind, e)), `${at}[${i}]`, `${kind.replace('_', ' ')} ${JSON.stringify(identityOf(kind, e))}`));
  named('certificate', c.certificates, 'certificates');
  named('consumer_group', c.consumer_groups, 'consumer_groups');
  named('plan', c.plans, 'plans');
  named('ai_provider', c.ai_providers, 'ai_providers');
  named('prompt_template', c.prompt_templates, 'prompt_templates');
  named('subscription', c.subscriptions, 'subscriptions');
  named('plugin', c.plugins, 'plugins');
  named('ai_budget', c.ai_budgets, 'ai_budgets');
  // Credentials sit under their consumer in the file; their identifier is unique across all consumers.
  const credentialAt = new Map<string, string>();
  const perConsumer = new Map<string, number>();
  for (const cred of c.credentials) {
    const consumer = String(cred.consumer);
    const j = perConsumer.get(consumer) ?? 0;
    perConsumer.set(consumer, j + 1);
    const at = `${locations.get(entityKey('consumer', consumer)) ?? 'consumers[?]'}.credentials[${j}]`;
    const id = `${String(cred.type)}:${credentialIdentifier(cred)}`;
    const first = credentialAt.get(id);
    if (first !== undefined) problems.push({ path: at, message: `${String(cred.type)} credential ${JSON.stringify(credentialIdentifier(cred))} is also defined at ${first}` });
    else {
      credentialAt.set(id, at);
      locations.set(entityKey('credential', identityOf('credential', cred)), at);
    }
  }
  const need = (kind: EntityKind | ResourceKind, name: unknown, at: string, what: string): void => {
    if (typeof name === 'string' && !locations.has(entityKey(kind, name))) problems.push({ path: at, message: `no ${what} named ${JSON.stringify(name)} in this file` });
  };
  c.upstreams.forEach((u, i) => need('certificate', u.tls.client_certificate, `upstreams[${i}].tls.client_certificate`, 'certificate'));
  c.consumers.forEach((k, i) => (k.groups ?? []).forEach((g, j) => need('consumer_group', g, `consumers[${i}].groups[${j}]`, 'consumer group')));
  c.prompt_templates.forEach((t, i) => need('ai_provider', t.provider, `prompt_templates[${i}].provider`, 'AI provider'));
  c.subscriptions.forEach((s, i) => {
    need('consumer', s.consumer, `subscriptions[${i}].consumer`, 'consumer');
    need('service', s.service, `subscriptions[${i}].service`, 'service');
    need('plan', s.plan, `subscriptions[${i}].plan`, 'plan');
  });
  c.plugins.forEach((p, i) => {
    const scope = (p.scope ?? {}) as Record<string, string>;
    need('service', scope.service, `plugins[${i}].scope.service`, 'service');
    need('route', scope.route, `plugins[${i}].scope.route`, 'route');
    need('consumer', scope.consumer, `plugins[${i}].scope.consumer`, 'consumer');
  });
  c.ai_budgets.forEach((b, i) => {
    const scope = (b.scope ?? {}) as Record<string, string>;
    need('consumer', scope.consumer, `ai_budgets[${i}].scope.consumer`, 'consumer');
    if (typeof scope.key === 'string' && typeof scope.consumer === 'string' && locations.has(entityKey('consumer', scope.consumer)) && !locations.has(entityKey('key', scope.key, scope.consumer))) {
      problems.push({ path: `ai_budgets[${i}].scope.key`, message: `consumer ${JSON.stringify(scope.consumer)} has no key named ${JSON.stringify(scope.key)} in this file` });
    }
  });
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
  paths: 'must be a route path: "/" then segments of literal text or {param} and optionally a final {name*}, e.g. /users/{id}, or "~" and a regular expression',
  hosts: 'must be a host name (letters, digits, "." and "-"; no port), optionally "*." in front or ".*" at the end',
  stage: 'must be a stage name: 1-64 lower-case letters, digits, "_" or "-", starting with a letter or digit',
  host: 'must be a host name or IP address (no scheme, no port)',
  base_path: 'must be empty or start with "/" (no query, fragment or spaces)',
  header_names: 'must be a header name (letters, digits and "-")',
  key: 'must be printable ASCII without spaces',
  client_certificate: NAME_RULE,
  cert_pem: 'must be PEM text starting with -----BEGIN CERTIFICATE----- (the certificate, then its intermediates)',
  key_pem: 'must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)',
  snis: 'must be a host name, or "*." and a domain for one label of any name',
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
  // A nullable field (`T | null`, like expires_at) that fails says so once, not with ajv's three errors
  // (the T error, `must be null`, `must match a schema in anyOf`).
  const nullable = new Set(errors.filter((e) => e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null').map((e) => e.instancePath));
  const kept = errors.filter((e) => e.instancePath !== '/_format_version' && !(nullable.has(e.instancePath) && (e.keyword === 'anyOf' || (e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null'))));
  for (const f of fieldErrors(kept)) {
    const patternRule = f.message.startsWith('must match pattern') ? PATTERN_MESSAGES[lastSegment(f.path)] : undefined;
    // A wrong type is said with null among the types (`must be string or null`); a bad string as it is.
    const orNull = nullable.has(f.path) && patternRule === undefined && /^must be [a-z]+$/.test(f.message) ? ' or null' : '';
    out.push({ path: pointerToPath(f.path) || 'file', message: (patternRule ?? f.message) + orNull });
  }
  return out;
}

/** The file form of a config: the format version first, then the lists in dependency order. */
export function toConfigFile(c: DeclarativeConfig): Record<string, unknown> {
  return {
    _format_version: FORMAT_VERSION,
    // Before the upstreams that name them; without key material (write-only), only when there are any.
    ...(c.certificates.length > 0 ? { certificates: c.certificates.map((e) => toFileEntry('certificate', e)) } : {}),
    // Unset optional fields are left out rather than written as nulls.
    upstreams: c.upstreams.map((u) => {
      const out: Record<string, unknown> = { ...u };
      for (const f of ['hash_on', 'total_timeout_ms', 'circuit_breaker'] as const) if (u[f] === null) delete out[f];
      return out;
    }),
    services: c.services.map((svc) => {
      const { sunset_at, openapi, upstream, integration, splits, subscription_required, ...rest } = svc;
      const out: Record<string, unknown> = { name: rest.name };
      if (upstream !== null) out.upstream = upstream;
      // `type` first, then a websocket's upstream: the file reads like the ones people write.
      if (integration?.type === 'websocket') {
        const { type, upstream: wsUpstream, ...ws } = integration;
        out.integration = { type, upstream: wsUpstream, ...ws };
      } else if (integration !== null) out.integration = integration;
      Object.assign(out, rest);
      if (sunset_at !== null) out.sunset_at = sunset_at;
      if (subscription_required) out.subscription_required = true;
      if (openapi !== null) out.openapi = openapi;
      if (splits.length > 0) out.splits = splits;
      return out;
    }),
    // Matchers and the stage are left out when unset, so files that do not use them read as before.
    routes: c.routes.map((r) => {
      const { headers, query, stage, ...rest } = r;
      const out: Record<string, unknown> = { ...rest };
      if (headers.length > 0) out.headers = headers;
      if (query.length > 0) out.query = query;
      if (stage !== null) out.stage = stage;
      return out;
    }),
    // Generic kinds only when there are any, so files that do not use them read as before.
    ...(c.consumer_groups.length > 0 ? { consumer_groups: c.consumer_groups.map((e) => toFileEntry('consumer_group', e)) } : {}),
    consumers: c.consumers.map((k) => {
      const out: Record<string, unknown> = { username: k.username };
      if (k.custom_id !== undefined) out.custom_id = k.custom_id;
      out.tags = k.tags;
      if (k.groups !== undefined && k.groups.length > 0) out.groups = k.groups;
      // Key material is a secret and is never exported: only the names that identify the keys, and their
      // expiry when they have one.
      if (k.keys.length > 0) out.keys = k.keys.map((key) => (key.expires_at === null ? { name: key.name } : { name: key.name, expires_at: key.expires_at }));
      // Credentials without their secrets (write-only: the API never returns them).
      const creds = c.credentials.filter((cred) => cred.consumer === k.username).map((cred) => toFileEntry('credential', cred));
      if (creds.length > 0) out.credentials = creds;
      return out;
    }),
    ...Object.fromEntries(
      (['plans', 'ai_providers', 'prompt_templates', 'subscriptions', 'plugins', 'ai_budgets'] as const)
        .filter((list) => c[list].length > 0)
        .map((list) => [list, c[list].map((e) => toFileEntry(LIST_KIND[list], e))]),
    ),
  };
}

const LIST_KIND = { plans: 'plan', ai_providers: 'ai_provider', prompt_templates: 'prompt_template', subscriptions: 'subscription', plugins: 'plugin', ai_budgets: 'ai_budget' } as const;

export function toYaml(c: DeclarativeConfig): string {
  return stringify(toConfigFile(c), { lineWidth: 0 });
}
