-- cdw_backup_fdw: the external table of cdw_backup.
\echo Use "CREATE EXTENSION cdw_backup_fdw" to load this file. \quit

CREATE FUNCTION cdw_backup_fdw_handler() RETURNS fdw_handler
  AS 'MODULE_PATHNAME', 'cdw_backup_fdw_handler' LANGUAGE C STRICT;

CREATE FUNCTION cdw_backup_fdw_validator(text[], oid) RETURNS void
  AS 'MODULE_PATHNAME', 'cdw_backup_fdw_validator' LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER cdw_backup_fdw
  HANDLER cdw_backup_fdw_handler
  VALIDATOR cdw_backup_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER cdw_backup_fdw IS
  'cdw_backup external tables: CSV parts (gzip, zstd or none) on file://, s3:// and cos://';

-- Backup operators (a role of the cdw_backup extension) may create the
-- servers and temporary external tables a backup run uses.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) 'cdw_backup_operator') THEN
    GRANT USAGE ON FOREIGN DATA WRAPPER cdw_backup_fdw TO cdw_backup_operator;
  END IF;
END $$;
