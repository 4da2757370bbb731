-- Security: an operator's own objects never run with more privilege than
-- theirs (search_path pinned, names qualified, privileged statements as the
-- extension owner); views and progress show a role only its own rows; a
-- secret never reaches the server log; file:// targets only for roles that
-- may read server files, and never through a symbolic link.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/security'
\set other_dir 'file://' :abs_srcdir '/backups/security_other'
\set linked_dir 'file://' :abs_srcdir '/backups/security_linked'
CREATE EXTENSION cdw_backup;
-- Written by every hostile object below, whoever runs it.
CREATE TABLE public.cdw_probe (who name, what text);
GRANT INSERT, SELECT ON public.cdw_probe TO PUBLIC;

CREATE ROLE cdw_sec_op LOGIN;
GRANT cdw_backup_operator, pg_write_server_files, pg_read_server_files TO cdw_sec_op;
CREATE DATABASE cdw_sec_source OWNER cdw_sec_op;
\c cdw_sec_source
SET ROLE cdw_sec_op;
CREATE TABLE t AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 10) g;
RESET ROLE;
\c regression

-- The operator's schema of hostile objects: each records who ran it and,
-- run as a superuser, makes the operator one.
CREATE SCHEMA mine AUTHORIZATION cdw_sec_op;
SET ROLE cdw_sec_op;
CREATE FUNCTION mine.hostile(what text) RETURNS void LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$
BEGIN
  INSERT INTO public.cdw_probe VALUES (current_user, what);
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER ROLE cdw_sec_op SUPERUSER;
  END IF;
END $$;
CREATE FUNCTION mine.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('=(text,text)'); RETURN a = b; END $$;
CREATE OPERATOR mine.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mine.eq);
CREATE FUNCTION mine.eq(a name, b name) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('=(name,name)'); RETURN a = b; END $$;
CREATE OPERATOR mine.= (LEFTARG = name, RIGHTARG = name, FUNCTION = mine.eq);
CREATE FUNCTION mine.eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('=(bigint,bigint)'); RETURN a = b; END $$;
CREATE OPERATOR mine.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mine.eq);
CREATE FUNCTION mine.cat(a text, b text) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('||'); RETURN a || b; END $$;
CREATE OPERATOR mine.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = mine.cat);
CREATE FUNCTION mine.field(a jsonb, b text) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('->>'); RETURN a ->> b; END $$;
CREATE OPERATOR mine.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = mine.field);
CREATE FUNCTION mine.jsonb_each_text(j jsonb, OUT key text, OUT value text) RETURNS SETOF record
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM mine.hostile('jsonb_each_text');
  RETURN QUERY SELECT * FROM jsonb_each_text(j);
END $$;
CREATE FUNCTION mine.jsonb_array_elements(j jsonb) RETURNS SETOF jsonb
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM mine.hostile('jsonb_array_elements');
  RETURN QUERY SELECT * FROM jsonb_array_elements(j);
END $$;
CREATE FUNCTION mine.nextval(s regclass) RETURNS bigint LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('nextval'); RETURN nextval(s); END $$;
CREATE FUNCTION mine.now() RETURNS timestamptz LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM mine.hostile('now'); RETURN now(); END $$;
CREATE FUNCTION mine.agg_step(state text, value text, delimiter text) RETURNS text
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM mine.hostile('string_agg');
  RETURN CASE WHEN state IS NULL THEN value ELSE state || delimiter || value END;
END $$;
CREATE AGGREGATE mine.string_agg(text, text) (SFUNC = mine.agg_step, STYPE = text);

-- Every function of the extension, under a search_path that puts those
-- objects first.
SET search_path = mine, pg_catalog, public;
SELECT cdw_backup_check_location(:'target_dir');
SELECT cdw_backup_add_target('sec', :'target_dir');
SELECT cdw_backup_run('sec', databases => '{cdw_sec_source}', wait => true) AS run_id \gset
SELECT cdw_backup_wait(:run_id);
SELECT database, database_status, tables, rows FROM cdw_backup_list('sec');
SELECT database, schema_name, table_name, status FROM cdw_backup_verify(:run_id, 'sec');
SELECT schema_name, table_name, status, rows
  FROM cdw_backup_restore(:run_id, 'cdw_sec_source', into_schema => 'restored', target => 'sec');
SELECT cdw_backup_schedule('sec_nightly', '0 3 * * *', target => 'sec', databases => '{cdw_sec_source}') IS NOT NULL AS scheduled;
SELECT cdw_backup_run_schedule('sec_nightly') AS schedule_run \gset
SELECT cdw_backup_wait(:schedule_run);
SELECT cdw_backup_cancel(:schedule_run);
SELECT count(*) FROM cdw_backup_progress();
SELECT cdw_backup_unschedule('sec_nightly');
SELECT cdw_backup_drop_target('sec');
RESET search_path;
RESET ROLE;
-- Nothing hostile ran, and the operator is still an operator.
SELECT who, what FROM public.cdw_probe;
SELECT rolsuper FROM pg_roles WHERE rolname = 'cdw_sec_op';
\c cdw_sec_source
SELECT count(*) AS restored_rows FROM restored.t;
\c regression

