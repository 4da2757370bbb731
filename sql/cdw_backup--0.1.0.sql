-- cdw_backup: the control plane (targets, runs, history).
-- Every name below is qualified (operators included) although CREATE
-- EXTENSION runs this script with a safe search_path: view bodies, policies
-- and DEFAULTs are stored, and what we write here is also what a reader
-- copies (README "Security model").
-- Functions live in the extension's schema (public by default) so that
-- SELECT cdw_backup_run() works with the default search_path; tables and
-- views live in schema cdw_backup.
\echo Use "CREATE EXTENSION cdw_backup" to load this file. \quit

CREATE SCHEMA cdw_backup;
GRANT USAGE ON SCHEMA cdw_backup TO PUBLIC;

-- Who may start runs: superusers and members of this role.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                  WHERE rolname OPERATOR(pg_catalog.=) 'cdw_backup_operator') THEN
    CREATE ROLE cdw_backup_operator NOLOGIN;
  END IF;
END $$;

-- Targets. Secrets sit in a table no ordinary role can read; the view shows
-- each role its own targets, without secrets. Owners are role OIDs
-- (regrole: compared as OIDs, shown and dumped as names).
CREATE TABLE cdw_backup.target_store (
  name text PRIMARY KEY CHECK (name OPERATOR(pg_catalog.<>) ''),
  location text NOT NULL,
  options pg_catalog.jsonb NOT NULL DEFAULT '{}',
  owner pg_catalog.regrole NOT NULL,
  secret_id text,
  secret_key text,
  session_token text,
  -- SSE-C key (options => '{"sse_customer_key": ...}'), split off the options.
  sse_customer_key text,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- The 32-byte key that authenticates the manifests and run indexes this
  -- target holds (HMAC-SHA-256, see README "The target's key"). Never
  -- written to the target; cdw_backup_target_key() exports it.
  manifest_key bytea NOT NULL,
  -- encryption => 'on': the key ring, one key a line (an age identity
  -- AGE-SECRET-KEY-1... or a passphrase), the first the one new objects are
  -- encrypted to, the others kept to read older runs (README "Encryption").
  -- Never written to the target.
  encryption_keys text
);
REVOKE ALL ON cdw_backup.target_store FROM PUBLIC;

-- security_barrier: the role filter runs before any function of the
-- caller's WHERE clause, so a leaky function sees only the caller's rows.
CREATE VIEW cdw_backup.targets WITH (security_barrier) AS
  SELECT t.name, t.location, t.options, t.owner, t.secret_id IS NOT NULL AS has_credentials,
         t.created_at, t.sse_customer_key IS NOT NULL AS has_sse_customer_key
    FROM cdw_backup.target_store t,
         (SELECT r.oid, r.rolsuper FROM pg_catalog.pg_roles r
           WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) AS me
   WHERE t.owner OPERATOR(pg_catalog.=) me.oid OR me.rolsuper;
GRANT SELECT ON cdw_backup.targets TO PUBLIC;

-- History: one row per run, one per database of a run, one per table.
CREATE TABLE cdw_backup.runs (
  run_id bigint PRIMARY KEY,
  schedule_name text,
  target text NOT NULL,
  role_name name NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'cancelled',
                                         'interrupted', 'skipped', 'missed', 'expired')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  databases text[],
  compression text NOT NULL,
  tables_total integer NOT NULL DEFAULT 0,
  tables_succeeded integer NOT NULL DEFAULT 0,
  tables_failed integer NOT NULL DEFAULT 0,
  rows bigint NOT NULL DEFAULT 0,
  bytes_raw bigint NOT NULL DEFAULT 0,
  bytes_stored bigint NOT NULL DEFAULT 0,
  location text,
  error text,
  hint text,
  verify_status text CHECK (verify_status IN ('ok', 'problems', 'error')),
  verify_detail text,
  cleanup_pending boolean NOT NULL DEFAULT false,
  leftover_objects text[],
  leftover_error text,
  filters pg_catalog.jsonb,
  warnings text[],
  -- Incremental runs (README "Incremental runs"): whether the run could
  -- reuse objects of an earlier run, the run whose manifests it compared
  -- with (NULL: a full copy), and of bytes_stored what it uploaded and what
  -- it references instead.
  incremental boolean NOT NULL DEFAULT false,
  base_run_id bigint,
  bytes_written bigint NOT NULL DEFAULT 0,
  bytes_reused bigint NOT NULL DEFAULT 0
);
COMMENT ON COLUMN cdw_backup.runs.bytes_reused IS
  'Of bytes_stored, what this run did not write: objects of earlier runs its manifests reference because their content is unchanged';
