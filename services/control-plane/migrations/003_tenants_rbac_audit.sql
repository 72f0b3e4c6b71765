-- Tenancy, RBAC and the audit log.
--
-- A tenant (team) owns configuration: every entity row carries `tenant_id`, and names are unique per
-- tenant. The data plane is shared: entity ids stay global uuids and the KV keys do not change. Existing
-- rows (and the bootstrap token) belong to the built-in tenant `default`.

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The built-in tenant: a fixed id, never renamed or deleted.
INSERT INTO tenants (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'default');

ALTER TABLE upstreams ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id);
ALTER TABLE services ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id);
ALTER TABLE routes ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id);
ALTER TABLE consumers ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id);
ALTER TABLE api_keys ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id);
-- Existing rows took the default above; new rows must name their tenant.
ALTER TABLE upstreams ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE services ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE routes ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE consumers ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE api_keys ALTER COLUMN tenant_id DROP DEFAULT;

-- Names are unique per tenant (two teams may both have an upstream called `billing`).
ALTER TABLE upstreams DROP CONSTRAINT upstreams_name_key;
ALTER TABLE upstreams ADD CONSTRAINT upstreams_tenant_name_key UNIQUE (tenant_id, name);
ALTER TABLE services DROP CONSTRAINT services_name_key;
ALTER TABLE services ADD CONSTRAINT services_tenant_name_key UNIQUE (tenant_id, name);
ALTER TABLE routes DROP CONSTRAINT routes_name_key;
ALTER TABLE routes ADD CONSTRAINT routes_tenant_name_key UNIQUE (tenant_id, name);
ALTER TABLE consumers DROP CONSTRAINT consumers_username_key;
ALTER TABLE consumers ADD CONSTRAINT consumers_tenant_username_key UNIQUE (tenant_id, username);
ALTER TABLE consumers DROP CONSTRAINT consumers_custom_id_key;
ALTER TABLE consumers ADD CONSTRAINT consumers_tenant_custom_id_key UNIQUE (tenant_id, custom_id);
-- api_keys.key_sha256 stays globally unique: the gateway looks a key up by its hash alone.
CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin', 'owner')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant_id ON memberships (tenant_id);

-- Admin tokens are principals: a superuser token (the bootstrap token), a user's token (the user's roles),
-- or a service token (one role in its tenant). `scopes` (null: none) further restricts what the role allows.
-- `tenant_id` is the token's home tenant: where it is listed and managed.
ALTER TABLE admin_tokens
  ADD COLUMN seq bigserial NOT NULL UNIQUE,
  ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES tenants (id) ON DELETE CASCADE,
  ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  ADD COLUMN role text CHECK (role IN ('viewer', 'editor', 'admin', 'owner')),
  ADD COLUMN superuser boolean NOT NULL DEFAULT false,
  ADD COLUMN scopes jsonb,
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN created_by uuid,
  ADD COLUMN prefix varchar(8) NOT NULL DEFAULT '';
-- Every token that exists before tenancy is the bootstrap token.
UPDATE admin_tokens SET superuser = true;
ALTER TABLE admin_tokens ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE admin_tokens ADD CONSTRAINT admin_tokens_principal CHECK (
  (superuser AND user_id IS NULL AND role IS NULL)
  OR (NOT superuser AND user_id IS NOT NULL AND role IS NULL)
  OR (NOT superuser AND user_id IS NULL AND role IS NOT NULL));
CREATE INDEX admin_tokens_tenant_id ON admin_tokens (tenant_id, seq);

-- One row per admin write, in the write's own transaction. `before`/`after` never hold secrets (API key
-- material, token hashes). No foreign keys: the log outlives what it describes.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  tenant_id uuid,
  actor_token_id uuid,
  actor_user_id uuid,
  action text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  before jsonb,
  after jsonb,
  request_id text
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id);
