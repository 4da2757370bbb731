"""cdw_backup_restore semantics: triggers during the load, tables linked by
foreign keys under truncate => true (refused with the list, or cascade),
dry_run that checks what a real restore would, and a manifest whose column
type was tampered with (refused before anything runs).

Rows are compared with a copy taken before the backup (row::text, EXCEPT ALL
both ways plus counts).
"""
import json
import os
import unittest

from harness import ClusterTestCase, make_shared_dir, quote_literal
from test_restore import backup, compare, fingerprint, json_rows, restore, rewrite, target_files

SCHEMA = r"""
CREATE TABLE public.audited (id integer PRIMARY KEY, note text);
INSERT INTO public.audited SELECT g, 'backed up ' || g FROM generate_series(1, 300) g;
CREATE TABLE public.audit_log (what text);
-- A trigger that would change every restored row, one that would add rows
-- elsewhere on TRUNCATE, one ENABLE ALWAYS and one disabled: all must keep
-- their state and none may fire during the load.
CREATE FUNCTION public.mangle() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.note := 'mangled by trigger'; RETURN NEW; END$$;
CREATE FUNCTION public.log_truncate() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.audit_log VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NULL; END$$;
CREATE TRIGGER "Mangle rows" BEFORE INSERT ON public.audited FOR EACH ROW EXECUTE FUNCTION public.mangle();
CREATE TRIGGER log_truncate AFTER TRUNCATE ON public.audited EXECUTE FUNCTION public.log_truncate();
CREATE TRIGGER always_log AFTER INSERT ON public.audited EXECUTE FUNCTION public.log_truncate();
ALTER TABLE public.audited ENABLE ALWAYS TRIGGER always_log;
CREATE TRIGGER disabled_one BEFORE INSERT ON public.audited FOR EACH ROW EXECUTE FUNCTION public.mangle();
ALTER TABLE public.audited DISABLE TRIGGER disabled_one;

CREATE TABLE public.parent (id integer PRIMARY KEY, name text);
INSERT INTO public.parent SELECT g, 'parent ' || g FROM generate_series(1, 100) g;
CREATE TABLE public.child (id integer PRIMARY KEY, parent_id integer REFERENCES public.parent, note text);
INSERT INTO public.child SELECT g, 1 + g % 100, 'child ' || g FROM generate_series(1, 500) g;
CREATE TABLE public.grandchild (id integer PRIMARY KEY, child_id integer REFERENCES public.child);
INSERT INTO public.grandchild SELECT g, g FROM generate_series(1, 200) g;
CREATE TABLE public.other_ref (id integer, parent_id integer REFERENCES public.parent);
INSERT INTO public.other_ref SELECT g, g FROM generate_series(1, 50) g;

CREATE TYPE public.colour AS ENUM ('red', 'green');
CREATE TABLE public.coloured (id integer, c public.colour);
INSERT INTO public.coloured VALUES (1, 'red'), (2, 'green');
CREATE TABLE public.plain (id integer, note text);
INSERT INTO public.plain SELECT g, 'plain ' || g FROM generate_series(1, 40) g;
CREATE TABLE public.victim (id integer, note text);
INSERT INTO public.victim SELECT g, 'victim ' || g FROM generate_series(1, 40) g;

CREATE SCHEMA s2;
CREATE TABLE s2.a (id integer, note text);
INSERT INTO s2.a SELECT g, 'a ' || g FROM generate_series(1, 60) g;
CREATE TABLE s2.b (id integer);
INSERT INTO s2.b SELECT g FROM generate_series(1, 70) g;

CREATE TABLE public.measure (k integer NOT NULL, v text) PARTITION BY RANGE (k);
CREATE TABLE public.measure_lo PARTITION OF public.measure FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE s2.measure_hi PARTITION OF public.measure FOR VALUES FROM (100) TO (1000)
  PARTITION BY LIST ((k % 2));
CREATE TABLE s2.measure_hi_even PARTITION OF s2.measure_hi FOR VALUES IN (0);
CREATE TABLE s2.measure_hi_odd PARTITION OF s2.measure_hi FOR VALUES IN (1);
CREATE TABLE public.measure_default PARTITION OF public.measure DEFAULT;
INSERT INTO public.measure SELECT g, 'v' || g FROM generate_series(-50, 1500) g;
"""

SAVED = ["audited", "parent", "child", "grandchild", "other_ref", "plain"]


class RestoreSemanticsTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_restore_sem_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE app")
        c.sql("CREATE DATABASE elsewhere")
        c.sql(SCHEMA, db="app")
        c.sql("CREATE SCHEMA saved; " + " ".join(
            f"CREATE TABLE saved.{t} AS SELECT * FROM public.{t};" for t in SAVED)
              + "CREATE TABLE saved.all_measure AS SELECT * FROM public.measure", db="app")
        c.sql("CREATE ROLE restorer LOGIN; GRANT cdw_backup_operator, pg_read_server_files, pg_write_server_files TO restorer")
        # Another target on the same location reads its backups with its key.
        key = c.sql("SELECT cdw_backup_target_key('default')")
        c.sql(f"SELECT cdw_backup_add_target('mine', {quote_literal('file://' + cls.target)}, "
              f"manifest_key => {quote_literal(key)})", user="restorer")
        cls.run_id = backup(c, ["app"])

    def as_restorer(self, arguments):
        """(status, detail, hint) rows of a restore called by role restorer."""
        return self.cluster.rows(f"SELECT status, detail, hint FROM cdw_backup_restore({self.run_id}, 'app', "
                                 f"{arguments}, target => 'mine')", user="restorer")

    def triggers(self):
        return json_rows(self.cluster, "SELECT tgname, tgenabled FROM pg_trigger "
                         "WHERE tgrelid = 'public.audited'::regclass AND NOT tgisinternal ORDER BY 1", db="app")

    def test_truncate_does_not_fire_triggers_and_keeps_their_state(self):
        c = self.cluster
        before = self.triggers()
        c.sql("DELETE FROM audited WHERE id > 250; UPDATE audited SET note = 'current'; "
              "TRUNCATE audit_log", db="app")
        result = restore(c, self.run_id, "app", "public.audited", truncate=True)
        self.assertEqual([(r["status"], r["rows"]) for r in result], [("restored", 300)], result)
        self.assertEqual(compare(c, "app", "saved.audited", "public.audited"), (300, 300, 0, 0),
                         "rows differ from the backup: a trigger fired during the load")
        self.assertEqual(c.value("SELECT count(*) FROM audit_log", db="app"), "0",
                         "a TRUNCATE or ALWAYS trigger fired during the restore")
        self.assertEqual(self.triggers(), before)
        # They fire again afterwards.
        c.sql("INSERT INTO audited VALUES (1000, 'new')", db="app")
        self.assertEqual(c.value("SELECT note FROM audited WHERE id = 1000", db="app"), "mangled by trigger")
        c.sql("DELETE FROM audited WHERE id = 1000; TRUNCATE audit_log", db="app")

    def test_triggers_need_the_owner(self):
        c = self.cluster
        c.sql("GRANT SELECT, INSERT, TRUNCATE ON audited TO restorer", db="app")
        c.sql("UPDATE audited SET note = 'current' WHERE id = 1", db="app")
        current = fingerprint(c, "app", "audited")
        for dry_run in (True, False):
            rows = self.as_restorer(f"'public.audited', truncate => true, dry_run => {dry_run}")
            self.assertEqual(rows[0][0], "failed", rows)
            self.assertIn("disable its triggers", rows[0][1])
            self.assertIn("Mangle rows", rows[0][1])
            self.assertIn("postgres", rows[0][2])
        self.assertEqual(fingerprint(c, "app", "audited"), current)

    def test_fk_referenced_table_is_refused_with_the_list(self):
        c = self.cluster
        c.sql("UPDATE parent SET name = 'current'", db="app")
        current = {t: fingerprint(c, "app", t) for t in ("parent", "child", "other_ref", "grandchild")}
        for dry_run in (False, True):
            with self.subTest(dry_run=dry_run):
                result = restore(c, self.run_id, "app", "public.parent", truncate=True, dry_run=dry_run)
                self.assertEqual(len(result), 1, result)
                self.assertEqual(result[0]["status"], "refused", result)
                self.assertIn("public.child", result[0]["detail"])
                self.assertIn("public.other_ref", result[0]["detail"])
                self.assertIn("cascade", result[0]["hint"])
                for table, rows in current.items():
                    self.assertEqual(fingerprint(c, "app", table), rows, f"{table} changed")
        # Naming the tables together works: one transaction, parents first.
        c.sql("UPDATE child SET note = 'current'", db="app")
        result = restore(c, self.run_id, "app", "public.child", truncate=True)
        self.assertEqual(result[0]["status"], "refused", result)
        self.assertIn("public.grandchild", result[0]["detail"])

    def test_fk_cascade_restores_the_dependent_tables(self):
        c = self.cluster
        c.sql("UPDATE parent SET name = 'current'; DELETE FROM grandchild WHERE id > 100; "
              "UPDATE other_ref SET id = -id", db="app")
        result = restore(c, self.run_id, "app", "public.parent", truncate=True, cascade=True)
        self.assertEqual(sorted((r["table_name"], r["status"]) for r in result),
                         [("child", "restored"), ("grandchild", "restored"), ("other_ref", "restored"),
                          ("parent", "restored")], result)
        for table in ("parent", "child", "grandchild", "other_ref"):
            with self.subTest(table=table):
                self.assertEqual(compare(c, "app", f"saved.{table}", f"public.{table}")[2:], (0, 0))
        # The keys are still enforced.
        error = c.sql_error("INSERT INTO child VALUES (9999, 12345, 'orphan')", db="app")
        self.assertIn("23503", error)

    def test_fk_cascade_refuses_a_table_the_backup_does_not_hold(self):
        c = self.cluster
        c.sql("CREATE TABLE late_ref (parent_id integer REFERENCES parent); INSERT INTO late_ref VALUES (1)",
              db="app")
        try:
            c.sql("UPDATE parent SET name = 'current'", db="app")
            current = fingerprint(c, "app", "parent")
            result = restore(c, self.run_id, "app", "public.parent", truncate=True, cascade=True)
            by_table = {r["table_name"]: r for r in result}
            self.assertEqual(by_table["parent"]["status"], "refused", result)
            self.assertIn("public.late_ref", by_table["parent"]["detail"])
            self.assertTrue(all(r["status"] in ("refused", "not restored") for r in result), result)
            self.assertEqual(fingerprint(c, "app", "parent"), current)
            self.assertEqual(c.value("SELECT count(*) FROM late_ref", db="app"), "1")
        finally:
            c.sql("DROP TABLE late_ref", db="app")

    def test_every_failure_says_why_and_what_to_do(self):
        c = self.cluster
        c.sql("CREATE TABLE empty_parent (id integer PRIMARY KEY); "
              "CREATE TABLE fk_dest (id integer, parent_id integer REFERENCES empty_parent)", db="app")
        result = restore(c, self.run_id, "app", "public.other_ref", into_table="fk_dest")
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIn("foreign key", result[0]["detail"])
        self.assertIn("constraint", result[0]["hint"] or "")
        self.assertEqual(c.value("SELECT count(*) FROM fk_dest", db="app"), "0")
        # A database the role may not connect to: the reason, not an empty row.
        c.sql("CREATE DATABASE closed; REVOKE CONNECT ON DATABASE closed FROM PUBLIC")
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'app', 'public.plain', "
                            "into_database => 'closed', target => 'mine')", user="restorer")
        self.assertIn("42501", error)
        self.assertIn("GRANT CONNECT ON DATABASE closed TO restorer", error)

    def test_restore_of_one_schema(self):
        c = self.cluster
        c.sql("DROP TABLE s2.a; TRUNCATE s2.b", db="app")
        result = restore(c, self.run_id, "app", schema="s2", truncate=True)
        self.assertEqual(sorted((r["table_name"], r["status"]) for r in result),
                         [("a", "restored"), ("b", "restored"), ("measure_hi_even", "restored"),
                          ("measure_hi_odd", "restored")], result)
        self.assertEqual(c.value("SELECT count(*) FROM s2.a", db="app"), "60")
        self.assertEqual(c.value("SELECT count(*) FROM s2.b", db="app"), "70")
        result = restore(c, self.run_id, "app", schema="s2", into_schema="s2_copy")
        self.assertEqual(len(result), 4, result)
        self.assertTrue(all(r["status"] == "restored" for r in result), result)
        self.assertEqual(c.value("SELECT count(*) FROM s2_copy.a", db="app"), "60")

    def measure_differences(self):
        """(rows, missing, extra) of the whole partitioned table against its saved copy."""
        row = self.cluster.rows(
            "SELECT (SELECT count(*) FROM public.measure), "
            "(SELECT count(*) FROM (SELECT m::text FROM saved.all_measure m EXCEPT ALL "
            " SELECT m::text FROM public.measure m) x), "
            "(SELECT count(*) FROM (SELECT m::text FROM public.measure m EXCEPT ALL "
            " SELECT m::text FROM saved.all_measure m) y)", db="app")[0]
        return tuple(int(v) for v in row)

    def test_partitioned_parent_restores_its_partitions(self):
        c = self.cluster
        c.sql("DELETE FROM measure WHERE k % 3 = 0; UPDATE measure SET v = 'current' WHERE k > 900", db="app")
        result = restore(c, self.run_id, "app", "public.measure", truncate=True)
        # The partitioned tables themselves hold no rows (they are rows 0 of
        # the result); every leaf is restored.
        self.assertEqual(sorted((r["schema_name"], r["table_name"], r["status"]) for r in result if r["rows"]),
                         [("public", "measure_default", "restored"), ("public", "measure_lo", "restored"),
                          ("s2", "measure_hi_even", "restored"), ("s2", "measure_hi_odd", "restored")], result)
        self.assertTrue(all(r["status"] == "restored" for r in result), result)
        self.assertEqual(self.measure_differences(), (1551, 0, 0))
        # Unqualified, and nothing to truncate.
        c.sql("TRUNCATE measure", db="app")
        result = restore(c, self.run_id, "app", "measure")
        self.assertEqual(len([r for r in result if r["rows"]]), 4, result)
        self.assertEqual(self.measure_differences(), (1551, 0, 0))
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'app', 'public.no_such_parent')")
        self.assertIn("42P01", error)

    def test_cascade_needs_truncate(self):
        error = self.cluster.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'app', "
                                       "'public.parent', cascade => true)")
        self.assertIn("truncate", error)

    def test_dry_run_reports_what_would_fail(self):
        c = self.cluster
        # A missing type: the enum does not exist in the other database.
        result = restore(c, self.run_id, "app", "public.coloured", into_database="elsewhere", dry_run=True)
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIn("colour", result[0]["detail"])
        self.assertIn("does not exist", result[0]["detail"])
        self.assertEqual(c.value("SELECT to_regclass('public.coloured') IS NULL", db="elsewhere"), "t")
        # A real restore fails the same way, and the rest of the database goes on.
        result = restore(c, self.run_id, "app", "public.coloured", into_database="elsewhere")
        self.assertEqual(result[0]["status"], "failed", result)
        # No privilege to create the schema.
        result = restore(c, self.run_id, "app", "public.plain", into_table="newschema.plain", dry_run=True)
        self.assertEqual(result[0]["status"], "checked", result)  # postgres may
        c.sql("REVOKE CREATE ON DATABASE app FROM PUBLIC", db="app")
        rows = self.as_restorer("'public.plain', into_table => 'newschema.plain', dry_run => true")
        self.assertEqual(rows[0][0], "failed", rows)
        self.assertIn("permission denied", rows[0][1])
        # No privilege on an existing schema.
        c.sql("CREATE SCHEMA locked", db="app")
        rows = self.as_restorer("'public.plain', into_table => 'locked.plain', dry_run => true")
        self.assertEqual(rows[0][0], "failed", rows)
        self.assertIn("permission denied", rows[0][1])
        # A non-empty table without truncate.
        result = restore(c, self.run_id, "app", "public.plain", dry_run=True)
        self.assertEqual(result[0]["status"], "failed", result)
        self.assertIn("not empty", result[0]["detail"])
        # Nothing of it stayed.
        self.assertEqual(c.value("SELECT to_regnamespace('newschema') IS NULL", db="app"), "t")
        result = restore(c, self.run_id, "app", "public.plain", dry_run=True, truncate=True)
        self.assertEqual(result[0]["status"], "checked", result)


