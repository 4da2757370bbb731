"""Inputs that used to crash a backend or the whole cluster (issue 15, cases 7 and 8).

Each test records pg_postmaster_start_time() first and checks it afterwards:
a crash of any backend makes the postmaster restart every process, which
changes it. A damaged manifest may be reported as a problem or refused with
an error; it must never take the server down.
"""
import json
import os
import shutil
import unittest

from harness import (ClusterTestCase, PsqlError, backup, make_shared_dir, object_mac, quote_literal,
                     rewrite, target_files, verify)


class HostileInputTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_hostile_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE hsrc")
        c.sql("CREATE TABLE t (id integer, note text); "
              "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g", db="hsrc")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def setUp(self):
        self.start_time = self.cluster.value("SELECT pg_postmaster_start_time()")

    def tearDown(self):
        # None while the server restarts after a crash.
        self.assertEqual(self.cluster.try_value("SELECT pg_postmaster_start_time()"), self.start_time,
                         "the postmaster restarted: a backend crashed")

    def damaged_run(self, damage):
        """A fresh backup of hsrc whose manifest `damage(document)` changed."""
        run_id = backup(self.cluster, ["hsrc"], incremental=False)  # its own objects
        path = target_files(self.target, run_id, "hsrc", "manifest.json")[0]
        with open(path) as f:
            document = json.load(f)
        damage(document)
        changed = json.dumps(document).encode()
        rewrite(path, changed)
        # Signed again with the target's key, so verify reads it as authentic
        # and its parsing is what is tested (an unsigned change is refused
        # before that: test_manifest_authentication.py).
        key = self.cluster.sql("SELECT cdw_backup_target_key('default')")
        rewrite(path + ".hmac", object_mac(key, os.path.relpath(path, self.target), changed).encode())
        return run_id

    def verify_without_crash(self, run_id):
        """Rows of cdw_backup_verify, or the error it raised (never a lost connection)."""
        try:
            return verify(self.cluster, run_id), None
        except PsqlError as e:
            self.assertNotIn("server closed the connection", e.stderr)
            self.assertNotIn("terminated abnormally", e.stderr)
            return None, e.stderr

    def table(self, document):
        [table] = [t for t in document["tables"] if t["name"] == "t"]
        return table

    def test_table_path_with_newline(self):
        # Case 8: the report of such a table was split on newlines and each
        # line's tab dereferenced; the line after the newline has none.
        for suffix in ("\nstray/", "\nx\ty/", "\t\n/"):
            with self.subTest(suffix=suffix):
                run_id = self.damaged_run(lambda d: self.table(d).update(path=self.table(d)["path"] + suffix))
                rows, _ = self.verify_without_crash(run_id)
                if rows is not None:
                    problems = [r for r in rows if r["table_name"] == "t" and r["status"] == "problem"]
                    self.assertTrue(problems, rows)
                    # The detail comes back whole, newline included.
                    self.assertTrue(any(suffix.rstrip("/") in (r["detail"] or "") for r in problems),
                                    problems)

    def test_object_key_with_newline(self):
        def damage(document):
            for part in self.table(document)["objects"]:
                part["key"] = part["key"] + "\n\tpart-x"
        rows, _ = self.verify_without_crash(self.damaged_run(damage))
        if rows is not None:
            self.assertTrue(any(r["table_name"] == "t" and r["status"] == "problem" for r in rows), rows)

    def test_table_fields_missing(self):
        for field in ("rows", "status", "objects", "path", "name"):
            with self.subTest(field=field):
                run_id = self.damaged_run(lambda d: self.table(d).pop(field))
                rows, _ = self.verify_without_crash(run_id)
                if rows is not None and field != "name":
                    [row] = [r for r in rows if r["table_name"] == "t"]
                    self.assertEqual((row["status"], row["problem"]), ("problem", "malformed_manifest"),
                                     row)

    def test_databases_with_null_element_fails_in_the_caller(self):
        for args in ("databases => '{NULL}'", "databases => '{hsrc,NULL}'",
                     "exclude_databases => '{NULL}'"):
            with self.subTest(args=args):
                error = self.cluster.sql_error(f"SELECT cdw_backup_run({args}, wait => true)")
                self.assertIn("22004", error)
                self.assertIn("must not contain NULL", error)
        self.assertEqual(self.cluster.value("SELECT count(*) FROM cdw_backup.runs WHERE status = 'running'"),
                         "0")


if __name__ == "__main__":
    unittest.main()
