-- Upstream policies (balancing algorithm, hashing, overall timeout, retries, health checks, circuit breaker,
-- TLS) and service integrations (http | lambda | websocket | ai).
--
-- `algorithm` and `total_timeout_ms` are scalars with their own columns (a CHECK keeps `algorithm` honest,
-- and both are cheap to filter on). The nested policy objects share one jsonb column, `policies`: they are
-- only ever read and written whole together with their upstream, never queried by SQL, validated by the
-- API schema before they get here, and will grow fields as the gateway starts enforcing them; a column per
-- sub-field would cost a migration each time for no query that needs it. Existing rows get '{}', which reads
-- back as the defaults (round-robin, no retries, no health checks, no circuit breaker, TLS verified): the
-- behaviour they had.
ALTER TABLE upstreams
  ADD COLUMN algorithm text NOT NULL DEFAULT 'round-robin'
    CHECK (algorithm IN ('round-robin', 'least-connections', 'consistent-hash', 'random')),
  ADD COLUMN total_timeout_ms integer CHECK (total_timeout_ms IS NULL OR total_timeout_ms > 0),
  ADD COLUMN policies jsonb NOT NULL DEFAULT '{}';

-- An http service keeps its upstream in `upstream_id` with `integration` NULL (every existing row, unchanged).
-- Other integrations live in `integration`; a websocket one also copies its upstream into `upstream_id`, so
-- that the foreign key and the delete-in-use check protect that upstream exactly as for http services.
ALTER TABLE services
  ALTER COLUMN upstream_id DROP NOT NULL,
  ADD COLUMN integration jsonb;
ALTER TABLE services ADD CONSTRAINT services_integration_target CHECK (
  (integration IS NULL AND upstream_id IS NOT NULL)
  OR (integration->>'type' = 'websocket' AND upstream_id IS NOT NULL AND upstream_id::text = integration->>'upstream_id')
  OR (integration->>'type' IN ('lambda', 'ai') AND upstream_id IS NULL)
);