class TamperedManifestTest(ClusterTestCase):
    """An old-format manifest whose column type carries SQL."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_restore_tamper_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE app")
        c.sql("CREATE TABLE a_first (id integer); INSERT INTO a_first VALUES (1);"
              "CREATE TABLE b_victim (id integer, note text); INSERT INTO b_victim VALUES (1, 'x')", db="app")
        cls.run_id = backup(c, ["app"])
        cls.probe = os.path.join(make_shared_dir("cdw_probe_"), "probe")

    def tamper(self, injected):
        manifest = target_files(self.target, self.run_id, "app", "manifest.json")[0]
        with open(manifest) as f:
            document = json.load(f)
        for table in document["tables"]:
            if table["name"] == "b_victim":
                table["columns"][1]["type"] = injected
        rewrite(manifest, json.dumps(document).encode())

    def test_injected_types_are_refused_and_nothing_runs(self):
        c = self.cluster
        c.sql("DROP TABLE a_first, b_victim", db="app")
        for injected in (f"text); COPY (SELECT 1) TO {quote_literal(self.probe)}; --",
                         f"text, x integer DEFAULT 1) ; COPY (SELECT 1) TO {quote_literal(self.probe)}; "
                         "CREATE TABLE y (a text", "text -- comment", "pg_catalog.text COLLATE \"C\""):
            with self.subTest(injected=injected):
                self.tamper(injected)
                error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'app')")
                self.assertTrue("not a type" in error or "MAC" in error or "authentic" in error, error)
                self.assertFalse(os.path.exists(self.probe), "the injected COPY ran")
                # Nothing ran: not even the table before it in the manifest.
                self.assertEqual(c.value("SELECT count(*) FROM pg_class WHERE relname IN "
                                         "('a_first', 'b_victim', 'y')", db="app"), "0")


if __name__ == "__main__":
    unittest.main()
