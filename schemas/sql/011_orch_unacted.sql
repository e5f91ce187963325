-- 011: the scheduler's scans of finished-but-not-acted-on tasks walk this
-- index in id order (ORDER BY id LIMIT n); keyed by wave it made PostgreSQL
-- prefer walking the whole primary key instead.
DROP INDEX IF EXISTS tasks_unacted_idx;
CREATE INDEX tasks_unacted_idx ON tasks (id)
    WHERE acted_at IS NULL AND state IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED');
