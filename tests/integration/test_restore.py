"""cdw_backup_restore / cdw_backup_verify / cdw_backup_list: getting data back.

Every restore is checked against a copy of the rows taken before the backup
(in another schema or table of the same database, or read from the source
cluster), compared as row::text with EXCEPT ALL both ways plus counts, so a
lost, duplicated or altered row fails the test. Verify is checked on an
intact backup and on one damaged on purpose, one kind of damage per table.
"""
import json
import os
import shutil
import subprocess
import unittest

from harness import (Cluster, ClusterTestCase, PsqlError, backup, json_rows, make_shared_dir, object_mac,
                     qualified, quote_ident, quote_literal, restore, rewrite, target_files, verify,
                     wait_until)

# A name of 63 bytes (NAMEDATALEN - 1) made of 2-byte characters after one
# ASCII byte: cutting it at an even byte count splits a character.
LONG_MULTIBYTE = "x" + "ä" * 31
COLOUR = '"Typ Schema"."Colour ""x"""'  # an enum whose schema and name need quoting

# Types every shape schema uses; enum and domain, one type in a schema with
# an awkward name so that format_type() has to quote it.
TYPES = """
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy', 'ü "q", x');
CREATE DOMAIN public.posint AS integer CHECK (VALUE > 0);
CREATE TYPE public.pair AS (a integer, b text);
CREATE SCHEMA "Typ Schema";
CREATE TYPE {colour} AS ENUM ('red', 'grün');
""".replace("{colour}", COLOUR)

