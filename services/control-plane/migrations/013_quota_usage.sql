-- Issue 7, usage plans. Requests counted per consumer and service in each period (UTC day, ISO week, calendar
-- month) of the subscription's plan quotas, aggregated by the control plane from the gateway call-log stream
-- (src/quota/). `quota_batches` holds the id of every call-log batch already counted (the gateway's JetStream
-- msgID), in the same transaction as the counts: a batch redelivered after a crash or replayed from a node's
-- spool is counted once. Batch ids are pruned after the calls stream's retention (7 days) plus a margin.
CREATE TABLE quota_usage (
  consumer_id uuid NOT NULL,
  service_id uuid NOT NULL,
  period text NOT NULL CHECK (period IN ('day', 'week', 'month')),
  period_start timestamptz NOT NULL,
  tenant_id uuid NOT NULL,
  -- The plan of the subscription when the period was last counted (usage follows the pair across plan changes).
  plan_id uuid,
  requests bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (consumer_id, service_id, period, period_start)
);
CREATE INDEX quota_usage_tenant_consumer ON quota_usage (tenant_id, consumer_id);

CREATE TABLE quota_batches (
  batch_id text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_batches_applied_at ON quota_batches (applied_at);
