"""cdw_backup_run(): whole backups across databases, checked independently.

Every succeeded table is read back without cdw_backup: its parts are
decompressed by gzip / zstd / cat and loaded with COPY ... FROM PROGRAM into a
scratch copy of the table, which must hold exactly the source's own rows
(EXCEPT ALL both ways). Manifests are checked against the files (sizes and
SHA-256 computed here), history rows against what was written, and every
database for external tables or servers left behind.
"""
import glob
import shutil
import json
import os
import re
import shlex
import subprocess
import time
import unittest

from harness import (ClusterTestCase, PsqlError, files_under, make_shared_dir, object_mac, qualified,
                     quote_ident, quote_literal, sha256_of, url_to_path, wait_until)

DECOMPRESS = {"gzip": ("gzip -dc", ".csv.gz"), "zstd": ("zstd -q -dc", ".csv.zst"),
              "none": ("cat", ".csv")}
TERMINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")


def encode_component(identifier):
    """The layout's rule, written independently: bytes outside [A-Za-z0-9_-]
    and below 0x80 become %XX (upper-case hex)."""
    out = []
    for byte in identifier.encode():
        if byte >= 0x80 or chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "_-"):
            out.append(bytes([byte]))
        else:
            out.append(b"%%%02X" % byte)
    return b"".join(out).decode()


# The slow database: big enough that a run on it takes a few seconds, so
# that progress, cancel and crashes can be observed mid-export.
SLOW_DATABASE = "a_slow"
SLOW_TABLES = ("big_a", "big_b", "big_c")


def create_slow_database(cluster, rows=700000, tables=SLOW_TABLES):
    cluster.sql(f"CREATE DATABASE {SLOW_DATABASE}")
    cluster.sql("CREATE EXTENSION cdw_backup_fdw", db=SLOW_DATABASE)
    first = tables[0]
    cluster.sql(f"""
        CREATE TABLE {first} (id int, a timestamptz, b timestamptz, c numeric, d text);
        INSERT INTO {first}
        SELECT g, '2026-01-01'::timestamptz + g * interval '1 second',
               '2026-01-01'::timestamptz - g * interval '1 minute', g / 3.0, md5(g::text)
          FROM generate_series(1, {rows}) g;
    """, db=SLOW_DATABASE)
    for table in tables[1:]:
        cluster.sql(f"CREATE TABLE {table} AS SELECT * FROM {first}", db=SLOW_DATABASE)


CRASH_SIGNATURES = ("was terminated by signal", "terminating any other active server processes")


