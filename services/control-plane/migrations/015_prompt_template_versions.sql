-- Issue 9, versioned prompt templates. Every write of a template that changes what the model is sent
-- (messages, variables, parameters, model, provider_id) records a new immutable version here, numbered
-- 1, 2, 3 … per template; the template's doc shows the current one (`version`) and how many exist
-- (`versions_count`). Services may pin a version (integration.prompt_template_version). Versions go with
-- their template (a template is not deleted while a service names it). The foreign key is checked at
-- commit, so the first version can be written in the same statement sequence as its template row.
CREATE TABLE prompt_template_versions (
  template_id uuid NOT NULL REFERENCES resources (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  version integer NOT NULL CHECK (version >= 1),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  -- { messages, variables, parameters, model, provider_id }: the content the version pins.
  content jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (template_id, version)
);

-- Templates written before versions existed become version 1 of themselves.
INSERT INTO prompt_template_versions (template_id, version, tenant_id, content, created_at)
SELECT id, 1, tenant_id,
       jsonb_build_object('messages', doc->'messages', 'variables', COALESCE(doc->'variables', '[]'::jsonb),
                          'parameters', COALESCE(doc->'parameters', '{}'::jsonb), 'model', COALESCE(doc->'model', 'null'::jsonb),
                          'provider_id', COALESCE(doc->'provider_id', 'null'::jsonb)),
       updated_at
FROM resources WHERE kind = 'prompt_templates';
UPDATE resources SET doc = doc || '{"version": 1, "versions_count": 1}'::jsonb WHERE kind = 'prompt_templates';
