// Prompt templates: messages with `{{ variable }}` placeholders (syntax: ../prompt-template/index.ts),
// their declared variables, and the sampling parameters the AI gateway sends with them.
import { Type, type Static } from '@sinclair/typebox';
import { VARIABLE_NAME_PATTERN } from '../prompt-template/index.js';
import { ModelName } from './ai-provider.js';
import { Id, Name, Tags, Timestamps } from './common.js';

export const PromptRole = Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]);

export const PromptMessage = Type.Object(
  {
    role: PromptRole,
    /** Text with `{{ variable }}` placeholders; `\{{` is a literal `{{`. */
    content: Type.String({ minLength: 1, maxLength: 100_000 }),
  },
  { additionalProperties: false },
);
export type PromptMessage = Static<typeof PromptMessage>;

export const PromptVariable = Type.Object(
  {
    name: Type.String({ pattern: VARIABLE_NAME_PATTERN }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    /** A required variable without a default must be given at render time. */
    required: Type.Boolean({ default: true }),
    /** Used when no value is given (so the variable is never missing). */
    default: Type.Optional(Type.String({ maxLength: 100_000 })),
    /** Longest value accepted, in characters. */
    max_length: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export type PromptVariable = Static<typeof PromptVariable>;

export const PromptParameters = Type.Object(
  {
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    stop: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 16 })),
  },
  { additionalProperties: false, default: {} },
);
export type PromptParameters = Static<typeof PromptParameters>;

/** Lower-case (as ids are returned), so the data plane finds the provider by the stored text. */
const ProviderId = Type.String({ format: 'uuid', pattern: '^[0-9a-f-]{36}$', description: 'id of an AI provider (lower case)' });

const templateFields = {
  name: Name,
  description: Type.String({ maxLength: 1024, default: '' }),
  /** The provider it is meant for (deleting that provider is refused while this template exists). */
  provider_id: Type.Union([ProviderId, Type.Null()], { default: null }),
  /** With provider_id: one of that provider's models or aliases (when it lists models). null: the provider's default. */
  model: Type.Union([ModelName, Type.Null()], { default: null }),
  messages: Type.Array(PromptMessage, { minItems: 1, maxItems: 64 }),
  variables: Type.Array(PromptVariable, { maxItems: 64, default: [] }),
  parameters: PromptParameters,
  tags: Tags,
};

export const PromptTemplateCreate = Type.Object(
  {
    name: templateFields.name,
    description: Type.Optional(templateFields.description),
    provider_id: Type.Optional(templateFields.provider_id),
    model: Type.Optional(templateFields.model),
    messages: templateFields.messages,
    variables: Type.Optional(templateFields.variables),
    parameters: Type.Optional(templateFields.parameters),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type PromptTemplateCreate = Static<typeof PromptTemplateCreate>;
export const PromptTemplateUpdate = Type.Partial(PromptTemplateCreate, { additionalProperties: false });
export type PromptTemplateUpdate = Static<typeof PromptTemplateUpdate>;
/** The server keeps these: a write that changes what the model is sent makes a new immutable version. */
const versionFields = {
  /** The current version (1 on create). Services that pin none get this one. */
  version: Type.Integer({ minimum: 1, description: 'the current version (a write that changes messages, variables, parameters, model or provider_id makes a new one)' }),
  versions_count: Type.Integer({ minimum: 1, description: 'how many versions exist (they are numbered 1 to versions_count)' }),
};
export const PromptTemplate = Type.Object({ id: Id, ...templateFields, ...versionFields, ...Timestamps });
export type PromptTemplate = Static<typeof PromptTemplate>;

/** What one version pins: the fields that decide what the model is sent. */
export const PromptTemplateContent = Type.Object(
  {
    messages: templateFields.messages,
    variables: templateFields.variables,
    parameters: templateFields.parameters,
    model: templateFields.model,
    provider_id: templateFields.provider_id,
  },
  { additionalProperties: false },
);
export type PromptTemplateContent = Static<typeof PromptTemplateContent>;
export const PROMPT_TEMPLATE_CONTENT_FIELDS = ['messages', 'variables', 'parameters', 'model', 'provider_id'] as const;

/** One immutable version of a template (`GET /v1/prompt-templates/{id}/versions/{n}`). */
export const PromptTemplateVersion = Type.Object({
  template_id: Id,
  version: Type.Integer({ minimum: 1 }),
  ...PromptTemplateContent.properties,
  created_at: Type.String({ format: 'date-time' }),
});
export type PromptTemplateVersion = Static<typeof PromptTemplateVersion>;

/**
 * The data-plane entry `prompt_templates.<id>`: the entity (current content, `version`) plus `versions`,
 * the content of the current version and of every version a service pins (not the whole history).
 */
export type PromptTemplateConfig = PromptTemplate & { versions: Array<PromptTemplateContent & { version: number }> };
