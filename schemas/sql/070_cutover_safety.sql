-- 070: cutover that cannot strand a server (docs/architecture.md "Lifecycles").
--   servers.approved_at    the operator marked the server ready for cutover
--                          (`server approve`); needed when the wave requires it
--   servers.cutover_hold   a rolled-back or reverted server waits for a new
--                          approval before its cutover runs again
--   servers.finalized_at   the operator accepted the cutover (`server finalize`):
--                          decommission (agent removed, test instances
--                          cleaned) may run
--   servers.source_down_at when shutdown_source succeeded: from then on
--                          nothing rolls back automatically
--   waves.require_approval servers wait for `approve` before cutover
--   waves.source_shutdown  after_validate (default) or after_final_delta
--   waves.finalize_after   soak before an automatic finalize; NULL: only the
--                          operator's `finalize`
--   tasks.error_permanent  the handler said the failure will not go away by
--                          retrying (configuration, authentication, bad
--                          input, validation): no retry
--   tasks.lost_leases      attempts lost with their worker (not counted as
--                          attempts; bounded against poison tasks)
ALTER TABLE servers DROP CONSTRAINT servers_lifecycle_check;
ALTER TABLE servers ADD CONSTRAINT servers_lifecycle_check
    CHECK (lifecycle IN ('NOT_READY', 'READY_FOR_TEST', 'TESTING', 'READY_FOR_CUTOVER',
                         'CUTTING_OVER', 'CUTOVER', 'POST_MIGRATION', 'DONE', 'FAILED',
                         'PAUSED', 'ROLLING_BACK'));
ALTER TABLE servers ADD COLUMN approved_at timestamptz;
ALTER TABLE servers ADD COLUMN cutover_hold boolean NOT NULL DEFAULT false;
ALTER TABLE servers ADD COLUMN finalized_at timestamptz;
ALTER TABLE servers ADD COLUMN source_down_at timestamptz;

ALTER TABLE waves ADD COLUMN require_approval boolean NOT NULL DEFAULT false;
ALTER TABLE waves ADD COLUMN source_shutdown text NOT NULL DEFAULT 'after_validate'
    CHECK (source_shutdown IN ('after_validate', 'after_final_delta'));
ALTER TABLE waves ADD COLUMN finalize_after interval DEFAULT interval '0';

ALTER TABLE tasks ADD COLUMN error_permanent boolean NOT NULL DEFAULT false;
ALTER TABLE tasks ADD COLUMN lost_leases integer NOT NULL DEFAULT 0;

-- Live workers, from their heartbeats (`wavemill worker list`).
CREATE TABLE workers (
    id          text PRIMARY KEY,
    host        text NOT NULL DEFAULT '',
    pid         integer NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now()
);