# Every table shape of the round trip, created in schema {s}. Rows hold the
# edge values of each type plus a few thousand ordinary ones.
SHAPES = r"""
CREATE SCHEMA {s};

CREATE TABLE {s}.ints (a smallint, b integer NOT NULL, c bigint, d oid);
INSERT INTO {s}.ints VALUES (-32768, -2147483648, -9223372036854775808, 0),
  (32767, 2147483647, 9223372036854775807, 4294967295), (NULL, 0, NULL, NULL);
INSERT INTO {s}.ints SELECT g % 30000, g, g::bigint * 1000003, g FROM generate_series(1, 4000) g;

CREATE TABLE {s}.numerics (n numeric, m numeric(12,4), r real, d double precision, cash money);
INSERT INTO {s}.numerics VALUES
  ('NaN', 'NaN', 'NaN', 'NaN', NULL),
  ('Infinity', 99999999.9999, 'Infinity', 'Infinity', '92233720368547758.07'),
  ('-Infinity', -99999999.9999, '-Infinity', '-Infinity', '-92233720368547758.08'),
  (0, 0, '-0', '-0', 0),
  ('123456789012345678901234567890.123456789012345678901234567890', 0.0001, 1.17549435e-38,
   2.2250738585072014e-308, 0.01),
  (-0.000000000000000000000000000001, 1.5, 3.4028235e38, 1.7976931348623157e308, 1),
  (NULL, NULL, NULL, NULL, NULL),
  (1.0000000000000002, 3.3333, 0.1, 0.1, 123.45);
INSERT INTO {s}.numerics SELECT g / 7.0, g / 3.0, g / 7.0, g / 7.0, g FROM generate_series(1, 2000) g;

CREATE TABLE {s}.times (ts timestamp(6), tstz timestamptz, d date, t time, ttz timetz, i interval,
                        i2 interval day to second(3));
INSERT INTO {s}.times VALUES
  ('infinity', 'infinity', 'infinity', '24:00:00', '23:59:59.999999+14', '178000000 years', '1 day'),
  ('-infinity', '-infinity', '-infinity', '00:00:00', '00:00:00-12', '-178000000 years', '-1 day'),
  ('4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', '4713-01-01 BC', '12:34:56.789012',
   '12:34:56.789012+05:30', '1 year 2 mons -3 days 04:05:06.789', '1 day 02:03:04.567'),
  ('294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', '5874897-12-31', NULL, NULL,
   '-1 year -2 mons +3 days -04:05:06.000001', NULL),
  ('2020-02-29 12:34:56.789012', '2020-02-29 12:34:56.789012+05:30', '2020-02-29', '23:59:59.999999',
   '01:02:03-00:30', '0', '0');
INSERT INTO {s}.times SELECT '2026-01-01'::timestamp + g * interval '1 second 7 microseconds',
  '2026-01-01'::timestamptz - g * interval '37 minutes', '2026-01-01'::date + g,
  '00:00'::time + g * interval '1 second', '00:00+02'::timetz + g * interval '1 minute',
  g * interval '1 month 1 day 1 microsecond', g * interval '1.5 seconds' FROM generate_series(1, 2000) g;

CREATE TABLE {s}.bytes (b bytea, note text);
INSERT INTO {s}.bytes VALUES ('\x00'::bytea, 'one zero byte'), ('\x0000ff00'::bytea, 'zeros inside'),
  (''::bytea, 'empty'), (NULL, 'null'), (decode(repeat('00', 3000), 'hex'), '3000 zeros'),
  (convert_to('日本 "q",x', 'UTF8'), 'utf8 bytes'), ('\x5c4e'::bytea, 'backslash N'),
  ('\x0d0a2c22'::bytea, 'crlf comma quote');
INSERT INTO {s}.bytes SELECT decode(md5(g::text) || '00', 'hex'), g::text FROM generate_series(1, 2000) g;

CREATE TABLE {s}.texts (t text, c char(5), v varchar(7), n name, q "char");
INSERT INTO {s}.texts VALUES
  ('double "quoted" and ''single''', 'ab ', 'a,b', 'n"m', 'q'),
  (E'comma, separated,\nnew line\r\nand CR\r', 'a', 'x', 'n', ','),
  (E'back\\slash \\N \\. end', '\N', '\N', '\N', '\'),
  ('\N', '', '', '', ''),
  ('NULL', 'NULL', 'NULL', 'NULL', 'N'),
  ('', NULL, NULL, NULL, NULL),
  (NULL, NULL, NULL, NULL, NULL),
  (E'\t tab \t', ' ', ' ', ' ', ' '),
  ('ünïcødé 日本語 🎉 ç', 'ü日🎉', '🎉🎉🎉', 'ñ', 'a'),
  ('"', '"', '"', '"', '"'),
  ('.', '.', '\.', '\.', '.'),
  (repeat(E'long, "line"\n', 20000), 'l', 'l', 'l', 'l');
INSERT INTO {s}.texts SELECT 'row ' || g || CASE WHEN g % 3 = 0 THEN E'\n"x",' ELSE '' END,
  (g % 100)::text, g::text, 'name' || g, chr(65 + g % 26) FROM generate_series(1, 2000) g;

CREATE TABLE {s}.arrays (i int[], t text[], m int[][], n numeric[], b bytea[], ts timestamptz[]);
INSERT INTO {s}.arrays VALUES
  ('{1,NULL,3}', '{"a,b","c\"d",NULL,"NULL","",e}', '{{1,2},{3,4}}', '{NaN,1.5,-Infinity}',
   '{"\\x00ff",NULL}', '{infinity,"2020-01-01 00:00:00+00"}'),
  ('{}', '{}', '{}', '{}', '{}', '{}'),
  ('[0:2]={7,8,9}', '[-1:0]={"x y","{brace}"}', '[1:2][3:4]={{1,2},{3,4}}', NULL, NULL, NULL),
  (NULL, ARRAY[E'new\nline', E'back\\slash', '日本'], NULL, NULL, NULL, NULL),
  (ARRAY[NULL]::int[], ARRAY[NULL]::text[], NULL, NULL, NULL, NULL);
INSERT INTO {s}.arrays SELECT ARRAY[g, -g], ARRAY['v' || g, NULL], ARRAY[[g, g], [g, g]], ARRAY[g / 7.0],
  ARRAY[decode(lpad(to_hex(g), 8, '0'), 'hex')], ARRAY['2026-01-01'::timestamptz + g * interval '1 hour']
  FROM generate_series(1, 1000) g;

CREATE TABLE {s}.composites (p public.pair, ps public.pair[], r text);
INSERT INTO {s}.composites VALUES (ROW(1, 'a,b'), ARRAY[ROW(2, E'q"\\'), ROW(NULL, NULL)]::public.pair[], 'x'),
  (ROW(NULL, NULL), '{}', NULL), (NULL, NULL, NULL), (ROW(3, ''), ARRAY[ROW(4, E'new\nline')]::public.pair[], '');
INSERT INTO {s}.composites SELECT ROW(g, 'p' || g)::public.pair, ARRAY[ROW(g, NULL)::public.pair], g::text
  FROM generate_series(1, 500) g;

CREATE TABLE {s}.ranges (i int4range, n numrange, t tstzrange, d daterange, m int4multirange, b int8range);
INSERT INTO {s}.ranges VALUES ('[1,5)', '[1.5,2.5]', '[2020-01-01 00:00:00+00,infinity)', '[2020-01-01,)',
  '{[1,3),[5,7)}', '(,)'), ('empty', 'empty', 'empty', 'empty', '{}', 'empty'),
  ('(,10)', '(-1.5,)', '(,)', NULL, '{(,0),[5,)}', '[-9223372036854775808,0)'), (NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO {s}.ranges SELECT int4range(g, g + 10), numrange(g / 3.0, g / 2.0), NULL,
  daterange('2026-01-01'::date + g, '2026-01-01'::date + 2 * g), NULL, int8range(g, NULL)
  FROM generate_series(1, 1000) g;

CREATE TABLE {s}.docs (j json, jb jsonb);
INSERT INTO {s}.docs VALUES ('{"b" : 1,   "a": [1, 2, {"c": null}]}', '{"b": 1, "a": [1, 2, {"c": null}]}'),
  ('"text with \"quotes\", commas\nand \\ backslash"', '"ünï \u00e9 日本 🎉"'),
  ('{"zero": "\u0000"}', '[]'), ('null', 'null'), (NULL, NULL), ('1e400', '{"n": 1.000000000000000000001}'),
  ('{"dup": 1, "dup": 2}', '{"dup": 1, "dup": 2}');
INSERT INTO {s}.docs SELECT json_build_object('g', g, 's', 'x,' || g), jsonb_build_object('g', g, 'a', ARRAY[g, g])
  FROM generate_series(1, 1000) g;

CREATE TABLE {s}.misc (u uuid, ip inet, net cidr, mac macaddr, mac8 macaddr8, b8 bit(8), vb varbit,
                       flag boolean, pt point, bx box, tv tsvector, tq tsquery, x xid8);
INSERT INTO {s}.misc VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8',
  '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'10101010', B'', true, '(1.5,-2)', '((0,0),(1,1))',
  'a:1 b:2,3 ''quo,te'':4', 'a & !b', '18446744073709551615'),
  ('00000000-0000-0000-0000-000000000000', '::1', '::/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00',
   B'00000000', B'1', false, '(NaN,Infinity)', '((-1,-1),(1e300,1e-300))', '', 'x', '0'),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO {s}.misc SELECT md5(g::text)::uuid, ('10.0.' || (g % 256) || '.' || (g / 256))::inet, NULL, NULL,
  NULL, (g % 256)::bit(8), repeat('10', g % 20)::varbit, g % 2 = 0, point(g, -g), NULL,
  to_tsvector('simple', 'word' || g), NULL, g::text::xid8 FROM generate_series(1, 1000) g;

CREATE TABLE {s}.user_types (m public.mood, ms public.mood[], d public.posint, c {colour});
INSERT INTO {s}.user_types VALUES ('ü "q", x', '{sad,"ü \"q\", x"}', 1, 'grün'), (NULL, NULL, NULL, NULL),
  ('ok', '{}', 2147483647, 'red');
INSERT INTO {s}.user_types SELECT (enum_range(NULL::public.mood))[1 + g % 4], NULL, g, 'red'
  FROM generate_series(1, 500) g;

CREATE TABLE {s}.not_nulls (a integer NOT NULL, b text NOT NULL DEFAULT 'x', c numeric, d public.mood NOT NULL);
INSERT INTO {s}.not_nulls SELECT g, 'b' || g, CASE WHEN g % 2 = 0 THEN g END, 'happy' FROM generate_series(1, 500) g;

CREATE TABLE {s}.dropped (a integer, b text, c numeric, d text);
INSERT INTO {s}.dropped SELECT g, 'b' || g, g, 'd' || g FROM generate_series(1, 300) g;
ALTER TABLE {s}.dropped DROP COLUMN b;
ALTER TABLE {s}.dropped ADD COLUMN e timestamptz;
ALTER TABLE {s}.dropped DROP COLUMN c;
INSERT INTO {s}.dropped SELECT g, 'd' || g, '2026-01-01'::timestamptz + g * interval '1 day' FROM generate_series(301, 600) g;

CREATE TABLE {s}."Weird ""Tab"", le.ü" ({col1} integer, "select" text, "a.b" text, "ünï cøde" text, " " text,
                                      "UPPER" int);
INSERT INTO {s}."Weird ""Tab"", le.ü" SELECT g, 'sel' || g, 'a.b', 'ü' || g, ' ', -g FROM generate_series(1, 300) g;

CREATE TABLE {s}."{long}" (a integer, b text);
INSERT INTO {s}."{long}" SELECT g, 'long name ' || g FROM generate_series(1, 100) g;

CREATE TABLE {s}.empty (a integer, b text NOT NULL);

CREATE TABLE {s}.parted (k integer NOT NULL, v text) PARTITION BY RANGE (k);
CREATE TABLE {s}.parted_lo PARTITION OF {s}.parted FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE {s}.parted_hi PARTITION OF {s}.parted FOR VALUES FROM (1000) TO (MAXVALUE);
INSERT INTO {s}.parted SELECT g, 'v' || g FROM generate_series(-500, 2500) g;

CREATE TABLE {s}.inh_parent (id integer, note text);
CREATE TABLE {s}.inh_child (extra text) INHERITS ({s}.inh_parent);
INSERT INTO {s}.inh_parent SELECT g, 'parent ' || g FROM generate_series(1, 400) g;
INSERT INTO {s}.inh_child SELECT g, 'child ' || g, 'x' || g FROM generate_series(1, 250) g;

CREATE TABLE {s}.many (id bigint, ts timestamptz, amount numeric, note text, doc jsonb, raw bytea, tags text[]);
INSERT INTO {s}.many
SELECT g, '2026-01-01'::timestamptz + g * interval '37 seconds', g / 7.0,
       CASE WHEN g % 10 = 0 THEN NULL WHEN g % 10 = 1 THEN '' ELSE repeat('note, "quoted"' || E'\n', g % 4) || g END,
       jsonb_build_object('g', g), decode(lpad(to_hex(g), 8, '0'), 'hex'), ARRAY['a' || g, NULL, '']
  FROM generate_series(1, 30000) g;
""".replace("{long}", LONG_MULTIBYTE.replace('"', '""')).replace("{colour}", COLOUR).replace(
    "{col1}", '"Col ""1"""')

