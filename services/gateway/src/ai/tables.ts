// The AI gateway's part of a config snapshot: providers with their credentials opened and their adapter
// chosen, and prompt templates parsed once. Compiled when an `ai_providers.*` or `prompt_templates.*` entry
// changes (config/compiler.ts), never per request.
import {
  compilePromptTemplate,
  effectiveBaseUrl,
  findModel,
  isSealed,
  open,
  type AiModel,
  type AiProviderType,
  type CompiledPromptTemplate,
  type Keyring,
  type PromptParameters,
} from '@turnpike/common';
import type { ProviderAdapter } from './adapter.js';
import { adapterFor } from './adapters/index.js';
import { BudgetIndex, compileBudgets } from './budget-index.js';

export interface CompiledAiProvider {
  id: string;
  name: string;
  type: AiProviderType;
  /** null: the type is not served by this node version (bedrock); calls to it fail over to the next provider. */
  adapter: ProviderAdapter | null;
  /** null when the type has no default and none is set (the control plane refuses that; kept defensive). */
  baseUrl: string | null;
  /** The opened API key; null when the provider has none. */
  apiKey: string | null;
  /** Why the key could not be opened (no TP_SECRET_KEY on this node, a foreign key id): calls to it fail over. */
  unusable: string | null;
  apiVersion: string | null;
  headers: Readonly<Record<string, string>>;
  models: readonly AiModel[];
  defaultModel: string | null;
  timeoutMs: number;
}

export interface CompiledAiTemplate {
  id: string;
  name: string;
  /** The template version this is (1, 2, …). */
  version: number;
  providerId: string | null;
  model: string | null;
  parameters: PromptParameters;
  template: CompiledPromptTemplate;
}

/** A template's current version, and every version a node may be asked for (the current and the pinned ones). */
export interface AiTemplateVersions {
  current: CompiledAiTemplate;
  byVersion: ReadonlyMap<number, CompiledAiTemplate>;
}

export interface AiTables {
  providers: ReadonlyMap<string, CompiledAiProvider>;
  templates: ReadonlyMap<string, AiTemplateVersions>;
  /** AI budgets by the API key, consumer or tenant they count. */
  budgets: BudgetIndex;
}

export const EMPTY_AI_TABLES: AiTables = Object.freeze({ providers: new Map(), templates: new Map(), budgets: new BudgetIndex([]) });

export interface AiCompileProblem {
  key: string;
  reason: string;
}

interface Entry {
  key: string;
  id: string;
  data: unknown;
}

/** Providers and templates from their config entries; an entry that cannot be used is reported, not fatal. */
export function compileAiTables(
  providers: Iterable<Entry>,
  templates: Iterable<Entry>,
  keyring: Keyring | null,
  budgets: Iterable<Entry> = [],
): { tables: AiTables; problems: AiCompileProblem[] } {
  const problems: AiCompileProblem[] = [];
  const pmap = new Map<string, CompiledAiProvider>();
  for (const e of providers) {
    const p = compileProvider(e, keyring);
    if (typeof p === 'string') problems.push({ key: e.key, reason: p });
    else pmap.set(p.id, p);
  }
  const tmap = new Map<string, AiTemplateVersions>();
  for (const e of templates) {
    const d = e.data as Record<string, unknown>;
    const name = String(d.name ?? '');
    // An entry from a control plane without versions has no `version`: it is the template's only one.
    const currentVersion = typeof d.version === 'number' ? d.version : 1;
    let current: CompiledAiTemplate;
    try {
      current = compileTemplateVersion(e.id, name, currentVersion, d);
    } catch (err) {
      problems.push({ key: e.key, reason: `prompt template: ${(err as Error).message}` });
      continue;
    }
    const byVersion = new Map<number, CompiledAiTemplate>([[current.version, current]]);
    // The versions services pin; one that cannot be compiled fails only the services pinning it.
    for (const v of Array.isArray(d.versions) ? (d.versions as Array<Record<string, unknown>>) : []) {
      if (typeof v?.version !== 'number' || byVersion.has(v.version)) continue;
      try {
        byVersion.set(v.version, compileTemplateVersion(e.id, name, v.version, v));
      } catch (err) {
        problems.push({ key: e.key, reason: `prompt template version ${v.version}: ${(err as Error).message}` });
      }
    }
    tmap.set(e.id, { current, byVersion });
  }
  return { tables: { providers: pmap, templates: tmap, budgets: compileBudgets(Array.from(budgets, (e) => e.data)) }, problems };
}

/** One version's content (messages, variables, parameters, model, provider_id), parsed for rendering. */
function compileTemplateVersion(id: string, name: string, version: number, d: Record<string, unknown>): CompiledAiTemplate {
  if (!Array.isArray(d.messages)) throw new Error('messages must be a list');
  const template = compilePromptTemplate({ messages: d.messages as never, variables: (d.variables ?? []) as never });
  return {
    id,
    name,
    version,
    providerId: typeof d.provider_id === 'string' ? d.provider_id.toLowerCase() : null,
    model: typeof d.model === 'string' ? d.model : null,
    parameters: (d.parameters ?? {}) as PromptParameters,
    template,
  };
}

function compileProvider(e: Entry, keyring: Keyring | null): CompiledAiProvider | string {
  const d = e.data as Record<string, unknown>;
  const type = d.type as AiProviderType;
  if (typeof type !== 'string') return 'ai provider without type';
  const aws = (d.aws ?? null) as { region: string } | null;
  const baseUrl = effectiveBaseUrl({ type, base_url: (d.base_url ?? null) as string | null, aws });
  let apiKey: string | null = null;
  let unusable: string | null = null;
  const sealed = (d.secret as { api_key?: unknown } | undefined)?.api_key ?? null;
  if (sealed !== null) {
    if (!isSealed(sealed)) unusable = 'the stored API key is not a sealed secret';
    else if (!keyring) unusable = 'this node has no secret key to open the provider credentials (set TP_SECRET_KEY or TP_SECRET_KEYS)';
    else {
      try {
        apiKey = open(keyring, sealed, e.id);
      } catch (err) {
        unusable = `the API key cannot be opened: ${(err as Error).message}`;
      }
    }
  }
  const adapter = adapterFor(type);
  if (adapter === null) unusable ??= `provider type ${type} is not served by this gateway version`;
  if (baseUrl === null) unusable ??= 'no base_url';
  return {
    id: e.id,
    name: String(d.name ?? e.id),
    type,
    adapter,
    baseUrl,
    apiKey,
    unusable,
    apiVersion: (d.api_version ?? null) as string | null,
    headers: (d.headers ?? {}) as Record<string, string>,
    models: (d.models ?? []) as AiModel[],
    defaultModel: (d.default_model ?? null) as string | null,
    timeoutMs: typeof d.timeout_ms === 'number' ? d.timeout_ms : 120_000,
  };
}

/**
 * The model a provider is asked for when a call wants `requested` (null: the provider's default): the
 * listed model's own name (an alias resolved) with its prices, or the name as given when the provider lists
 * no models (prices then unknown: cost 0). undefined: this provider does not serve that model.
 */
export function resolveModel(p: CompiledAiProvider, requested: string | null): { name: string; model: AiModel | null } | undefined {
  const want = requested ?? p.defaultModel;
  if (want === null) return p.models.length > 0 ? { name: p.models[0]!.name, model: p.models[0]! } : undefined;
  if (p.models.length === 0) return { name: want, model: null };
  const m = findModel(p.models, want);
  return m ? { name: m.name, model: m } : undefined;
}
