-- 020: what the real provider and validation drivers record per server.
--   test_instance_*  the isolated test instance (launch_test), terminated
--                    after the test / at decommission;
--   instance_*       the cutover instance (launch_cutover), the server's new home;
--   validation       the last validate step's probe report
--                    ({"ok":…,"probes":[{"name","type","ok","detail","elapsed_ms"}]}).
-- disks.cloud_volume_id maps a replicated volume (disks.target_volume, the
-- receiver's image) to the provider's volume id (an EBS volume for aws).
ALTER TABLE servers ADD COLUMN test_instance_id text NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN test_instance_address text NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN instance_id text NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN instance_address text NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN validation jsonb;
ALTER TABLE disks ADD COLUMN cloud_volume_id text NOT NULL DEFAULT '';
