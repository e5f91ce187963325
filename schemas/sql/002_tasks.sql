-- 002: tasks, their history, and the outbox that publishes them.

CREATE TABLE tasks (
    id             bigserial PRIMARY KEY,
    server_id      bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    wave_id        bigint NOT NULL REFERENCES waves(id),
    kind           text NOT NULL,
    -- PENDING (waiting for not_before / window), QUEUED (published),
    -- RUNNING (claimed, lease held), SUCCEEDED, FAILED (attempt failed,
    -- retry scheduled or out of attempts), SKIPPED, CANCELLED
    state          text NOT NULL DEFAULT 'PENDING'
                   CHECK (state IN ('PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED',
                                    'SKIPPED', 'CANCELLED')),
    attempt        integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts   integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    not_before     timestamptz NOT NULL DEFAULT now(),
    deadline       timestamptz,
    lease_owner    text,
    lease_expires  timestamptz,
    checkpoint     jsonb NOT NULL DEFAULT '{}',
    params         jsonb NOT NULL DEFAULT '{}',
    error          text,
    published_at   timestamptz,
    claimed_at     timestamptz,
    finished_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_server_idx ON tasks (server_id, kind);
CREATE INDEX tasks_live_idx ON tasks (state, not_before) WHERE state IN ('PENDING', 'QUEUED', 'RUNNING');
-- at most one live task of a kind per server
CREATE UNIQUE INDEX tasks_one_live_per_kind ON tasks (server_id, kind)
    WHERE state IN ('PENDING', 'QUEUED', 'RUNNING');

CREATE TABLE task_events (
    id          bigserial PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL,
    actor       text NOT NULL,             -- "scheduler:<id>", "worker:<id>", "cli"
    message     text
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

-- Transactional outbox: a row is written in the same transaction that
-- creates or re-queues a task; a publisher sends it to Kafka and deletes it
-- after the broker acknowledged.  A crash between the two re-sends, and the
-- worker's conditional claim on (task id, attempt) drops the duplicate.
CREATE TABLE task_outbox (
    id          bigserial PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    topic       text NOT NULL,             -- logical name: wm.tasks.control / wm.tasks.replication
    created_at  timestamptz NOT NULL DEFAULT now()
);