# A database of built-in types only, for restores into other schemas and
# databases (user-defined types do not exist there).
SMALL = r"""
CREATE SCHEMA sales;
CREATE TABLE public.items (id integer NOT NULL, note text, amount numeric, ts timestamptz, tags text[], doc jsonb);
INSERT INTO public.items SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE E'item, "q"\n' || g END, g / 3.0,
  '2026-01-01'::timestamptz + g * interval '1 minute', ARRAY['t' || g, NULL], jsonb_build_object('g', g)
  FROM generate_series(1, 3000) g;
CREATE TABLE public."Weird ""Name"".x" ("Id" integer, "v a l" text);
INSERT INTO public."Weird ""Name"".x" SELECT g, 'ü' || g FROM generate_series(1, 100) g;
CREATE TABLE sales.orders (order_id bigint NOT NULL, customer text NOT NULL, total numeric(12,2), placed date);
INSERT INTO sales.orders SELECT g, 'customer ' || (g % 97), g * 1.25, '2026-01-01'::date + g % 365
  FROM generate_series(1, 2000) g;
CREATE TABLE sales.empty_one (a integer);
CREATE TABLE public.replace_me (id integer, note text);
INSERT INTO public.replace_me SELECT g, 'backed up ' || g FROM generate_series(1, 200) g;
CREATE TABLE public.mismatch_me (id integer, note text);
INSERT INTO public.mismatch_me SELECT g, 'backed up ' || g FROM generate_series(1, 200) g;
CREATE TABLE public.dry (id integer, note text);
INSERT INTO public.dry SELECT g, 'dry ' || g FROM generate_series(1, 50) g;
CREATE TABLE public.identity_always (id bigint GENERATED ALWAYS AS IDENTITY, note text);
INSERT INTO public.identity_always (note) SELECT 'n' || g FROM generate_series(1, 100) g;
CREATE TABLE public.generated_col (a integer, doubled integer GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO public.generated_col (a) SELECT g FROM generate_series(1, 100) g;
"""

