-- Schedules and restores: the SQL surface and its errors.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/schedule'
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_add_target('default', :'target_dir');

-- Invalid schedules are refused with the expected format.
SELECT cdw_backup_schedule('bad', '61 3 * * *');
SELECT cdw_backup_schedule('bad', '0 3 * *');
SELECT cdw_backup_schedule('bad', '0 0 30 2 *');
SELECT cdw_backup_schedule('bad', '0 3 * * *', timezone => 'Mars/Olympus_Mons');
SELECT cdw_backup_schedule('bad', '0 3 * * *', keep_days => 0);
SELECT cdw_backup_schedule('bad', '0 3 * * *', target => 'nowhere');
SELECT cdw_backup_schedule('bad', '0 3 * * *', compression => 'rar');
SELECT cdw_backup_schedule(NULL, '0 3 * * *');

-- A valid one: the next run is computed in its time zone (disabled here so
-- that the launcher never fires it during the test).
SELECT cdw_backup_schedule('nightly', '30 2 * * *', timezone => 'Asia/Shanghai', keep_days => 30,
                           exclude_databases => '{scratch}', enabled => false) IS NOT NULL AS scheduled;
SELECT name, cron, timezone, target, exclude_databases, keep_days, enabled,
       to_char(next_run_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') AS local_time
  FROM cdw_backup.schedules;
-- Names and @macros.
SELECT cdw_backup_schedule('weekly', '@weekly', enabled => false) IS NOT NULL AS scheduled;
SELECT cdw_backup_schedule('weekdays', '0 22 * * mon-fri', enabled => false) IS NOT NULL AS scheduled;
SELECT name, to_char(next_run_at AT TIME ZONE 'UTC', 'Dy HH24:MI') FROM cdw_backup.schedules
 WHERE name = 'weekly';
SELECT cdw_backup_unschedule('weekly');
SELECT cdw_backup_unschedule('weekly');

-- Other roles see only their own schedules.
CREATE ROLE cdw_regress_viewer;
SET ROLE cdw_regress_viewer;
SELECT count(*) FROM cdw_backup.schedules;
SELECT cdw_backup_schedule('mine', '0 3 * * *');
RESET ROLE;
DROP ROLE cdw_regress_viewer;

-- Restore and verify find runs on the target; bad requests say why.
SELECT * FROM cdw_backup_restore(NULL, 'postgres');
SELECT * FROM cdw_backup_restore(99999, 'postgres');
SELECT * FROM cdw_backup_verify(99999);
SELECT count(*) FROM cdw_backup_list();
SELECT * FROM cdw_backup_restore(1, 'postgres', into_table => 'x');
SELECT * FROM cdw_backup_restore(1, 'postgres', 'a.b', into_table => 'x', into_schema => 'y');
SELECT * FROM cdw_backup_restore(1, 'postgres', 'public.t', into_database => 'no_such_database');

-- A run, verified and restored into another schema.
CREATE DATABASE cdw_regress_restore;
\c cdw_regress_restore
CREATE TABLE t (id int NOT NULL, v text);
INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, '');
\c regression
SELECT cdw_backup_run(databases => '{cdw_regress_restore}', wait => true) AS run_id \gset
SELECT database, schema_name, table_name, status FROM cdw_backup_verify(:run_id);
SELECT run_id = :run_id AS same_run, database, tables, rows FROM cdw_backup_list();
SELECT schema_name, table_name, destination, status, rows
  FROM cdw_backup_restore(:run_id, 'cdw_regress_restore', 'public.t');
SELECT schema_name, table_name, destination, status, rows
  FROM cdw_backup_restore(:run_id, 'cdw_regress_restore', into_schema => 'restored');
SELECT schema_name, table_name, destination, status, rows
  FROM cdw_backup_restore(:run_id, 'cdw_regress_restore', 't', into_table => 'restored.t', truncate => true);
\c cdw_regress_restore
SELECT * FROM restored.t ORDER BY id;
SELECT column_name, data_type, is_nullable FROM information_schema.columns
 WHERE table_schema = 'restored' AND table_name = 't' ORDER BY ordinal_position;
\c regression
DROP DATABASE cdw_regress_restore;
SELECT cdw_backup_unschedule(name) FROM cdw_backup.schedules;
DROP EXTENSION cdw_backup;
