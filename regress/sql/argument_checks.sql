-- Every SQL function of cdw_backup, called with a NULL, an empty value and a
-- 10 kB string for each of its arguments in turn (the other arguments
-- valid): each call ends with a clear error (SQLSTATE, message) or, where
-- NULL stands for the argument's default, succeeds. Nothing crashes: the
-- postmaster's start time is the same afterwards.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/argument_checks'
SELECT pg_postmaster_start_time() AS start_time \gset
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_add_target('default', :'target_dir');
CREATE DATABASE cdw_regress_args;
\c cdw_regress_args
CREATE TABLE t (id int);
INSERT INTO t VALUES (1), (2);
\c regression
SELECT cdw_backup_run(databases => '{cdw_regress_args}', wait => true) AS good_run \gset

-- A valid value for every argument; the call under test replaces one.
CREATE TEMP TABLE good (fn text, arg text, value text);
INSERT INTO good VALUES
  ('cdw_backup_check_location', 'location', quote_literal(:'target_dir')),
  ('cdw_backup_check_location', 'options', '''{}''::jsonb'),
  ('cdw_backup_add_target', 'name', '''args_new'''),
  ('cdw_backup_add_target', 'location', quote_literal(:'target_dir')),
  ('cdw_backup_add_target', 'secret_id', 'NULL::text'),
  ('cdw_backup_add_target', 'secret_key', 'NULL::text'),
  ('cdw_backup_add_target', 'options', '''{}''::jsonb'),
  ('cdw_backup_add_target', 'manifest_key', 'NULL::text'),
  ('cdw_backup_add_target', 'encryption_key', 'NULL::text'),
  ('cdw_backup_rotate_key', 'target', '''default'''),
  ('cdw_backup_rotate_key', 'new_key', '''a long passphrase'''),
  ('cdw_backup_add_decryption_key', 'target', '''default'''),
  ('cdw_backup_add_decryption_key', 'key', '''a long passphrase'''),
  ('cdw_backup_target_key', 'name', '''default'''),
  ('cdw_backup_drop_target', 'name', '''default'''),
  ('cdw_backup_run', 'target', '''default'''),
  ('cdw_backup_run', 'databases', '''{cdw_regress_args}''::text[]'),
  ('cdw_backup_run', 'exclude_databases', 'NULL::text[]'),
  ('cdw_backup_run', 'compression', '''gzip'''),
  ('cdw_backup_run', 'wait', 'true'),
  ('cdw_backup_run', 'max_rate', '''1GB'''),
  ('cdw_backup_run', 'tables', 'NULL::text[]'),
  ('cdw_backup_run', 'exclude_tables', 'NULL::text[]'),
  ('cdw_backup_run', 'schemas', 'NULL::text[]'),
  ('cdw_backup_run', 'exclude_schemas', 'NULL::text[]'),
  ('cdw_backup_run', 'exclude_table_data', 'NULL::text[]'),
  ('cdw_backup_run', 'incremental', 'true'),
  ('cdw_backup_wait', 'run_id', :'good_run'),
  ('cdw_backup_wait', 'timeout', '''1 minute''::interval'),
  ('cdw_backup_cancel', 'run_id', '424242'),
  ('cdw_backup_list', 'target', '''default'''),
  ('cdw_backup_list', 'allow_unauthenticated', 'false'),
  ('cdw_backup_verify', 'run_id', :'good_run'),
  ('cdw_backup_verify', 'target', '''default'''),
  ('cdw_backup_verify', 'allow_unauthenticated', 'false'),
  ('cdw_backup_verify', 'wait', 'true'),
  ('cdw_backup_verify', 'thaw_timeout', '''1 hour''::interval'),
  ('cdw_backup_verify', 'restore_tier', '''Bulk'''),
  ('cdw_backup_verify', 'restore_days', '2'),
  ('cdw_backup_restore', 'run_id', :'good_run'),
  ('cdw_backup_restore', 'database', '''cdw_regress_args'''),
  ('cdw_backup_restore', 'table_name', '''public.t'''),
  ('cdw_backup_restore', 'into_table', 'NULL::text'),
  ('cdw_backup_restore', 'into_schema', '''restored'''),
  ('cdw_backup_restore', 'into_database', 'NULL::text'),
  ('cdw_backup_restore', 'truncate', 'true'),
  ('cdw_backup_restore', 'dry_run', 'true'),
  ('cdw_backup_restore', 'target', '''default'''),
  ('cdw_backup_restore', 'cascade', 'false'),
  ('cdw_backup_restore', 'schema', 'NULL::text'),
  ('cdw_backup_restore', 'allow_unauthenticated', 'false'),
  ('cdw_backup_restore', 'create_roles', 'false'),
  ('cdw_backup_restore', 'wait', 'true'),
  ('cdw_backup_restore', 'thaw_timeout', '''1 hour''::interval'),
  ('cdw_backup_restore', 'restore_tier', '''Bulk'''),
  ('cdw_backup_restore', 'restore_days', '2'),
  ('cdw_backup_schedule', 'name', '''args_schedule'''),
  ('cdw_backup_schedule', 'cron', '''0 3 * * *'''),
  ('cdw_backup_schedule', 'target', '''default'''),
  ('cdw_backup_schedule', 'timezone', '''UTC'''),
  ('cdw_backup_schedule', 'databases', '''{cdw_regress_args}''::text[]'),
  ('cdw_backup_schedule', 'exclude_databases', 'NULL::text[]'),
  ('cdw_backup_schedule', 'compression', '''gzip'''),
  ('cdw_backup_schedule', 'keep_days', '7'),
  ('cdw_backup_schedule', 'keep_runs', '3'),
  ('cdw_backup_schedule', 'verify', 'false'),
  ('cdw_backup_schedule', 'enabled', 'false'),
  ('cdw_backup_schedule', 'catch_up_window', '''1 hour''::interval'),
  ('cdw_backup_schedule', 'max_run_time', '''1 hour''::interval'),
  ('cdw_backup_schedule', 'max_rate', '''20MB'''),
  ('cdw_backup_schedule', 'tables', 'NULL::text[]'),
  ('cdw_backup_schedule', 'exclude_tables', 'NULL::text[]'),
  ('cdw_backup_schedule', 'schemas', 'NULL::text[]'),
  ('cdw_backup_schedule', 'exclude_schemas', 'NULL::text[]'),
  ('cdw_backup_schedule', 'exclude_table_data', 'NULL::text[]'),
  ('cdw_backup_schedule', 'full_every', '''7 days''::interval'),
  ('cdw_backup_unschedule', 'name', '''args_schedule'''),
  ('cdw_backup_run_schedule', 'name', '''args_schedule''');

-- The bad values for each argument type.
CREATE TEMP TABLE bad (type regtype, kind text, value text);
INSERT INTO bad VALUES
  ('text', 'null', 'NULL::text'),
  ('text', 'empty', ''''''),
  ('text', '10 kB', 'repeat(''x'', 10240)'),
  ('text[]', 'null', 'NULL::text[]'),
  ('text[]', 'empty', '''{}''::text[]'),
  ('text[]', 'null element', '''{NULL}''::text[]'),
  ('text[]', '10 kB', 'ARRAY[repeat(''x'', 10240)]'),
  ('bigint', 'null', 'NULL::bigint'),
  ('bigint', 'negative', '-1::bigint'),
  ('integer', 'null', 'NULL::integer'),
  ('integer', 'negative', '-1'),
  ('boolean', 'null', 'NULL::boolean'),
  ('interval', 'null', 'NULL::interval'),
  ('interval', 'negative', '''-1 s''::interval'),
  ('jsonb', 'null', 'NULL::jsonb'),
  ('jsonb', 'empty', '''[]''::jsonb'),
  ('jsonb', '10 kB', 'jsonb_build_object(''region'', repeat(''x'', 10240))');

-- Every function of the extension has its valid arguments listed above.
SELECT p.proname, a.name AS argument
  FROM pg_proc p
  JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'cdw_backup'
  CROSS JOIN LATERAL unnest(p.proargnames[1:p.pronargs]) AS a(name)
 WHERE NOT EXISTS (SELECT FROM good g WHERE g.fn = p.proname AND g.arg = a.name)
 ORDER BY 1, 2;

CREATE TEMP TABLE outcome (fn text, arg text, kind text, result text, clear boolean);
DO $$
DECLARE
  f record;
  b record;
  i int;
  call text;
  state text;
  message text;
BEGIN
  FOR f IN
    SELECT p.proname, p.pronargs, p.proargnames, p.proargtypes::oid[] AS types
      FROM pg_proc p
      JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'cdw_backup'
     WHERE p.pronargs > 0 ORDER BY 1
  LOOP
    FOR i IN 1 .. f.pronargs LOOP
      FOR b IN SELECT * FROM bad WHERE type = f.types[i - 1] ORDER BY kind LOOP
        SELECT string_agg(format('%I => %s', a.name,
                                 CASE WHEN a.n = i THEN b.value ELSE g.value END), ', ' ORDER BY a.n)
          INTO call
          FROM unnest(f.proargnames[1:f.pronargs]) WITH ORDINALITY AS a(name, n)
          JOIN good g ON g.fn = f.proname AND g.arg = a.name;
        BEGIN
          EXECUTE format('SELECT count(*) FROM %I(%s)', f.proname, call);
          -- Undo what a successful call did in this transaction.
          RAISE EXCEPTION USING ERRCODE = 'ZX999';
        EXCEPTION WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
          INSERT INTO outcome VALUES (f.proname, f.proargnames[i], b.kind,
                                      CASE WHEN state = 'ZX999' THEN 'ok' ELSE state END,
                                      state = 'ZX999' OR (state NOT LIKE 'XX%' AND message <> ''));
        END;
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
SELECT fn, arg, kind, result, clear FROM outcome ORDER BY fn, arg, kind;
-- No call may end in an internal error or without a message.
SELECT count(*) AS unclear FROM outcome WHERE NOT clear;

-- Functions of the FDW's extension: the validator is STRICT as in file_fdw
-- (PostgreSQL passes an empty array, never NULL); bad option lists are errors.
CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw;
CREATE FUNCTION pg_temp.outcome(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text;
  message text;
BEGIN
  EXECUTE call;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
  RETURN state || CASE WHEN message = '' THEN ' (no message)' ELSE '' END;
END $$;
SELECT cdw_backup_fdw_validator(NULL, 'pg_foreign_server'::regclass) IS NULL AS strict_null;
SELECT call, pg_temp.outcome(format('SELECT cdw_backup_fdw_validator(%s)', call))
  FROM (VALUES ('''{}'', ''pg_foreign_table''::regclass'),
               ('''{}'', ''pg_foreign_server''::regclass'),
               ('''{}'', 0'),
               ('''{NULL}'', ''pg_foreign_table''::regclass'),
               ('ARRAY[''path''], ''pg_foreign_table''::regclass'),
               ('ARRAY[''path='' || repeat(''x'', 10240)], ''pg_foreign_table''::regclass'),
               ('ARRAY[repeat(''x'', 10240) || ''=1''], ''pg_foreign_table''::regclass'),
               ('ARRAY[''location='' || repeat(''x'', 10240)], ''pg_foreign_server''::regclass'),
               ('ARRAY[''secret_key='' || repeat(''x'', 10240)], ''pg_user_mapping''::regclass'))
       AS v(call);

-- Runs started above without waiting end before the extension goes.
DO $$ BEGIN PERFORM cdw_backup_wait(run_id, '2 minutes') FROM cdw_backup.runs WHERE status = 'running'; END $$;
SELECT count(*) AS still_running FROM cdw_backup.runs WHERE status = 'running';
SELECT pg_postmaster_start_time() = :'start_time' AS postmaster_not_restarted;
DROP DATABASE cdw_regress_args;
DROP EXTENSION cdw_backup;