RESTORE_COLUMNS = ("schema_name", "table_name", "destination", "status", "rows", "detail", "hint")
VERIFY_COLUMNS = ("database", "schema_name", "table_name", "status", "problem", "detail")


def compare(cluster, db, expected, actual):
    """(count expected, count actual, missing, extra): rows as text, EXCEPT ALL both ways."""
    row = cluster.rows(f"""
        SELECT (SELECT count(*) FROM ONLY {expected}), (SELECT count(*) FROM ONLY {actual}),
               (SELECT count(*) FROM (SELECT expected_row_::text FROM ONLY {expected} expected_row_
                                      EXCEPT ALL SELECT actual_row_::text FROM ONLY {actual} actual_row_) x),
               (SELECT count(*) FROM (SELECT actual_row_::text FROM ONLY {actual} actual_row_
                                      EXCEPT ALL SELECT expected_row_::text FROM ONLY {expected} expected_row_) y)""", db=db)
    return tuple(int(v) for v in row[0])


def columns(cluster, db, schema, table):
    """Column names, types, domains and nullability from information_schema.columns, in order."""
    return json_rows(cluster, f"""
        SELECT column_name, data_type, udt_schema, udt_name, domain_schema, domain_name, is_nullable,
               character_maximum_length, numeric_precision, numeric_scale, datetime_precision, interval_type
          FROM information_schema.columns
         WHERE table_schema = {quote_literal(schema)} AND table_name = {quote_literal(table)}
         ORDER BY ordinal_position""", db=db)


def ordinary_tables(cluster, db, schema):
    """Tables the backup holds for `schema`: ordinary tables and leaf partitions."""
    return cluster.value(f"SELECT string_agg(relname, E'\\n' ORDER BY relname) FROM pg_class "
                         f"WHERE relnamespace = {quote_literal(schema)}::regnamespace AND relkind = 'r'",
                         db=db).split("\n")


def fingerprint(cluster, db, table):
    """Count and md5 of the rows as text: equal before and after means unchanged."""
    return cluster.rows(f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                        f"FROM ONLY {table} t", db=db)[0]


def fdw_leftovers(cluster, db):
    return json_rows(cluster, """
        SELECT 'server' AS kind, srvname::text AS name FROM pg_foreign_server
        UNION ALL SELECT 'foreign table', ftrelid::regclass::text FROM pg_foreign_table""", db=db)


