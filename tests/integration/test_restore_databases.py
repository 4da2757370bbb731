"""Restoring whole databases: into a database that does not exist yet
(created with the backed-up encoding and locale, as the calling role, only
when it has CREATEDB), and every database of a run onto a fresh cluster in
one call (database => NULL)."""
import json
import unittest

from harness import Cluster, ClusterTestCase, make_shared_dir, quote_literal
from test_restore import backup, json_rows, restore

ONE = r"""
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id integer NOT NULL, customer text, total numeric(10,2));
INSERT INTO sales.orders SELECT g, 'customer ' || g % 7, g * 1.5 FROM generate_series(1, 1000) g;
CREATE TABLE public.notes (id integer, note text);
INSERT INTO public.notes SELECT g, E'note, "q"\n' || g FROM generate_series(1, 100) g;
"""
LATIN = r"""
CREATE TABLE public.words (id integer, word text);
INSERT INTO public.words SELECT g, 'word ' || g FROM generate_series(1, 300) g;
"""


def digest(cluster, db, table):
    return cluster.rows(f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                        f"FROM {table} t", db=db)


class DatabaseRestoreTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.cluster
        cls.target = make_shared_dir("cdw_restore_db_target_")
        a.sql("CREATE EXTENSION cdw_backup")
        a.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        a.sql("CREATE DATABASE one")
        a.sql("CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'")
        a.sql(ONE, db="one")
        a.sql(LATIN, db="latin")
        cls.run_id = backup(a, ["one", "latin"])
        a.sql("CREATE ROLE no_createdb LOGIN; GRANT cdw_backup_operator, pg_read_server_files, "
              "pg_write_server_files TO no_createdb")
        # A second target on the same location reads its backups with its key.
        key = a.sql("SELECT cdw_backup_target_key('default')")
        a.sql(f"SELECT cdw_backup_add_target('mine', {quote_literal('file://' + cls.target)}, "
              f"manifest_key => {quote_literal(key)})", user="no_createdb")

    def database(self, cluster, name):
        return cluster.rows("SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                            f"pg_get_userbyid(datdba) FROM pg_database WHERE datname = {quote_literal(name)}")

    def test_restore_into_a_new_database(self):
        a = self.cluster
        result = restore(a, self.run_id, "latin", into_database="latin_copy")
        self.assertEqual([(r["table_name"], r["status"]) for r in result], [("words", "restored")], result)
        self.assertEqual(self.database(a, "latin_copy"), [["LATIN1", "C", "C", "postgres"]])
        self.assertEqual(digest(a, "latin_copy", "public.words"), digest(a, "latin", "public.words"))

    def test_dry_run_into_a_new_database_leaves_nothing(self):
        a = self.cluster
        result = restore(a, self.run_id, "one", into_database="one_dry", dry_run=True)
        self.assertEqual(sorted((r["table_name"], r["status"]) for r in result),
                         [("notes", "checked"), ("orders", "checked")], result)
        self.assertEqual(self.database(a, "one_dry"), [])

    def test_creating_a_database_needs_createdb(self):
        a = self.cluster
        error = a.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'one', into_database => 'one_denied', "
                            "target => 'mine')", user="no_createdb")
        self.assertIn("42501", error)
        self.assertIn("CREATEDB", error)
        self.assertEqual(self.database(a, "one_denied"), [])
        # A table restore never creates a database.
        error = a.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'one', 'sales.orders', "
                            "into_database => 'one_table')")
        self.assertIn("does not exist", error)
        self.assertEqual(self.database(a, "one_table"), [])

    def test_restore_by_a_role_that_cannot_become_the_owners(self):
        """A whole-database restore by a role that is no member of the objects'
        owner (postgres) still creates every object, as its own (as
        pg_restore --no-owner would), instead of failing the steps."""
        a = self.cluster
        a.sql("CREATE ROLE restorer LOGIN CREATEDB; GRANT cdw_backup_operator, pg_read_server_files, "
              "pg_write_server_files TO restorer")
        key = a.sql("SELECT cdw_backup_target_key('default')")
        a.sql(f"SELECT cdw_backup_add_target('restorer_t', {quote_literal('file://' + self.target)}, "
              f"manifest_key => {quote_literal(key)})", user="restorer")
        result = json.loads(a.value(
            "SELECT coalesce(json_agg(to_json(x)), '[]') FROM (SELECT * FROM cdw_backup_restore("
            f"{self.run_id}, 'one', into_database => 'one_by_restorer', target => 'restorer_t')) x",
            user="restorer"))
        self.assertEqual(sorted((r["table_name"], r["status"]) for r in result),
                         [("notes", "restored"), ("orders", "restored")], result)
        self.assertEqual(a.rows("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'sales'",
                                db="one_by_restorer"), [["restorer"]])
        self.assertEqual(a.rows("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'orders'",
                                db="one_by_restorer"), [["restorer"]])
        self.assertEqual(digest(a, "one_by_restorer", "sales.orders"), digest(a, "one", "sales.orders"))

    def test_every_database_onto_a_fresh_cluster_in_one_call(self):
        b = Cluster()
        try:
            b.sql("CREATE EXTENSION cdw_backup")
            key = self.cluster.sql("SELECT cdw_backup_target_key('default')")
            b.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + self.target)}, "
                  f"manifest_key => {quote_literal(key)})")
            result = json_rows(b, f"SELECT * FROM cdw_backup_restore({self.run_id}, NULL)")
            self.assertEqual(sorted((r["destination"], r["status"], r["rows"]) for r in result),
                             [("latin.public.words", "restored", 300), ("one.public.notes", "restored", 100),
                              ("one.sales.orders", "restored", 1000)], result)
            self.assertEqual(self.database(b, "latin"), [["LATIN1", "C", "C", "postgres"]])
            for db, table in (("one", "sales.orders"), ("one", "public.notes"), ("latin", "public.words")):
                with self.subTest(table=table):
                    self.assertEqual(digest(b, db, table), digest(self.cluster, db, table))
            # Again: the databases exist now and their tables are not empty.
            result = json_rows(b, f"SELECT * FROM cdw_backup_restore({self.run_id}, NULL)")
            self.assertTrue(all(r["status"] == "failed" and "not empty" in r["detail"] for r in result), result)
            error = b.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, NULL, 'public.words')")
            self.assertIn("every database", error)
        finally:
            b.destroy()


if __name__ == "__main__":
    unittest.main()
