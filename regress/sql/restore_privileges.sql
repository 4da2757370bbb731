-- A restore by an operator that is not a superuser (issue 15, case 14):
-- without CREATE on the destination database it restores into an existing
-- schema; without CONNECT it is refused with the reason and the GRANT.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/restore_privileges'
CREATE EXTENSION cdw_backup;
CREATE ROLE cdw_regress_restorer LOGIN;
GRANT cdw_backup_operator, pg_write_server_files, pg_read_server_files TO cdw_regress_restorer;
CREATE DATABASE cdw_regress_priv_source;
CREATE DATABASE cdw_regress_priv_dest;
\c cdw_regress_priv_source
-- A role that is not a superuser cannot create the FDW's extension itself.
CREATE EXTENSION cdw_backup_fdw;
CREATE TABLE t (id int NOT NULL, v text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
GRANT SELECT ON t TO cdw_regress_restorer;
\c cdw_regress_priv_dest
CREATE EXTENSION cdw_backup_fdw;
-- The role may create tables in schema public, but not schemas in the
-- database (no CREATE on it, as for every role but the owner by default).
GRANT CREATE ON SCHEMA public TO cdw_regress_restorer;
\c regression
SET ROLE cdw_regress_restorer;
SELECT cdw_backup_add_target('mine', :'target_dir');
SELECT cdw_backup_run('mine', databases => '{cdw_regress_priv_source}', wait => true) AS run_id \gset
SELECT status, error FROM cdw_backup.runs WHERE run_id = :run_id;
SELECT database, status, error FROM cdw_backup.run_databases WHERE run_id = :run_id;
SELECT has_database_privilege('cdw_regress_priv_dest', 'CREATE') AS may_create_schemas;
SELECT schema_name, table_name, destination, status, rows, detail, hint
  FROM cdw_backup_restore(:run_id, 'cdw_regress_priv_source', 'public.t',
                          into_database => 'cdw_regress_priv_dest', target => 'mine');
-- A schema that does not exist still needs CREATE on the database: the
-- error says so.
SELECT schema_name, table_name, status, detail
  FROM cdw_backup_restore(:run_id, 'cdw_regress_priv_source', 'public.t',
                          into_database => 'cdw_regress_priv_dest', into_schema => 'elsewhere',
                          target => 'mine');
RESET ROLE;
\c cdw_regress_priv_dest
SELECT * FROM public.t ORDER BY id;
\c regression
-- Without CONNECT on the destination: refused up front with the reason.
REVOKE CONNECT ON DATABASE cdw_regress_priv_dest FROM PUBLIC;
SET ROLE cdw_regress_restorer;
SELECT * FROM cdw_backup_restore(:run_id, 'cdw_regress_priv_source', 'public.t',
                                 into_database => 'cdw_regress_priv_dest', truncate => true,
                                 target => 'mine');
RESET ROLE;
ALTER DATABASE cdw_regress_priv_dest ALLOW_CONNECTIONS false;
SELECT * FROM cdw_backup_restore(:run_id, 'cdw_regress_priv_source', 'public.t',
                                 into_database => 'cdw_regress_priv_dest', truncate => true,
                                 target => 'mine');
ALTER DATABASE cdw_regress_priv_dest ALLOW_CONNECTIONS true;
SELECT cdw_backup_drop_target('mine');
DROP DATABASE cdw_regress_priv_source;
DROP DATABASE cdw_regress_priv_dest;
DROP OWNED BY cdw_regress_restorer;
DROP ROLE cdw_regress_restorer;
DROP EXTENSION cdw_backup;
