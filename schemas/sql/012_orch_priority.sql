-- 012: the wave's priority copied onto its tasks when they are created, so
-- the scheduler can take the next due tasks in priority order straight
-- from an index instead of sorting every pending task of its waves on each
-- pass.  (waves.priority is set when a wave is created.)
ALTER TABLE tasks ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE INDEX tasks_pending_order_idx ON tasks (priority DESC, not_before, id)
    WHERE state = 'PENDING';