-- Views filter by role OID behind a security barrier: a cheap leaky
-- function in the caller's WHERE clause sees only the caller's rows.
CREATE ROLE cdw_sec_other LOGIN;
GRANT cdw_backup_operator, pg_write_server_files TO cdw_sec_other;
SET ROLE cdw_sec_other;
SELECT cdw_backup_add_target('other_target', :'other_dir');
SELECT cdw_backup_schedule('other_schedule', '0 4 * * *', target => 'other_target') IS NOT NULL AS scheduled;
SELECT cdw_backup_run('other_target', databases => '{cdw_sec_source}', wait => true) AS other_run \gset
RESET ROLE;
SET ROLE cdw_sec_op;
SELECT cdw_backup_add_target('my_target', :'target_dir');
SELECT cdw_backup_schedule('my_schedule', '0 5 * * *', target => 'my_target') IS NOT NULL AS scheduled;
CREATE FUNCTION mine.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
  RAISE NOTICE 'leaked: %', $1;
  RETURN true;
END $$;
SELECT name, owner FROM cdw_backup.targets WHERE mine.leak(name) AND mine.leak(options::text);
SELECT name, owner FROM cdw_backup.schedules WHERE mine.leak(name) AND mine.leak(cron);
-- Another role's run: not to be waited for (cancel refuses it too).
SELECT cdw_backup_wait(:other_run);
SELECT count(*) AS other_runs_visible FROM cdw_backup.runs WHERE run_id = :other_run;
RESET ROLE;
-- Owners are roles: a renamed role keeps its targets and schedules.
ALTER ROLE cdw_sec_op RENAME TO cdw_sec_renamed;
SELECT name, owner FROM cdw_backup.targets ORDER BY name;
SELECT name, owner FROM cdw_backup.schedules ORDER BY name;
SET ROLE cdw_sec_renamed;
SELECT name FROM cdw_backup.targets;
SELECT cdw_backup_unschedule('my_schedule');
SELECT cdw_backup_drop_target('my_target');
RESET ROLE;
ALTER ROLE cdw_sec_renamed RENAME TO cdw_sec_op;

-- A secret never reaches the server log, whatever fails.
SELECT cdw_backup_add_target('', 's3://bucket/p', secret_id => 'AKIDREGRESS', secret_key => 'wJalrREGRESSsecretKEY');
SELECT cdw_backup_add_target('s3_target', '', secret_id => 'AKIDREGRESS', secret_key => 'wJalrREGRESSsecretKEY');
SELECT cdw_backup_add_target(NULL, 's3://bucket/p', secret_id => 'AKIDREGRESS', secret_key => 'wJalrREGRESSsecretKEY');
SELECT cdw_backup_add_target('s3_target', 's3://bucket/p', secret_id => 'AKIDREGRESS', secret_key => 'wJalrREGRESSsecretKEY');
SELECT cdw_backup_add_target('s3_target', 's3://bucket/p', secret_id => 'AKIDREGRESS', secret_key => 'wJalrREGRESSsecretKEY');
SELECT strpos(pg_read_file(:'abs_srcdir' || '/log/postmaster.log'), 'wJalrREGRESS' || 'secretKEY') AS secret_in_log;
SELECT cdw_backup_drop_target('s3_target');

-- file:// targets: list and verify read server files, so they need
-- pg_read_server_files like pg_read_file() does.
CREATE ROLE cdw_sec_nofiles LOGIN;
GRANT cdw_backup_operator, pg_write_server_files TO cdw_sec_nofiles;
SET ROLE cdw_sec_nofiles;
SELECT cdw_backup_add_target('nofiles', :'other_dir');
SELECT * FROM cdw_backup_list('nofiles');
SELECT * FROM cdw_backup_verify(:other_run, 'nofiles');
SELECT cdw_backup_drop_target('nofiles');
RESET ROLE;
-- A symbolic link inside a target is never followed.
SELECT cdw_backup_add_target('linked', :'linked_dir');
\set link_command 'mkdir -p ' :abs_srcdir '/backups/security_linked ' :abs_srcdir '/backups/security_elsewhere/_runs && ln -s ' :abs_srcdir '/backups/security_elsewhere/_runs ' :abs_srcdir '/backups/security_linked/_runs'
COPY (SELECT 1) TO PROGRAM :'link_command';
\set VERBOSITY sqlstate
SELECT * FROM cdw_backup_list('linked');
\set VERBOSITY default
SELECT cdw_backup_drop_target('linked');

SET ROLE cdw_sec_other;
SELECT cdw_backup_unschedule('other_schedule');
SELECT cdw_backup_drop_target('other_target');
RESET ROLE;
DROP DATABASE cdw_sec_source;
DROP TABLE public.cdw_probe;
DROP SCHEMA mine CASCADE;
DROP EXTENSION cdw_backup;
DROP ROLE cdw_sec_op, cdw_sec_other, cdw_sec_nofiles;
