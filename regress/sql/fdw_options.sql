-- Option validation of cdw_backup_fdw: every bad option gets a clear error with a hint.
CREATE EXTENSION cdw_backup_fdw;
\getenv abs_srcdir PG_ABS_SRCDIR
\set backups 'file://' :abs_srcdir '/backups'

-- A server needs a valid location.
CREATE SERVER no_location FOREIGN DATA WRAPPER cdw_backup_fdw;
CREATE SERVER bad_scheme FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'ftp://host/dir');
CREATE SERVER relative FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file://relative/dir');
CREATE SERVER dotdot FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file:///var/../etc');
CREATE SERVER typo FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (locaton 'file:///tmp');
-- Secrets are accepted only on user mappings.
CREATE SERVER leaky FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file:///tmp', secret_key 'x');
CREATE SERVER backups FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location :'backups');

-- Table options.
CREATE FOREIGN TABLE no_path (a int) SERVER backups;
CREATE FOREIGN TABLE bad_option (a int) SERVER backups OPTIONS (path 'a/', compresion 'gzip');
CREATE FOREIGN TABLE bad_compression (a int) SERVER backups OPTIONS (path 'a/', compression 'lz4');
CREATE FOREIGN TABLE bad_level (a int) SERVER backups OPTIONS (path 'a/', compression 'gzip', compression_level '13');
CREATE FOREIGN TABLE bad_format (a int) SERVER backups OPTIONS (path 'a/', format 'parquet');
CREATE FOREIGN TABLE bad_header (a int) SERVER backups OPTIONS (path 'a/', header 'maybe');
CREATE FOREIGN TABLE escaping (a int) SERVER backups OPTIONS (path '../outside/');
CREATE FOREIGN TABLE escaping2 (a int) SERVER backups OPTIONS (path 'a/../../outside/');
CREATE FOREIGN TABLE absolute (a int) SERVER backups OPTIONS (path '/etc/');
CREATE FOREIGN TABLE secret_on_table (a int) SERVER backups OPTIONS (path 'a/', secret_id 'x');
CREATE FOREIGN TABLE good (a int) SERVER backups OPTIONS (path 'a/', format 'csv', compression 'zstd', compression_level '3', header 'true');
ALTER FOREIGN TABLE good OPTIONS (SET compression 'brotli');
ALTER FOREIGN TABLE good OPTIONS (SET compression 'none');

-- User mapping options.
CREATE USER MAPPING FOR CURRENT_USER SERVER backups OPTIONS (password 'x');
CREATE USER MAPPING FOR CURRENT_USER SERVER backups OPTIONS (secret_id 'id', secret_key 'key');
-- Secrets in user mappings are not shown to other roles.
CREATE ROLE fdw_options_other;
SET ROLE fdw_options_other;
SELECT srvname, umoptions FROM pg_user_mappings WHERE srvname = 'backups';
RESET ROLE;
DROP USER MAPPING FOR CURRENT_USER SERVER backups;
DROP ROLE fdw_options_other;

-- The FDW itself takes no options.
ALTER FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file:///tmp');

-- Only INSERT is supported.
UPDATE good SET a = 1;
DELETE FROM good;

DROP EXTENSION cdw_backup_fdw CASCADE;
