-- The control-plane extension.
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_version() = extversion AS version_matches FROM pg_extension WHERE extname = 'cdw_backup';
DROP EXTENSION cdw_backup;