class BackupTestCase(ClusterTestCase):
    """A cluster per class, prepared by prepare(); checks shared by the classes.

    The class's directories go away with the cluster; a failing prepare()
    does not leave a server running. Unless a class expects crashes, every
    test fails if the server crashed while it ran."""
    expects_crashes = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shared_dirs = []
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if not os.environ.get("CDW_KEEP_CLUSTER"):
            for path in cls.shared_dirs:
                shutil.rmtree(path, ignore_errors=True)

    @classmethod
    def shared_dir(cls, prefix):
        path = make_shared_dir(prefix)
        cls.shared_dirs.append(path)
        return path

    def setUp(self):
        self.log_offset = len(self.cluster.server_log())

    def tearDown(self):
        if self.expects_crashes:
            return
        new_log = self.cluster.server_log()[self.log_offset:]
        crashes = [line for line in new_log.splitlines()
                   if any(sig in line for sig in CRASH_SIGNATURES)]
        self.assertEqual(crashes, [], "the server crashed during the test")

    def run_row(self, run_id):
        rows = self.cluster.sql(f"""
            SELECT row_to_json(r) FROM cdw_backup.runs r WHERE run_id = {run_id}""")
        self.assertTrue(rows, f"run {run_id} has no runs row")
        return json.loads(rows)

    def table_rows(self, run_id):
        out = self.cluster.sql(f"""
            SELECT row_to_json(t) FROM cdw_backup.run_tables t WHERE run_id = {run_id}
             ORDER BY database, schema_name, table_name""")
        return [json.loads(line) for line in out.splitlines()]

    def database_rows(self, run_id):
        out = self.cluster.sql(f"""
            SELECT row_to_json(d) FROM cdw_backup.run_databases d WHERE run_id = {run_id}
             ORDER BY database""")
        return {row["database"]: row for row in map(json.loads, out.splitlines())}

    def start_run(self, args="", user="postgres"):
        # Full copies: the checks read each run's own parts from its
        # directory (incremental runs: test_incremental.py).
        args = f"{args}, incremental => false" if args else "incremental => false"
        return int(self.cluster.value(f"SELECT cdw_backup_run({args})", user=user))

    def wait_run(self, run_id, timeout="90 seconds", user="postgres"):
        status = self.cluster.value(f"SELECT cdw_backup_wait({run_id}, '{timeout}')", user=user)
        self.assertIn(status, TERMINAL, f"run {run_id} still {status} after {timeout}")
        return status

    def fdw_objects(self):
        """Foreign tables and servers of every database: {db: (tables, servers)}."""
        objects = {}
        for db in self.cluster.databases():
            tables = self.cluster.sql(
                "SELECT ftrelid::regclass::text FROM pg_foreign_table ORDER BY 1", db=db)
            servers = self.cluster.sql("SELECT srvname FROM pg_foreign_server ORDER BY 1", db=db)
            objects[db] = (tables.splitlines(), servers.splitlines())
        return objects

    def assert_no_fdw_leftovers(self, expected):
        """Exactly the user's own foreign tables and servers remain everywhere."""
        actual = self.fdw_objects()
        for db, (tables, servers) in actual.items():
            want_tables, want_servers = expected.get(db, ([], []))
            self.assertEqual(tables, want_tables, f"foreign tables left in database {db}")
            self.assertEqual(servers, want_servers, f"foreign servers left in database {db}")

    def restore_and_compare(self, db, schema, table, parts, compression):
        """COPY the parts into a scratch copy of the table; returns
        (restored rows, source rows, missing, extra)."""
        program, _ = DECOMPRESS[compression]
        command = program + " " + " ".join(shlex.quote(p) for p in parts)
        source = qualified(schema, table)
        out = self.cluster.sql(f"""
            CREATE TEMP TABLE cdw_scratch (LIKE {source});
            COPY cdw_scratch FROM PROGRAM {quote_literal(command)} (FORMAT csv);
            SELECT (SELECT count(*) FROM cdw_scratch), (SELECT count(*) FROM ONLY {source}),
                   (SELECT count(*) FROM (SELECT * FROM ONLY {source}
                                          EXCEPT ALL SELECT * FROM cdw_scratch) missing),
                   (SELECT count(*) FROM (SELECT * FROM cdw_scratch
                                          EXCEPT ALL SELECT * FROM ONLY {source}) extra);
        """, db=db)
        return tuple(int(v) for v in out.split("|"))

    def catalog_columns(self, db, schema, table):
        # The workers' search_path is pinned to pg_catalog, pg_temp, so the
        # manifest names every type outside pg_catalog with its schema.
        out = self.cluster.sql(f"""
            SET search_path = pg_catalog, pg_temp;
            SELECT json_agg(json_build_object('name', attname,
                                              'type', format_type(atttypid, atttypmod),
                                              'not_null', attnotnull) ORDER BY attnum)
              FROM pg_attribute
             WHERE attrelid = {quote_literal(qualified(schema, table))}::regclass
               AND attnum > 0 AND NOT attisdropped""", db=db)
        return json.loads(out)

    def assert_create_table_recreates(self, db, schema, table, create_table):
        """The manifest's CREATE TABLE, run in place of the table (rolled
        back), makes a table with the same columns."""
        columns = ("SELECT array_agg(format('%s %s %s', attname, format_type(atttypid, atttypmod), "
                   "attnotnull) ORDER BY attnum) FROM pg_attribute WHERE attrelid = {}::regclass "
                   "AND attnum > 0 AND NOT attisdropped")
        out = self.cluster.sql(f"""
            BEGIN;
            ALTER TABLE {qualified(schema, table)} RENAME TO cdw_check_original;
            {create_table}
            SELECT ({columns.format(quote_literal(qualified(schema, 'cdw_check_original')))})
                 = ({columns.format(quote_literal(qualified(schema, table)))});
            ROLLBACK;
        """, db=db)
        self.assertEqual(out, "t", f"{create_table!r} does not recreate {schema}.{table}")

    def verify_run(self, run_id, compression="gzip", check_create_table=False):
        """Checks everything a finished run wrote; returns its run_tables rows."""
        run = self.run_row(run_id)
        tables = self.table_rows(run_id)
        databases = self.database_rows(run_id)
        self.assertNotEqual(run["status"], "running")
        self.assertIsNotNone(run["finished_at"])
        self.assertEqual(run["compression"], compression)
        run_root = url_to_path(run["location"])
        self.assertRegex(run["location"], rf"^file://.*/\d{{8}}/\d{{6}}Z-run{run_id}/$")
        self.assertTrue(os.path.isdir(run_root), run_root)

        # runs counts = run_tables counts.
        succeeded = [t for t in tables if t["status"] == "succeeded"]
        self.assertEqual(run["tables_total"], len(tables))
        self.assertEqual(run["tables_succeeded"], len(succeeded))
        self.assertEqual(run["tables_failed"], len(tables) - len(succeeded))
        self.assertEqual(run["rows"], sum(t["rows"] for t in succeeded))
        self.assertEqual(run["bytes_stored"], sum(t["bytes_stored"] for t in succeeded))
        self.assertEqual(run["bytes_raw"], sum(t["bytes_raw"] for t in succeeded))
        for t in tables:
            self.assertIn(t["status"], ("succeeded", "failed", "cancelled"), t)
            self.assertIsNotNone(t["finished_at"], t)
            if t["status"] == "succeeded":
                self.assertIsNone(t["sqlstate"], t)
                self.assertIsNone(t["error"], t)
            else:
                self.assertRegex(t["sqlstate"] or "", r"^[0-9A-Z]{5}$", t)
                self.assertTrue(t["error"], t)

        # No temporary objects anywhere under the run.
        leftovers = [f for f in files_under(run_root) if ".tmp-" in os.path.basename(f)]
        self.assertEqual(leftovers, [])

        expected_files = set()
        _, extension = DECOMPRESS[compression]
        for db, drow in databases.items():
            db_tables = [t for t in tables if t["database"] == db]
            self.assertEqual(drow["tables_total"], len(db_tables), drow)
            if drow["status"] not in ("succeeded", "partial"):
                continue
            db_dir = os.path.join(run_root, encode_component(db))
            manifest_path = os.path.join(db_dir, "manifest.json")
            self.assertEqual(drow["manifest"], "file://" + manifest_path)
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
            expected_files.add(manifest_path)
            self.assertEqual(manifest["format_version"], 2)
            # Format 2: every table of the data section is a TABLE of the schema.
            schema_tables = {(o["schema"], o["name"]) for o in manifest["schema"]["objects"]
                             if o["kind"] == "TABLE"}
            self.assertTrue({(m["schema"], m["name"]) for m in manifest["tables"]} <= schema_tables)
            # Its MAC, checked independently with the target's key.
            expected_files.add(manifest_path + ".hmac")
            key = self.cluster.sql(f"SELECT cdw_backup_target_key({quote_literal(run['target'])})")
            target_root = url_to_path(self.cluster.sql(
                f"SELECT location FROM cdw_backup.targets WHERE name = {quote_literal(run['target'])}"))
            with open(manifest_path, "rb") as f, open(manifest_path + ".hmac") as m:
                self.assertEqual(m.read(), object_mac(
                    key, os.path.relpath(manifest_path, target_root), f.read()))
            self.assertEqual(manifest["run_id"], run_id)
            self.assertEqual(manifest["database"], db)
            self.assertEqual(manifest["compression"], compression)
            listed = {(m["schema"], m["name"]): m for m in manifest["tables"]}
            self.assertEqual(len(listed), len(manifest["tables"]), "a table listed twice")
            self.assertEqual(set(listed), {(t["schema_name"], t["table_name"]) for t in db_tables})
            for t in db_tables:
                entry = listed[(t["schema_name"], t["table_name"])]
                name = f"{db}: {t['schema_name']}.{t['table_name']}"
                self.assertEqual(entry["status"], t["status"], name)
                table_dir = os.path.join(db_dir, encode_component(t["schema_name"]) + "." +
                                         encode_component(t["table_name"]))
                if t["status"] != "succeeded":
                    self.assertEqual(entry["objects"], [], name)
                    self.assertEqual(glob.glob(os.path.join(table_dir, "*")), [],
                                     f"{name} failed but left objects")
                    continue
                self.assertEqual(url_to_path(t["location"]), table_dir + "/", name)
                self.assertEqual(entry["columns"],
                                 self.catalog_columns(db, t["schema_name"], t["table_name"]), name)
                self.assertTrue(entry["create_table"].startswith("CREATE TABLE "), name)
                if check_create_table:
                    self.assert_create_table_recreates(db, t["schema_name"], t["table_name"],
                                                       entry["create_table"])
                # Objects: exactly the files, with the manifest's sizes and hashes.
                on_disk = sorted(glob.glob(os.path.join(table_dir, "*")))
                listed_paths = sorted(os.path.join(table_dir, o["key"]) for o in entry["objects"])
                self.assertEqual(listed_paths, on_disk, name)
                self.assertTrue(on_disk, f"{name} succeeded without objects")
                for o in entry["objects"]:
                    path = os.path.join(table_dir, o["key"])
                    self.assertTrue(o["key"].startswith("part-") and o["key"].endswith(extension),
                                    o["key"])
                    self.assertEqual(o["size"], os.path.getsize(path), path)
                    self.assertEqual(o["sha256"], sha256_of(path), path)
                expected_files.update(on_disk)
                self.assertEqual(sum(o["rows"] for o in entry["objects"]), t["rows"], name)
                self.assertEqual(entry["rows"], t["rows"], name)
                self.assertEqual(t["bytes_stored"], sum(os.path.getsize(p) for p in on_disk), name)
                # Read back independently.
                restored, source, missing, extra = self.restore_and_compare(
                    db, t["schema_name"], t["table_name"], on_disk, compression)
                self.assertEqual((restored, missing, extra), (source, 0, 0), name)
                self.assertEqual(t["rows"], source, name)
        # Nothing under the run that is not accounted for by its manifests.
        self.assertEqual(set(files_under(run_root)), expected_files)
        return tables


