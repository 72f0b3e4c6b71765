// What a signed-in developer does to their own consumer: API keys, subscriptions, usage. Every call goes
// through the service layer with the developer's context (developerAuth), so writes take the same
// transaction + outbox path to the gateways and are audited with the developer as actor. The consumer id
// always comes from the session, never from the request; another developer's key or subscription is 404.
import { TurnpikeError, type AnalyticsStore, type ApiKey, type ApiKeyCreated } from '@turnpike/common';
import type { ServiceContext } from '../service/context.js';
import { createApiKey, deleteApiKey, getApiKey, listApiKeys, updateApiKey } from '../service/api-keys.js';
import { getConsumerUsage, type ConsumerQuotaUsage } from '../service/usage.js';
import { consumerSummary, type ConsumerSummary, type QueryParams } from '../service/analytics.js';
import { notFound } from '../service/ids.js';
import { createResource, deleteResource, getResource, listResources } from '../resources/store.js';
import type { ResourceEntity } from '../resources/definition.js';
import { subscriptions } from '../resources/kinds/subscriptions.js';
import { parse } from '../validation/validator.js';
import { getCatalogEntry, offeredPlans } from './catalog.js';
import { PortalKeyCreate, PortalKeyRotate, PortalSubscriptionRequest } from './schemas.js';

/** A developer's keys are bounded: enough for rotation and a few environments, not a key farm. */
export const MAX_KEYS = 20;

export async function listOwnKeys(ctx: ServiceContext, consumerId: string): Promise<{ data: ApiKey[] }> {
  const page = await listApiKeys(ctx, consumerId, { limit: 1000 });
  return { data: page.data };
}

export async function createOwnKey(ctx: ServiceContext, consumerId: string, input: unknown): Promise<ApiKeyCreated> {
  // Parsed here too: the admin schema also accepts a caller-chosen `key`, which the portal does not offer.
  const b = parse(PortalKeyCreate, input ?? {}, { defaults: true });
  if (b.expires_at !== undefined && Date.parse(b.expires_at) <= Date.now()) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'expires_at must be in the future', [{ path: '/expires_at', message: 'must be in the future' }]);
  }
  const have = await listApiKeys(ctx, consumerId, { limit: 1000 });
  if (have.data.length >= MAX_KEYS) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `at most ${MAX_KEYS} API keys per developer: revoke one first`, [{ path: '', message: `at most ${MAX_KEYS} keys` }]);
  }
  return await createApiKey(ctx, consumerId, { ...(b.name !== undefined ? { name: b.name } : {}), ...(b.expires_at !== undefined ? { expires_at: b.expires_at } : {}) });
}

export interface Rotation {
  key: ApiKeyCreated;
  /** The key replaced: revoked (deleted) at once, or kept until `expires_at`. */
  replaced: { id: string; revoked: boolean; expires_at: string | null };
}

/**
 * A new key (same name) now; the old one either revoked at once (`grace_seconds: 0`) or given an expiry
 * `grace_seconds` ahead (never later than one it already had), so its clients have time to switch.
 */
export async function rotateOwnKey(ctx: ServiceContext, consumerId: string, keyId: string, input: unknown): Promise<Rotation> {
  const b = parse(PortalKeyRotate, input ?? {}, { defaults: true });
  const old = await getApiKey(ctx, consumerId, keyId);
  const grace = b.grace_seconds ?? 3600;
  const created = await createApiKey(ctx, consumerId, old.name ? { name: old.name } : {});
  if (grace === 0) {
    await deleteApiKey(ctx, consumerId, old.id);
    return { key: created, replaced: { id: old.id, revoked: true, expires_at: null } };
  }
  const until = Date.now() + grace * 1000;
  const expires = old.expires_at !== null && Date.parse(old.expires_at) < until ? old.expires_at : new Date(until).toISOString();
  const updated = await updateApiKey(ctx, consumerId, old.id, { expires_at: expires });
  return { key: created, replaced: { id: old.id, revoked: false, expires_at: updated.expires_at } };
}

export async function revokeOwnKey(ctx: ServiceContext, consumerId: string, keyId: string): Promise<void> {
  await deleteApiKey(ctx, consumerId, keyId);
}

type OwnSubscription = ResourceEntity & { service_name: string | null };

async function withServiceNames(ctx: ServiceContext, subs: ResourceEntity[]): Promise<OwnSubscription[]> {
  const ids = [...new Set(subs.map((s) => String(s.service_id)))];
  const rows = ids.length === 0 ? [] : await ctx.sql<{ id: string; name: string }[]>`SELECT id, name FROM services WHERE id IN ${ctx.sql(ids)}`;
  const names = new Map(rows.map((r) => [r.id, r.name]));
  return subs.map((s) => ({ ...s, service_name: names.get(String(s.service_id)) ?? null }));
}

export async function listOwnSubscriptions(ctx: ServiceContext, consumerId: string): Promise<{ data: OwnSubscription[] }> {
  const page = await listResources(ctx, subscriptions, { limit: 1000, where: { consumer_id: consumerId } });
  return { data: await withServiceNames(ctx, page.data) };
}

export async function getOwnSubscription(ctx: ServiceContext, consumerId: string, id: string): Promise<OwnSubscription> {
  const sub = await getResource(ctx, subscriptions, id);
  if (sub.consumer_id !== consumerId) throw notFound('subscription', id);
  return (await withServiceNames(ctx, [sub]))[0]!;
}

/** A request for a catalog service under an offered plan (or none): pending, or approved at once by an `auto` plan. */
export async function requestSubscription(ctx: ServiceContext, consumerId: string, tenantId: string, input: unknown): Promise<OwnSubscription> {
  const b = parse(PortalSubscriptionRequest, input, { defaults: true });
  try {
    await getCatalogEntry(ctx.sql, tenantId, b.service_id);
  } catch {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `service ${b.service_id} is not in the catalog`, [{ path: '/service_id', message: 'is not a catalog service' }]);
  }
  const planId = b.plan_id ? b.plan_id.toLowerCase() : null;
  if (planId !== null && !(await offeredPlans(ctx.sql, tenantId)).some((p) => p.id === planId)) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `plan ${planId} is not offered in the portal`, [{ path: '/plan_id', message: 'is not an offered plan' }]);
  }
  const created = await createResource(ctx, subscriptions, {
    consumer_id: consumerId,
    service_id: b.service_id.toLowerCase(),
    plan_id: planId,
    ...(b.note !== undefined ? { note: b.note } : {}),
  });
  return (await withServiceNames(ctx, [created]))[0]!;
}

/** Cancelling removes the subscription (whatever its status): the gateways stop admitting at once. */
export async function cancelSubscription(ctx: ServiceContext, consumerId: string, id: string): Promise<void> {
  await getOwnSubscription(ctx, consumerId, id);
  await deleteResource(ctx, subscriptions, id);
}

export interface OwnUsage {
  quotas: ConsumerQuotaUsage[];
  /** Traffic over the range (default: the last 24 hours); null when analytics is not configured. */
  traffic: ConsumerSummary | null;
}

export async function ownUsage(ctx: ServiceContext, consumerId: string, analytics: AnalyticsStore | undefined, q: QueryParams): Promise<OwnUsage> {
  const quotas = (await getConsumerUsage(ctx, consumerId)).data;
  const traffic = analytics ? await consumerSummary(ctx, analytics, consumerId, q) : null;
  return { quotas, traffic };
}
