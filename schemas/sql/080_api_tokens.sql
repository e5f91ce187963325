-- API tokens and who did what (issue 13).
--
-- A token is shown once, when it is created, as "wm_<id>_<secret>"; only
-- the SHA-256 of the secret is stored, so a database dump lets nobody act.
-- Roles, each including the one before: viewer (reads), operator (acts on
-- waves and servers), admin (manages tokens, credentials and settings).
-- A token stops working when revoked (revoked_at set) or expired
-- (expires_at passed); rows are never deleted, so audit rows keep a name.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    expires_at   timestamptz,               -- NULL: does not expire
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- The identity behind an audit row: which front end (cli, api, a daemon)
-- and, for the API, which token.  actor stays the human-readable name
-- ("token:alice" or the OS user of the CLI).
ALTER TABLE audit_log
    ADD COLUMN source   text NOT NULL DEFAULT 'cli'
        CHECK (source IN ('cli', 'api', 'scheduler', 'worker')),
    ADD COLUMN token_id bigint REFERENCES api_tokens (id),
    ADD COLUMN result   text NOT NULL DEFAULT 'ok'
        CHECK (result IN ('ok', 'refused', 'failed'));
CREATE INDEX audit_log_token_idx ON audit_log (token_id) WHERE token_id IS NOT NULL;
