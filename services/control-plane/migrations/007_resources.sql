-- The generic resource store: consumer groups, credentials (JWT, HMAC, basic), plans, subscriptions,
-- plugins, AI providers and prompt templates. Their shapes live in @turnpike/common schemas and are
-- validated by the service layer, so one table holds them all: `doc` is the public JSON (what the API
-- returns, without id and timestamps), `material` the secret part (sealed with the keyring or hashed;
-- never returned). Integrity that a per-kind table would get from constraints comes from:
--   * `unique_key`: per kind, either `<tenant id>:<value>` (unique in the tenant) or `*:<value>` (unique
--     across tenants, for identifiers the data plane looks credentials up by); one row per key value.
--   * `resource_refs`: every reference a resource makes (to another resource or to a core entity), checked
--     on write and consulted on delete (cascade or refuse, per reference).
CREATE TABLE resources (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  kind text NOT NULL,
  name text,
  parent_id uuid,
  doc jsonb NOT NULL,
  material jsonb,
  revision bigint NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX resources_list ON resources (tenant_id, kind, seq);
CREATE INDEX resources_parent ON resources (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX resources_doc ON resources USING gin (doc jsonb_path_ops);

CREATE TABLE resource_unique_keys (
  kind text NOT NULL,
  unique_key text NOT NULL,
  resource_id uuid NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
  field text NOT NULL,
  PRIMARY KEY (kind, unique_key)
);
CREATE INDEX resource_unique_keys_resource ON resource_unique_keys (resource_id);

CREATE TABLE resource_refs (
  from_id uuid NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
  field text NOT NULL,
  to_kind text NOT NULL,
  to_id uuid NOT NULL,
  on_delete text NOT NULL CHECK (on_delete IN ('cascade', 'restrict')),
  PRIMARY KEY (from_id, field, to_id)
);
CREATE INDEX resource_refs_to ON resource_refs (to_id);

-- Consumer group membership: a consumer lists its groups (ids of `consumer_groups` resources).
ALTER TABLE consumers ADD COLUMN group_ids jsonb NOT NULL DEFAULT '[]';

-- The outbox carries every kind the config bus holds.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'upstreams', 'services', 'routes', 'consumers', 'keys',
  'consumer_groups', 'credentials', 'plans', 'subscriptions', 'plugins', 'ai_providers', 'prompt_templates'));
