-- Write and read back every kind of value through the external table, with
-- session settings that differ between the writer and the reader.
CREATE EXTENSION cdw_backup_fdw;
\getenv abs_srcdir PG_ABS_SRCDIR
\set backups 'file://' :abs_srcdir '/backups'
CREATE SERVER backups FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location :'backups');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (x int, label text);

CREATE TABLE all_types (
  id int, i2 int2, i8 int8, num numeric, f4 float4, f8 float8, cash money,
  d date, ts timestamp, tstz timestamptz, t time, ttz timetz, iv interval,
  raw bytea, txt text, vc varchar(10), ch char(5), flag bool, u uuid,
  ip inet, net cidr, mac macaddr, bits bit(4), vbits varbit, ints int[], texts text[],
  composite pair, range int4range, tsr tstzrange, j json, jb jsonb, m mood, p positive,
  tsv tsvector, pt point
);
INSERT INTO all_types VALUES
  (1, 32767, 9223372036854775807, 'NaN', 'NaN', 'Infinity', '12.34',
   'infinity', '-infinity', 'infinity', '00:00', '23:59:59.999999+14', '-1 year 2 mons -3 days 04:05:06.7',
   '\x00ff00', 'quote " comma , newline
 backslash \ tab	 end', 'short', 'ab', true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', B'101', '{1,NULL,3}', '{"a \"quoted\"",NULL,"",b}',
   ROW(1, 'x,"y"'), '[1,10)', '[2026-01-01 00:00+00,infinity)', '{"k": [1, "two"]}', '{"k": [1, "two"], "n": null}', 'happy', 5,
   'a fat cat', '(1.5,-2)'),
  (2, -32768, -9223372036854775808, '-Infinity', '-Infinity', '-0', '-0.01',
   '4713-01-01 BC', '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00+05:30', '12:34:56.789', '00:00+00', '0',
   '', '', '', '', false, '00000000-0000-0000-0000-000000000000',
   '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', B'0000', B'', '{}', '{}',
   ROW(NULL, NULL), 'empty', 'empty', '[]', '{}', 'sad', 1, '', '(0,0)'),
  (3, 0, 0, '123456789012345678901234567890.123456789012345678901234567890', '3.4028235e+38', '2.2250738585072014e-308', '0',
   '2026-11-24', '2026-11-24 03:00:00', '2026-03-29 02:30:00 Europe/Berlin', '24:00:00', '12:00:00-08', '178000000 years',
   decode(repeat('00', 300), 'hex'), 'multibyte: 漢字 ünïcödé 🎉', '漢字', 'ü', NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, NULL, NULL, '0.1', '0.1', '0.1', NULL,
   NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, '{{1,2},{3,4}}', '{"\\.", "\\N", "NULL"}',
   NULL, NULL, NULL, 'null', '"string"', NULL, NULL, NULL, NULL),
  (5, 1, 1, '1e-20', '1.17549435e-38', '5e-324', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, '\.', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- The writer's session uses settings that would change the text output.
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET TimeZone = 'Asia/Tokyo';
SET extra_float_digits = -3;
SET bytea_output = 'escape';

-- PostgreSQL 15 has no CREATE FOREIGN TABLE (LIKE ...): build the column list.
CREATE FUNCTION external_like(source regclass, name text, options text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE FOREIGN TABLE %I (%s) SERVER backups OPTIONS (%s)', name,
                 (SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
                    FROM pg_attribute WHERE attrelid = source AND attnum > 0 AND NOT attisdropped),
                 options);
END $$;
SELECT external_like('all_types', 'all_types_gzip', $$path 'types/gzip/'$$);
SELECT external_like('all_types', 'all_types_zstd', $$path 'types/zstd/', compression 'zstd'$$);
SELECT external_like('all_types', 'all_types_none', $$path 'types/none/', compression 'none', header 'true'$$);
INSERT INTO all_types_gzip SELECT * FROM all_types;
INSERT INTO all_types_zstd SELECT * FROM all_types;
INSERT INTO all_types_none SELECT * FROM all_types;
-- The session settings are back after the insert.
SHOW DateStyle;
SHOW TimeZone;

-- The reader's session uses other settings again.
SET DateStyle = 'Postgres, MDY';
SET IntervalStyle = 'iso_8601';
SET TimeZone = 'America/New_York';
SET extra_float_digits = 0;

-- Equal row for row, compared through the text form of each whole row
-- (some types, e.g. json and point, have no equality operator). The aliases
-- must not be column names: all_types has a column t.
SELECT 'gzip' AS compression, count(*) AS rows,
       (SELECT count(*) FROM (SELECT orig::text FROM all_types orig EXCEPT ALL SELECT back::text FROM all_types_gzip back) x) AS missing,
       (SELECT count(*) FROM (SELECT back::text FROM all_types_gzip back EXCEPT ALL SELECT orig::text FROM all_types orig) x) AS extra
  FROM all_types_gzip
UNION ALL
SELECT 'zstd', count(*),
       (SELECT count(*) FROM (SELECT orig::text FROM all_types orig EXCEPT ALL SELECT back::text FROM all_types_zstd back) x),
       (SELECT count(*) FROM (SELECT back::text FROM all_types_zstd back EXCEPT ALL SELECT orig::text FROM all_types orig) x)
  FROM all_types_zstd
UNION ALL
SELECT 'none', count(*),
       (SELECT count(*) FROM (SELECT orig::text FROM all_types orig EXCEPT ALL SELECT back::text FROM all_types_none back) x),
       (SELECT count(*) FROM (SELECT back::text FROM all_types_none back EXCEPT ALL SELECT orig::text FROM all_types orig) x)
  FROM all_types_none;
-- Floats are exact, not merely equal in text at some precision.
SELECT count(*) AS exact_floats FROM all_types t JOIN all_types_gzip e USING (id)
 WHERE t.f8 IS NOT DISTINCT FROM e.f8 AND t.f4 IS NOT DISTINCT FROM e.f4
   AND float8send(t.f8) IS NOT DISTINCT FROM float8send(e.f8);
-- bytea with zero bytes, empty string vs NULL.
SELECT id, length(raw) AS raw_len, txt IS NULL AS txt_null, txt = '' AS txt_empty FROM all_types_zstd ORDER BY id;
RESET ALL;

-- A second INSERT adds a new part; it never overwrites the first.
INSERT INTO all_types_gzip SELECT * FROM all_types WHERE id = 1;
SELECT count(*) FROM all_types_gzip;
SELECT count(*) AS parts FROM pg_ls_dir(:'abs_srcdir' || '/backups/types/gzip') f WHERE f LIKE 'part-%.csv.gz';

-- NULL versus empty string in every position, including a one-column table.
CREATE TABLE one_col (v text);
INSERT INTO one_col VALUES (NULL), (''), ('\.'), ('"'), (',');
CREATE FOREIGN TABLE one_col_ext (v text) SERVER backups OPTIONS (path 'one_col/', compression 'none');
INSERT INTO one_col_ext SELECT * FROM one_col;
SELECT v IS NULL AS is_null, v FROM one_col_ext ORDER BY v NULLS FIRST;
SELECT pg_read_file(:'abs_srcdir' || '/backups/one_col/' || f) AS csv
  FROM pg_ls_dir(:'abs_srcdir' || '/backups/one_col') f;

-- Zero rows and zero columns.
CREATE TABLE empty_table (a int, b text);
CREATE FOREIGN TABLE empty_ext (a int, b text) SERVER backups OPTIONS (path 'empty/');
INSERT INTO empty_ext SELECT * FROM empty_table;
SELECT count(*) FROM empty_ext;
CREATE TABLE no_columns ();
INSERT INTO no_columns DEFAULT VALUES;
INSERT INTO no_columns DEFAULT VALUES;
CREATE FOREIGN TABLE no_columns_ext () SERVER backups OPTIONS (path 'no_columns/');
INSERT INTO no_columns_ext SELECT FROM no_columns;
SELECT count(*) FROM no_columns_ext;

-- Weird identifiers: quotes, spaces, mixed case, multibyte.
CREATE SCHEMA "Schéma ""quoted"" x";
CREATE TABLE "Schéma ""quoted"" x"."Table With Spaces ""q"" 漢字" ("Col A" int, "列" text);
INSERT INTO "Schéma ""quoted"" x"."Table With Spaces ""q"" 漢字" VALUES (1, 'one'), (2, 'two');
CREATE FOREIGN TABLE "Schéma ""quoted"" x"."ext ""q"" 漢字" ("Col A" int, "列" text)
  SERVER backups OPTIONS (path 'weird/Schéma "quoted" x.Table With Spaces/');
INSERT INTO "Schéma ""quoted"" x"."ext ""q"" 漢字" SELECT * FROM ONLY "Schéma ""quoted"" x"."Table With Spaces ""q"" 漢字";
SELECT * FROM "Schéma ""quoted"" x"."ext ""q"" 漢字" ORDER BY 1;

-- Dropped columns are not written; the column list is what remains.
CREATE TABLE dropped (a int, gone text, b text);
ALTER TABLE dropped DROP COLUMN gone;
INSERT INTO dropped VALUES (1, 'x');
CREATE FOREIGN TABLE dropped_ext (a int, b text) SERVER backups OPTIONS (path 'dropped/');
INSERT INTO dropped_ext SELECT * FROM dropped;
SELECT * FROM dropped_ext;

-- Reading a table whose columns do not match the parts is an error, not a guess.
\set SHOW_CONTEXT never
CREATE FOREIGN TABLE mismatch (a int) SERVER backups OPTIONS (path 'dropped/');
SELECT * FROM mismatch;
CREATE FOREIGN TABLE mismatch2 (a int, b int) SERVER backups OPTIONS (path 'dropped/');
SELECT * FROM mismatch2;
\set SHOW_CONTEXT errors

-- A rolled-back transaction leaves no part behind, nor does a rolled-back savepoint.
CREATE FOREIGN TABLE tx_ext (a int) SERVER backups OPTIONS (path 'tx/');
INSERT INTO tx_ext VALUES (1);
BEGIN;
INSERT INTO tx_ext SELECT g FROM generate_series(1, 1000) g;
ROLLBACK;
BEGIN;
INSERT INTO tx_ext VALUES (2);
SAVEPOINT s;
INSERT INTO tx_ext VALUES (3);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT a FROM tx_ext ORDER BY a;
SELECT count(*) AS files FROM pg_ls_dir(:'abs_srcdir' || '/backups/tx') f;
-- A failing statement leaves neither a part nor a temporary file.
INSERT INTO tx_ext SELECT 1 / (g - 500) FROM generate_series(1, 1000) g;
SELECT count(*) AS files FROM pg_ls_dir(:'abs_srcdir' || '/backups/tx') f;
-- Temporary files of an interrupted writer are ignored by readers.
\set ECHO none
SELECT format('COPY (SELECT ''garbage'') TO %L', :'abs_srcdir' || '/backups/tx/.tmp-part-x.csv.gz') \gexec
\set ECHO all
SELECT a FROM tx_ext ORDER BY a;

DROP SCHEMA "Schéma ""quoted"" x" CASCADE;
DROP EXTENSION cdw_backup_fdw CASCADE;
