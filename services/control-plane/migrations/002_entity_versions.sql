-- REST behaviour clients expect: optimistic concurrency, idempotent creates, filtered lists.
--
-- `version` counts the writes of one entity (1 on create, +1 on every update). It is the entity's ETag and
-- what `If-Match` / gRPC `expected_version` compare against. It differs from `revision`, which is the
-- cluster-wide config revision of the entity's last write and jumps with every other entity's writes.
ALTER TABLE upstreams ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE services ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE routes ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE consumers ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- `?tag=` filters with `tags @> '["x"]'`.
CREATE INDEX upstreams_tags ON upstreams USING gin (tags jsonb_path_ops);
CREATE INDEX services_tags ON services USING gin (tags jsonb_path_ops);
CREATE INDEX routes_tags ON routes USING gin (tags jsonb_path_ops);
CREATE INDEX consumers_tags ON consumers USING gin (tags jsonb_path_ops);

-- The first successful response to a POST carrying `Idempotency-Key`, per admin token (`principal` is the
-- admin token's id, so two tokens never see each other's keys). The row is written in the same transaction
-- as the entity it describes, so a key is either absent or points at a committed entity. Rows older than
-- 24 hours are ignored by lookups, reused by a new request with the same key, and deleted by the reconciler.
CREATE TABLE idempotency_keys (
  principal uuid NOT NULL,
  key text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  -- SHA-256 (hex) of the request body in canonical JSON (object keys sorted).
  request_sha256 char(64) NOT NULL,
  response_status integer NOT NULL,
  response_headers jsonb NOT NULL DEFAULT '{}',
  -- Secrets are redacted before storing (an API key's clear `key` is never kept).
  response_body jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
