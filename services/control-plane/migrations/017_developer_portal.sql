-- Developer portal (issue 11). A developer account belongs to one tenant and IS a consumer there: its
-- primary key is the consumer's id, so deleting the consumer (admin API) deletes the account and its
-- sessions. Passwords: scrypt with a per-account salt (`password_params` names the cost, so it can be
-- raised later and old hashes still verified). Sessions are stored as the SHA-256 of their token only.
CREATE TABLE portal_settings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  -- Whether anyone may sign up in this tenant (`open`) or not (`closed`, the default: an operator opts in).
  signup text NOT NULL DEFAULT 'closed' CHECK (signup IN ('open', 'closed')),
  -- Base URL of the gateway that the portal's "try it" sends requests through; NULL: TP_PORTAL_GATEWAY_URL.
  gateway_url text,
  version bigint NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE developers (
  consumer_id uuid PRIMARY KEY REFERENCES consumers (id) ON DELETE CASCADE,
  seq bigserial NOT NULL UNIQUE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Lower-cased; unique per tenant (the same person may hold accounts in two tenants).
  email text NOT NULL,
  display_name text NOT NULL,
  password_params text NOT NULL,
  password_salt bytea NOT NULL,
  password_hash bytea NOT NULL,
  -- Consecutive failed sign-ins; reset by a successful one. From the limit on, the account is locked
  -- until `locked_until` (sign-in answers 429 without looking at the password).
  failed_signins integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, email)
);

CREATE TABLE developer_sessions (
  id uuid PRIMARY KEY,
  consumer_id uuid NOT NULL REFERENCES developers (consumer_id) ON DELETE CASCADE,
  token_sha256 text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX developer_sessions_consumer ON developer_sessions (consumer_id);
CREATE INDEX developer_sessions_expires ON developer_sessions (expires_at);