class RestoreTestCase(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.target = make_shared_dir("cdw_restore_target_")
        cls.cluster.sql("CREATE EXTENSION cdw_backup")
        cls.cluster.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def assertRestored(self, result, count=None):
        self.assertTrue(result, "cdw_backup_restore returned no rows")
        for row in result:
            self.assertEqual(row["status"], "restored", row)
        if count is not None:
            self.assertEqual(len(result), count, result)


class RestoreTest(RestoreTestCase):
    """One cluster, database src (every table shape) and small (built-in types only)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        for db in ("src", "small", "other", "small_copy"):
            c.sql(f"CREATE DATABASE {db}")
        c.sql(TYPES, db="src")
        for schema in ("rt_drop", "rt_trunc"):
            c.sql(SHAPES.replace("{s}", schema), db="src")
            # The saved copy: the rows as they were before the backup.
            c.sql(f"CREATE SCHEMA saved_{schema}", db="src")
            for table in ordinary_tables(c, "src", schema):
                c.sql(f"CREATE TABLE saved_{schema}.{quote_ident(table)} AS "
                      f"SELECT * FROM ONLY {schema}.{quote_ident(table)}", db="src")
        c.sql(SMALL, db="small")
        c.sql("CREATE SCHEMA saved; "
              "CREATE TABLE saved.identity_always_saved AS SELECT * FROM identity_always; "
              "CREATE TABLE saved.generated_col_saved AS SELECT * FROM generated_col", db="small")
        cls.run_id = backup(c, ["src", "small"])

    def round_trip(self, schema, damage):
        """Damages every table of `schema` (drop or truncate), restores each, compares each."""
        c = self.cluster
        tables = ordinary_tables(c, "src", schema)
        self.assertIn(LONG_MULTIBYTE, tables)
        self.assertIn("inh_parent", tables)
        before = {t: columns(c, "src", schema, t) for t in tables}
        for table in tables:
            if damage == "drop":
                c.sql(f"DROP TABLE IF EXISTS {qualified(schema, table)} CASCADE", db="src")
            else:
                c.sql(f"TRUNCATE ONLY {qualified(schema, table)}", db="src")
        for table in tables:
            with self.subTest(table=table):
                result = restore(c, self.run_id, "src", qualified(schema, table))
                # A schema object that could not come back is one more row
                # (inh_child before its parent: created without it).
                objects = [r for r in result if " was not restored: " in (r["detail"] or "")]
                self.assertEqual(len(objects), 1 if (table, damage) == ("inh_child", "drop") else 0, result)
                result = [r for r in result if r not in objects]
                self.assertEqual(len(result), 1, result)
                self.assertEqual(result[0]["status"], "restored", result)
                self.assertEqual((result[0]["schema_name"], result[0]["table_name"]), (schema, table))
                expected_count, actual_count, missing, extra = compare(
                    c, "src", qualified(f"saved_{schema}", table), qualified(schema, table))
                self.assertEqual((actual_count, missing, extra), (expected_count, 0, 0),
                                 "rows differ from the saved copy (count, missing, extra)")
                self.assertEqual(result[0]["rows"], expected_count)
                if damage == "drop":
                    self.assertEqual(columns(c, "src", schema, table), before[table],
                                     "the recreated table's columns differ from the original's")
        return tables

    def test_round_trip_of_dropped_tables(self):
        tables = self.round_trip("rt_drop", "drop")
        # A leaf comes back attached to its partitioned parent, which a
        # DROP TABLE of its leaves keeps; the inheritance child restored
        # before its parent comes back standalone (and said so).
        self.assertEqual(self.cluster.value(
            "SELECT string_agg(inhrelid::regclass || ' of ' || inhparent::regclass, ', ' ORDER BY 1) "
            "FROM pg_inherits WHERE inhrelid = ANY (ARRAY['rt_drop.parted_lo'::regclass, "
            "'rt_drop.inh_child'::regclass])", db="src"), "rt_drop.parted_lo of rt_drop.parted")
        self.assertGreater(len(tables), 15)

    def test_round_trip_of_truncated_tables(self):
        self.round_trip("rt_trunc", "truncate")
        # The partitioned parent sees exactly the restored leaves.
        self.assertEqual(compare(self.cluster, "src", "saved_rt_trunc.parted_lo", "rt_trunc.parted_lo")[2:], (0, 0))
        self.assertEqual(self.cluster.value("SELECT count(*) FROM rt_trunc.parted", db="src"), "3001")
        self.assertEqual(self.cluster.value("SELECT count(*) FROM rt_trunc.inh_parent", db="src"), "650")

    def test_restore_into_another_table(self):
        c = self.cluster
        result = restore(c, self.run_id, "small", "sales.orders", into_table="archive.orders_0424")
        self.assertRestored(result, 1)
        self.assertEqual(result[0]["destination"], "small.archive.orders_0424")
        self.assertEqual(compare(c, "small", "sales.orders", "archive.orders_0424"), (2000, 2000, 0, 0))
        self.assertEqual(columns(c, "small", "archive", "orders_0424"), columns(c, "small", "sales", "orders"))
        # A weird name on both sides, and user-defined types in the same database.
        result = restore(c, self.run_id, "small", 'public."Weird ""Name"".x"', into_table='"Copy ""of"" x"')
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "small", 'public."Weird ""Name"".x"', 'public."Copy ""of"" x"'),
                         (100, 100, 0, 0))
        result = restore(c, self.run_id, "src", "saved_rt_drop.user_types", into_table="copies.user_types")
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "src", "saved_rt_drop.user_types", "copies.user_types")[1:], (503, 0, 0))

    def test_restore_into_another_schema(self):
        c = self.cluster
        result = restore(c, self.run_id, "small", into_schema="restored")
        self.assertRestored(result)
        names = sorted((r["schema_name"], r["table_name"]) for r in result)
        self.assertIn(("sales", "orders"), names)
        self.assertIn(("public", 'Weird "Name".x'), names)
        for schema, table in [("public", "items"), ("sales", "orders"), ("public", 'Weird "Name".x'),
                              ("sales", "empty_one")]:
            with self.subTest(table=table):
                expected, actual, missing, extra = compare(c, "small", qualified(schema, table),
                                                           qualified("restored", table))
                self.assertEqual((actual, missing, extra), (expected, 0, 0))
                self.assertEqual(columns(c, "small", "restored", table), columns(c, "small", schema, table))

    def test_restore_into_another_database(self):
        c = self.cluster
        result = restore(c, self.run_id, "small", into_database="small_copy")
        self.assertRestored(result)
        self.assertTrue(all(r["destination"].startswith("small_copy.") for r in result), result)
        for schema, table in [("public", "items"), ("sales", "orders"), ("public", 'Weird "Name".x')]:
            with self.subTest(table=table):
                source = c.rows(f"SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) "
                                f"FROM {qualified(schema, table)} t", db="small")
                copy = c.rows(f"SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) "
                              f"FROM {qualified(schema, table)} t", db="small_copy")
                self.assertEqual(copy, source)
                self.assertEqual(columns(c, "small_copy", schema, table), columns(c, "small", schema, table))
        # One table of src, into a schema of a third database.
        result = restore(c, self.run_id, "src", "saved_rt_drop.many", into_table="imported.many",
                         into_database="other")
        self.assertRestored(result, 1)
        self.assertEqual(result[0]["rows"], 30000)
        self.assertEqual(c.value("SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM imported.many t",
                                 db="other"),
                         c.value("SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM saved_rt_drop.many t",
                                 db="src"))

    def test_non_empty_destination_needs_truncate(self):
        c = self.cluster
        c.sql("DELETE FROM replace_me WHERE id % 2 = 0; INSERT INTO replace_me VALUES (-1, 'current row')",
              db="small")
        current = fingerprint(c, "small", "replace_me")
        result = restore(c, self.run_id, "small", "public.replace_me")
        self.assertEqual(len(result), 1, result)
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIsNone(result[0]["rows"])
        self.assertIn("truncate", result[0]["hint"] or "")
        self.assertIn("not empty", result[0]["detail"] or "")
        self.assertEqual(fingerprint(c, "small", "replace_me"), current, "a failed restore changed the table")
        result = restore(c, self.run_id, "small", "public.replace_me", truncate=True)
        self.assertRestored(result, 1)
        self.assertEqual(result[0]["rows"], 200)
        self.assertEqual(c.rows("SELECT count(*), count(*) FILTER (WHERE note = 'backed up ' || id) FROM replace_me",
                                db="small"), [["200", "200"]])

    def test_column_mismatch_fails_and_names_it(self):
        c = self.cluster
        c.sql("DROP TABLE mismatch_me; CREATE TABLE mismatch_me (id bigint, note varchar(20), extra int);"
              "INSERT INTO mismatch_me VALUES (1, 'current', 7)", db="small")
        current = fingerprint(c, "small", "mismatch_me")
        for truncate in (False, True):
            with self.subTest(truncate=truncate):
                result = restore(c, self.run_id, "small", "public.mismatch_me", truncate=truncate)
                self.assertEqual(result[0]["status"], "failed", result)
                detail = result[0]["detail"] or ""
                self.assertIn("do not match", detail)
                for word in ("bigint", "character varying(20)", "extra", "integer", "text"):
                    self.assertIn(word, detail)
                self.assertEqual(fingerprint(c, "small", "mismatch_me"), current)
        # An empty table with the wrong columns is refused too.
        c.sql("TRUNCATE mismatch_me", db="small")
        result = restore(c, self.run_id, "small", "public.mismatch_me")
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIn("do not match", result[0]["detail"] or "")
        self.assertEqual(c.value("SELECT count(*) FROM mismatch_me", db="small"), "0")

    def test_dry_run_changes_nothing(self):
        c = self.cluster
        result = restore(c, self.run_id, "small", "public.dry", into_table="dry_new", dry_run=True)
        self.assertEqual([r["status"] for r in result], ["checked"], result)
        self.assertEqual(result[0]["rows"], 50)
        self.assertEqual(c.value("SELECT to_regclass('public.dry_new') IS NULL", db="small"), "t")
        c.sql("UPDATE dry SET note = 'changed'", db="small")
        current = fingerprint(c, "small", "dry")
        result = restore(c, self.run_id, "small", "public.dry", dry_run=True)
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIn("truncate", result[0]["hint"] or "")
        result = restore(c, self.run_id, "small", "public.dry", dry_run=True, truncate=True)
        self.assertEqual(result[0]["status"], "checked", result)
        self.assertEqual(fingerprint(c, "small", "dry"), current)

    def test_truncated_inheritance_parent_is_restored_without_touching_children(self):
        # The parent's own rows were backed up (ONLY); its children's rows are
        # not the parent's: they make it neither "non-empty" nor truncatable.
        c = self.cluster
        c.sql("CREATE SCHEMA IF NOT EXISTS inh; "
              "CREATE TABLE inh.parent AS SELECT * FROM ONLY saved_rt_drop.inh_parent; "
              "CREATE TABLE inh.child (extra text) INHERITS (inh.parent); "
              "INSERT INTO inh.child VALUES (1, 'live child row', 'x')", db="src")
        result = restore(c, self.run_id, "src", "saved_rt_drop.inh_parent", into_table="inh.parent",
                         truncate=True)
        self.assertRestored(result, 1)
        self.assertEqual(c.value("SELECT count(*) FROM inh.child", db="src"), "1",
                         "truncate => true on an inheritance parent emptied its child table")
        self.assertEqual(compare(c, "src", "saved_rt_drop.inh_parent", "inh.parent")[1:], (400, 0, 0))
        c.sql("TRUNCATE ONLY inh.parent", db="src")
        result = restore(c, self.run_id, "src", "saved_rt_drop.inh_parent", into_table="inh.parent")
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "src", "saved_rt_drop.inh_parent", "inh.parent")[1:], (400, 0, 0))
        self.assertEqual(c.value("SELECT count(*) FROM inh.child", db="src"), "1")

    def test_truncated_identity_always_table(self):
        c = self.cluster
        c.sql("TRUNCATE identity_always", db="small")
        result = restore(c, self.run_id, "small", "public.identity_always")
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "small", "saved.identity_always_saved", "identity_always"), (100, 100, 0, 0))

    def test_truncated_table_with_generated_column(self):
        c = self.cluster
        c.sql("TRUNCATE generated_col", db="small")
        result = restore(c, self.run_id, "small", "public.generated_col")
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "small", "saved.generated_col_saved", "generated_col"), (100, 100, 0, 0))

    def test_bad_arguments(self):
        c = self.cluster
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'small', 'public.no_such_table')")
        self.assertIn("42P01", error)
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'small', 'public.items', "
                            "into_database => 'nope')")
        self.assertIn("CREATE DATABASE", error)
        self.assertEqual(c.value("SELECT count(*) FROM pg_database WHERE datname = 'nope'"), "0")
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'nope', into_database => 'small')")
        self.assertIn("no complete backup", error)
        error = c.sql_error("SELECT * FROM cdw_backup_restore(999999, 'small')")
        self.assertIn("was not found", error)

    def test_three_part_into_table_is_refused(self):
        # 'a.b.c' is not a table name of this database: restoring into
        # public.c (the source's schema) instead silently ignores "a.b".
        c = self.cluster
        c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'small', 'sales.orders', "
                    f"into_table => 'nowhere.elsewhere.three_parts')")
        self.assertEqual(c.value("SELECT count(*) FROM pg_class WHERE relname = 'three_parts'", db="small"), "0")

    def test_cancelled_restore_stops_its_worker_and_changes_nothing(self):
        c = self.cluster
        c.sql("CREATE TABLE cancel_me AS SELECT * FROM sales.orders WHERE order_id <= 10", db="small")
        current = fingerprint(c, "small", "cancel_me")
        # Another session holds the destination, so the restore worker waits for it.
        locker = subprocess.Popen(c.psql_args("small", "postgres"), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            locker.stdin.write("BEGIN; LOCK TABLE cancel_me IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
            locker.stdin.flush()
            self.assertEqual(locker.stdout.readline().strip(), "locked")
            error = c.sql_error("SET statement_timeout = '1s'; SELECT * FROM cdw_backup_restore("
                                f"{self.run_id}, 'small', 'sales.orders', into_table => 'public.cancel_me', "
                                "truncate => true)")
            self.assertIn("57014", error)
            wait_until(lambda: c.value("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE backend_type = 'cdw_backup restore'") == "0",
                       timeout=20, what="the restore worker to stop after its caller was cancelled")
        finally:
            locker.communicate("COMMIT;\n", timeout=30)
        self.assertEqual(fingerprint(c, "small", "cancel_me"), current)
        self.assertEqual(fdw_leftovers(c, "small"), [])

    def test_zz_no_foreign_tables_or_servers_left(self):
        # Runs last (by name) so it sees what every other test's restores left;
        # also makes its own successful, failed and dry restores first.
        c = self.cluster
        restore(c, self.run_id, "small", "sales.orders", into_table="fdw_check.orders")
        restore(c, self.run_id, "small", "sales.orders", into_table="fdw_check.orders")  # not empty
        restore(c, self.run_id, "small", "sales.orders", into_table="fdw_check.dry", dry_run=True)
        restore(c, self.run_id, "small", "sales.orders", into_table="fdw_check.orders", into_database="other")
        for db in ("src", "small", "other", "small_copy", "postgres"):
            with self.subTest(database=db):
                self.assertEqual(fdw_leftovers(c, db), [])


class VerifyTest(RestoreTestCase):
    """An intact run and a run damaged one way per table."""

    TABLES = ("c_ok", "c_flip", "c_delete", "c_truncate", "c_rows", "c_extra")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        for db in ("vsrc", "vsrc2"):
            c.sql(f"CREATE DATABASE {db}")
        for table in cls.TABLES:
            c.sql(f"CREATE TABLE {table} (id integer, note text, ts timestamptz); "
                  f"INSERT INTO {table} SELECT g, md5(g::text) || repeat(',x', g % 7), "
                  f"'2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 5000) g",
                  db="vsrc")
        c.sql("CREATE TABLE other_db_table AS SELECT g AS id FROM generate_series(1, 10) g", db="vsrc2")
        cls.intact_run = backup(c, ["vsrc", "vsrc2"])
        # A full copy: damaging its objects must leave the intact run's alone.
        cls.damaged_run = backup(c, ["vsrc", "vsrc2"], incremental=False)
        cls.damage()

    @classmethod
    def part(cls, table):
        parts = target_files(cls.target, cls.damaged_run, "vsrc", f"public.{table}/part-*")
        assert len(parts) == 1, parts
        return parts[0]

    @classmethod
    def damage(cls):
        run = cls.damaged_run
        flip = cls.part("c_flip")
        with open(flip, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        rewrite(flip, bytes(data))
        os.remove(cls.part("c_delete"))
        truncated = cls.part("c_truncate")
        with open(truncated, "rb") as f:
            data = f.read()
        rewrite(truncated, data[: len(data) // 2])
        extra = cls.part("c_extra")
        with open(extra, "rb") as src, open(os.path.join(os.path.dirname(extra), "part-stray-0001.csv.gz"),
                                            "wb") as dst:
            dst.write(src.read())
        manifest = target_files(cls.target, run, "vsrc", "manifest.json")[0]
        with open(manifest) as f:
            document = json.load(f)
        for table in document["tables"]:
            if table["name"] == "c_rows":
                table["rows"] += 1
        # Signed again with the target's key: an authentic manifest that
        # disagrees with its objects (a changed manifest without its new MAC is
        # refused outright, see test_manifest_authentication.py).
        changed = json.dumps(document).encode()
        rewrite(manifest, changed)
        key = cls.cluster.sql("SELECT cdw_backup_target_key('default')")
        rewrite(manifest + ".hmac",
                object_mac(key, os.path.relpath(manifest, cls.target), changed).encode())
        os.remove(target_files(cls.target, run, "vsrc2", "manifest.json")[0])

    def problems(self, rows):
        found = {}
        for row in rows:
            found.setdefault((row["database"], row["table_name"]), []).append(
                (row["status"], row["problem"], row["detail"]))
        return found

    def test_intact_backup_verifies_ok(self):
        rows = verify(self.cluster, self.intact_run)
        self.assertEqual(sorted((r["database"], r["schema_name"], r["table_name"], r["status"]) for r in rows),
                         sorted([("vsrc", "public", t, "ok") for t in self.TABLES]
                                + [("vsrc2", "public", "other_db_table", "ok")]), rows)
        self.assertTrue(all(r["problem"] is None for r in rows), rows)

    def test_damaged_backup_reports_each_problem(self):
        found = self.problems(verify(self.cluster, self.damaged_run))

        def kinds(table, db="vsrc"):
            return {problem for status, problem, _ in found.get((db, table), [])}

        self.assertEqual(found.get(("vsrc", "c_ok")), [("ok", None, None)], found)
        with self.subTest("byte flipped"):
            self.assertIn("checksum_mismatch", kinds("c_flip"), found.get(("vsrc", "c_flip")))
            self.assertTrue(all(s == "problem" for s, _, _ in found[("vsrc", "c_flip")]))
        with self.subTest("object deleted"):
            self.assertIn("missing_object", kinds("c_delete"), found.get(("vsrc", "c_delete")))
        with self.subTest("gzip truncated"):
            self.assertTrue({"size_mismatch", "checksum_mismatch"} <= kinds("c_truncate"),
                            found.get(("vsrc", "c_truncate")))
            self.assertIn("corrupt_data", kinds("c_truncate"))
        with self.subTest("manifest row count"):
            self.assertEqual(kinds("c_rows"), {"row_count_mismatch"}, found.get(("vsrc", "c_rows")))
            self.assertIn("5001", found[("vsrc", "c_rows")][0][2])
        with self.subTest("stray object"):
            self.assertEqual(kinds("c_extra"), {"unexpected_object"}, found.get(("vsrc", "c_extra")))
        with self.subTest("manifest deleted"):
            self.assertEqual([(s, p) for s, p, _ in found.get(("vsrc2", None), [])],
                             [("problem", "missing_manifest")], found)

    def test_restore_of_damaged_tables_fails_and_keeps_destination(self):
        c = self.cluster
        c.sql("CREATE TABLE keep (id integer, note text, ts timestamptz); "
              "INSERT INTO keep VALUES (1, 'current', now())", db="vsrc")
        current = fingerprint(c, "vsrc", "keep")
        for table in ("c_flip", "c_delete", "c_truncate", "c_rows"):
            with self.subTest(table=table):
                result = restore(c, self.damaged_run, "vsrc", f"public.{table}", into_table="public.keep",
                                 truncate=True)
                self.assertEqual(result[0]["status"], "failed", result)
                self.assertEqual(fingerprint(c, "vsrc", "keep"), current)
                result = restore(c, self.damaged_run, "vsrc", f"public.{table}", into_table=f"new_{table}")
                self.assertEqual(result[0]["status"], "failed", result)
                self.assertEqual(c.value(f"SELECT to_regclass('new_{table}') IS NULL", db="vsrc"), "t")
        # The intact run restores.
        result = restore(c, self.intact_run, "vsrc", "public.c_flip", into_table="public.keep", truncate=True)
        self.assertRestored(result, 1)
        self.assertEqual(compare(c, "vsrc", "c_flip", "keep"), (5000, 5000, 0, 0))
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.damaged_run}, 'vsrc2')")
        self.assertIn("manifest.json", error)
        self.assertEqual(fdw_leftovers(c, "vsrc"), [])


class FreshClusterTest(RestoreTestCase):
    """Backed up in cluster A; restored in cluster B, which knows only the target."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.cluster
        a.sql("CREATE DATABASE src")
        a.sql(SMALL, db="src")
        cls.run_id = backup(a, ["src"])
        cls.b = Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.b.destroy()
        super().tearDownClass()

    def digest(self, cluster, db, table):
        return cluster.rows(f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                            f"FROM {table} t", db=db)

    def test_list_and_restore_on_a_fresh_cluster(self):
        b = self.b
        b.sql("CREATE EXTENSION cdw_backup")
        # Without the target's key the fresh cluster cannot authenticate anything there.
        b.sql(f"SELECT cdw_backup_add_target('no_key', {quote_literal('file://' + self.target)})")
        with self.assertRaises(PsqlError) as refused:
            b.sql("SELECT * FROM cdw_backup_list('no_key')")
        self.assertIn("was authenticated with another key", str(refused.exception))
        self.assertIn("manifest_key", str(refused.exception))
        key = self.cluster.sql("SELECT cdw_backup_target_key('default')")
        self.assertRegex(key, r"^[0-9a-f]{64}$")
        b.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + self.target)}, "
              f"manifest_key => {quote_literal(key)})")
        self.assertEqual(b.sql("SELECT cdw_backup_target_key('default')"), key)
        self.assertEqual(b.value("SELECT count(*) FROM cdw_backup.runs"), "0")
        listed = json_rows(b, "SELECT * FROM cdw_backup_list()")
        self.assertEqual([(r["run_id"], r["database"], r["status"], r["database_status"]) for r in listed],
                         [(self.run_id, "src", "succeeded", "succeeded")], listed)
        tables = int(self.cluster.value(f"SELECT count(*) FROM cdw_backup.run_tables WHERE run_id = {self.run_id}"))
        self.assertEqual(tables, 9)
        self.assertEqual(listed[0]["tables"], tables)
        self.assertTrue(listed[0]["location"].startswith("file://" + self.target), listed)
        b.sql("CREATE DATABASE dst")
        result = restore(b, self.run_id, "src", into_database="dst")
        # identity_always / generated_col are loaded into new plain tables.
        self.assertRestored(result, tables)
        for table in ("public.items", "sales.orders", 'public."Weird ""Name"".x"', "public.identity_always",
                      "public.generated_col", "sales.empty_one"):
            with self.subTest(table=table):
                self.assertEqual(self.digest(b, "dst", table), self.digest(self.cluster, "src", table))
        self.assertEqual([r["status"] for r in verify(b, self.run_id)], ["ok"] * tables)
        self.assertEqual(fdw_leftovers(b, "dst"), [])
        # A whole database whose destination is missing is created.
        result = restore(b, self.run_id, "src")
        self.assertRestored(result, tables)
        self.assertEqual(self.digest(b, "src", "sales.orders"), self.digest(self.cluster, "src", "sales.orders"))


if __name__ == "__main__":
    unittest.main()
