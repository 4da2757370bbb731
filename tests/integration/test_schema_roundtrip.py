"""Whole-database restore with the schema, on a fresh cluster.

A database with every object kind the backup captures (schema_roundtrip.sql)
is backed up in cluster A and restored in cluster B, which has nothing but
the target: `pg_dump --schema-only` of both must be identical (cdw_backup's
own extension dropped from both first), every table's rows identical, and
the restored database must behave as the original: default ids continue
without collision, keys and foreign keys reject bad rows, rows route to the
right partition, triggers fire (and did not fire during the load).
"""
import difflib
import os
import re
import shutil
import subprocess
import unittest

from harness import PG_BINDIR, Cluster, ClusterTestCase, make_shared_dir, quote_literal
from test_restore import json_rows, restore

HERE = os.path.dirname(os.path.abspath(__file__))

DATA = r'''
INSERT INTO app.customer (name, mood, moods, score, pairs, span, note)
  SELECT 'c' || g, (ARRAY['sad','ok','happy','meh'])[1 + g % 4]::app.mood, ARRAY['ok','sad']::app.mood[], g,
         ARRAY[ROW(g, 'p', 'ok')::app.pair], app.floatrange(g, g + 1.5), repeat('n', g % 10)
  FROM generate_series(1, 200) g;
UPDATE app.customer SET parent_id = id - 1 WHERE id > 1;
INSERT INTO app.booking (customer_id, room, during)
  SELECT g, g % 10, tsrange('2024-01-01'::timestamp + g * interval '1 day', '2024-01-01'::timestamp + (g + 1) * interval '1 day')
  FROM generate_series(1, 100) g;
INSERT INTO app.payment SELECT g, DATE '2024-01-01' + g, (ARRAY['eu','us','uk'])[1 + g % 3], g, 1 + g % 200
  FROM generate_series(1, 600) g;
INSERT INTO app.document (id, body, created) SELECT g, 'doc ' || g, '2021-01-01'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 50) g;
INSERT INTO app.has_created VALUES ('2022-02-02');
INSERT INTO app.pair_table VALUES (1, 'one', 'ok'), (2, 'two', 'happy');
INSERT INTO app.scratch VALUES ('a', '{"x": 1}');
INSERT INTO app.secret (id, v) VALUES (1, 'hidden');
INSERT INTO "dots.and ""quotes"""."tab.le ""x"" y" VALUES ('y z', 'ü', 1), ('x', NULL, 2);
INSERT INTO "ünïcødé"."täble" VALUES (1, 1), (2, 2);
INSERT INTO app.wide (c1) SELECT g FROM generate_series(1, 5) g;
SELECT nextval('app.unused_seq');
REFRESH MATERIALIZED VIEW app.mood_counts;
REFRESH MATERIALIZED VIEW app.mood_total;
'''

TABLES = """SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            ORDER BY 1"""


def schema_dump(cluster, db):
    """pg_dump --schema-only, without the per-run \\restrict key lines."""
    out = subprocess.run([f"{PG_BINDIR}/pg_dump", "--schema-only", "-h", cluster.dir, "-p", str(cluster.port),
                          "-U", "postgres", db], capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if not re.match(r"\\(un)?restrict ", line))


def fingerprint(cluster, db, table):
    return cluster.rows(f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                        f"FROM ONLY {table} t", db=db)[0]


class SchemaRoundTripTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.cluster
        cls.target = make_shared_dir("cdw_schema_target_")
        a.sql("CREATE EXTENSION cdw_backup")
        a.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        a.sql("CREATE DATABASE src")
        with open(os.path.join(HERE, "schema_roundtrip.sql")) as f:
            a.sql(f.read(), db="src")
        a.sql(DATA, db="src")
        cls.run_id = int(a.value("SELECT cdw_backup_run(databases => ARRAY['src'], wait => true)"))
        status = a.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {cls.run_id}")
        assert status == "succeeded", a.sql(f"SELECT * FROM cdw_backup.run_tables WHERE run_id = {cls.run_id}")
        cls.b = Cluster()
        b = cls.b
        b.sql("CREATE EXTENSION cdw_backup")
        # The target's key travels with the user (README: keeping the key).
        key = a.sql("SELECT cdw_backup_target_key('default')")
        b.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)}, "
              f"manifest_key => {quote_literal(key)})")
        b.sql("CREATE DATABASE src")
        # Without its roles nothing is created: one row per missing role.
        cls.refused = restore(b, cls.run_id, "src")
        cls.refused_schemas = b.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'app'", db="src")
        cls.result = restore(b, cls.run_id, "src", create_roles=True)

    @classmethod
    def tearDownClass(cls):
        cls.b.destroy()
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def test_1_missing_roles_are_reported_exactly(self):
        roles = sorted(r["table_name"] for r in self.refused if r["destination"].startswith("ROLE "))
        self.assertEqual(roles, ["sr weird \"role\"", "sr_owner", "sr_reader"], self.refused)
        for row in self.refused:
            if row["destination"].startswith("ROLE "):
                self.assertEqual(row["status"], "failed", row)
                self.assertIn("CREATE ROLE", row["hint"])
            else:
                self.assertEqual(row["status"], "refused", row)
        self.assertEqual(self.refused_schemas, "0")

    def test_2_every_step_succeeded(self):
        failed = [r for r in self.result if r["status"] not in ("restored", "created")]
        self.assertEqual(failed, [])
        created = sorted(r["table_name"] for r in self.result if r["status"] == "created")
        self.assertEqual(created, ["sr weird \"role\"", "sr_owner", "sr_reader"])

    def test_3_schema_dump_is_identical(self):
        a, b = self.cluster, self.b
        # cdw_backup's own extension (the external tables' wrapper) is no
        # part of the user's schema.
        for cluster in (a, b):
            cluster.sql("DROP EXTENSION IF EXISTS cdw_backup_fdw CASCADE", db="src")
        original, restored = schema_dump(a, "src"), schema_dump(b, "src")
        self.assertIn("CREATE TABLE app.customer", original)
        self.assertIn("ATTACH PARTITION", original)
        if restored != original:
            diff = difflib.unified_diff(original.splitlines(), restored.splitlines(), "original", "restored",
                                        lineterm="", n=2)
            self.fail("pg_dump --schema-only differs:\n" + "\n".join(list(diff)[:300]))

    def test_4_every_table_has_the_same_rows(self):
        tables = self.cluster.value(TABLES, db="src").splitlines()
        self.assertGreater(len(tables), 15)
        self.assertEqual(self.b.value(TABLES, db="src").splitlines(), tables)
        for table in tables:
            with self.subTest(table=table):
                self.assertEqual(fingerprint(self.b, "src", table), fingerprint(self.cluster, "src", table))

    def test_5_behaves_as_the_original(self):
        a, b = self.cluster, self.b
        # Sequences continue where they were.
        for seq in ("app.big_seq", "app.unused_seq", "app.customer_id_seq"):
            self.assertEqual(b.value(f"SELECT nextval('{seq}')", db="src"), a.value(f"SELECT nextval('{seq}')", db="src"))
        # A default id does not collide; identity ALWAYS continues too.
        ids = b.rows("INSERT INTO app.customer (name) VALUES ('new') RETURNING id, code", db="src")[0]
        self.assertEqual(ids, a.rows("INSERT INTO app.customer (name) VALUES ('new') RETURNING id, code", db="src")[0])
        for bad, code in [("INSERT INTO app.customer (id, name) VALUES (1, 'dup')", "23505"),
                          ("INSERT INTO app.booking (customer_id) VALUES (999999)", "23503"),
                          ("INSERT INTO app.customer (name) VALUES ('')", "23514"),
                          ("INSERT INTO app.booking (customer_id, room, during) "
                           "SELECT customer_id, room, during FROM app.booking LIMIT 1", "23P01")]:
            with self.subTest(bad=bad):
                self.assertIn(code, b.sql_error(bad, db="src"))
        leaf = b.value("INSERT INTO app.payment VALUES (9999, '2024-06-01', 'uk', 1, 1) RETURNING tableoid::regclass",
                       db="src")
        self.assertEqual(leaf, '"Leaf Schema"."payment 2024 eu"')
        self.assertEqual(b.value("SELECT count(*) FROM app.payment", db="src"), "601")
        # The audit trigger fires now (its rows above are the original's: it
        # did not fire during the load).
        before = int(b.value("SELECT count(*) FROM app.audit_log", db="src"))
        b.sql("INSERT INTO app.booking (customer_id, room) VALUES (1, 99)", db="src")
        self.assertEqual(int(b.value("SELECT count(*) FROM app.audit_log", db="src")), before + 1)
        self.assertEqual(b.value("SELECT total FROM app.mood_total", db="src"), "200")


if __name__ == "__main__":
    unittest.main()
