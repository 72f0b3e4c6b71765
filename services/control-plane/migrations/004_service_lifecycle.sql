-- Service lifecycle, API version label, sunset date, catalog visibility and the attached OpenAPI document.
--
-- Existing services become `published` (they routed before, and keep routing). `api_version` is the API's
-- own label: `version` is already the row's optimistic-concurrency counter. The OpenAPI document lives
-- here only; it is never part of the data-plane envelope.
ALTER TABLE services
  ADD COLUMN lifecycle text NOT NULL DEFAULT 'published' CHECK (lifecycle IN ('draft', 'published', 'deprecated', 'retired')),
  ADD COLUMN api_version text NOT NULL DEFAULT '',
  ADD COLUMN sunset_at timestamptz,
  ADD COLUMN catalog_visibility text NOT NULL DEFAULT 'private' CHECK (catalog_visibility IN ('public', 'private')),
  ADD COLUMN openapi jsonb;
