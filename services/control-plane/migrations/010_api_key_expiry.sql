-- API key expiry (issue 6): from `expires_at` on, the gateway refuses the key (401 TP_ERR_AUTH_KEY_EXPIRED).
-- NULL: the key never expires. Rotation with overlap: create the consumer's new key, then give the old one
-- an expires_at (PATCH /v1/consumers/{id}/keys/{keyId}) far enough out for its clients to switch.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
