-- WebSocket APIs (issue 10): a `websocket-api` service names no single upstream (each route may name its
-- own, checked by reference and by the upstream delete's in-use check), so `upstream_id` stays NULL.
ALTER TABLE services DROP CONSTRAINT services_integration_target;
ALTER TABLE services ADD CONSTRAINT services_integration_target CHECK (
  (integration IS NULL AND upstream_id IS NOT NULL)
  OR (integration->>'type' = 'websocket' AND upstream_id IS NOT NULL AND upstream_id::text = integration->>'upstream_id')
  OR (integration->>'type' IN ('lambda', 'ai', 'websocket-api') AND upstream_id IS NULL)
);
