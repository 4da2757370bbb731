"""Incremental runs: unchanged parts are referenced, never written again.

One cluster: a chain of runs of database `inc` with changes in between
(insert, update, delete, TRUNCATE, VACUUM FULL, ADD COLUMN, a table dropped
and created again under its name, an unlogged table across a crash
restart). Every run must restore exactly the rows it saw (compared with
snapshots taken right after each run), reuse what did not change and write
what did; verify must check references and name the run that wrote an
object that went missing; retention must keep objects newer runs reference
and remove the rest.
"""
import glob
import os
import shutil
import unittest

from harness import json_rows, make_shared_dir, quote_literal, restore, verify, wait_until
from test_schedule import ScheduleCase

DB = "inc"
TABLES = ["big", "upd", "del", "trunc", "vf", "alt", "rec", "unl"]


class IncrementalTest(ScheduleCase):
    settings = {"cdw_backup.max_workers": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        c.sql(f"CREATE DATABASE {DB}")
        # big: more than two ranges of 1024 blocks, so it is split.
        c.sql("""
            CREATE TABLE big (id int, pad text);
            INSERT INTO big SELECT g, repeat('x', 40) || g FROM generate_series(1, 320000) g;
            CREATE TABLE upd (id int PRIMARY KEY, v text);
            INSERT INTO upd SELECT g, 'u' || g FROM generate_series(1, 3000) g;
            CREATE TABLE del AS SELECT g AS id FROM generate_series(1, 3000) g;
            CREATE TABLE trunc AS SELECT g AS id FROM generate_series(1, 500) g;
            CREATE TABLE vf AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 3000) g;
            CREATE TABLE alt AS SELECT g AS id FROM generate_series(1, 500) g;
            CREATE TABLE rec AS SELECT g AS id, 'old' AS v FROM generate_series(1, 500) g;
            CREATE UNLOGGED TABLE unl AS SELECT g AS id FROM generate_series(1, 500) g;
            """, db=DB)
        cls.runs = []       # run ids, in order
        cls.snapshots = {}  # run id -> {table: (count, md5)}

    # -- helpers ---------------------------------------------------------------

    def snapshot(self, db=DB):
        result = {}
        for t in TABLES:
            result[t] = self.cluster.rows(
                f"SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) "
                f"FROM public.{t} x", db=db)[0]
        return result

    def backup_run(self, incremental=None):
        arg = "" if incremental is None else f", incremental => {str(incremental).lower()}"
        run_id = int(self.cluster.value(
            f"SELECT cdw_backup_run(databases => '{{{DB}}}', wait => true{arg})"))
        self.assertEqual(self.status(run_id), "succeeded", self.cluster.sql(
            f"SELECT * FROM cdw_backup.run_tables WHERE run_id = {run_id} AND status <> 'succeeded'"))
        type(self).runs.append(run_id)
        type(self).snapshots[run_id] = self.snapshot()
        return run_id

    def table_bytes(self, run_id):
        return {r["table_name"]: r for r in json_rows(
            self.cluster, f"SELECT table_name, bytes_stored, bytes_written, bytes_reused "
                          f"FROM cdw_backup.run_tables WHERE run_id = {run_id}")}

    def run_bytes(self, run_id):
        return json_rows(self.cluster, f"SELECT incremental, base_run_id, bytes_stored, "
                                       f"bytes_written, bytes_reused FROM cdw_backup.runs "
                                       f"WHERE run_id = {run_id}")[0]

    def assert_restores_its_snapshot(self, run_id):
        target = f"chk_{run_id}"
        self.cluster.sql(f"DROP DATABASE IF EXISTS {target}")
        rows = restore(self.cluster, run_id, DB, into_database=target)
        bad = [r for r in rows if r["status"] != "restored"]
        self.assertEqual(bad, [], f"restore of run {run_id}")
        self.assertEqual(self.snapshot(target), self.snapshots[run_id], f"run {run_id}")
        self.cluster.sql(f"DROP DATABASE {target}")

    def assert_verifies(self, run_id):
        problems = [r for r in verify(self.cluster, run_id) if r["status"] != "ok"]
        self.assertEqual(problems, [], f"verify of run {run_id}")

    def manifest(self, run_id):
        import json
        path = glob.glob(os.path.join(self.target_dir, "*", f"*Z-run{run_id}", DB,
                                      "manifest.json"))[0]
        with open(path) as f:
            return json.load(f)

    # -- the chain -------------------------------------------------------------

    def test_1_chain_of_runs_restores_each_snapshot(self):
        c = self.cluster
        first = self.backup_run()
        full = self.run_bytes(first)
        self.assertGreater(full["bytes_written"], 0)
        parts = len([o for t in self.manifest(first)["tables"] if t["name"] == "big"
                     for o in t["objects"]])
        self.assertGreaterEqual(parts, 3, "big is split in block ranges")

        # Nothing changed: everything is referenced, nothing written.
        second = self.backup_run()
        b = self.run_bytes(second)
        self.assertTrue(b["incremental"])
        self.assertEqual(b["base_run_id"], first)
        self.assertEqual(b["bytes_written"], 0, self.table_bytes(second))
        self.assertEqual(b["bytes_reused"], b["bytes_stored"])
        self.assertEqual(b["bytes_stored"], full["bytes_stored"])
        m = self.manifest(second)
        self.assertEqual(m["format_version"], 3)
        for t in m["tables"]:
            for o in t["objects"]:
                self.assertEqual(o["source_run"], first, o)
                self.assertIn(f"-run{first}/", o["source"])

        # Changes of every kind.
        c.sql("""
            INSERT INTO big SELECT g, repeat('y', 40) || g FROM generate_series(320001, 323200) g;
            UPDATE upd SET v = 'changed' WHERE id = 7;
            DELETE FROM del WHERE id % 100 = 0;
            TRUNCATE trunc;
            VACUUM FULL vf;
            ALTER TABLE alt ADD COLUMN extra text DEFAULT 'new';
            DROP TABLE rec;
            CREATE TABLE rec AS SELECT g AS id, 'new' AS v FROM generate_series(1, 500) g;
            """, db=DB)
        third = self.backup_run()
        tb = self.table_bytes(third)
        # The appended rows are in big's last range only: earlier ranges are reused.
        self.assertGreater(tb["big"]["bytes_reused"], 0, tb["big"])
        self.assertGreater(tb["big"]["bytes_written"], 0, tb["big"])
        self.assertLess(tb["big"]["bytes_written"], tb["big"]["bytes_reused"], tb["big"])
        for changed in ("upd", "del", "alt", "rec", "trunc"):
            self.assertEqual(tb[changed]["bytes_reused"], 0, (changed, tb[changed]))
        # VACUUM FULL rewrote the file, not the rows: the same CSV, reused.
        self.assertEqual(tb["vf"]["bytes_written"], 0, tb["vf"])
        self.assertEqual(tb["unl"]["bytes_written"], 0, tb["unl"])

        # An unlogged table across a crash: emptied by recovery, so changed.
        c.sql("INSERT INTO unl SELECT g FROM generate_series(501, 600) g", db=DB)
        c.restart("immediate")
        wait_until(lambda: c.try_value("SELECT 1") == "1", what="the server after the crash")
        self.assertEqual(c.value("SELECT count(*) FROM unl", db=DB), "0")
        fourth = self.backup_run()
        tb = self.table_bytes(fourth)
        self.assertEqual(tb["unl"]["bytes_reused"], 0, tb["unl"])
        self.assertEqual(tb["upd"]["bytes_written"], 0, tb["upd"])

        # incremental => false writes everything again.
        fifth = self.backup_run(incremental=False)
        b = self.run_bytes(fifth)
        self.assertFalse(b["incremental"])
        self.assertIsNone(b["base_run_id"])
        self.assertEqual(b["bytes_reused"], 0)

        for run_id in self.runs:
            self.assert_verifies(run_id)
            self.assert_restores_its_snapshot(run_id)

    def test_2_missing_referenced_object_fails_every_run_referencing_it(self):
        first, second = self.runs[0], self.runs[1]
        m = self.manifest(second)
        upd = [t for t in m["tables"] if t["name"] == "upd"][0]
        source = upd["objects"][0]["source"]
        path = os.path.join(self.target_dir, source)
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        try:
            for run_id in (first, second):
                rows = [r for r in verify(self.cluster, run_id) if r["table_name"] == "upd"]
                self.assertEqual([r["problem"] for r in rows], ["missing_object"], rows)
                self.assertIn(os.path.basename(source), rows[0]["detail"])
                if run_id == second:
                    self.assertIn(f"written by run {first}", rows[0]["detail"])
        finally:
            with open(path, "wb") as f:
                f.write(data)
        self.assert_verifies(second)

    def test_3_retention_keeps_what_newer_runs_reference(self):
        c = self.cluster
        # full_every: the schedule's first run copies everything.
        self.schedule("inc_keep", "0 3 * * *", databases="{%s}" % DB, keep_runs=1,
                      full_every="7 days")
        c.sql("UPDATE upd SET v = 'again' WHERE id = 8", db=DB)
        first = self.fire("inc_keep")
        self.assertEqual(self.wait_run(first), "succeeded")
        type(self).snapshots[first] = self.snapshot()
        self.assertIsNone(self.run_bytes(first)["base_run_id"])
        # Only upd changes: the second run references the first's other parts.
        c.sql("UPDATE upd SET v = 'and again' WHERE id = 9", db=DB)
        second = self.fire("inc_keep")
        self.assertEqual(self.wait_run(second), "succeeded")
        type(self).snapshots[second] = self.snapshot()
        wait_until(lambda: self.status(first) == "expired", timeout=30, what="run to expire")
        location = c.value(f"SELECT location FROM cdw_backup.runs WHERE run_id = {first}")
        run_dir = location[len("file://"):]
        left = sorted(os.path.relpath(p, run_dir) for p in glob.glob(
            os.path.join(run_dir, "**", "*"), recursive=True) if os.path.isfile(p))
        # The first run's manifest is gone; its upd part (which the second run
        # replaced) is gone; what the second run references is kept.
        self.assertFalse([p for p in left if p.endswith("manifest.json")], left)
        m = self.manifest(second)
        referenced = {o["source"] for t in m["tables"] for o in t["objects"] if "source" in o}
        upd_objects = [o for t in m["tables"] if t["name"] == "upd" for o in t["objects"]]
        self.assertTrue(all("source" not in o for o in upd_objects), upd_objects)
        for rel in left:
            key = os.path.relpath(os.path.join(run_dir, rel), self.target_dir)
            self.assertIn(key, referenced, f"{key} of expired run {first} is referenced by nobody")
        self.assertTrue(left, "the objects the second run references stay")
        self.assert_verifies(second)
        self.assert_restores_its_snapshot(second)
        # The third run references the first's parts (still unchanged) and
        # replaces upd again: the second run's own part goes with it.
        c.sql("UPDATE upd SET v = 'last' WHERE id = 10", db=DB)
        third = self.fire("inc_keep")
        self.assertEqual(self.wait_run(third), "succeeded")
        self.assertEqual(self.run_bytes(third)["base_run_id"], second)
        type(self).snapshots[third] = self.snapshot()
        wait_until(lambda: self.status(second) == "expired", timeout=30, what="run to expire")
        second_dir = c.value(f"SELECT location FROM cdw_backup.runs WHERE run_id = {second}")
        self.assertFalse(os.path.exists(second_dir[len("file://"):]),
                         "the second run's objects nobody references are removed")
        self.assert_verifies(third)
        self.assert_restores_its_snapshot(third)

    def test_4_fingerprints_compare_rows_and_yield_to_text_where_bytes_lie(self):
        """Plain tables are compared by their rows' fingerprint (no CSV is
        made); a table whose text can change while its bytes do not (an enum
        relabelled) is compared by its CSV; TOASTed values count by content."""
        c = self.cluster
        c.sql("""
            CREATE TYPE mood AS ENUM ('sad', 'ok');
            CREATE TABLE en (id int, m mood);
            INSERT INTO en SELECT g, 'ok' FROM generate_series(1, 200) g;
            CREATE DOMAIN posint AS int CHECK (VALUE > 0);
            CREATE TABLE toasty (id posint, doc text);
            ALTER TABLE toasty ALTER COLUMN doc SET STORAGE EXTERNAL;
            INSERT INTO toasty SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 50) g;
            CREATE TABLE typ AS SELECT g AS id FROM generate_series(1, 300) g;
            CREATE TABLE clu (id int PRIMARY KEY, v text);
            INSERT INTO clu SELECT g, 'c' || g FROM generate_series(300, 1, -1) g;
            """, db=DB)
        first = self.backup_run()
        m = self.manifest(first)
        objects = {t["name"]: t["objects"] for t in m["tables"]}
        self.assertTrue(all(len(o.get("fingerprint", "")) == 64 for o in objects["toasty"]),
                        objects["toasty"])
        self.assertTrue(all("fingerprint" not in o for o in objects["en"]), objects["en"])
        self.assertTrue(all(len(o.get("fingerprint", "")) == 64 for o in objects["big"]))

        # Same bytes, other text: the enum's label. Rewritten files, same
        # values: VACUUM FULL of a table whose values live in TOAST.
        c.sql("""ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'; VACUUM FULL toasty;
                 ALTER TABLE typ ALTER COLUMN id SET DATA TYPE numeric(12,2);
                 CLUSTER clu USING clu_pkey;""", db=DB)
        second = self.backup_run()
        tb = self.table_bytes(second)
        self.assertEqual(tb["en"]["bytes_reused"], 0, tb["en"])
        self.assertGreater(tb["en"]["bytes_written"], 0, tb["en"])
        self.assertEqual(tb["toasty"]["bytes_written"], 0, tb["toasty"])
        self.assertEqual(tb["big"]["bytes_written"], 0, tb["big"])
        self.assertEqual(tb["typ"]["bytes_reused"], 0, tb["typ"])  # another type, other text

        # One TOASTed value changes (its row stays the same size on the heap).
        c.sql("UPDATE toasty SET doc = repeat(md5('other'), 200) WHERE id = 25", db=DB)
        third = self.backup_run()
        tb = self.table_bytes(third)
        self.assertEqual(tb["toasty"]["bytes_reused"], 0, tb["toasty"])
        self.assertEqual(tb["en"]["bytes_written"], 0, tb["en"])

        for run_id, label, doc25 in ((second, "fine", "repeat(md5('25'), 200)"),
                                     (third, "fine", "repeat(md5('other'), 200)")):
            target = f"fp_{run_id}"
            c.sql(f"DROP DATABASE IF EXISTS {target}")
            rows = restore(c, run_id, DB, into_database=target)
            self.assertEqual([r for r in rows if r["status"] != "restored"], [], run_id)
            self.assertEqual(c.value("SELECT string_agg(DISTINCT m::text, ',') FROM en",
                                     db=target), label)
            self.assertEqual(c.value(f"SELECT doc = {doc25} FROM toasty WHERE id = 25",
                                     db=target), "t")
            self.assertEqual(c.value("SELECT count(*) FROM toasty", db=target), "50")
            self.assertEqual(c.value("SELECT min(id)::text || ' ' || pg_typeof(min(id)) FROM typ",
                                     db=target), "1.00 numeric")
            self.assertEqual(c.value("SELECT count(*) || ' ' || sum(id) FROM clu WHERE v = 'c' || id",
                                     db=target), "300 45150")
            c.sql(f"DROP DATABASE {target}")
            self.assert_verifies(run_id)

    def test_5_encrypted_target_reuses_under_its_key_and_rotation_copies_in_full(self):
        from test_encryption import age_decrypt, new_identity
        c = self.cluster
        identity, _ = new_identity()
        enc_dir = make_shared_dir("cdw_inc_enc_")
        c.sql(f"""SELECT cdw_backup_add_target('encinc', {quote_literal('file://' + enc_dir)},
                    options => '{{"encryption": "on"}}', encryption_key => {quote_literal(identity)})""")

        def run():
            run_id = int(c.value("SELECT cdw_backup_run(target => 'encinc', databases => "
                                 f"'{{{DB}}}', wait => true)"))
            self.assertEqual(self.status(run_id), "succeeded")
            return run_id

        try:
            first = run()
            second = run()
            b = self.run_bytes(second)
            self.assertEqual(b["base_run_id"], first)
            self.assertEqual(b["bytes_written"], 0, self.table_bytes(second))
            # The referenced objects are the first run's, encrypted to the key.
            part = glob.glob(os.path.join(enc_dir, "*", f"*Z-run{first}", DB, "public.upd",
                                          "part-*"))[0]
            with open(part, "rb") as f:
                self.assertIsNotNone(age_decrypt(identity, f.read()))
            self.assertEqual([r for r in verify(c, second) if r["status"] != "ok"], [])
            target = f"chk_enc_{second}"
            rows = restore(c, second, DB, into_database=target)
            self.assertEqual([r for r in rows if r["status"] != "restored"], [])
            self.assertEqual(c.value("SELECT count(*) FROM upd", db=target),
                             c.value("SELECT count(*) FROM upd", db=DB))
            c.sql(f"DROP DATABASE {target}")
            # After rotation no new run depends on the retired key.
            new_key, _ = new_identity()
            c.sql(f"SELECT cdw_backup_rotate_key('encinc', {quote_literal(new_key)})")
            third = run()
            b = self.run_bytes(third)
            self.assertEqual(b["bytes_reused"], 0, self.table_bytes(third))
            self.assertGreater(b["bytes_written"], 0)
            fourth = run()
            self.assertEqual(self.run_bytes(fourth)["bytes_written"], 0)
            self.assertEqual([r for r in verify(c, fourth) if r["status"] != "ok"], [])
        finally:
            c.sql("SELECT cdw_backup_drop_target('encinc')")
            shutil.rmtree(enc_dir, ignore_errors=True)

    def test_6_seed_holds_every_column_past_a_zero_default_and_resolves_domains(self):
        """A column added with DEFAULT 0 (a value image full of zero bytes)
        and a later column of a domain re-created over another base type
        under the same name: the same names and type names, the same stored
        bytes, another text. The run must write the table again."""
        c = self.cluster

        def make(base, default):
            c.sql(f"""
                DROP TABLE IF EXISTS t3; DROP DOMAIN IF EXISTS d3;
                CREATE DOMAIN d3 AS {base};
                CREATE TABLE t3 (a int);
                INSERT INTO t3 SELECT g FROM generate_series(1, 100) g;
                ALTER TABLE t3 ADD COLUMN b int DEFAULT 0;
                ALTER TABLE t3 ADD COLUMN c d3 DEFAULT {default};
                """, db=DB)

        make("bytea", "'\\x616263'::bytea")
        self.backup_run()
        make("text", "'abc'")
        second = self.backup_run()
        tb = self.table_bytes(second)
        self.assertEqual(tb["t3"]["bytes_reused"], 0, tb["t3"])
        target = f"seed_{second}"
        c.sql(f"DROP DATABASE IF EXISTS {target}")
        rows = restore(c, second, DB, into_database=target)
        self.assertEqual([r for r in rows if r["status"] != "restored"], [])
        self.assertEqual(c.value("SELECT string_agg(DISTINCT c::text, ',') FROM t3", db=target),
                         "abc")
        c.sql(f"DROP DATABASE {target}")
        # Unchanged, it is reused.
        third = self.backup_run()
        self.assertEqual(self.table_bytes(third)["t3"]["bytes_written"], 0)


if __name__ == "__main__":
    unittest.main()