SHAPES = r"""
-- Partitioned: the parent and the sub-partitioned middle hold no rows; the
-- leaves live in another schema, one attached with another column order and
-- a dropped column.
CREATE SCHEMA sales;
CREATE SCHEMA parts;
CREATE TABLE sales.orders (id int NOT NULL, region text, amount numeric(12,2), placed date)
  PARTITION BY RANGE (id);
CREATE TABLE parts.orders_low PARTITION OF sales.orders FOR VALUES FROM (0) TO (1000);
CREATE TABLE parts.orders_mid PARTITION OF sales.orders FOR VALUES FROM (1000) TO (2000)
  PARTITION BY LIST (region);
CREATE TABLE parts."orders_mid_EU" PARTITION OF parts.orders_mid FOR VALUES IN ('eu');
CREATE TABLE parts.orders_mid_other PARTITION OF parts.orders_mid DEFAULT;
CREATE TABLE parts.orders_high (junk int, placed date, amount numeric(12,2), region text,
                                id int NOT NULL);
ALTER TABLE parts.orders_high DROP COLUMN junk;
ALTER TABLE sales.orders ATTACH PARTITION parts.orders_high FOR VALUES FROM (2000) TO (3000);
INSERT INTO sales.orders
SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, g * 1.25, date '2026-01-01' + g % 365
  FROM generate_series(0, 2999) g;

-- Inheritance: the parent has rows of its own.
CREATE TABLE animals (id int, name text);
CREATE TABLE dogs (breed text) INHERITS (animals);
CREATE TABLE puppies () INHERITS (dogs);
INSERT INTO animals SELECT g, 'animal ' || g FROM generate_series(1, 10) g;
INSERT INTO dogs SELECT g, 'dog ' || g, 'breed ' || g FROM generate_series(101, 105) g;
INSERT INTO puppies SELECT g, 'puppy ' || g, 'small' FROM generate_series(201, 203) g;

CREATE TABLE empty (a int, b text);
CREATE UNLOGGED TABLE scratchpad (k int PRIMARY KEY, v text);
INSERT INTO scratchpad SELECT g, 'v' || g FROM generate_series(1, 100) g;

-- Weird names.
CREATE SCHEMA "We ird.Schema";
CREATE TABLE "We ird.Schema"."ta""ble.name/with slash" ("col ""q"" é" text, "select" int);
INSERT INTO "We ird.Schema"."ta""ble.name/with slash" VALUES ('a', 1), ('b"', 2);
CREATE TABLE "ünïcödé 表" (id int, "値" text);
INSERT INTO "ünïcödé 表" VALUES (1, 'こんにちは'), (2, 'ça va');
-- 63 bytes; the first 40 end in the middle of a character.
DO $$ BEGIN
  EXECUTE format('CREATE TABLE %I (a int, b text)', 'x' || repeat('é', 31));
  EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'x' || repeat('é', 31), 'long');
END $$;
CREATE TABLE ".." (a int);
INSERT INTO ".." VALUES (1);
CREATE TABLE "MixedCase" (a int);
INSERT INTO "MixedCase" VALUES (42);

-- Dropped and added columns.
CREATE TABLE dropped (a int, b text, c int, d text);
INSERT INTO dropped SELECT g, 'b' || g, g * 2, 'd' || g FROM generate_series(1, 50) g;
ALTER TABLE dropped DROP COLUMN b;
ALTER TABLE dropped ADD COLUMN e timestamptz DEFAULT '2026-01-01 00:00:00+00';
INSERT INTO dropped (a, c, d) SELECT g, g * 2, 'd' || g FROM generate_series(51, 60) g;

-- Many types, NULLs and values that are hard for CSV.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (x int, y text);
CREATE TABLE types (
  id int8 PRIMARY KEY, i2 int2, i4 int4, n numeric, f4 real, f8 double precision, b bool,
  t text, vc varchar(20), ch char(5), raw bytea, d date, ts timestamp, tstz timestamptz, tm time,
  ttz timetz, iv interval, u uuid, jb jsonb, ia int[], ta text[], ip inet, net cidr, mac macaddr,
  m mood, p posint, pr pair, r int4range, cash money, bits bit(8), vb varbit, tsv tsvector);
INSERT INTO types
SELECT g, (g % 300)::int2, g * 7, CASE g % 9 WHEN 0 THEN 'NaN'::numeric ELSE g / 7.0 END,
       (ARRAY['NaN', 'Infinity', '-Infinity', '-0', '1.17549435e-38',
              '3.4028235e38'])[1 + g % 6]::real,
       CASE WHEN g % 5 = 0 THEN 'Infinity'::float8 ELSE g / 3.0 END,
       g % 2 = 0,
       (ARRAY['', '\.', E'a,b', E'q"uote', E'line\nbreak', E'cr\r\nlf', E'back\\slash', 'NULL',
              ' spaced ', 'ünï'])[1 + g % 10],
       'vc' || g, 'c' || (g % 10), decode(lpad(to_hex(g), 8, '0'), 'hex'),
       CASE WHEN g % 11 = 0 THEN 'infinity'::date ELSE date '2026-01-01' + g END,
       timestamp '2026-01-01 12:34:56.789' + g * interval '1 hour',
       CASE WHEN g % 13 = 0 THEN '-infinity'::timestamptz
            ELSE timestamptz '2026-01-01 00:00:00.123456+05:30' + g * interval '1 minute' END,
       time '01:02:03.456' + g * interval '1 second', '10:00+02'::timetz,
       g * interval '1 day 2 hours 3.5 seconds', md5(g::text)::uuid,
       jsonb_build_object('g', g, 's', 'x"y', 'n', NULL, 'a', jsonb_build_array(1, 'two')),
       ARRAY[g, NULL, -g], ARRAY['a', NULL, '', 'q"', 'c,d', 'NULL'],
       ('10.0.' || (g % 256) || '.1')::inet, '192.168.0.0/16', '08:00:2b:01:02:03',
       (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood, g, ROW(g, 'p,"' || g)::pair,
       int4range(g, g + 10), g * 1.5, (g % 256)::bit(8), (g % 7)::bit(3)::varbit,
       to_tsvector('simple', 'word' || g || ' other')
  FROM generate_series(1, 2000) g;
-- A row of NULLs (except the key).
INSERT INTO types (id) VALUES (0);

-- "\." alone on a line ends COPY data unless quoted.
CREATE TABLE eod (t text);
INSERT INTO eod VALUES ('\.'), ('a'), (NULL), (''), (E'\\.\n'), (E'x\r\ny'), ('"');

CREATE TABLE toasty (id int, blob text);
INSERT INTO toasty SELECT g, repeat(md5(g::text), 40000) FROM generate_series(1, 3) g;

CREATE TABLE many (id int, v text);
INSERT INTO many SELECT g, 'row ' || g FROM generate_series(1, 50000) g;

CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY, a int,
                  b int GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO gen (a) SELECT generate_series(1, 100);

-- Not backed up.
CREATE VIEW v_orders AS SELECT * FROM sales.orders;
CREATE MATERIALIZED VIEW mv_orders AS SELECT region, count(*) FROM sales.orders GROUP BY region;
CREATE SEQUENCE seq;
"""

