// AI providers: an LLM API the AI gateway calls (its type, endpoint, credentials, models and their prices).
// Credentials are input-only: the control plane seals them with the keyring (context = the provider id)
// and the API shows only whether a key is set and its last four characters.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { SealedSecret } from '../secrets/keyring.js';
import { Id, Name, Tags, Timestamps } from './common.js';

export const AI_PROVIDER_TYPES = ['openai', 'anthropic', 'azure-openai', 'gemini', 'mistral', 'bedrock', 'ollama', 'openai-compatible'] as const;
export type AiProviderType = (typeof AI_PROVIDER_TYPES)[number];
export const AiProviderTypeSchema = Type.Union(AI_PROVIDER_TYPES.map((t) => Type.Literal(t)));

/**
 * Where each type's API lives when `base_url` is not set (the gateway appends the type's own API paths,
 * e.g. `/chat/completions` for openai, `/v1/messages` for anthropic). `null`: the type has no public
 * default and `base_url` is required; bedrock's default is built from `aws.region`.
 */
export const AI_PROVIDER_DEFAULT_BASE_URLS: Readonly<Record<AiProviderType, string | null>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  'azure-openai': null,
  gemini: 'https://generativelanguage.googleapis.com',
  mistral: 'https://api.mistral.ai/v1',
  bedrock: 'https://bedrock-runtime.{region}.amazonaws.com',
  ollama: null,
  'openai-compatible': null,
};

/** Which credential a type takes: an API key (required or optional) or an AWS key pair. */
export const AI_PROVIDER_CREDENTIALS: Readonly<Record<AiProviderType, 'api_key' | 'optional_api_key' | 'aws'>> = {
  openai: 'api_key',
  anthropic: 'api_key',
  'azure-openai': 'api_key',
  gemini: 'api_key',
  mistral: 'api_key',
  bedrock: 'aws',
  ollama: 'optional_api_key',
  'openai-compatible': 'optional_api_key',
};

/** Model ids as providers spell them: `gpt-4o`, `anthropic.claude-3-haiku-20240307-v1:0`, `llama3.1:8b`, `meta-llama/Llama-3-70b`. */
export const ModelName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,255}$', description: 'model id as the provider spells it' });

export const AiModel = Type.Object(
  {
    name: ModelName,
    /** Price of input (prompt) tokens, US dollars per million tokens. */
    input_cost_per_mtok: Type.Number({ minimum: 0, maximum: 1_000_000 }),
    /** Price of output (completion) tokens, US dollars per million tokens. */
    output_cost_per_mtok: Type.Number({ minimum: 0, maximum: 1_000_000 }),
    /**
     * Price of prompt tokens served from the provider's prompt cache (OpenAI `cached_tokens`, Anthropic
     * `cache_read_input_tokens`, Gemini `cachedContentTokenCount`), US dollars per million tokens. Absent:
     * cached tokens cost `input_cost_per_mtok`.
     */
    cached_input_cost_per_mtok: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000 })),
    /** Tokens of prompt plus completion the model accepts. */
    context_window: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
    /** Other names requests may use for this model (`gpt-4o-latest`, `fast`). */
    aliases: Type.Optional(Type.Array(ModelName, { maxItems: 16 })),
  },
  { additionalProperties: false },
);
export type AiModel = Static<typeof AiModel>;

/** An API key or secret access key: printable ASCII without spaces (it travels in a header). */
const SecretText = Type.String({ minLength: 1, maxLength: 4096, pattern: '^[\\x21-\\x7e]+$', writeOnly: true });
const AwsRegion = Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$', description: 'e.g. us-east-1' });
const AwsAccessKeyId = Type.String({ pattern: '^[A-Z0-9]{16,128}$' });

/** Bedrock credentials as written: the secret access key is sealed and never returned. */
export const AiProviderAwsInput = Type.Object(
  {
    region: AwsRegion,
    access_key_id: AwsAccessKeyId,
    /** Required on create; a write without it keeps the stored one. */
    secret_access_key: Type.Optional(SecretText),
  },
  { additionalProperties: false },
);
/** Bedrock credentials as returned: the access key id identifies the key pair and is not secret. */
export const AiProviderAws = Type.Object({ region: AwsRegion, access_key_id: AwsAccessKeyId }, { additionalProperties: false });
export type AiProviderAws = Static<typeof AiProviderAws>;

/** Extra request headers, not for credentials (use `api_key`; credential header names are refused). */
export const AiProviderHeaders = Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$' }), Type.String({ maxLength: 1024, pattern: '^[\\x20-\\x7e\\t]*$' }), {
  maxProperties: 32,
  additionalProperties: false,
  default: {},
});

/** Header names that carry credentials or that the gateway itself sets: refused in `headers`. */
export const AI_PROVIDER_RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-content-sha256',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
]);

