"""Manifests nobody can forge: every manifest and run index carries a MAC
under the target's key (a detached <object>.hmac). A changed byte, a changed
row count, an injected column type or a swapped manifest is refused by
restore and list and reported by verify, and nothing injected runs; an old
manifest without a MAC is refused unless allow_unauthenticated => true, and
even then nothing is created from it."""
import contextlib
import glob
import json
import os
import shutil
import unittest

from harness import (ClusterTestCase, PsqlError, backup, json_rows, make_shared_dir, object_mac,
                     quote_literal, restore, rewrite, target_files)


class ManifestAuthenticationTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_auth_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE app")
        c.sql("CREATE TABLE t (id integer NOT NULL, note text); "
              "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g", db="app")
        cls.run_id = backup(c, ["app"])
        cls.other_run = backup(c, ["app"])
        cls.key = c.sql("SELECT cdw_backup_target_key('default')")
        cls.probe = os.path.join(make_shared_dir("cdw_auth_probe_"), "probe")

    def setUp(self):
        # Each test restores into a database of its own, created fresh.
        self.cluster.sql("DROP DATABASE IF EXISTS dest")
        self.cluster.sql("CREATE DATABASE dest")

    def manifest(self, run_id=None):
        return target_files(self.target, run_id or self.run_id, "app", "manifest.json")[0]

    def index(self, run_id=None):
        found = glob.glob(os.path.join(self.target, "_runs", f"*-run{run_id or self.run_id}.json"))
        self.assertEqual(len(found), 1, found)
        return found[0]

    @contextlib.contextmanager
    def changed(self, path, transform):
        """The file at `path` changed by transform(bytes) -> bytes (None: removed), then put back."""
        with open(path, "rb") as f:
            original = f.read()
        try:
            data = transform(original)
            if data is None:
                os.remove(path)
            else:
                rewrite(path, data)
            yield
        finally:
            rewrite(path, original)

    def changed_json(self, path, edit):
        def transform(data):
            document = json.loads(data)
            edit(document)
            return json.dumps(document).encode()
        return self.changed(path, transform)

    def restore_error(self, *args, **options):
        parts = [str(self.run_id), "'app'"] + list(args) + [
            f"{k} => {quote_literal(v) if isinstance(v, str) else str(v).lower()}" for k, v in options.items()]
        return self.cluster.sql_error(f"SELECT * FROM cdw_backup_restore({', '.join(parts)})")

    def verify_rows(self, allow=False):
        return json_rows(self.cluster, f"SELECT * FROM cdw_backup_verify({self.run_id}, "
                                       f"allow_unauthenticated => {str(allow).lower()})")

    def assertNothingRestored(self):
        self.assertFalse(os.path.exists(self.probe), "the injected command ran")
        self.assertEqual(self.cluster.value("SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                                            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                                            "AND c.relkind = 'r'", db="dest"), "0")

    def test_intact_run_is_authenticated_and_restores(self):
        for path in (self.manifest(), self.index()):
            with open(path, "rb") as f, open(path + ".hmac") as m:
                self.assertEqual(m.read(), object_mac(self.key, os.path.relpath(path, self.target), f.read()))
        rows = self.verify_rows()
        self.assertEqual([(r["table_name"], r["status"], r["problem"]) for r in rows], [("t", "ok", None)])
        listed = json_rows(self.cluster, "SELECT * FROM cdw_backup_list()")
        self.assertEqual({r["run_id"] for r in listed}, {self.run_id, self.other_run})
        result = restore(self.cluster, self.run_id, "app", into_database="dest")
        self.assertEqual([(r["status"], r["rows"]) for r in result], [("restored", 100)], result)

    def test_changed_row_count_is_refused_and_reported(self):
        def edit(document):
            document["tables"][0]["rows"] += 1
        with self.changed_json(self.manifest(), edit):
            error = self.restore_error(into_database="dest")
            self.assertIn("XX001", error)
            self.assertIn("does not match its MAC", error)
            self.assertIn("HINT:", error)
            rows = self.verify_rows()
            self.assertEqual([(r["database"], r["table_name"], r["status"], r["problem"]) for r in rows],
                             [("app", None, "problem", "manifest_mac_mismatch")], rows)
            # allow_unauthenticated never covers a MAC that does not verify.
            self.assertIn("does not match its MAC",
                          self.restore_error(into_database="dest", allow_unauthenticated=True))
        self.assertNothingRestored()

    def test_injected_column_type_is_refused_and_nothing_runs(self):
        injected = f"text); COPY (SELECT 1) TO PROGRAM 'touch {self.probe}'; --"

        def edit(document):
            document["tables"][0]["columns"][1]["type"] = injected
        for allow in (False, True):
            with self.subTest(allow_unauthenticated=allow), self.changed_json(self.manifest(), edit):
                self.assertIn("does not match its MAC",
                              self.restore_error(into_database="dest", allow_unauthenticated=allow))
                self.assertIn("manifest_mac_mismatch", [r["problem"] for r in self.verify_rows(allow)])
                self.assertNothingRestored()
        # Even with its MAC removed (an "old" manifest) and allowed: nothing is created from it.
        with self.changed_json(self.manifest(), edit), self.changed(self.manifest() + ".hmac", lambda d: None):
            try:
                rows = restore(self.cluster, self.run_id, "app", into_database="dest",
                               allow_unauthenticated=True)
                self.assertNotIn("restored", [r["status"] for r in rows], rows)
            except PsqlError as error:  # refused outright (the type is resolved first) is as good
                self.assertTrue("not a type" in str(error) or "creates nothing" in str(error), error)
            self.assertNothingRestored()

    def test_changed_byte_anywhere_is_refused(self):
        path = self.manifest()
        with open(path, "rb") as f:
            size = len(f.read())
        for offset in (0, size // 3, size // 2, size - 2):
            def flip(data, offset=offset):
                data = bytearray(data)
                data[offset] ^= 0x01
                return bytes(data)
            with self.subTest(offset=offset), self.changed(path, flip):
                error = self.restore_error(into_database="dest")
                self.assertTrue("does not match its MAC" in error, error)
        # So is a changed MAC.
        with self.changed(path + ".hmac", lambda d: d[:-3] + (b"0" if d[-3:-2] != b"0" else b"1") + d[-2:]):
            self.assertIn("does not match its MAC", self.restore_error(into_database="dest"))
        self.assertNothingRestored()

    def test_manifest_of_another_run_is_refused(self):
        other = self.manifest(self.other_run)
        with open(other, "rb") as f:
            other_bytes = f.read()
        with open(other + ".hmac", "rb") as f:
            other_mac = f.read()
        with self.changed(self.manifest(), lambda d: other_bytes), \
                self.changed(self.manifest() + ".hmac", lambda d: other_mac):
            self.assertIn("does not match its MAC", self.restore_error(into_database="dest"))
        self.assertNothingRestored()

    def test_changed_run_index_is_refused_by_list_verify_and_restore(self):
        def edit(document):
            document["databases"][0]["tables"] = 7
        with self.changed_json(self.index(), edit):
            for sql in ("SELECT * FROM cdw_backup_list()", f"SELECT * FROM cdw_backup_verify({self.run_id})",
                        f"SELECT * FROM cdw_backup_restore({self.run_id}, 'app', into_database => 'dest')"):
                with self.subTest(sql=sql):
                    error = self.cluster.sql_error(sql)
                    self.assertIn("XX001", error)
                    self.assertIn("run index", error)
        self.assertNothingRestored()

    def test_unauthenticated_backups_need_allow_unauthenticated_and_create_nothing(self):
        paths = [self.manifest() + ".hmac", self.index() + ".hmac"]
        with self.changed(paths[0], lambda d: None), self.changed(paths[1], lambda d: None):
            error = self.cluster.sql_error("SELECT * FROM cdw_backup_list()")
            self.assertIn("28000", error)
            self.assertIn("is not authenticated", error)
            self.assertIn("allow_unauthenticated => true", error)
            listed = json_rows(self.cluster, "SELECT * FROM cdw_backup_list(allow_unauthenticated => true)")
            self.assertIn(self.run_id, {r["run_id"] for r in listed})
            self.assertIn("is not authenticated", self.restore_error(into_database="dest"))
            # Allowed: verify checks the data; restore loads only into tables that exist.
            rows = self.verify_rows(allow=True)
            self.assertEqual([(r["table_name"], r["status"]) for r in rows], [("t", "ok")], rows)
            rows = restore(self.cluster, self.run_id, "app", into_database="dest", allow_unauthenticated=True)
            self.assertEqual(rows[0]["status"], "failed", rows)
            self.assertIn("creates nothing", rows[0]["detail"] or "", rows)
            self.assertNothingRestored()
            self.cluster.sql("CREATE TABLE public.t (id integer NOT NULL, note text)", db="dest")
            rows = restore(self.cluster, self.run_id, "app", into_database="dest", allow_unauthenticated=True)
            self.assertEqual([(r["status"], r["rows"]) for r in rows], [("restored", 100)], rows)
        # With its MAC back, the same run needs no permission.
        self.assertEqual([r["status"] for r in self.verify_rows()], ["ok"])

    def test_the_key_is_never_on_the_target_nor_in_the_log(self):
        for root, _, files in os.walk(self.target):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                self.assertNotIn(self.key.encode(), data, name)
                self.assertNotIn(bytes.fromhex(self.key), data, name)
        self.assertNotIn(self.key, self.cluster.server_log())


if __name__ == "__main__":
    unittest.main()
