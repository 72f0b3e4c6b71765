// Subscriptions: consumer ↔ service under an optional plan, with an approval workflow.
//   pending ──approve──► approved ──revoke──► revoked
//      └─────reject───► rejected
// A plan with `approval: auto` approves on creation. At most one live (pending or approved) subscription
// per consumer and service; a rejected or revoked one can be followed by a new request.
import { Subscription, SubscriptionCreate, SubscriptionDecision, SubscriptionUpdate, TurnpikeError, type SubscriptionStatus } from '@turnpike/common';
import type { ActionContext, ResourceAction, ResourceDef, ResourceDoc } from '../definition.js';

function transition(name: string, from: SubscriptionStatus, to: SubscriptionStatus, summary: string): ResourceAction {
  return {
    name,
    summary,
    input: SubscriptionDecision,
    minRole: 'admin',
    apply(doc: ResourceDoc, input: unknown, ctx: ActionContext): ResourceDoc {
      if (doc.status !== from) {
        throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `a ${String(doc.status)} subscription cannot be ${to}; only a ${from} one can`, [
          { path: '/status', message: `is ${String(doc.status)}, not ${from}` },
        ]);
      }
      const reason = (input as { reason?: string }).reason ?? '';
      return { ...doc, status: to, reason, decided_at: ctx.now.toISOString(), decided_by: ctx.auth.principal.tokenId };
    },
  };
}

export const subscriptions: ResourceDef = {
  kind: 'subscriptions',
  path: 'subscriptions',
  singular: 'subscription',
  title: 'Subscription',
  create: SubscriptionCreate,
  update: SubscriptionUpdate,
  entity: Subscription,
  immutable: ['consumer_id', 'service_id'],
  nameOf: () => null,
  filters: { status: 'status', consumer_id: 'consumer_id', service_id: 'service_id', plan_id: 'plan_id' },
  unique(d) {
    const live = d.status === 'pending' || d.status === 'approved';
    return live ? [{ field: '/service_id', value: `${String(d.consumer_id)}:${String(d.service_id)}`, scope: 'tenant' }] : [];
  },
  references(d) {
    const refs: ReturnType<NonNullable<ResourceDef['references']>> = [
      { field: '/consumer_id', kind: 'consumers', id: String(d.consumer_id), onDelete: 'cascade' },
      { field: '/service_id', kind: 'services', id: String(d.service_id), onDelete: 'cascade' },
    ];
    if (typeof d.plan_id === 'string') refs.push({ field: '/plan_id', kind: 'plans', id: d.plan_id, onDelete: 'restrict' });
    return refs;
  },
  async initialize(d, ctx) {
    const consumer_id = String(d.consumer_id).toLowerCase();
    const service_id = String(d.service_id).toLowerCase();
    const plan_id = typeof d.plan_id === 'string' ? d.plan_id.toLowerCase() : null;
    let auto = false;
    if (plan_id) {
      const [plan] = await ctx.tx<{ approval: string }[]>`
        SELECT doc->>'approval' AS approval FROM resources WHERE id = ${plan_id} AND tenant_id = ${ctx.tenantId} AND kind = 'plans'`;
      auto = plan?.approval === 'auto';
    }
    return {
      ...d,
      consumer_id,
      service_id,
      plan_id,
      note: d.note ?? '',
      status: auto ? 'approved' : 'pending',
      reason: auto ? 'approved automatically by the plan' : '',
      decided_at: auto ? ctx.now.toISOString() : null,
      decided_by: null,
      tags: d.tags ?? [],
    };
  },
  actions: [
    transition('approve', 'pending', 'approved', 'Approves a pending subscription'),
    transition('reject', 'pending', 'rejected', 'Rejects a pending subscription'),
    transition('revoke', 'approved', 'revoked', 'Revokes an approved subscription'),
  ],
};
