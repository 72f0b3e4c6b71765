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
export const PromptTemplate = Type.Object({ id: Id, ...templateFields, ...Timestamps });
export type PromptTemplate = Static<typeof PromptTemplate>;
