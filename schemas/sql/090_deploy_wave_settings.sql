-- 090: per-wave settings, the defaults of every server of the wave
-- (common/srvset.h lists the keys).  A server's own settings win key by key:
-- the effective settings of a server are waves.settings || servers.settings.
ALTER TABLE waves ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
