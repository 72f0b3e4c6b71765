// Prompt templates. Checked on every write: placeholder syntax, every placeholder declared, variable names
// unique; with a provider, the model must be one it offers and max_tokens must fit the model's context.
// Versioned: see service/prompt-template-versions.ts.
import {
  PromptTemplate,
  PromptTemplateCreate,
  PromptTemplateUpdate,
  TurnpikeError,
  findModel,
  promptTemplateProblems,
  type AiModel,
  type FieldError,
  type PromptMessage,
  type PromptParameters,
  type PromptVariable,
} from '@turnpike/common';
import { publishedVersions, stampVersion } from '../../service/prompt-template-versions.js';
import { assertNoServiceUses } from '../../service/services.js';
import type { ResourceDef } from '../definition.js';

export const promptTemplates: ResourceDef = {
  // A service's AI integration may name it: refuse the delete while one does (409).
  beforeDelete: (w, id) => assertNoServiceUses(w.tx, 'prompt_template_id', id, 'prompt template'),
  kind: 'prompt_templates',
  path: 'prompt-templates',
  singular: 'prompt template',
  title: 'PromptTemplate',
  create: PromptTemplateCreate,
  update: PromptTemplateUpdate,
  entity: PromptTemplate,
  nameOf: (d) => String(d.name),
  unique: (d) => [{ field: '/name', value: String(d.name), scope: 'tenant' }],
  filters: { provider_id: 'provider_id' },
  // Versions (service/prompt-template-versions.ts): a content change makes a new one; the data plane gets
  // the current one and every version a service pins.
  beforeStore: stampVersion,
  dataPlaneExtra: publishedVersions,
  references(d) {
    return typeof d.provider_id === 'string' ? [{ field: '/provider_id', kind: 'ai_providers', id: d.provider_id, onDelete: 'restrict' }] : [];
  },
  async check(d, { tx, tenantId }) {
    const problems: FieldError[] = promptTemplateProblems({ messages: d.messages as PromptMessage[], variables: d.variables as PromptVariable[] });
    if (typeof d.provider_id === 'string') {
      // A missing provider is reported by the reference check (422 at /provider_id).
      const [provider] = await tx<{ models: AiModel[] | null; default_model: string | null; name: string }[]>`
        SELECT doc->'models' AS models, doc->>'default_model' AS default_model, doc->>'name' AS name
        FROM resources WHERE id = ${d.provider_id} AND tenant_id = ${tenantId} AND kind = 'ai_providers'`;
      const models = provider?.models ?? [];
      if (provider && models.length > 0) {
        const requested = typeof d.model === 'string' ? d.model : provider.default_model;
        const model = requested === null ? undefined : findModel(models, requested);
        if (typeof d.model === 'string' && !model) {
          problems.push({
            path: '/model',
            message: `is not offered by provider ${provider.name} (models: ${models.map((m) => m.name).slice(0, 10).join(', ')}${models.length > 10 ? ', ...' : ''})`,
          });
        }
        const maxTokens = (d.parameters as PromptParameters | undefined)?.max_tokens;
        if (model?.context_window !== undefined && maxTokens !== undefined && maxTokens > model.context_window) {
          problems.push({ path: '/parameters/max_tokens', message: `exceeds the context window of ${model.name} (${model.context_window})` });
        }
      }
    }
    if (problems.length > 0) {
      throw new TurnpikeError('TP_ERR_UNPROCESSABLE', problems.map((f) => `${f.path.slice(1)}: ${f.message}`).join('; '), problems);
    }
  },
};
