-- Reading and writing server files needs the same roles as COPY and file_fdw.
CREATE EXTENSION cdw_backup_fdw;
\getenv abs_srcdir PG_ABS_SRCDIR
\set backups 'file://' :abs_srcdir '/backups'
CREATE SERVER backups FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location :'backups');
CREATE FOREIGN TABLE perm_ext (a int) SERVER backups OPTIONS (path 'perm/');
INSERT INTO perm_ext VALUES (1);

CREATE ROLE backup_user;
GRANT USAGE ON FOREIGN SERVER backups TO backup_user;
GRANT SELECT, INSERT ON perm_ext TO backup_user;
SET ROLE backup_user;
INSERT INTO perm_ext VALUES (2);
SELECT * FROM perm_ext;
-- Without the pg_*_server_files roles a non-superuser cannot create a file:// server either.
CREATE SERVER mine FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file:///tmp');
RESET ROLE;

GRANT pg_write_server_files TO backup_user;
SET ROLE backup_user;
INSERT INTO perm_ext VALUES (2);
SELECT * FROM perm_ext;
RESET ROLE;
GRANT pg_read_server_files TO backup_user;
SET ROLE backup_user;
SELECT * FROM perm_ext ORDER BY a;
RESET ROLE;

DROP EXTENSION cdw_backup_fdw CASCADE;
DROP ROLE backup_user;
