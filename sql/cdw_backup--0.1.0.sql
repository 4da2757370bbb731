-- cdw_backup: the control plane (runs, history, targets, schedules).
\echo Use "CREATE EXTENSION cdw_backup" to load this file. \quit

CREATE FUNCTION cdw_backup_version() RETURNS text
  AS 'MODULE_PATHNAME', 'cdw_backup_version' LANGUAGE C STRICT IMMUTABLE;
