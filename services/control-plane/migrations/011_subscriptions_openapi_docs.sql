-- Issue 6. `subscription_required`: the gateway refuses (403) a consumer without an approved subscription
-- to such a service. `openapi_revision`: the config revision at which the service's OpenAPI document last
-- changed (NULL while it has none); the document travels to the data plane under its own key
-- `openapi_docs.<service id>` (for request validation), whose envelope carries this revision, so a service
-- change that leaves the document alone neither republishes it nor looks like drift to the reconciler.
ALTER TABLE services ADD COLUMN subscription_required boolean NOT NULL DEFAULT false;
ALTER TABLE services ADD COLUMN openapi_revision bigint;
UPDATE services SET openapi_revision = revision WHERE openapi IS NOT NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'upstreams', 'services', 'routes', 'consumers', 'keys',
  'consumer_groups', 'credentials', 'plans', 'subscriptions', 'plugins', 'ai_providers', 'prompt_templates',
  'certificates', 'openapi_docs'));
