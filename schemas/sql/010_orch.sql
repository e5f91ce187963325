-- 010: orchestration bookkeeping (wavemill-scheduler / wavemill-worker).

-- When the scheduler acted on a task's terminal state (issued the next step,
-- scheduled a retry or failed the server).  NULL = not acted on yet; the
-- scheduler's reaction time is acted_at - finished_at.
ALTER TABLE tasks ADD COLUMN acted_at timestamptz;
-- Progress reported by the worker running the task (replication bytes).
ALTER TABLE tasks ADD COLUMN bytes_done bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN bytes_total bigint NOT NULL DEFAULT 0;

-- the scheduler's "what finished and is not acted on yet" scan
CREATE INDEX tasks_unacted_idx ON tasks (wave_id, id)
    WHERE acted_at IS NULL AND state IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED');
-- expired leases and live tasks per wave
CREATE INDEX tasks_wave_live_idx ON tasks (wave_id, state)
    WHERE state IN ('PENDING', 'QUEUED', 'RUNNING');
CREATE INDEX task_outbox_task_idx ON task_outbox (task_id);