COMMENT ON COLUMN cdw_backup.runs.cleanup_pending IS
  'The run did not succeed and what it wrote that no manifest lists is still to be removed from the target (done when the run is settled)';
COMMENT ON COLUMN cdw_backup.runs.leftover_objects IS
  'Objects of the run that no manifest lists and that could not be removed yet (URLs); removal is tried again whenever runs are settled';
COMMENT ON COLUMN cdw_backup.runs.leftover_error IS
  'Why the last attempt to remove leftover_objects failed';
COMMENT ON COLUMN cdw_backup.runs.filters IS
  'The table filters the run was started with (tables, exclude_tables, schemas, exclude_schemas, exclude_table_data); NULL for none';
COMMENT ON COLUMN cdw_backup.runs.warnings IS
  'What the run noticed but did not fail for, such as a filter pattern that matched no table in any database';
COMMENT ON COLUMN cdw_backup.runs.verify_status IS
  'For schedules with verify => true: the result of cdw_backup_verify() right after the run';
CREATE SEQUENCE cdw_backup.runs_run_id_seq OWNED BY cdw_backup.runs.run_id;

CREATE TABLE cdw_backup.run_databases (
  run_id bigint NOT NULL REFERENCES cdw_backup.runs ON DELETE CASCADE,
  database name NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
  tables_total integer NOT NULL DEFAULT 0,
  tables_excluded integer NOT NULL DEFAULT 0,
  location text,
  manifest text,
  started_at timestamptz,
  finished_at timestamptz,
  sqlstate text,
  error text,
  hint text,
  PRIMARY KEY (run_id, database)
);

CREATE TABLE cdw_backup.run_tables (
  run_id bigint NOT NULL REFERENCES cdw_backup.runs ON DELETE CASCADE,
  database name NOT NULL,
  -- text, not name: in the home database's encoding a name can take more
  -- than NAMEDATALEN bytes (LATIN1 'é' is one byte, two in UTF-8).
  schema_name text NOT NULL,
  table_name text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled',
                                         'excluded')),
  rows bigint,
  bytes_raw bigint,
  bytes_stored bigint,
  bytes_written bigint,
  bytes_reused bigint,
  location text,
  started_at timestamptz,
  finished_at timestamptz,
  sqlstate text,
  error text,
  hint text,
  -- Which filter left the table out (status 'excluded') or left out its
  -- rows (status 'succeeded', rows 0: exclude_table_data).
  excluded_by text,
  PRIMARY KEY (run_id, database, schema_name, table_name)
);

-- Operators read history; non-superusers see only their own runs.
GRANT SELECT ON cdw_backup.runs, cdw_backup.run_databases, cdw_backup.run_tables TO cdw_backup_operator;
ALTER TABLE cdw_backup.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdw_backup.run_databases ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdw_backup.run_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_runs ON cdw_backup.runs FOR SELECT
  USING (role_name OPERATOR(pg_catalog.=) CURRENT_USER);
CREATE POLICY own_runs ON cdw_backup.run_databases FOR SELECT
  USING (EXISTS (SELECT FROM cdw_backup.runs r
                  WHERE r.run_id OPERATOR(pg_catalog.=) run_databases.run_id));
CREATE POLICY own_runs ON cdw_backup.run_tables FOR SELECT
  USING (EXISTS (SELECT FROM cdw_backup.runs r
                  WHERE r.run_id OPERATOR(pg_catalog.=) run_tables.run_id));