SHAPES_TABLES = {
    ("parts", "orders_low"), ("parts", "orders_mid_EU"), ("parts", "orders_mid_other"),
    ("parts", "orders_high"), ("public", "animals"), ("public", "dogs"), ("public", "puppies"),
    ("public", "empty"), ("public", "scratchpad"), ("We ird.Schema", 'ta"ble.name/with slash'),
    ("public", "ünïcödé 表"), ("public", "x" + "é" * 31), ("public", ".."),
    ("public", "MixedCase"), ("public", "dropped"), ("public", "types"), ("public", "eod"),
    ("public", "toasty"), ("public", "many"), ("public", "gen"),
}

QUOTE_DB = 'q"uote'
QUOTE_TABLES_SQL = r"""
CREATE TABLE "it's" (a int, b text);
INSERT INTO "it's" SELECT g, 'it''s ' || g FROM generate_series(1, 20) g;
CREATE SCHEMA "Ω";
CREATE TABLE "Ω"."Ω" (a int);
INSERT INTO "Ω"."Ω" VALUES (1), (2);
-- The same name in two schemas; two names with the same first 40 bytes.
CREATE SCHEMA other;
CREATE TABLE public.same (a int);
CREATE TABLE other.same (b text);
INSERT INTO public.same VALUES (1);
INSERT INTO other.same VALUES ('other');
CREATE TABLE long_name_long_name_long_name_long_name_a (a int);
CREATE TABLE long_name_long_name_long_name_long_name_b (a int);
INSERT INTO long_name_long_name_long_name_long_name_a VALUES (1);
INSERT INTO long_name_long_name_long_name_long_name_b VALUES (2), (3);
"""
QUOTE_TABLES = {("public", "it's"), ("Ω", "Ω"), ("public", "same"), ("other", "same"),
                ("public", "long_name_long_name_long_name_long_name_a"),
                ("public", "long_name_long_name_long_name_long_name_b")}


