-- 001: waves and the server inventory (docs/architecture.md "Data model").
-- Applied once by `wavemill db migrate`, recorded in schema_migrations.

CREATE TABLE waves (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (name <> ''),
    -- CREATED (planned), RUNNING, PAUSED, DONE, FAILED
    status           text NOT NULL DEFAULT 'CREATED'
                     CHECK (status IN ('CREATED', 'RUNNING', 'PAUSED', 'DONE', 'FAILED')),
    priority         integer NOT NULL DEFAULT 0,       -- higher runs first
    max_parallel     integer NOT NULL DEFAULT 10 CHECK (max_parallel > 0),   -- servers replicating at once
    max_launching    integer NOT NULL DEFAULT 10 CHECK (max_launching > 0),  -- servers launching at once
    build_start_at   timestamptz,                      -- stage dates (planning)
    test_start_at    timestamptz,
    cutover_at       timestamptz,                      -- cutover window opens
    started_at       timestamptz,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE applications (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    wave_id     bigint REFERENCES waves(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
    id                       bigserial PRIMARY KEY,
    name                     text NOT NULL UNIQUE CHECK (name <> ''),
    wave_id                  bigint NOT NULL REFERENCES waves(id),
    application_id           bigint REFERENCES applications(id),
    fqdn                     text NOT NULL DEFAULT '',
    os_family                text NOT NULL DEFAULT '',
    os_version               text NOT NULL DEFAULT '',
    source_host              text NOT NULL DEFAULT '',
    source_port              integer NOT NULL DEFAULT 22 CHECK (source_port BETWEEN 1 AND 65535),
    source_user              text NOT NULL DEFAULT '',
    credential               text NOT NULL DEFAULT '',   -- name in credentials, never the secret
    target_provider          text NOT NULL DEFAULT 'sim',
    instance_type            text NOT NULL DEFAULT '',
    subnet_id                text NOT NULL DEFAULT '',
    security_group_ids       text[] NOT NULL DEFAULT '{}',
    test_security_group_ids  text[] NOT NULL DEFAULT '{}',
    tags                     jsonb NOT NULL DEFAULT '{}',
    settings                 jsonb NOT NULL DEFAULT '{}', -- driver options (commands, probes, …)
    lifecycle                text NOT NULL DEFAULT 'NOT_READY'
                             CHECK (lifecycle IN ('NOT_READY', 'READY_FOR_TEST', 'TESTING',
                                    'READY_FOR_CUTOVER', 'CUTTING_OVER', 'CUTOVER',
                                    'POST_MIGRATION', 'DONE', 'FAILED', 'PAUSED')),
    replication_state        text NOT NULL DEFAULT 'INITIATING'
                             CHECK (replication_state IN ('INITIATING', 'INITIAL_SYNC', 'CONTINUOUS',
                                    'PAUSED', 'STALLED', 'ERROR')),
    -- the pipeline step the server is at (a task kind), NULL before the first
    current_step             text,
    last_delta_at            timestamptz,
    error                    text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX servers_wave_idx ON servers (wave_id, lifecycle);

CREATE TABLE disks (
    id                  bigserial PRIMARY KEY,
    server_id           bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    source_path         text NOT NULL CHECK (source_path <> ''),
    size_bytes          bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    block_size          integer NOT NULL DEFAULT 4096 CHECK (block_size > 0),
    generation          bigint NOT NULL DEFAULT 0,        -- last committed sync generation
    replicated_bytes    bigint NOT NULL DEFAULT 0,
    backlog_bytes       bigint NOT NULL DEFAULT 0,
    rate_bytes_per_s    bigint NOT NULL DEFAULT 0,
    replication_state   text NOT NULL DEFAULT 'INITIATING'
                        CHECK (replication_state IN ('INITIATING', 'INITIAL_SYNC', 'CONTINUOUS',
                               'PAUSED', 'STALLED', 'ERROR')),
    last_sync_at        timestamptz,
    target_volume       text NOT NULL DEFAULT '',         -- receiver volume name / cloud volume id
    UNIQUE (server_id, source_path)
);

CREATE TABLE credentials (
    name        text PRIMARY KEY CHECK (name <> ''),
    key_id      text NOT NULL,             -- which master key sealed it
    nonce       bytea NOT NULL,            -- AES-256-GCM nonce (12 bytes)
    ciphertext  bytea NOT NULL,            -- value || tag
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,             -- OS user running the CLI, or a daemon id
    action      text NOT NULL,             -- "wave.start", "server.retry", "import", …
    wave        text,
    server      text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
