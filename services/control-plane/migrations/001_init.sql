-- Foundation schema: configuration entities, admin tokens, the config revision and the outbox.
-- Every entity row carries `revision`: the config revision of its last write (the envelope's revision),
-- and `seq`: creation order, used as the list cursor.

CREATE TABLE config_revision (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  revision bigint NOT NULL DEFAULT 0
);
INSERT INTO config_revision (id, revision) VALUES (true, 0);

CREATE TABLE upstreams (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  scheme text NOT NULL,
  targets jsonb NOT NULL,
  connect_timeout_ms integer NOT NULL,
  read_timeout_ms integer NOT NULL,
  tags jsonb NOT NULL DEFAULT '[]',
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE services (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  upstream_id uuid NOT NULL REFERENCES upstreams (id) ON DELETE RESTRICT,
  base_path text NOT NULL DEFAULT '',
  tags jsonb NOT NULL DEFAULT '[]',
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX services_upstream_id ON services (upstream_id);

CREATE TABLE routes (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  service_id uuid NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
  hosts jsonb NOT NULL DEFAULT '[]',
  paths jsonb NOT NULL,
  -- Paths normalized for conflict detection (param names erased, trailing slash dropped).
  norm_paths text[] NOT NULL,
  methods jsonb NOT NULL DEFAULT '[]',
  strip_path boolean NOT NULL DEFAULT false,
  priority integer NOT NULL DEFAULT 0,
  plugins jsonb NOT NULL DEFAULT '{}',
  tags jsonb NOT NULL DEFAULT '[]',
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX routes_service_id ON routes (service_id);
CREATE INDEX routes_norm_paths ON routes USING gin (norm_paths);

CREATE TABLE consumers (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  username text NOT NULL UNIQUE,
  custom_id text UNIQUE,
  tags jsonb NOT NULL DEFAULT '[]',
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Only the SHA-256 (hex) of a key is stored; `prefix` (first 8 chars) lets people tell keys apart.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  consumer_id uuid NOT NULL REFERENCES consumers (id) ON DELETE RESTRICT,
  name text,
  key_sha256 char(64) NOT NULL UNIQUE,
  prefix varchar(8) NOT NULL,
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX api_keys_consumer_id ON api_keys (consumer_id);

CREATE TABLE admin_tokens (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  token_sha256 char(64) NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  revision bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('upstreams', 'services', 'routes', 'consumers', 'keys')),
  entity_id uuid NOT NULL,
  op text NOT NULL CHECK (op IN ('put', 'del')),
  payload jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (revision, id) WHERE published_at IS NULL;