const providerFields = {
  name: Name,
  type: AiProviderTypeSchema,
  /** null: the type's default (AI_PROVIDER_DEFAULT_BASE_URLS). */
  base_url: Type.Union([Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://' }), Type.Null()], { default: null }),
  /** Azure OpenAI's `api-version` query parameter (e.g. `2024-10-21`); azure-openai only. */
  api_version: Type.Union([Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$' }), Type.Null()], { default: null }),
  headers: AiProviderHeaders,
  models: Type.Array(AiModel, { maxItems: 256, default: [] }),
  /** The model used when a request names none: a name or alias from `models` (when models are listed). */
  default_model: Type.Union([ModelName, Type.Null()], { default: null }),
  /** How long one call to the provider may take, the whole response included. */
  timeout_ms: Type.Integer({ minimum: 100, maximum: 600_000, default: 120_000 }),
  tags: Tags,
};

export const AiProviderCreate = Type.Object(
  {
    name: providerFields.name,
    type: providerFields.type,
    base_url: Type.Optional(providerFields.base_url),
    /** The provider's API key (write-only). Required for openai, anthropic, azure-openai, gemini, mistral; optional for ollama, openai-compatible; refused for bedrock. null removes a stored optional key. */
    api_key: Type.Optional(Type.Union([SecretText, Type.Null()])),
    api_version: Type.Optional(providerFields.api_version),
    /** bedrock only (and required there). */
    aws: Type.Optional(Type.Union([AiProviderAwsInput, Type.Null()], { default: null })),
    headers: Type.Optional(providerFields.headers),
    models: Type.Optional(providerFields.models),
    default_model: Type.Optional(providerFields.default_model),
    timeout_ms: Type.Optional(providerFields.timeout_ms),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type AiProviderCreate = Static<typeof AiProviderCreate>;
/** A PATCH: without `api_key` (or `aws.secret_access_key`) the stored secret stays; with one it is replaced. */
export const AiProviderUpdate = Type.Partial(AiProviderCreate, { additionalProperties: false });
export type AiProviderUpdate = Static<typeof AiProviderUpdate>;

export const AiProvider = Type.Object({
  id: Id,
  ...providerFields,
  aws: Type.Union([AiProviderAws, Type.Null()]),
  /** Whether an API key is stored. */
  api_key_set: Type.Boolean(),
  /** The stored key's last four characters, to tell keys apart (null when none, or the key is under 16 characters). */
  api_key_last4: Type.Union([Type.String(), Type.Null()]),
  ...Timestamps,
});
export type AiProvider = Static<typeof AiProvider>;

/** The sealed credentials a node opens with the keyring (context: the provider id). */
export interface AiProviderSecrets {
  api_key: SealedSecret | null;
  aws_secret_access_key: SealedSecret | null;
}

/** What the data plane receives for a provider (KV `ai_providers.<id>`): the public fields and the sealed secrets. */
export type AiProviderConfig = AiProvider & { secret: AiProviderSecrets };

/** The base URL calls go to: `base_url`, else the type's default (bedrock's from its region); null if neither. */
export function effectiveBaseUrl(p: { type: AiProviderType; base_url: string | null; aws?: { region: string } | null }): string | null {
  if (p.base_url) return p.base_url.replace(/\/+$/, '');
  const d = AI_PROVIDER_DEFAULT_BASE_URLS[p.type];
  if (d === null) return null;
  if (p.type === 'bedrock') return p.aws ? d.replace('{region}', p.aws.region) : null;
  return d;
}

/** The model a request for `requested` resolves to (by name or alias), or undefined when the provider does not list it. */
export function findModel(models: readonly AiModel[], requested: string): AiModel | undefined {
  return models.find((m) => m.name === requested) ?? models.find((m) => m.aliases?.includes(requested));
}

/**
 * Cross-field rules of a provider that do not involve its secrets, as 422 field errors: base_url present
 * where the type has no default and free of credentials, query and fragment; api_version and aws only for
 * the types that use them; headers free of credential and gateway-owned names; model names and aliases
 * unique; default_model among the models.
 */
export function aiProviderProblems(p: {
  type: AiProviderType;
  base_url?: string | null | undefined;
  api_version?: string | null | undefined;
  aws?: { region: string } | null | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
  models?: readonly AiModel[] | undefined;
  default_model?: string | null | undefined;
}): FieldError[] {
  const out: FieldError[] = [];
  const base = p.base_url ?? null;
  if (base === null && AI_PROVIDER_DEFAULT_BASE_URLS[p.type] === null) {
    out.push({ path: '/base_url', message: `is required for type ${p.type} (it has no default endpoint)` });
  }
  if (base !== null) {
    let url: URL | null = null;
    try {
      url = new URL(base);
    } catch {
      out.push({ path: '/base_url', message: 'must be an absolute http(s) URL' });
    }
    if (url) {
      if (url.username || url.password) out.push({ path: '/base_url', message: 'must not carry credentials (set api_key instead)' });
      if (url.search || url.hash || base.includes('?') || base.includes('#')) out.push({ path: '/base_url', message: 'must not have a query or fragment' });
    }
  }
  if (p.type === 'azure-openai' && !p.api_version) out.push({ path: '/api_version', message: 'is required for type azure-openai' });
  if (p.type !== 'azure-openai' && p.api_version) out.push({ path: '/api_version', message: 'is only for type azure-openai' });
  if (p.type === 'bedrock' && !p.aws) out.push({ path: '/aws', message: 'is required for type bedrock (region, access_key_id, secret_access_key)' });
  if (p.type !== 'bedrock' && p.aws) out.push({ path: '/aws', message: 'is only for type bedrock' });
  for (const name of Object.keys(p.headers ?? {})) {
    if (AI_PROVIDER_RESERVED_HEADERS.has(name.toLowerCase())) {
      out.push({ path: `/headers/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: 'is set by the gateway or carries credentials; secrets go in api_key' });
    }
  }
  const taken = new Map<string, string>();
  (p.models ?? []).forEach((m, i) => {
    const names: Array<[string, string]> = [[m.name, `/models/${i}/name`], ...(m.aliases ?? []).map((a, j): [string, string] => [a, `/models/${i}/aliases/${j}`])];
    for (const [n, path] of names) {
      const first = taken.get(n);
      if (first !== undefined) out.push({ path, message: `${JSON.stringify(n)} is already used at ${first}` });
      else taken.set(n, path);
    }
  });
  const models = p.models ?? [];
  if (p.default_model && models.length > 0 && !findModel(models, p.default_model)) {
    out.push({ path: '/default_model', message: `must be one of the models (${models.map((m) => m.name).slice(0, 10).join(', ')}) or an alias` });
  }
  return out;
}
