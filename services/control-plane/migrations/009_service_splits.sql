-- Canary and weighted splits of an http service over other upstreams (issue 5): `[{upstream_id, weight,
-- header?}]`, validated by the API schema and checked against the tenant's upstreams on write. One jsonb
-- column, read and written whole with its service; the GIN index serves the delete-in-use check
-- (`splits @> '[{"upstream_id": ...}]'`) that keeps an upstream a split names from being deleted.
ALTER TABLE services ADD COLUMN splits jsonb NOT NULL DEFAULT '[]';
CREATE INDEX services_splits_upstreams ON services USING gin (splits jsonb_path_ops);