class BackupRunTest(BackupTestCase):
    """One cluster with databases of many shapes; the first run is a
    default cdw_backup_run() over all of them."""

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_run_target_")
        cls.user_fdw_dir = cls.shared_dir("cdw_run_userfdw_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target}')")
        c.sql("CREATE TABLE home_table (id int); INSERT INTO home_table VALUES (1), (2), (3)")
        c.sql('CREATE DATABASE "odd db"')
        c.sql(SHAPES, db="odd db")
        # A user's own external table and server, which runs must leave alone
        # and must not back up.
        c.sql(f"""
            CREATE EXTENSION cdw_backup_fdw;
            CREATE SERVER user_server FOREIGN DATA WRAPPER cdw_backup_fdw
              OPTIONS (location 'file://{cls.user_fdw_dir}');
            CREATE FOREIGN TABLE user_foreign (a int) SERVER user_server OPTIONS (path 'x/');
        """, db="odd db")
        c.sql(f"CREATE DATABASE {quote_ident(QUOTE_DB)}")
        c.sql(QUOTE_TABLES_SQL, db=QUOTE_DB)
        c.sql("CREATE DATABASE noconn")
        c.sql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)", db="noconn")
        c.sql("ALTER DATABASE noconn ALLOW_CONNECTIONS false")
        cls.user_fdw = {"odd db": (["user_foreign"], ["user_server"])}

        # A temporary table that exists while the run runs.
        session = subprocess.Popen(c.psql_args("odd db", "postgres"), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        session.stdin.write("CREATE TEMP TABLE session_temp (a int); "
                            "INSERT INTO session_temp VALUES (1); SELECT 'ready';\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == "ready"
        try:
            cls.main_run = int(c.value("SELECT cdw_backup_run()"))
            cls.main_status = c.value(f"SELECT cdw_backup_wait({cls.main_run}, '120 s')")
        finally:
            session.communicate()
        cls.main_files = {p: sha256_of(p) for p in files_under(cls.target)}
        cls.slow_created = False

    @classmethod
    def slow_database(cls):
        if not cls.slow_created:
            create_slow_database(cls.cluster)
            cls.slow_created = True

    def table_set(self, run_id, database):
        return {(t["schema_name"], t["table_name"]) for t in self.table_rows(run_id)
                if t["database"] == database}

    # 1. Databases and tables of many shapes.

    def test_default_run_succeeds_over_every_database(self):
        self.assertEqual(self.main_status, "succeeded", self.cluster.server_log()[-3000:])
        run = self.run_row(self.main_run)
        self.assertEqual(run["role_name"], "postgres")
        self.assertEqual(run["target"], "default")
        self.assertIsNone(run["error"])
        # Every database that allows connections, not templates, not noconn.
        self.assertEqual(sorted(run["databases"]), sorted(["odd db", QUOTE_DB, "postgres"]))
        databases = self.database_rows(self.main_run)
        self.assertEqual(sorted(databases), sorted(["odd db", QUOTE_DB, "postgres"]))
        for row in databases.values():
            self.assertEqual(row["status"], "succeeded", row)

    def test_tables_backed_up_are_exactly_the_ordinary_tables_and_leaves(self):
        self.assertEqual(self.table_set(self.main_run, "odd db"), SHAPES_TABLES)
        self.assertEqual(self.table_set(self.main_run, QUOTE_DB), QUOTE_TABLES)
        self.assertEqual(self.table_set(self.main_run, "postgres"), {("public", "home_table")})
        names = {t for _, t in self.table_set(self.main_run, "odd db")}
        for not_backed_up in ("orders", "orders_mid", "v_orders", "mv_orders", "seq",
                              "user_foreign", "session_temp"):
            self.assertNotIn(not_backed_up, names)

    def test_every_table_reads_back_identical(self):
        tables = self.verify_run(self.main_run, check_create_table=True)
        self.assertTrue(all(t["status"] == "succeeded" for t in tables), tables)
        rows = {(t["database"], t["schema_name"], t["table_name"]): t["rows"] for t in tables}
        # The inheritance parent's own rows, exactly once; children separately.
        self.assertEqual(rows[("odd db", "public", "animals")], 10)
        self.assertEqual(rows[("odd db", "public", "dogs")], 5)
        self.assertEqual(rows[("odd db", "public", "puppies")], 3)
        self.assertEqual(rows[("odd db", "public", "empty")], 0)
        self.assertEqual(rows[("odd db", "public", "scratchpad")], 100)
        self.assertEqual(rows[("odd db", "public", "types")], 2001)
        leaves = sum(rows[("odd db", "parts", leaf)] for leaf in
                     ("orders_low", "orders_mid_EU", "orders_mid_other", "orders_high"))
        self.assertEqual(leaves, 3000)

    def test_layout_encodes_names(self):
        run = self.run_row(self.main_run)
        root = url_to_path(run["location"])
        self.assertTrue(root.startswith(self.target.rstrip("/") + "/"))
        self.assertEqual(sorted(os.listdir(root)), sorted(["odd%20db", "q%22uote", "postgres"]))
        odd = os.listdir(os.path.join(root, "odd%20db"))
        self.assertIn("We%20ird%2ESchema.ta%22ble%2Ename%2Fwith%20slash", odd)
        self.assertIn("public.%2E%2E", odd)
        self.assertIn("public.ünïcödé%20表", odd)
        self.assertIn("public.MixedCase", odd)

    def test_disallowed_database_is_skipped_unless_requested(self):
        self.assertNotIn("noconn", self.database_rows(self.main_run))
        run_id = self.start_run("databases => '{noconn,no_such_db}', wait => true")
        self.assertEqual(self.wait_run(run_id), "failed")
        databases = self.database_rows(run_id)
        self.assertEqual(databases["noconn"]["status"], "failed")
        self.assertEqual(databases["noconn"]["sqlstate"], "55000")
        self.assertEqual(databases["noconn"]["hint"],
                         "ALTER DATABASE noconn ALLOW_CONNECTIONS true;")
        self.assertEqual(databases["no_such_db"]["status"], "failed")
        self.assertEqual(databases["no_such_db"]["sqlstate"], "3D000")
        self.assertEqual(self.table_rows(run_id), [])

    def test_exclude_databases(self):
        run_id = self.start_run(
            f"exclude_databases => ARRAY['odd db', {quote_literal(QUOTE_DB)}, '{SLOW_DATABASE}'], "
            "wait => true")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        self.assertEqual(sorted(self.database_rows(run_id)), ["postgres"])
        self.verify_run(run_id)

    # 2. Nothing left behind.

    def test_no_foreign_tables_or_servers_left(self):
        self.assertEqual(self.main_status, "succeeded")
        self.assert_no_fdw_leftovers(self.user_fdw)
        # The user's external table still works.
        self.cluster.sql("INSERT INTO user_foreign VALUES (1)", db="odd db")

    # 4. The run does not depend on the caller's transaction.

    def test_run_survives_rollback_of_callers_transaction(self):
        out = self.cluster.sql("BEGIN; SELECT cdw_backup_run(databases => '{postgres}'); ROLLBACK;")
        run_id = int(out)
        # Visible to another session, and it completes.
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.runs WHERE run_id = {run_id}"), "1")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        tables = self.verify_run(run_id)
        self.assertEqual([(t["table_name"], t["rows"]) for t in tables], [("home_table", 3)])

    # 5. Runs never mix; other compressions.

    def test_runs_on_the_same_day_do_not_mix_and_other_compressions_read_back(self):
        databases = f"ARRAY['odd db', {quote_literal(QUOTE_DB)}]"
        zstd_run = self.start_run(f"databases => {databases}, compression => 'zstd', wait => true")
        plain_run = self.start_run(f"databases => {databases}, compression => 'none', wait => true")
        self.assertEqual(self.wait_run(zstd_run), "succeeded")
        self.assertEqual(self.wait_run(plain_run), "succeeded")
        self.verify_run(zstd_run, compression="zstd")
        self.verify_run(plain_run, compression="none")
        locations = [self.run_row(r)["location"] for r in (self.main_run, zstd_run, plain_run)]
        self.assertEqual(len(set(locations)), 3)
        for a in locations:
            for b in locations:
                if a != b:
                    self.assertFalse(b.startswith(a), (a, b))
        # Runs of the same day share the day's directory.
        days = {re.search(r"/(\d{8})/\d{6}Z-run\d+/$", loc).group(1) for loc in locations}
        if time.gmtime().tm_hour != 0:
            self.assertEqual(len(days), 1, locations)
        # The earlier run's objects are untouched.
        for path, digest in self.main_files.items():
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(sha256_of(path), digest, path)

    # 8. Progress.

    def test_progress_shows_the_running_table(self):
        self.slow_database()
        run_id = self.start_run(f"databases => '{{{SLOW_DATABASE}}}'")

        def progress():
            rows = self.cluster.rows(
                f"SELECT pid, database, schema_name, table_name, rows, bytes_raw, started_at "
                f"FROM cdw_backup.progress WHERE run_id = {run_id} AND rows > 0")
            return rows
        rows = wait_until(progress, timeout=60, what="a progress row with rows > 0")
        pid, database, schema, table, row_count, bytes_raw, started_at = rows[0]
        self.assertEqual((database, schema), (SLOW_DATABASE, "public"))
        self.assertIn(table, SLOW_TABLES)
        self.assertGreater(int(bytes_raw), 0)
        self.assertTrue(started_at)
        worker = self.cluster.value(
            f"SELECT backend_type || '|' || datname FROM pg_stat_activity WHERE pid = {pid}")
        self.assertEqual(worker, f"cdw_backup database worker|{SLOW_DATABASE}")
        # Changes committed after the run took its snapshot are not in the
        # backup, whether their table is being exported or still waiting.
        self.cluster.sql("INSERT INTO big_c SELECT * FROM big_c LIMIT 1000; "
                         "DELETE FROM big_a WHERE id <= 1000", db=SLOW_DATABASE)
        # The counters move while the table is exported.
        wait_until(lambda: int(self.cluster.value(
            f"SELECT coalesce(max(rows), 0) FROM cdw_backup.progress "
            f"WHERE run_id = {run_id} AND pid = {pid} AND table_name = {quote_literal(table)}")
            or 0) > int(row_count) or self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE pid = {pid} "
            f"AND table_name = {quote_literal(table)}") == "0",
            timeout=60, what="progress to advance")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE run_id = {run_id}"), "0")
        rows = {t["table_name"]: t["rows"] for t in self.table_rows(run_id)}
        self.assertEqual(rows, {t: 700000 for t in SLOW_TABLES})
        self.assertEqual(self.cluster.value(
            "SELECT (SELECT count(*) FROM big_a) || ' ' || (SELECT count(*) FROM big_c)",
            db=SLOW_DATABASE), "699000 701000")

    # 6. Cancel.

    def test_cancel_mid_run(self):
        self.slow_database()
        before = self.fdw_objects()
        run_id = self.start_run(f"databases => ARRAY['{SLOW_DATABASE}', 'postgres']")
        wait_until(lambda: self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE run_id = {run_id}") != "0",
            timeout=60, what="the run to export a table")
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_cancel({run_id})"), "t")
        started = time.monotonic()
        status = self.cluster.value(f"SELECT cdw_backup_wait({run_id}, '15 s')")
        self.assertEqual(status, "cancelled")
        self.assertLess(time.monotonic() - started, 10)
        run = self.run_row(run_id)
        self.assertEqual(run["status"], "cancelled")
        # postgres is exported alongside (databases run in parallel): it may
        # have finished before the cancel or be cancelled with the rest.
        all_tables = self.table_rows(run_id)
        tables = [t for t in all_tables if t["database"] == SLOW_DATABASE]
        self.assertEqual({t["table_name"] for t in tables}, set(SLOW_TABLES))
        unfinished = [t for t in tables if t["status"] != "succeeded"]
        self.assertTrue(unfinished, "the cancel came too late to test anything")
        for t in unfinished:
            self.assertEqual(t["status"], "cancelled", t)
            self.assertEqual(t["sqlstate"], "57014", t)
        databases = self.database_rows(run_id)
        self.assertEqual(databases[SLOW_DATABASE]["status"], "cancelled")
        home_status = databases["postgres"]["status"]
        self.assertIn(home_status, ("cancelled", "succeeded"))
        for t in all_tables:
            if t["database"] == "postgres":
                self.assertEqual(t["status"], "succeeded" if home_status == "succeeded"
                                 else "cancelled", t)
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE run_id = {run_id}"), "0")
        # Nothing half-written, no parts of cancelled tables, nothing left in the database.
        root = url_to_path(run["location"])
        self.assertEqual([f for f in files_under(root) if ".tmp-" in f], [])
        for t in unfinished:
            table_dir = os.path.join(root, SLOW_DATABASE, "public." + t["table_name"])
            self.assertEqual(glob.glob(os.path.join(table_dir, "*")), [], t)
        self.assertFalse(os.path.exists(os.path.join(root, SLOW_DATABASE, "manifest.json")))
        if home_status == "succeeded":
            self.assertTrue(os.path.exists(os.path.join(root, "postgres", "manifest.json")))
        else:
            self.assertEqual(files_under(os.path.join(root, "postgres")), [])
        wait_until(lambda: self.cluster.value(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'cdw_backup%' "
            "AND backend_type <> 'cdw_backup launcher'") == "0",
            timeout=30, what="the run's workers to exit")
        self.assertEqual(self.fdw_objects(), before)
        # A cancelled run does not block the next one.
        run_id = self.start_run("databases => '{postgres}', wait => true")
        self.assertEqual(self.wait_run(run_id), "succeeded")

    def test_cancel_of_finished_or_unknown_run(self):
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_cancel({self.main_run})"), "f")
        self.assertEqual(self.cluster.value("SELECT cdw_backup_cancel(987654)"), "f")
        self.assertEqual(self.run_row(self.main_run)["status"], "succeeded")


class OperatorRoleTest(BackupTestCase):
    """A non-superuser operator: runs with its own privileges, and each
    missing privilege is a failed table or database with the GRANT that fixes it."""

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_op_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql("""
            CREATE ROLE backup_op LOGIN;
            GRANT cdw_backup_operator TO backup_op;
            GRANT pg_write_server_files TO backup_op;
            CREATE ROLE other_op LOGIN;
            GRANT cdw_backup_operator TO other_op;
            CREATE ROLE outsider LOGIN;
            CREATE DATABASE perms;
            CREATE DATABASE closed;
            REVOKE CONNECT ON DATABASE closed FROM PUBLIC;
        """)
        cls.fdw_databases = ("postgres", "perms", "closed")
        for db in cls.fdw_databases:
            c.sql("CREATE EXTENSION cdw_backup_fdw", db=db)
        c.sql("""
            CREATE SCHEMA open_s;
            GRANT USAGE ON SCHEMA open_s TO backup_op;
            CREATE TABLE open_s.readable (id int, v text);
            INSERT INTO open_s.readable SELECT g, 'v' || g FROM generate_series(1, 100) g;
            GRANT SELECT ON open_s.readable TO backup_op;
            CREATE TABLE open_s."Secret Table" (id int);
            INSERT INTO open_s."Secret Table" VALUES (1);
            CREATE SCHEMA "Closed Schema";
            CREATE TABLE "Closed Schema".t (id int);
            GRANT SELECT ON "Closed Schema".t TO backup_op;
            CREATE TABLE open_s.guarded (id int, who name);
            INSERT INTO open_s.guarded VALUES (1, 'backup_op'), (2, 'postgres');
            ALTER TABLE open_s.guarded ENABLE ROW LEVEL SECURITY;
            CREATE POLICY mine ON open_s.guarded USING (who = current_user);
            GRANT SELECT ON open_s.guarded TO backup_op;
            CREATE TABLE public.pub (id int);
            INSERT INTO public.pub VALUES (1), (2);
            GRANT SELECT ON public.pub TO backup_op;
            -- The role's own table with row-level security: the owner reads every row.
            CREATE TABLE open_s.owned (id int);
            INSERT INTO open_s.owned VALUES (1), (2), (3);
            ALTER TABLE open_s.owned ENABLE ROW LEVEL SECURITY;
            ALTER TABLE open_s.owned OWNER TO backup_op;
        """, db="perms")
        c.sql("CREATE TABLE c (id int)", db="closed")
        c.sql(f"SELECT cdw_backup_add_target('op_target', 'file://{cls.target}')", user="backup_op")
        cls.run_id = int(c.value("SELECT cdw_backup_run(target => 'op_target', wait => true)",
                                 user="backup_op"))

    def table(self, schema, name, db="perms"):
        for t in self.table_rows(self.run_id):
            if (t["database"], t["schema_name"], t["table_name"]) == (db, schema, name):
                return t
        self.fail(f"{db}: {schema}.{name} not in run_tables")

    def test_fdw_usage_is_granted_to_operators(self):
        for db in self.fdw_databases:
            self.assertEqual(self.cluster.value(
                "SELECT has_foreign_data_wrapper_privilege('cdw_backup_operator', "
                "'cdw_backup_fdw', 'USAGE')", db=db), "t", db)

    def test_run_is_partial_and_owned_by_the_role(self):
        run = self.run_row(self.run_id)
        self.assertEqual(run["status"], "partial", self.cluster.server_log()[-3000:])
        self.assertEqual(run["role_name"], "backup_op")
        self.assertEqual(sorted(run["databases"]), ["closed", "perms", "postgres"])
        # The role sees its own run, another operator does not.
        self.assertEqual(self.cluster.value(
            f"SELECT status FROM cdw_backup.runs WHERE run_id = {self.run_id}", user="backup_op"),
            "partial")
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.run_tables WHERE run_id = {self.run_id}",
            user="other_op"), "0")
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_wait({self.run_id})",
                                            user="backup_op"), "partial")

    def test_readable_tables_succeed_and_read_back(self):
        self.assertEqual(self.table("open_s", "readable")["status"], "succeeded")
        self.assertEqual(self.table("public", "pub")["status"], "succeeded")
        self.assertEqual(self.table("open_s", "owned")["status"], "succeeded")
        self.assertEqual(self.table("open_s", "owned")["rows"], 3)
        self.verify_run(self.run_id)

    def test_missing_select_is_a_failed_table_with_grant_hint(self):
        t = self.table("open_s", "Secret Table")
        self.assertEqual((t["status"], t["sqlstate"]), ("failed", "42501"), t)
        self.assertEqual(t["hint"], 'GRANT SELECT ON open_s."Secret Table" TO backup_op;')

    def test_missing_schema_usage_is_a_failed_table_with_grant_hint(self):
        t = self.table("Closed Schema", "t")
        self.assertEqual((t["status"], t["sqlstate"]), ("failed", "42501"), t)
        self.assertEqual(t["hint"], 'GRANT USAGE ON SCHEMA "Closed Schema" TO backup_op;')

    def test_row_level_security_is_a_failed_table_not_fewer_rows(self):
        t = self.table("open_s", "guarded")
        self.assertEqual((t["status"], t["sqlstate"]), ("failed", "42501"), t)
        self.assertIn("BYPASSRLS", t["hint"])
        self.assertIsNone(t["rows"])

    def test_database_without_connect_is_failed_with_grant_hint(self):
        d = self.database_rows(self.run_id)
        self.assertEqual((d["closed"]["status"], d["closed"]["sqlstate"]), ("failed", "42501"))
        self.assertEqual(d["closed"]["hint"], "GRANT CONNECT ON DATABASE closed TO backup_op;")
        self.assertEqual(d["perms"]["status"], "partial")
        self.assertEqual(d["postgres"]["status"], "succeeded")

    def test_no_foreign_tables_or_servers_left(self):
        self.assert_no_fdw_leftovers({})

    def test_non_operator_is_refused_with_grant_hint(self):
        error = self.cluster.sql_error("SELECT cdw_backup_run()", user="outsider")
        self.assertIn("42501", error)
        self.assertIn("GRANT cdw_backup_operator TO outsider;", error)

    def test_operator_cannot_use_someone_elses_target(self):
        self.cluster.sql(f"SELECT cdw_backup_add_target('default', 'file://{self.target}')")
        error = self.cluster.sql_error("SELECT cdw_backup_run(target => 'default')",
                                       user="backup_op")
        self.assertIn("42501", error)
        self.assertIn('permission denied for target "default"', error)

    def test_operator_without_write_privilege_gets_a_failed_run_with_grant_hint(self):
        # The role's target was fine when defined; the privilege went later.
        target = self.shared_dir("cdw_op2_target_")
        self.cluster.sql("CREATE ROLE op2 LOGIN; GRANT cdw_backup_operator TO op2; "
                         "GRANT pg_write_server_files TO op2")
        self.cluster.sql(f"SELECT cdw_backup_add_target('t2', 'file://{target}')", user="op2")
        self.cluster.sql("REVOKE pg_write_server_files FROM op2")
        run_id = self.start_run("target => 't2', databases => '{perms}'", user="op2")
        self.assertEqual(self.wait_run(run_id, user="op2"), "failed")
        run = self.run_row(run_id)
        self.assertEqual(run["error"], 'role op2 may not write to target "t2"')
        self.assertEqual(run["hint"], "GRANT pg_write_server_files TO op2;")
        self.assertEqual(os.listdir(target), [])


