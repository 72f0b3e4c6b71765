-- TLS certificates (generic resource kind `certificates`, issue 5): no table of their own, but the outbox
-- must accept the kind. Upstreams reference one in policies.tls.client_certificate_id; deleting a referenced
-- certificate is refused by the service layer, which finds them through this index.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'upstreams', 'services', 'routes', 'consumers', 'keys',
  'consumer_groups', 'credentials', 'plans', 'subscriptions', 'plugins', 'ai_providers', 'prompt_templates',
  'certificates'));
CREATE INDEX upstreams_client_certificate ON upstreams ((policies -> 'tls' ->> 'client_certificate_id'))
  WHERE policies -> 'tls' ? 'client_certificate_id';
