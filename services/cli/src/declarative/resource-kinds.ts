// The generic resource kinds in a declarative file (certificates, consumer groups, plans, AI providers,
// prompt templates, credentials, subscriptions, plugins, AI budgets): their file entries (references by name), their normalized form
// (defaults filled exactly as the control plane fills them, secrets split off), how live entities read
// back into that form, and the API bodies (references by id). Planning and execution stay kind-agnostic.
import { Type } from '@sinclair/typebox';
import {
  AiBudgetCreate,
  AiProviderCreate,
  CertificateCreate,
  ConsumerGroupCreate,
  CredentialCreate,
  Name,
  PLUGIN_TYPES,
  PlanCreate,
  PluginCreate,
  PromptTemplateCreate,
  Tags,
  TurnpikeError,
  aiProviderProblems,
  pluginTypeOf,
  promptTemplateProblems,
  type FieldError,
  type PromptMessage,
  type PromptVariable,
} from '@turnpike/common';
import { parse } from '@turnpike/control-plane/validation';

/** In dependency order: what a later kind references comes earlier. */
export const RESOURCE_KINDS = ['certificate', 'consumer_group', 'plan', 'ai_provider', 'prompt_template', 'credential', 'subscription', 'plugin', 'ai_budget'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export function isResourceKind(kind: string): kind is ResourceKind {
  return (RESOURCE_KINDS as readonly string[]).includes(kind);
}

export const KIND_LABEL: Record<ResourceKind, string> = {
  certificate: 'certificate',
  consumer_group: 'consumer group',
  plan: 'plan',
  ai_provider: 'AI provider',
  prompt_template: 'prompt template',
  credential: 'credential',
  subscription: 'subscription',
  plugin: 'plugin',
  ai_budget: 'AI budget',
};

/** Collections of the kinds that are not addressed under a consumer (credentials are). */
export const RESOURCE_COLLECTION: Record<Exclude<ResourceKind, 'credential'>, string> = {
  certificate: '/v1/certificates',
  consumer_group: '/v1/consumer-groups',
  plan: '/v1/plans',
  ai_provider: '/v1/ai-providers',
  prompt_template: '/v1/prompt-templates',
  subscription: '/v1/subscriptions',
  plugin: '/v1/plugins',
  ai_budget: '/v1/ai-budgets',
};

// File entries: the API's create schemas with ids replaced by names.
/** `key_pem` is write-only (`${env:NAME}`): sent on create, with --update-secrets, and whenever cert_pem changes. */
export const CertificateEntry = CertificateCreate;
export const ConsumerGroupEntry = ConsumerGroupCreate;
export const PlanEntry = PlanCreate;
export const AiProviderEntry = AiProviderCreate;
export const CredentialEntry = CredentialCreate;
export const SubscriptionEntry = Type.Object(
  {
    consumer: Name,
    service: Name,
    plan: Type.Optional(Type.Union([Name, Type.Null()])),
    note: Type.Optional(Type.String({ maxLength: 2048 })),
    /** `approved` makes apply approve a pending subscription; rejected/revoked ones are not managed. */
    status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('approved')])),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export const PluginEntry = Type.Object(
  {
    ...Type.Omit(PluginCreate, ['scope']).properties,
    scope: Type.Optional(Type.Object({ service: Type.Optional(Name), route: Type.Optional(Name), consumer: Type.Optional(Name) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
/**
 * An AI budget's scope by name: `{consumer}` (every key of that consumer), `{consumer, key}` (one named key of
 * it) or `{tenant: true}` (the tenant the file is applied to).
 */
export const AiBudgetEntry = Type.Object(
  {
    ...Type.Omit(AiBudgetCreate, ['scope']).properties,
    scope: Type.Object({ consumer: Type.Optional(Name), key: Type.Optional(Name), tenant: Type.Optional(Type.Literal(true)) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export const PromptTemplateEntry = Type.Object(
  { ...Type.Omit(PromptTemplateCreate, ['provider_id']).properties, provider: Type.Optional(Type.Union([Name, Type.Null()])) },
  { additionalProperties: false },
);

/** A normalized entity of a generic kind: the API's public fields, references by name, no secrets, no id. */
export type ResourceSpec = Record<string, unknown>;
/** Secret values from the file, shaped like the API body (`{ api_key }`, `{ aws: { secret_access_key } }`). */
export type SecretValues = Record<string, unknown>;

export interface ResourceConfig {
  certificates: ResourceSpec[];
  consumer_groups: ResourceSpec[];
  plans: ResourceSpec[];
  ai_providers: ResourceSpec[];
  prompt_templates: ResourceSpec[];
  /** Every consumer's credentials, each with `consumer` (the username) added. */
  credentials: ResourceSpec[];
  subscriptions: ResourceSpec[];
  plugins: ResourceSpec[];
  ai_budgets: ResourceSpec[];
}

export const CONFIG_LIST: Record<ResourceKind, keyof ResourceConfig> = {
  certificate: 'certificates',
  consumer_group: 'consumer_groups',
  plan: 'plans',
  ai_provider: 'ai_providers',
  prompt_template: 'prompt_templates',
  credential: 'credentials',
  subscription: 'subscriptions',
  plugin: 'plugins',
  ai_budget: 'ai_budgets',
};

export function emptyResources(): ResourceConfig {
  return { certificates: [], consumer_groups: [], plans: [], ai_providers: [], prompt_templates: [], credentials: [], subscriptions: [], plugins: [], ai_budgets: [] };
}

const str = (v: unknown): string => String(v);

/** What identifies an entity of a kind within a tenant's config (names for named kinds). */
export function identityOf(kind: ResourceKind, s: ResourceSpec): string {
  switch (kind) {
    case 'subscription':
      return `${str(s.consumer)} -> ${str(s.service)}`;
    case 'plugin': {
      const scope = (s.scope ?? {}) as Record<string, string>;
      const parts = [scope.route !== undefined ? `route ${scope.route}` : scope.service !== undefined ? `service ${scope.service}` : '', scope.consumer !== undefined ? `consumer ${scope.consumer}` : ''].filter((p) => p !== '');
      return `${str(s.type)} @ ${parts.length === 0 ? 'global' : parts.join(' + ')}`;
    }
    case 'credential':
      return `${str(s.consumer)}/${str(s.type)}:${credentialIdentifier(s)}`;
    default:
      return str(s.name);
  }
}

export function credentialIdentifier(s: ResourceSpec): string {
  return str(s.type === 'jwt' ? s.issuer : s.type === 'hmac' ? s.key_id : s.username);
}

// ---- normalization (file entries and API entities alike, so equal configs compare equal) -------------

/**
 * `snis` null: the server names come from the certificate itself. The server's derived fields (server_names,
 * subject, not_after, fingerprint_sha256) are not config and are left out; the key is a secret.
 */
export function certificateSpec(e: Record<string, unknown>): ResourceSpec {
  return { name: e.name, cert_pem: e.cert_pem, snis: e.snis ?? null, tags: e.tags ?? [] };
}

export function groupSpec(e: Record<string, unknown>): ResourceSpec {
  return { name: e.name, description: e.description ?? '', tags: e.tags ?? [] };
}

export function planSpec(e: Record<string, unknown>): ResourceSpec {
  return { name: e.name, description: e.description ?? '', rate_limit: e.rate_limit ?? null, quotas: e.quotas ?? [], approval: e.approval ?? 'manual', tags: e.tags ?? [] };
}

export function aiProviderSpec(e: Record<string, unknown>): ResourceSpec {
  const aws = e.aws as { region: string; access_key_id: string } | null | undefined;
  return {
    name: e.name,
    type: e.type,
    base_url: e.base_url ?? null,
    api_version: e.api_version ?? null,
    aws: aws ? { region: aws.region, access_key_id: aws.access_key_id } : null,
    headers: e.headers ?? {},
    models: e.models ?? [],
    default_model: e.default_model ?? null,
    timeout_ms: e.timeout_ms ?? 120_000,
    tags: e.tags ?? [],
  };
}

/** `provider` is the provider's name (file) — the API side maps provider_id to it before calling this. */
export function promptTemplateSpec(e: Record<string, unknown>): ResourceSpec {
  return {
    name: e.name,
    description: e.description ?? '',
    provider: e.provider ?? null,
    model: e.model ?? null,
    messages: e.messages,
    variables: ((e.variables ?? []) as Array<Record<string, unknown>>).map((v) => ({ ...v, required: v.required ?? true })),
    parameters: e.parameters ?? {},
    tags: e.tags ?? [],
  };
}

/** `scope` by name, as the file states it (see AiBudgetEntry); the API side maps ids to names before calling this. */
export function aiBudgetSpec(e: Record<string, unknown>): ResourceSpec {
  return { name: e.name, description: e.description ?? '', scope: e.scope, period: e.period, limits: e.limits, enabled: e.enabled ?? true, tags: e.tags ?? [] };
}

export function credentialSpec(consumer: string, e: Record<string, unknown>): ResourceSpec {
  const base = { consumer, type: e.type };
  switch (e.type) {
    case 'jwt': {
      const out: ResourceSpec = { ...base, issuer: e.issuer, algorithms: e.algorithms };
      // The control plane stores an unset (or null) jwks_uri / public_key as absent.
      if (e.jwks_uri !== undefined && e.jwks_uri !== null) out.jwks_uri = e.jwks_uri;
      if (e.public_key !== undefined && e.public_key !== null) out.public_key = e.public_key;
      return { ...out, audiences: e.audiences ?? [], clock_skew_s: e.clock_skew_s ?? 60, claims_to_headers: e.claims_to_headers ?? {}, tags: e.tags ?? [] };
    }
    case 'hmac':
      return { ...base, key_id: e.key_id, algorithms: e.algorithms ?? ['hmac-sha256'], tags: e.tags ?? [] };
    default:
      return { ...base, username: e.username, tags: e.tags ?? [] };
  }
}

/** `status`: what the file asks for (null: whatever it is), or the live status. */
export function subscriptionSpec(e: Record<string, unknown>): ResourceSpec {
  return { consumer: e.consumer, service: e.service, plan: e.plan ?? null, note: e.note ?? '', tags: e.tags ?? [], status: e.status ?? null };
}

export function pluginSpec(e: Record<string, unknown>, config: Record<string, unknown>): ResourceSpec {
  const out: ResourceSpec = { type: e.type };
  if (e.name !== undefined) out.name = e.name;
  return { ...out, enabled: e.enabled ?? true, scope: e.scope ?? {}, config, tags: e.tags ?? [] };
}

/** The secrets a file entry carries, split off its public fields (write-only in the API). */
export function secretsOf(kind: ResourceKind, e: Record<string, unknown>): SecretValues | null {
  const out: SecretValues = {};
  if (kind === 'certificate') {
    if (e.key_pem !== undefined) out.key_pem = e.key_pem;
  } else if (kind === 'ai_provider') {
    if (e.api_key !== undefined) out.api_key = e.api_key;
    const aws = e.aws as { secret_access_key?: string } | null | undefined;
    if (aws?.secret_access_key !== undefined) out.aws = { secret_access_key: aws.secret_access_key };
  } else if (kind === 'credential') {
    if (e.secret !== undefined) out.secret = e.secret;
    if (e.password !== undefined) out.password = e.password;
  }
  return Object.keys(out).length > 0 ? out : null;
}

// ---- file checks beyond the schema -------------------------------------------------------------------

export interface EntryProblem {
  /** JSON pointer within the entry (`/config/max_body_bytes`), '' for the entry itself. */
  path: string;
  message: string;
}

/** A plugin's config with its type's defaults filled, or the problems (unknown type, bad config, scope). */
export function pluginConfigOf(e: Record<string, unknown>): { config: Record<string, unknown> } | { problems: EntryProblem[] } {
  const type = pluginTypeOf(String(e.type));
  if (!type) return { problems: [{ path: '/type', message: `must be one of: ${PLUGIN_TYPES.map((t) => JSON.stringify(t.name)).join(', ')}` }] };
  const scope = (e.scope ?? {}) as Record<string, unknown>;
  const problems: EntryProblem[] = [];
  if (scope.service !== undefined && scope.route !== undefined) problems.push({ path: '/scope', message: 'must name at most one of service and route' });
  const kinds = (['service', 'route', 'consumer'] as const).filter((k) => scope[k] !== undefined);
  const refused = (kinds.length === 0 ? ['global' as const] : kinds).filter((k) => !type.scopes.includes(k));
  if (refused.length > 0) problems.push({ path: '/scope', message: `${type.name} cannot be attached at scope ${refused.join(' + ')}; allowed: ${type.scopes.join(', ')}` });
  try {
    const config = parse(type.config, e.config ?? {}, { defaults: true }) as Record<string, unknown>;
    // The type's own rules, as the control plane checks them (422 there).
    for (const f of type.problems?.(config) ?? []) problems.push({ path: `/config${f.path}`, message: f.message });
    return problems.length > 0 ? { problems } : { config };
  } catch (err) {
    if (!(err instanceof TurnpikeError)) throw err;
    const fields: FieldError[] = err.fields ?? [{ path: '', message: err.message }];
    return { problems: [...problems, ...fields.map((f) => ({ path: `/config${f.path}`, message: f.message }))] };
  }
}

/** The control plane's write-time rules of providers and templates that need nothing but the entry. */
export function entryProblems(kind: ResourceKind, e: Record<string, unknown>): EntryProblem[] {
  if (kind === 'ai_provider') return aiProviderProblems(e as Parameters<typeof aiProviderProblems>[0]);
  if (kind === 'prompt_template') return promptTemplateProblems({ messages: e.messages as PromptMessage[], variables: e.variables as PromptVariable[] });
  if (kind === 'ai_budget') {
    const out: EntryProblem[] = [];
    const s = (e.scope ?? {}) as { consumer?: string; key?: string; tenant?: true };
    if ((s.tenant === true) === (s.consumer !== undefined)) out.push({ path: '/scope', message: 'must name either consumer (with key for one API key) or tenant: true' });
    else if (s.tenant === true && s.key !== undefined) out.push({ path: '/scope/key', message: 'is only for a consumer scope' });
    const l = (e.limits ?? {}) as Record<string, unknown>;
    if (l.tokens === undefined && l.cost_usd === undefined && l.requests === undefined) out.push({ path: '/limits', message: 'must set at least one of tokens, cost_usd, requests' });
    return out;
  }
  return [];
}

// ---- API side ----------------------------------------------------------------------------------------

/** Names of live entities by id, for the references of other kinds. */
export interface NameMaps {
  consumer: Map<string, string>;
  service: Map<string, string>;
  route: Map<string, string>;
  plan: Map<string, string>;
  ai_provider: Map<string, string>;
  /** `<consumer username>/<key name>` of each named API key. */
  api_key: Map<string, string>;
}

/** A live entity of a kind in the normalized form (a dangling id, which the API prevents, shows as the id). */
export function specFromApi(kind: ResourceKind, e: Record<string, unknown>, names: NameMaps): ResourceSpec {
  const name = (m: Map<string, string>, id: unknown): unknown => (typeof id === 'string' ? (m.get(id) ?? id) : id);
  switch (kind) {
    case 'certificate':
      return certificateSpec(e);
    case 'consumer_group':
      return groupSpec(e);
    case 'plan':
      return planSpec(e);
    case 'ai_provider':
      return aiProviderSpec(e);
    case 'prompt_template':
      return promptTemplateSpec({ ...e, provider: e.provider_id === null || e.provider_id === undefined ? null : name(names.ai_provider, e.provider_id) });
    case 'credential':
      return credentialSpec(String(name(names.consumer, e.consumer_id)), e);
    case 'subscription':
      return subscriptionSpec({
        consumer: name(names.consumer, e.consumer_id),
        service: name(names.service, e.service_id),
        plan: e.plan_id === null || e.plan_id === undefined ? null : name(names.plan, e.plan_id),
        note: e.note,
        tags: e.tags,
        status: e.status,
      });
    case 'plugin': {
      const s = (e.scope ?? {}) as Record<string, string>;
      const scope: Record<string, unknown> = {};
      if (s.service_id !== undefined) scope.service = name(names.service, s.service_id);
      if (s.route_id !== undefined) scope.route = name(names.route, s.route_id);
      if (s.consumer_id !== undefined) scope.consumer = name(names.consumer, s.consumer_id);
      return pluginSpec({ ...e, scope }, (e.config ?? {}) as Record<string, unknown>);
    }
    case 'ai_budget': {
      const s = (e.scope ?? {}) as { type?: string; id?: string };
      let scope: Record<string, unknown> = { tenant: true };
      if (s.type === 'consumer') scope = { consumer: name(names.consumer, s.id) };
      else if (s.type === 'api_key') {
        const full = names.api_key.get(String(s.id));
        const slash = full === undefined ? -1 : full.indexOf('/');
        // A nameless key cannot be stated in a file: it shows by id.
        scope = full === undefined || slash < 0 ? { key: s.id } : { consumer: full.slice(0, slash), key: full.slice(slash + 1) };
      }
      return aiBudgetSpec({ ...e, scope });
    }
  }
}

/** Ids of entities by kind and name (filled as creates return them). */
export type IdOf = (kind: 'consumer' | 'service' | 'route' | 'plan' | 'ai_provider' | 'certificate' | 'key', name: string) => string;

/** Fields of a spec (all of them, or those a patch changes) as the API takes them: names become ids. */
export function toApiBody(kind: ResourceKind, fields: ResourceSpec, idOf: IdOf): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields };
  const ref = (field: string, apiField: string, target: Parameters<IdOf>[0]): void => {
    if (!(field in out)) return;
    const v = out[field];
    delete out[field];
    out[apiField] = v === null ? null : idOf(target, String(v));
  };
  switch (kind) {
    case 'prompt_template':
      ref('provider', 'provider_id', 'ai_provider');
      break;
    case 'credential':
      delete out.consumer;
      break;
    case 'subscription':
      ref('consumer', 'consumer_id', 'consumer');
      ref('service', 'service_id', 'service');
      ref('plan', 'plan_id', 'plan');
      // The status changes by the approve/reject/revoke actions, never by a write.
      delete out.status;
      break;
    case 'plugin':
      if ('scope' in out) {
        const s = (out.scope ?? {}) as Record<string, string>;
        const scope: Record<string, string> = {};
        if (s.service !== undefined) scope.service_id = idOf('service', s.service);
        if (s.route !== undefined) scope.route_id = idOf('route', s.route);
        if (s.consumer !== undefined) scope.consumer_id = idOf('consumer', s.consumer);
        out.scope = scope;
      }
      break;
    case 'ai_budget':
      if ('scope' in out) {
        // Keys by `<consumer>/<key name>`; a tenant scope without an id is the tenant the request addresses.
        const s = (out.scope ?? {}) as { consumer?: string; key?: string; tenant?: true };
        if (s.tenant === true) out.scope = { type: 'tenant' };
        else if (s.key !== undefined) out.scope = { type: 'api_key', id: idOf('key', `${String(s.consumer)}/${s.key}`) };
        else out.scope = { type: 'consumer', id: idOf('consumer', String(s.consumer)) };
      }
      break;
    default:
      break;
  }
  return out;
}

/** `a` with `b`'s fields laid over it, objects merged (secrets into `aws`). */
export function mergeSecrets(body: Record<string, unknown>, secrets: SecretValues): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const [k, v] of Object.entries(secrets)) {
    const cur = out[k];
    out[k] = v !== null && typeof v === 'object' && cur !== null && typeof cur === 'object' ? { ...(cur as object), ...(v as object) } : v;
  }
  return out;
}

// ---- file form (export) ------------------------------------------------------------------------------

/** An entity as an exported file states it: defaults that read as noise (null plan, empty note) left out. */
export function toFileEntry(kind: ResourceKind, s: ResourceSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { ...s };
  if (kind === 'credential') delete out.consumer;
  // The certificate's own names are served unless the file lists others; its key is never exported.
  if (kind === 'certificate' && out.snis === null) delete out.snis;
  if (kind === 'subscription') {
    if (out.plan === null) delete out.plan;
    if (out.note === '') delete out.note;
    if (out.status === null) delete out.status;
  }
  if (kind === 'plugin' && Object.keys((out.scope ?? {}) as object).length === 0) delete out.scope;
  return out;
}
