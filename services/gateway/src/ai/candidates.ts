// Which providers a call may use and in what order: those of the service's integration that serve the
// wanted model and can be used on this node, ordered by the integration's strategy. The first is tried
// first; the rest are the fallbacks.
import type { AiModel } from '@turnpike/common';
import { resolveModel, type AiTables, type CompiledAiProvider } from './tables.js';

export type AiStrategy = 'fallback' | 'weighted' | 'least-busy';

/** A service's `ai` integration as the runtime reads it (config/routing.ts compiles it). */
export interface CompiledAiIntegration {
  providerIds: readonly string[];
  /** Pinned model: every call uses it, whatever the client asked. */
  model: string | null;
  promptTemplateId: string | null;
  /** The template version pinned by the service; null: the template's current version. */
  promptTemplateVersion: number | null;
  strategy: AiStrategy;
  /** Parallel to providerIds (weighted only). */
  weights: readonly number[] | null;
  retries: number;
  /** 0: no response cache. */
  cacheTtlMs: number;
}

export interface Candidate {
  provider: CompiledAiProvider;
  /** The model name the provider is asked for. */
  modelName: string;
  /** Its prices (null when the provider lists no models: cost unknown, recorded as 0). */
  model: AiModel | null;
}

/** Calls in flight per provider id on this thread (least-busy). */
const busy = new Map<string, number>();

export function acquire(providerId: string): void {
  busy.set(providerId, (busy.get(providerId) ?? 0) + 1);
}

export function release(providerId: string): void {
  const n = (busy.get(providerId) ?? 1) - 1;
  if (n <= 0) busy.delete(providerId);
  else busy.set(providerId, n);
}

export function inFlight(providerId: string): number {
  return busy.get(providerId) ?? 0;
}

/**
 * The providers to try for `requested` (null: each provider's default), in order. `unusable` names the
 * providers that serve the model but cannot be used here (no key to open their credentials, an unsupported
 * type), so "no provider" can tell a configuration problem (503) from an unknown model (404).
 */
export function candidatesFor(
  integration: CompiledAiIntegration,
  tables: AiTables,
  requested: string | null,
  only?: (p: CompiledAiProvider) => boolean,
  random: () => number = Math.random,
): { candidates: Candidate[]; unusable: string[] } {
  const candidates: Candidate[] = [];
  const weights: number[] = [];
  const unusable: string[] = [];
  const ids = integration.providerIds;
  for (let i = 0; i < ids.length; i++) {
    const p = tables.providers.get(ids[i]!);
    if (p === undefined || (only !== undefined && !only(p))) continue;
    const m = resolveModel(p, requested);
    if (m === undefined) continue;
    if (p.unusable !== null) {
      unusable.push(`${p.name}: ${p.unusable}`);
      continue;
    }
    candidates.push({ provider: p, modelName: m.name, model: m.model });
    weights.push(integration.weights?.[i] ?? 1);
  }
  if (candidates.length < 2) return { candidates, unusable };
  if (integration.strategy === 'weighted') {
    const total = weights.reduce((a, b) => a + b, 0);
    if (total > 0) {
      let r = random() * total;
      let first = 0;
      for (; first < weights.length - 1; first++) {
        r -= weights[first]!;
        if (r < 0) break;
      }
      // Zero-weight providers still serve as fallbacks, after the drawn one, in the listed order.
      if (first > 0) candidates.unshift(...candidates.splice(first, 1));
    }
  } else if (integration.strategy === 'least-busy') {
    // Stable: ties keep the listed order.
    candidates.sort((a, b) => inFlight(a.provider.id) - inFlight(b.provider.id));
  }
  return { candidates, unusable };
}

/**
 * US dollars for the tokens at the model's prices (0 when prices are unknown). `cachedTokens` are part of
 * `promptTokens` (served from the provider's prompt cache) and cost the cached price where the model has
 * one, else the input price.
 */
export function costOf(model: AiModel | null, promptTokens: number, completionTokens: number, cachedTokens = 0): number {
  if (model === null) return 0;
  const cached = Math.min(cachedTokens, promptTokens);
  const cachedPrice = model.cached_input_cost_per_mtok ?? model.input_cost_per_mtok;
  const usd = ((promptTokens - cached) * model.input_cost_per_mtok + cached * cachedPrice + completionTokens * model.output_cost_per_mtok) / 1_000_000;
  return Math.round(usd * 1e9) / 1e9;
}
