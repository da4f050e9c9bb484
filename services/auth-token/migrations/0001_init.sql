-- Orgs, their API keys (hashed), and the keys that sign temporary tokens.

-- An org owns itself: its row is visible to its own transactions (and to system transactions).
CREATE TABLE orgs (
    org_id      text        PRIMARY KEY,
    name        text        NOT NULL,
    plan        text        NOT NULL CHECK (plan IN ('standard', 'professional', 'enterprise', 'test')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys ("permanent tokens"): only the hex SHA-256 of the secret is kept, never the secret.
CREATE TABLE api_keys (
    id             text        PRIMARY KEY,
    org_id         text        NOT NULL REFERENCES orgs (org_id) ON DELETE RESTRICT,
    name           text        NOT NULL,
    role           text        NOT NULL CHECK (role IN ('admin', 'manager', 'technician', 'leasing_agent',
                                                        'accountant', 'partner')),
    scopes         text[]      NOT NULL DEFAULT '{}',
    prefix         text        NOT NULL,
    secret_sha256  char(64)    NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX api_keys_org_created ON api_keys (org_id, created_at DESC, id);

SELECT enable_org_rls('orgs');
SELECT enable_org_rls('api_keys');

-- Platform-wide (not org-owned): Ed25519 keys for temporary tokens when none are configured.
-- The newest key with retired_at NULL signs; retired keys stay published until their tokens expire.
CREATE TABLE signing_keys (
    kid          text        PRIMARY KEY,
    private_pem  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    retired_at   timestamptz
);
CREATE INDEX signing_keys_created ON signing_keys (created_at DESC);