-- The functions that take arguments are not STRICT: a NULL argument is an
-- error naming it (22004) or, where documented, the argument's default,
-- never a silent NULL result.
CREATE FUNCTION cdw_backup_version() RETURNS text
  AS 'MODULE_PATHNAME', 'cdw_backup_version' LANGUAGE C STRICT IMMUTABLE;

-- Checks a location and its options without touching storage.
CREATE FUNCTION cdw_backup_check_location(location text, options jsonb DEFAULT '{}')
  RETURNS void AS 'MODULE_PATHNAME', 'cdw_backup_check_location' LANGUAGE C;

-- manifest_key: the key (64 hex digits) of an earlier target at the same
-- location, so this cluster can read its backups; NULL creates a new key.
CREATE FUNCTION cdw_backup_add_target(name text, location text, secret_id text DEFAULT NULL,
                                      secret_key text DEFAULT NULL, options jsonb DEFAULT '{}',
                                      manifest_key text DEFAULT NULL,
                                      encryption_key text DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'cdw_backup_add_target' LANGUAGE C;

-- Encryption keys of a target with encryption => 'on' (README "Encryption"):
-- rotate_key makes new_key the one new runs are encrypted to and keeps the
-- old keys to read older runs; add_decryption_key adds a key for reading
-- only (the key of runs written elsewhere or before a re-added target).
CREATE FUNCTION cdw_backup_rotate_key(target text, new_key text)
  RETURNS void AS 'MODULE_PATHNAME', 'cdw_backup_rotate_key' LANGUAGE C;
CREATE FUNCTION cdw_backup_add_decryption_key(target text, key text)
  RETURNS void AS 'MODULE_PATHNAME', 'cdw_backup_add_decryption_key' LANGUAGE C;

-- The target's manifest key as 64 hex digits, for its owner or a superuser
-- to keep somewhere safe (without it, a fresh cluster cannot authenticate
-- the target's backups).
CREATE FUNCTION cdw_backup_target_key(name text)
  RETURNS text AS 'MODULE_PATHNAME', 'cdw_backup_target_key' LANGUAGE C;

CREATE FUNCTION cdw_backup_drop_target(name text)
  RETURNS void AS 'MODULE_PATHNAME', 'cdw_backup_drop_target' LANGUAGE C;

CREATE FUNCTION cdw_backup_run(target text DEFAULT 'default', databases text[] DEFAULT NULL,
                               exclude_databases text[] DEFAULT NULL, compression text DEFAULT 'gzip',
                               wait boolean DEFAULT false, max_rate text DEFAULT NULL,
                               tables text[] DEFAULT NULL, exclude_tables text[] DEFAULT NULL,
                               schemas text[] DEFAULT NULL, exclude_schemas text[] DEFAULT NULL,
                               exclude_table_data text[] DEFAULT NULL,
                               incremental boolean DEFAULT true)
  RETURNS bigint AS 'MODULE_PATHNAME', 'cdw_backup_run' LANGUAGE C;

CREATE FUNCTION cdw_backup_wait(run_id bigint, timeout interval DEFAULT NULL)
  RETURNS text AS 'MODULE_PATHNAME', 'cdw_backup_wait' LANGUAGE C;

CREATE FUNCTION cdw_backup_cancel(run_id bigint)
  RETURNS boolean AS 'MODULE_PATHNAME', 'cdw_backup_cancel' LANGUAGE C;

-- phase 'export': a worker exporting a table; 'thaw': cdw_backup_restore()
-- or cdw_backup_verify() waiting for the run's archived objects to thaw
-- (objects_thawed of objects_total are readable).
CREATE FUNCTION cdw_backup_progress(OUT run_id bigint, OUT pid integer, OUT database name,
                                    OUT schema_name text, OUT table_name text, OUT rows bigint,
                                    OUT bytes_raw bigint, OUT started_at timestamptz,
                                    OUT phase text, OUT objects_thawed bigint,
                                    OUT objects_total bigint)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'cdw_backup_progress' LANGUAGE C STRICT;

CREATE VIEW cdw_backup.progress AS SELECT * FROM cdw_backup_progress();

-- One row per active run: how far along it is and when it should end
-- (README "Progress"). Sizes not yet exported are estimates from relation
-- sizes, corrected as tables finish.
CREATE FUNCTION cdw_backup_run_progress(OUT run_id bigint, OUT started_at timestamptz,
                                        OUT databases_done integer, OUT databases_total integer,
                                        OUT tables_done integer, OUT tables_total integer,
                                        OUT bytes_done bigint, OUT bytes_total bigint,
                                        OUT bytes_stored bigint, OUT percent double precision,
                                        OUT rate_bytes_per_second double precision,
                                        OUT elapsed interval, OUT eta interval,
                                        OUT estimated_end timestamptz)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'cdw_backup_run_progress' LANGUAGE C STRICT;

CREATE VIEW cdw_backup.run_progress AS SELECT * FROM cdw_backup_run_progress();

-- The functions check their caller themselves (superuser or a member of
-- cdw_backup_operator) so that a refusal comes with a hint naming the GRANT.
GRANT SELECT ON cdw_backup.progress, cdw_backup.run_progress TO cdw_backup_operator;

-- Reading backups back.
CREATE FUNCTION cdw_backup_list(target text DEFAULT 'default',
                                allow_unauthenticated boolean DEFAULT false,
                                OUT run_id bigint, OUT schedule_name text, OUT status text,
                                OUT started_at timestamptz, OUT finished_at timestamptz,
                                OUT compression text, OUT database text, OUT database_status text,
                                OUT tables integer, OUT rows bigint, OUT bytes_stored bigint,
                                OUT location text)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'cdw_backup_list' LANGUAGE C;

-- wait, thaw_timeout, restore_tier, restore_days: archived objects
-- (GLACIER, DEEP_ARCHIVE, ARCHIVE) are thawed first; NULL tier / days take
-- the target's restore_tier / restore_days options (README "Cold storage").
CREATE FUNCTION cdw_backup_verify(run_id bigint, target text DEFAULT NULL,
                                  allow_unauthenticated boolean DEFAULT false,
                                  wait boolean DEFAULT true,
                                  thaw_timeout interval DEFAULT '12 hours',
                                  restore_tier text DEFAULT NULL, restore_days integer DEFAULT NULL,
                                  OUT database text, OUT schema_name text, OUT table_name text,
                                  OUT status text, OUT problem text, OUT detail text)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'cdw_backup_verify' LANGUAGE C;

CREATE FUNCTION cdw_backup_restore(run_id bigint, database text, table_name text DEFAULT NULL,
                                   into_table text DEFAULT NULL, into_schema text DEFAULT NULL,
                                   into_database text DEFAULT NULL, truncate boolean DEFAULT false,
                                   dry_run boolean DEFAULT false, target text DEFAULT NULL,
                                   cascade boolean DEFAULT false, schema text DEFAULT NULL,
                                   allow_unauthenticated boolean DEFAULT false,
                                   create_roles boolean DEFAULT false,
                                   wait boolean DEFAULT true,
                                   thaw_timeout interval DEFAULT '12 hours',
                                   restore_tier text DEFAULT NULL,
                                   restore_days integer DEFAULT NULL,
                                   OUT schema_name text, OUT table_name text, OUT destination text,
                                   OUT status text, OUT rows bigint, OUT detail text, OUT hint text)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'cdw_backup_restore' LANGUAGE C;

-- Schedules: read by the launcher, a static background worker in this
-- database. The store is dumped by pg_dump (it is user configuration).
CREATE TABLE cdw_backup.schedule_store (
  name text PRIMARY KEY CHECK (name OPERATOR(pg_catalog.<>) ''),
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  target text NOT NULL DEFAULT 'default',
  databases text[],
  exclude_databases text[],
  compression text NOT NULL DEFAULT 'gzip',
  keep_days integer CHECK (keep_days OPERATOR(pg_catalog.>) 0),
  keep_runs integer CHECK (keep_runs OPERATOR(pg_catalog.>) 0),
  verify boolean NOT NULL DEFAULT false,
  catch_up_window interval,
  max_run_time interval,
  tables text[],
  exclude_tables text[],
  schemas text[],
  exclude_schemas text[],
  exclude_table_data text[],
  -- Incremental runs: a run of the schedule copies everything again when
  -- its last full copy (a good run that reused nothing) is older than this;
  -- NULL: never forced.
  full_every interval CHECK (full_every OPERATOR(pg_catalog.>) '0'::interval),
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text,
  owner pg_catalog.regrole NOT NULL,
  -- The owner's name when the schedule was last written: for messages once
  -- the role is gone (owner then shows its bare OID).
  owner_name name NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  next_run_at timestamptz,
  last_checked_at timestamptz,
  last_run_id bigint,
  -- The runs' bandwidth limit ('50MB': bytes per second); NULL: the target's.
  max_rate text
);
REVOKE ALL ON cdw_backup.schedule_store FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cdw_backup.schedule_store', '');
-- Targets are not dumped: their rows hold secrets, and a dump file is read by
-- more people than this table. After restoring a dump, add them again with
-- cdw_backup_add_target() (schedules name their target).

CREATE VIEW cdw_backup.schedules WITH (security_barrier) AS
  SELECT s.name, s.cron, s.timezone, s.target, s.databases, s.exclude_databases, s.compression,
         s.keep_days, s.keep_runs, s.verify, s.catch_up_window, s.max_run_time, s.enabled,
         s.disabled_reason, s.owner, s.created_at, s.next_run_at, s.last_run_id, s.max_rate,
         s.tables, s.exclude_tables, s.schemas, s.exclude_schemas, s.exclude_table_data,
         s.full_every,
         r.status AS last_status, r.started_at AS last_started_at, r.finished_at AS last_finished_at
    FROM cdw_backup.schedule_store s
    CROSS JOIN (SELECT a.oid, a.rolsuper FROM pg_catalog.pg_roles a
                 WHERE a.rolname OPERATOR(pg_catalog.=) CURRENT_USER) AS me
    LEFT JOIN cdw_backup.runs r ON r.run_id OPERATOR(pg_catalog.=) s.last_run_id
   WHERE s.owner OPERATOR(pg_catalog.=) me.oid OR me.rolsuper;
GRANT SELECT ON cdw_backup.schedules TO PUBLIC;

CREATE FUNCTION cdw_backup_schedule(name text, cron text, target text DEFAULT 'default',
                                    timezone text DEFAULT 'UTC', databases text[] DEFAULT NULL,
                                    exclude_databases text[] DEFAULT NULL,
                                    compression text DEFAULT 'gzip', keep_days integer DEFAULT NULL,
                                    keep_runs integer DEFAULT NULL, verify boolean DEFAULT false,
                                    enabled boolean DEFAULT true,
                                    catch_up_window interval DEFAULT NULL,
                                    max_run_time interval DEFAULT NULL,
                                    max_rate text DEFAULT NULL,
                                    tables text[] DEFAULT NULL,
                                    exclude_tables text[] DEFAULT NULL,
                                    schemas text[] DEFAULT NULL,
                                    exclude_schemas text[] DEFAULT NULL,
                                    exclude_table_data text[] DEFAULT NULL,
                                    full_every interval DEFAULT NULL)
  RETURNS timestamptz AS 'MODULE_PATHNAME', 'cdw_backup_schedule' LANGUAGE C;

CREATE FUNCTION cdw_backup_unschedule(name text)
  RETURNS boolean AS 'MODULE_PATHNAME', 'cdw_backup_unschedule' LANGUAGE C;

CREATE FUNCTION cdw_backup_run_schedule(name text)
  RETURNS bigint AS 'MODULE_PATHNAME', 'cdw_backup_run_schedule' LANGUAGE C;
