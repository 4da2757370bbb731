-- The control plane: targets, runs and their errors.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/control'
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_version() = extversion AS version_matches FROM pg_extension WHERE extname = 'cdw_backup';
-- Functions in the extension's schema, tables and views in schema cdw_backup.
SELECT p.proname, n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname LIKE 'cdw_backup%' ORDER BY 1;
SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'cdw_backup' ORDER BY 1;
-- pg_dump keeps the schedules, but not the targets (their rows hold secrets).
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'cdw_backup';

-- Without a target there is nothing to run.
SELECT cdw_backup_run();
-- Bad targets.
SELECT cdw_backup_add_target('default', 'ftp://somewhere/dir');
SELECT cdw_backup_add_target('default', 'file://relative/dir');
SELECT cdw_backup_add_target('default', '/var/backups/pg');
SELECT cdw_backup_add_target('default', 'file:///tmp/x', options => '{"regon": "x"}');
SELECT cdw_backup_add_target(NULL, 'file:///tmp/x');
SELECT cdw_backup_add_target('default', :'target_dir');
SELECT cdw_backup_add_target('default', :'target_dir');
SELECT cdw_backup_drop_target('nonexistent');

-- Runs refuse bad arguments before starting anything.
SELECT cdw_backup_run(compression => 'lz4');
SELECT cdw_backup_run(target => 'nonexistent');
SELECT cdw_backup_wait(424242);
SELECT cdw_backup_cancel(424242);

-- A whole run, waited for.
CREATE DATABASE cdw_regress_source;
\c cdw_regress_source
CREATE TABLE t1 AS SELECT g AS id FROM generate_series(1, 100) g;
CREATE TABLE t2 (a text);
CREATE VIEW v AS SELECT * FROM t1;
\c regression
SELECT cdw_backup_run(databases => '{cdw_regress_source}', wait => true) AS run_id \gset
SELECT status, target, databases, tables_total, tables_succeeded, tables_failed, rows, error
  FROM cdw_backup.runs WHERE run_id = :run_id;
SELECT database, schema_name, table_name, status, rows, location LIKE :'target_dir' || '/%/cdw_regress_source/public.' || table_name || '/' AS location_ok
  FROM cdw_backup.run_tables WHERE run_id = :run_id ORDER BY table_name;
SELECT database, status, tables_total, manifest LIKE '%/manifest.json' AS has_manifest
  FROM cdw_backup.run_databases WHERE run_id = :run_id;
SELECT cdw_backup_wait(:run_id);
-- Databases that do not exist or do not allow connections fail with a reason.
SELECT cdw_backup_run(databases => '{no_such_db,template0}', wait => true) AS run_id \gset
SELECT status, tables_total FROM cdw_backup.runs WHERE run_id = :run_id;
SELECT database, status, sqlstate, error, hint FROM cdw_backup.run_databases WHERE run_id = :run_id ORDER BY 1;
-- No external table or server is left in the source database.
\c cdw_regress_source
SELECT count(*) AS foreign_tables FROM pg_foreign_table;
SELECT count(*) AS servers FROM pg_foreign_server;
\c regression

-- Ordinary roles: refused with the GRANT that fixes it; secrets never visible.
CREATE ROLE cdw_regress_user;
SET ROLE cdw_regress_user;
SELECT cdw_backup_run();
SELECT cdw_backup_add_target('mine', 'file:///tmp/mine');
SELECT * FROM cdw_backup.target_store;
SELECT name FROM cdw_backup.targets;
RESET ROLE;
GRANT cdw_backup_operator TO cdw_regress_user;
SET ROLE cdw_regress_user;
-- An operator still needs the right to write server files for a file:// target.
SELECT cdw_backup_add_target('mine', 'file:///tmp/mine');
-- Someone else's target cannot be used.
SELECT cdw_backup_run(target => 'default');
RESET ROLE;
SELECT name, has_credentials FROM cdw_backup.targets ORDER BY name;
SELECT cdw_backup_drop_target('default');
SELECT count(*) FROM cdw_backup.targets;

DROP DATABASE cdw_regress_source;
DROP ROLE cdw_regress_user;
DROP EXTENSION cdw_backup;
