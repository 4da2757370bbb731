-- Names, lengths and lists: refused with a clear error, never cut, never a
-- crash (issue 15, cases 4, 7, 10 and 14).
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/limits'
\set VERBOSITY default
SELECT pg_postmaster_start_time() AS start_time \gset
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_add_target('default', :'target_dir');
CREATE DATABASE cdw_regress_limits;
\c cdw_regress_limits
CREATE TABLE t (id int);
\c regression

-- Case 7: a NULL in databases (or exclude_databases) is refused by the
-- caller; the coordinator never sees it.
SELECT cdw_backup_run(databases => '{NULL}');
SELECT cdw_backup_run(databases => '{cdw_regress_limits,NULL}', wait => true);
SELECT cdw_backup_run(databases => '{cdw_regress_limits}', exclude_databases => '{NULL}');
SELECT cdw_backup_run(databases => '{""}');
SELECT cdw_backup_schedule('limits', '0 3 * * *', databases => '{NULL}');
SELECT pg_postmaster_start_time() = :'start_time' AS postmaster_not_restarted;
-- Case 14: an empty list is not "back up nothing, successfully".
SELECT cdw_backup_run(databases => '{}');
SELECT cdw_backup_schedule('limits', '0 3 * * *', databases => '{}');
-- An empty exclusion list excludes nothing.
SELECT cdw_backup_run(databases => '{cdw_regress_limits}', exclude_databases => '{}', wait => true) AS run_id \gset
SELECT status, databases FROM cdw_backup.runs WHERE run_id = :run_id;
SELECT count(*) AS runs_of_nothing FROM cdw_backup.runs WHERE databases = '{}';

-- Case 4: a target name of 64 bytes is an error, not the target whose name
-- is its first 63 bytes.
SELECT cdw_backup_add_target(repeat('t', 63), :'target_dir');
SELECT cdw_backup_add_target(repeat('t', 64), :'target_dir');
SELECT cdw_backup_run(target => repeat('t', 64), databases => '{cdw_regress_limits}');
SELECT cdw_backup_run(target => repeat('t', 63), databases => '{cdw_regress_limits}', wait => true) IS NOT NULL AS ran_on_63_byte_name;
SELECT cdw_backup_schedule('limits', '0 3 * * *', target => repeat('t', 64));
SELECT cdw_backup_drop_target(repeat('t', 64));
SELECT count(*) AS runs_on_cut_name FROM cdw_backup.runs WHERE length(target) > 63;
-- Multibyte: 32 two-byte characters are 64 bytes.
SELECT cdw_backup_add_target(repeat('é', 32), :'target_dir');
SELECT cdw_backup_add_target(repeat('é', 31), :'target_dir');
-- Schedule names reach shared memory too.
SELECT cdw_backup_schedule(repeat('s', 64), '0 3 * * *', enabled => false);
SELECT cdw_backup_unschedule(repeat('s', 64));
SELECT cdw_backup_run_schedule(repeat('s', 64));
-- Database names in a list.
SELECT cdw_backup_run(databases => ARRAY[repeat('d', 64)]);
-- into_schema and into_table of a restore.
SELECT * FROM cdw_backup_restore(:run_id, 'cdw_regress_limits', into_schema => repeat('s', 64));
SELECT * FROM cdw_backup_restore(:run_id, 'cdw_regress_limits', 'public.t', into_table => repeat('x', 64));

-- Case 10: a location longer than 1023 bytes, and options or secrets longer
-- than what reaches the workers, are refused when the target is added.
SELECT cdw_backup_add_target('long', 'file:///tmp/' || repeat('x', 1024));
SELECT cdw_backup_check_location('file:///tmp/' || repeat('x', 1024));
SELECT cdw_backup_check_location('file:///tmp/' || repeat('x', 1011)) IS NULL AS fits;
SELECT cdw_backup_add_target('long', 's3://bucket/prefix', secret_id => repeat('i', 256), secret_key => 'k');
SELECT cdw_backup_add_target('long', 's3://bucket/prefix', secret_id => 'i', secret_key => repeat('k', 256));
SELECT cdw_backup_add_target('long', 's3://bucket/prefix', secret_id => 'i', secret_key => 'k',
                             options => jsonb_build_object('endpoint', 'http://' || repeat('e', 2100)));
SELECT cdw_backup_add_target('long', 's3://bucket/prefix', secret_id => 'i', secret_key => 'k',
                             options => jsonb_build_object('region', E'us\neast'));
SELECT name FROM cdw_backup.targets ORDER BY name;

-- Case 14: negative intervals.
SELECT cdw_backup_schedule('limits', '0 3 * * *', max_run_time => '-1 s');
SELECT cdw_backup_schedule('limits', '0 3 * * *', max_run_time => '0 s');
SELECT cdw_backup_schedule('limits', '0 3 * * *', max_run_time => '1 day -25 hours');
SELECT cdw_backup_schedule('limits', '0 3 * * *', catch_up_window => '-1 day');
SELECT cdw_backup_schedule('limits', '0 3 * * *', catch_up_window => '0 s', enabled => false) IS NOT NULL AS zero_window_ok;
SELECT cdw_backup_wait(:run_id, '-1 s');
SELECT cdw_backup_wait(:run_id, '1000000 years');
-- Case 14: formerly STRICT functions say which argument is NULL.
SELECT cdw_backup_drop_target(NULL);
SELECT cdw_backup_cancel(NULL);
SELECT cdw_backup_unschedule(NULL);
SELECT cdw_backup_run_schedule(NULL);
SELECT cdw_backup_check_location(NULL);
SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'cdw_backup'
 WHERE p.proisstrict AND p.pronargs > 0;

SELECT cdw_backup_unschedule('limits');
SELECT pg_postmaster_start_time() = :'start_time' AS postmaster_not_restarted;
DROP DATABASE cdw_regress_limits;
DROP EXTENSION cdw_backup;
