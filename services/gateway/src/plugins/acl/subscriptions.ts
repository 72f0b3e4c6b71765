// Subscriptions on the data plane: the approved `subscriptions.<id>` entries as consumer id → Set of
// service ids, updated entry by entry (a node may hold 100,000+), and the check for services that require one.
// A subscription counts only while `approved`: pending, rejected and revoked ones admit nothing.

export interface SubscriptionDenial {
  code: 'TP_ERR_SUBSCRIPTION_REQUIRED';
  status: 403;
  message: string;
}

export const SUBSCRIPTION_REQUIRED: SubscriptionDenial = Object.freeze({
  code: 'TP_ERR_SUBSCRIPTION_REQUIRED',
  status: 403,
  message: 'this service requires an approved subscription, and the consumer has none',
});
export const SUBSCRIPTION_NO_CONSUMER: SubscriptionDenial = Object.freeze({
  code: 'TP_ERR_SUBSCRIPTION_REQUIRED',
  status: 403,
  message: 'this service requires an approved subscription: authentication is required first (no consumer was identified)',
});

interface Held {
  consumer: string;
  service: string;
}

/** The approved subscriptions a node holds. Mutable: apply each `subscriptions.<id>` put or delete. */
export class SubscriptionTable {
  readonly #byConsumer = new Map<string, Set<string>>();
  /** KV key → the pair it grants (approved entries only); several keys may grant the same pair. */
  readonly #byKey = new Map<string, Held>();
  /** `consumer\0service` → how many approved entries grant it. */
  readonly #count = new Map<string, number>();
  /**
   * consumer → service → plan id of its approved subscription (the latest put when several grant the pair),
   * for the call record: two map lookups per request, no key built.
   */
  readonly #plans = new Map<string, Map<string, string>>();

  /**
   * Applies a put of `subscriptions.<id>` (`data`: the entry's data). Returns a reason when the entry is not
   * usable (it then grants nothing), else null.
   */
  put(key: string, data: unknown): string | null {
    this.delete(key);
    const d = data as { consumer_id?: unknown; service_id?: unknown; status?: unknown; plan_id?: unknown } | null;
    if (typeof d !== 'object' || d === null) return 'subscription is not an object';
    if (typeof d.consumer_id !== 'string' || d.consumer_id === '') return 'subscription without consumer_id';
    if (typeof d.service_id !== 'string' || d.service_id === '') return 'subscription without service_id';
    if (d.status !== 'approved') return null;
    const held = { consumer: d.consumer_id.toLowerCase(), service: d.service_id.toLowerCase() };
    this.#byKey.set(key, held);
    let plans = this.#plans.get(held.consumer);
    if (!plans) this.#plans.set(held.consumer, (plans = new Map()));
    plans.set(held.service, typeof d.plan_id === 'string' ? d.plan_id : '');
    const pair = `${held.consumer}\0${held.service}`;
    const n = this.#count.get(pair) ?? 0;
    this.#count.set(pair, n + 1);
    if (n === 0) {
      let services = this.#byConsumer.get(held.consumer);
      if (!services) this.#byConsumer.set(held.consumer, (services = new Set()));
      services.add(held.service);
    }
    return null;
  }

  delete(key: string): void {
    const held = this.#byKey.get(key);
    if (!held) return;
    this.#byKey.delete(key);
    const pair = `${held.consumer}\0${held.service}`;
    const n = this.#count.get(pair)! - 1;
    if (n > 0) {
      this.#count.set(pair, n);
      return;
    }
    this.#count.delete(pair);
    const plans = this.#plans.get(held.consumer);
    if (plans !== undefined) {
      plans.delete(held.service);
      if (plans.size === 0) this.#plans.delete(held.consumer);
    }
    const services = this.#byConsumer.get(held.consumer)!;
    services.delete(held.service);
    if (services.size === 0) this.#byConsumer.delete(held.consumer);
  }

  /** Whether `consumerId` holds an approved subscription to `serviceId` (both lower-case). */
  has(consumerId: string, serviceId: string): boolean {
    const services = this.#byConsumer.get(consumerId);
    return services !== undefined && services.has(serviceId);
  }

  /** The plan id of `consumerId`'s approved subscription to `serviceId` (both lower-case); '' for none. */
  planOf(consumerId: string, serviceId: string): string {
    const plans = this.#plans.get(consumerId);
    return plans === undefined ? '' : (plans.get(serviceId) ?? '');
  }

  /** Approved consumer/service pairs. */
  get size(): number {
    return this.#count.size;
  }
}

/** Builds a table from `{key, data}` entries (a full compile); rejections name the unusable entries. */
export function compileSubscriptions(entries: Iterable<{ key: string; data: unknown }>): { table: SubscriptionTable; rejections: { key: string; reason: string }[] } {
  const table = new SubscriptionTable();
  const rejections: { key: string; reason: string }[] = [];
  for (const { key, data } of entries) {
    const reason = table.put(key, data);
    if (reason !== null) rejections.push({ key, reason });
  }
  return { table, rejections };
}

/**
 * The per-request check for a service that requires a subscription (the caller skips it otherwise): null
 * to admit, else the 403 denial. `consumerId`: '' when none was identified. Allocates nothing.
 */
export function checkSubscription(table: SubscriptionTable, consumerId: string, serviceId: string): SubscriptionDenial | null {
  if (consumerId === '') return SUBSCRIPTION_NO_CONSUMER;
  return table.has(consumerId, serviceId) ? null : SUBSCRIPTION_REQUIRED;
}