class MissingFdwExtensionTest(BackupTestCase):
    """A non-superuser operator and a database without cdw_backup_fdw: the
    run cannot create the extension there, so that database fails with a hint."""

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_nofdw_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql("""
            CREATE ROLE backup_op LOGIN;
            GRANT cdw_backup_operator TO backup_op;
            GRANT pg_write_server_files TO backup_op;
            CREATE DATABASE nofdw;
        """)
        c.sql("CREATE TABLE n (id int); GRANT SELECT ON n TO backup_op", db="nofdw")
        c.sql(f"SELECT cdw_backup_add_target('op_target', 'file://{cls.target}')", user="backup_op")

    def test_database_without_the_fdw_extension_is_failed_with_hint(self):
        try:
            run_id = self.start_run("target => 'op_target', databases => '{nofdw}'",
                                    user="backup_op")
            status = self.wait_run(run_id, user="backup_op")
        except PsqlError as e:
            self.fail(f"the server crashed: {e.stderr}\n{self.cluster.server_log()[-2000:]}")
        self.assertEqual(status, "failed")
        d = self.database_rows(run_id)["nofdw"]
        self.assertEqual(d["status"], "failed", d)
        self.assertEqual(d["sqlstate"], "42501", d)
        self.assertIn("CREATE EXTENSION cdw_backup_fdw", d["hint"] or "", d)
        self.assertEqual(self.cluster.value(
            "SELECT count(*) FROM pg_extension WHERE extname = 'cdw_backup_fdw'", db="nofdw"), "0")


if __name__ == "__main__":
    unittest.main()
