-- Issue 9, AI budgets: a generic resource kind (rows in `resources`, kind 'ai_budgets'), published to the
-- config bucket as `ai_budgets.<id>`, so the outbox accepts the kind. The ledger of what each budget spent
-- is not here: gateway nodes keep it in NATS KV (no database on the hot path).
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'upstreams', 'services', 'routes', 'consumers', 'keys',
  'consumer_groups', 'credentials', 'plans', 'subscriptions', 'plugins', 'ai_providers', 'prompt_templates',
  'certificates', 'openapi_docs', 'ai_budgets'));
