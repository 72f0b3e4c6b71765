import { Type, type Static } from '@sinclair/typebox';
import { Id, Tags, Timestamps } from './common.js';

/**
 * A consumer's access to a service: requested (`pending`), then `approved` or `rejected`; an approved one
 * may later be `revoked`. Rejected and revoked are final: ask again with a new subscription.
 */
export const SubscriptionStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('approved'),
  Type.Literal('rejected'),
  Type.Literal('revoked'),
]);
export type SubscriptionStatus = Static<typeof SubscriptionStatus>;

export const SubscriptionCreate = Type.Object(
  {
    consumer_id: Id,
    service_id: Id,
    /** The usage plan; its `approval` decides whether the request is approved at once. */
    plan_id: Type.Optional(Type.Union([Id, Type.Null()])),
    /** Why access is wanted (shown to the approver). */
    note: Type.Optional(Type.String({ maxLength: 2048 })),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type SubscriptionCreate = Static<typeof SubscriptionCreate>;
/** Only the plan, note and tags change by update; the status changes by the approve/reject/revoke actions. */
export const SubscriptionUpdate = Type.Object(
  {
    plan_id: Type.Optional(Type.Union([Id, Type.Null()])),
    note: Type.Optional(Type.String({ maxLength: 2048 })),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);

export const SubscriptionDecision = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 2048 })) },
  { additionalProperties: false },
);
export type SubscriptionDecision = Static<typeof SubscriptionDecision>;

export const Subscription = Type.Object({
  id: Id,
  consumer_id: Id,
  service_id: Id,
  plan_id: Type.Union([Id, Type.Null()]),
  note: Type.String(),
  status: SubscriptionStatus,
  /** The reason given with the last decision. */
  reason: Type.String(),
  decided_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  /** The admin token (id) that made the last decision; null while pending or when approved automatically. */
  decided_by: Type.Union([Id, Type.Null()]),
  tags: Tags,
  ...Timestamps,
});
export type Subscription = Static<typeof Subscription>;
