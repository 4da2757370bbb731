"""Table filters and progress of backup runs (README "Choosing tables",
"Progress"): tables / exclude_tables / schemas / exclude_schemas /
exclude_table_data with pg_dump's -t pattern syntax (wildcards, quoting,
case folding); history and the manifest say what was left out and why; a
restore of an excluded table says it was left out by choice; a whole
database restore recreates a data-excluded table empty and leaves excluded
ones out; bad patterns are clear errors; a pattern that matches nothing is a
warning on the run. Progress: cdw_backup.run_progress while a run waits on
its second database, the cdw_backup.progress_log lines, and totals that add
up when the run ends. One cluster for the file."""
import re
import unittest

from harness import (ClusterTestCase, Session, hint_of, json_rows, make_shared_dir, quote_literal,
                     restore, sqlstate_of, wait_until)

SCHEMA = r"""
CREATE SCHEMA scratch;
CREATE SCHEMA "Sales";
CREATE TABLE public.orders (id integer PRIMARY KEY, note text);
INSERT INTO public.orders SELECT g, 'n' || g FROM generate_series(1, 300) g;
CREATE TABLE public.log_events (id integer PRIMARY KEY, order_id integer REFERENCES public.orders);
INSERT INTO public.log_events SELECT g, g FROM generate_series(1, 100) g;
CREATE VIEW public.log_view AS SELECT * FROM public.log_events;
CREATE VIEW public.orders_view AS SELECT id FROM public.orders;
CREATE TABLE public.audit (id integer, what text);
CREATE INDEX audit_id ON public.audit (id);
INSERT INTO public.audit SELECT g, 'a' FROM generate_series(1, 50) g;
CREATE TABLE public.logbook (id integer);
INSERT INTO public.logbook VALUES (1), (2);
CREATE TABLE scratch.tmp_a (x integer);
INSERT INTO scratch.tmp_a VALUES (1);
CREATE TABLE "Sales"."Q1.2024" (x integer);
INSERT INTO "Sales"."Q1.2024" VALUES (1), (2), (3);
CREATE TABLE "Sales".q1x2024 (x integer);
INSERT INTO "Sales".q1x2024 VALUES (7);
"""


class FilterTest(ClusterTestCase):
    maxDiff = None
    settings = {"cdw_backup.progress_log": "'1s'", "cdw_backup.lock_wait_timeout": "'120s'",
                "log_min_messages": "log"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_filters_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE shop")
        c.sql(SCHEMA, db="shop")
        cls.run_id = int(c.value(
            "SELECT cdw_backup_run(databases => '{shop}', wait => true, "
            "exclude_schemas => '{Scratch}', "
            "exclude_tables => ARRAY['public.log_*', '\"Sales\".\"Q1.2024\"', 'nosuch*'], "
            "exclude_table_data => '{AUDIT}')"))

    def tables(self, run_id):
        return {(r["schema_name"], r["table_name"]): r for r in json_rows(
            self.cluster, "SELECT schema_name, table_name, status, rows, excluded_by "
                          f"FROM cdw_backup.run_tables WHERE run_id = {run_id}")}

    def test_history_says_what_was_excluded_and_why(self):
        c = self.cluster
        run = json_rows(c, "SELECT status, tables_total, tables_succeeded, filters, warnings "
                           f"FROM cdw_backup.runs WHERE run_id = {self.run_id}")[0]
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(run["filters"], {"exclude_schemas": ["Scratch"],
                                          "exclude_tables": ["public.log_*", '"Sales"."Q1.2024"',
                                                             "nosuch*"],
                                          "exclude_table_data": ["AUDIT"]})
        # A pattern that matched nothing is a warning, not a failure.
        self.assertEqual(run["warnings"],
                         ['exclude_tables pattern "nosuch*" matched no table in any database of '
                          'the run'])
        t = self.tables(self.run_id)
        self.assertEqual(t[("public", "log_events")]["status"], "excluded")
        self.assertEqual(t[("public", "log_events")]["excluded_by"],
                         'exclude_tables pattern "public.log_*"')
        # Rows of excluded tables count nothing.
        self.assertIsNone(t[("public", "log_events")]["rows"])
        # _ is no wildcard (as in pg_dump, unlike LIKE): logbook is not log_*.
        self.assertEqual(t[("public", "logbook")]["status"], "succeeded")
        # Unquoted names fold to lower case: Scratch is scratch.
        self.assertEqual(t[("scratch", "tmp_a")]["excluded_by"], 'exclude_schemas pattern "Scratch"')
        # Quoted: the dot is part of the name, case kept; q1x2024 is not matched.
        self.assertEqual(t[("Sales", "Q1.2024")]["status"], "excluded")
        self.assertEqual(t[("Sales", "q1x2024")]["status"], "succeeded")
        self.assertEqual(t[("Sales", "q1x2024")]["rows"], 1)
        # Data excluded: in the backup, without rows.
        self.assertEqual(t[("public", "audit")]["status"], "succeeded")
        self.assertEqual(t[("public", "audit")]["rows"], 0)
        self.assertEqual(t[("public", "audit")]["excluded_by"], 'exclude_table_data pattern "AUDIT"')
        self.assertEqual(t[("public", "orders")]["rows"], 300)
        self.assertIsNone(t[("public", "orders")]["excluded_by"])
        # Totals count what was backed up; excluded tables are counted apart.
        self.assertEqual(run["tables_total"], 4)
        self.assertEqual(run["tables_succeeded"], 4)
        self.assertEqual(c.value("SELECT tables_total || '/' || tables_excluded FROM "
                                 f"cdw_backup.run_databases WHERE run_id = {self.run_id}"), "4/3")

    def test_restore_of_an_excluded_table_says_so(self):
        c = self.cluster
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'shop', "
                            "'public.log_events', into_table => 'log_copy')")
        self.assertEqual(sqlstate_of(error), "42P01", error)
        self.assertIn("it was excluded from the backup", error)
        self.assertIn('Not in this backup by choice (excluded by exclude_tables pattern '
                      '"public.log_*")', error)
        self.assertIn("cdw_backup.runs.filters", hint_of(error))
        # By name only, too.
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'shop', 'tmp_a')")
        self.assertIn('excluded by exclude_schemas pattern "Scratch"', error)
        # A whole schema the filters left out, too.
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'shop', "
                            "schema => 'scratch')")
        self.assertEqual(sqlstate_of(error), "42P01", error)
        self.assertIn("schema scratch is not in run", error)
        self.assertIn('1 table(s) excluded (by exclude_schemas pattern "Scratch")', error)
        self.assertIn("cdw_backup.runs.filters", hint_of(error))
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'shop', "
                            "schema => 'nosuch')")
        self.assertIn("has no table in schema nosuch", error)
        self.assertIn("run_tables.schema_name", hint_of(error))
        # A data-excluded table comes back empty, and its row says why.
        rows = restore(c, self.run_id, "shop", "public.audit", into_table="audit_copy")
        self.assertEqual([(r["status"], r["rows"]) for r in rows], [("restored", 0)], rows)
        self.assertIn('created empty: the backup holds its definition, not its rows '
                      '(excluded by exclude_table_data pattern "AUDIT")', rows[0]["detail"])
        # A name that is in no sense in the backup is still "no table".
        error = c.sql_error(f"SELECT * FROM cdw_backup_restore({self.run_id}, 'shop', 'public.nothing')")
        self.assertIn("has no table", error)

    def test_whole_database_restore(self):
        c = self.cluster
        c.sql("CREATE DATABASE shop_copy")
        result = restore(c, self.run_id, "shop", into_database="shop_copy")
        self.assertFalse([r for r in result if r["status"] not in ("restored",)], result)
        tables = c.value("SELECT string_agg(oid::regclass::text, ',' ORDER BY oid::regclass::text) "
                         "FROM pg_class WHERE relkind IN ('r', 'v') AND relnamespace IN "
                         "(SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'scratch', 'Sales'))",
                         db="shop_copy")
        # Excluded tables and the view over one are not recreated; the
        # data-excluded table is, empty, with its index.
        self.assertEqual(tables, '"Sales".q1x2024,audit,logbook,orders,orders_view')
        self.assertEqual(c.value("SELECT count(*) FROM public.audit", db="shop_copy"), "0")
        self.assertEqual(c.value("SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_id'",
                                 db="shop_copy"), "1")
        self.assertEqual(c.value("SELECT count(*) FROM public.orders", db="shop_copy"), "300")

    def test_foreign_key_to_a_data_excluded_table_fails_with_a_hint(self):
        c = self.cluster
        c.sql("CREATE DATABASE fk_src")
        c.sql("CREATE TABLE parent (id integer PRIMARY KEY); INSERT INTO parent VALUES (1); "
              "CREATE TABLE child (id integer, parent_id integer REFERENCES parent); "
              "INSERT INTO child VALUES (1, 1)", db="fk_src")
        run_id = c.value("SELECT cdw_backup_run(databases => '{fk_src}', wait => true, "
                         "exclude_table_data => '{parent}')")
        c.sql("CREATE DATABASE fk_copy")
        result = restore(c, run_id, "fk_src", into_database="fk_copy")
        failed = [r for r in result if r["status"] == "failed"]
        self.assertEqual(len(failed), 1, result)
        self.assertIn("violates foreign key constraint", failed[0]["detail"], failed[0])
        self.assertIn("add the constraint again", failed[0]["hint"], failed[0])
        self.assertEqual(c.value("SELECT count(*) FROM child", db="fk_copy"), "1")

    def test_objects_the_backup_does_not_capture_are_named_in_the_warnings(self):
        c = self.cluster
        c.sql("CREATE DATABASE uncaptured")
        c.sql("CREATE EXTENSION btree_gist; "  # its operators are the extension's
              "CREATE AGGREGATE mysum(integer) (sfunc = int4pl, stype = integer); "
              "CREATE OPERATOR === (leftarg = integer, rightarg = integer, function = int4eq); "
              "CREATE TABLE t (x integer); CREATE RULE t_quiet AS ON DELETE TO t DO INSTEAD NOTHING",
              db="uncaptured")
        run_id = c.value("SELECT cdw_backup_run(databases => '{uncaptured,shop}', wait => true)")
        warnings = c.value("SELECT array_to_string(warnings, E'\\n') FROM cdw_backup.runs "
                           f"WHERE run_id = {run_id}")
        self.assertEqual(warnings,
                         "database uncaptured: 3 object(s) of kinds the backup does not capture "
                         "are not in it, so a restore will not recreate them: aggregate "
                         "public.mysum(integer), operator public.===(integer,integer), "
                         "rule t_quiet on public.t")
        # (Also a WARNING in the server log; this class logs from LOG up only.)
        # The run itself is not failed by it: what it holds is restorable.
        self.assertEqual(c.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"),
                         "succeeded")

    def test_progress_counts_a_database_refused_at_the_start(self):
        c = self.cluster
        run_id = c.value("SELECT cdw_backup_run(databases => '{shop,no_such_db}', wait => true)")
        self.assertEqual(c.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"),
                         "partial")
        final = re.compile(rf"cdw_backup run {run_id} progress: finished, .*databases (\d+)/(\d+)")
        wait_until(lambda: final.search(c.server_log()), what="the final progress line")
        self.assertEqual(final.search(c.server_log()).groups(), ("2", "2"))

    def test_partitioned_parent_comes_with_its_partitions_only(self):
        c = self.cluster
        c.sql("CREATE DATABASE part_src")
        c.sql("CREATE TABLE events (id integer, day date) PARTITION BY RANGE (day); "
              "CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01'); "
              "CREATE TABLE events_b PARTITION OF events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01'); "
              "INSERT INTO events VALUES (1, '2024-01-05'), (2, '2024-02-05'); "
              "CREATE TABLE empty_parent (id integer) PARTITION BY LIST (id); "
              "CREATE TABLE orders (id integer); INSERT INTO orders VALUES (1)", db="part_src")

        def restored(run_id, name):
            c.sql(f"CREATE DATABASE {name}")
            result = restore(c, run_id, "part_src", into_database=name)
            self.assertFalse([r for r in result if r["status"] != "restored"], result)
            return c.value("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                           "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')",
                           db=name)
        # None of its partitions chosen: the parent is not recreated (a
        # partitioned table without partitions is not excluded).
        run_id = c.value("SELECT cdw_backup_run(databases => '{part_src}', wait => true, "
                         "exclude_tables => '{events_*}')")
        self.assertEqual(restored(run_id, "part_none"), "empty_parent,orders")
        # One partition chosen: its parent comes with it, empty otherwise.
        # (A partitioned table without any partition holds nothing a pattern
        # can choose: it is schema, kept; README "Choosing tables".)
        run_id = c.value("SELECT cdw_backup_run(databases => '{part_src}', wait => true, "
                         "tables => '{events_a}')")
        self.assertEqual(restored(run_id, "part_one"), "empty_parent,events,events_a")
        self.assertEqual(c.value("SELECT count(*) FROM events", db="part_one"), "1")

    def test_tables_choose_with_wildcards_and_case(self):
        c = self.cluster
        run_id = int(c.value("SELECT cdw_backup_run(databases => '{shop}', wait => true, "
                             "tables => ARRAY['\"Sales\".*', 'public.ORDERS', 'public.orders_view'])"))
        t = self.tables(run_id)
        backed_up = sorted(k for k, r in t.items() if r["status"] == "succeeded")
        self.assertEqual(backed_up, [("Sales", "Q1.2024"), ("Sales", "q1x2024"), ("public", "orders")])
        # Patterns choose tables: a view's name matches nothing (README).
        self.assertIn('tables pattern "public.orders_view" matched no table',
                      c.value("SELECT array_to_string(warnings, ' ') FROM cdw_backup.runs "
                              f"WHERE run_id = {run_id}"))
        self.assertEqual(t[("public", "audit")]["excluded_by"],
                         "tables (it matches none of the patterns)")
        # schemas and tables combine: both must pass.
        run_id = int(c.value("SELECT cdw_backup_run(databases => '{shop}', wait => true, "
                             "schemas => ARRAY['\"Sales\"'], tables => '{q1*}')"))
        t = self.tables(run_id)
        self.assertEqual(sorted(k for k, r in t.items() if r["status"] == "succeeded"),
                         [("Sales", "q1x2024")])
        self.assertEqual(t[("public", "orders")]["excluded_by"],
                         "schemas (its schema matches none of the patterns)")

    def test_bad_patterns_are_clear_errors(self):
        c = self.cluster
        cases = [("tables => '{}'", "22023", "tables must not be empty"),
                 ("exclude_tables => ARRAY['a', NULL]", "22004", "exclude_tables must not contain NULL"),
                 ("tables => ARRAY['']", "22023", "empty pattern"),
                 ("tables => ARRAY[repeat('x', 1001)]", "22023", "too long"),
                 ("tables => '{db.s.t}'", "22023", "too many dotted names"),
                 ("schemas => '{a.b}'", "22023", "schema pattern with a dot"),
                 ("exclude_tables => ARRAY['\"open']", "22023", "unterminated quoted name"),
                 ("exclude_table_data => '{log_(}'", "2201B", "invalid pattern")]
        for args, sqlstate, message in cases:
            with self.subTest(args=args):
                error = c.sql_error(f"SELECT cdw_backup_run(databases => '{{shop}}', {args})")
                self.assertEqual(sqlstate_of(error), sqlstate, error)
                self.assertIn(message, error)
                self.assertTrue(hint_of(error), error)
        # A progress interval below a second would round to 0 (off): refused.
        for value in ("500ms", "1us"):
            with self.subTest(progress_log=value):
                error = c.sql_error(f"ALTER SYSTEM SET cdw_backup.progress_log = '{value}'")
                self.assertEqual(sqlstate_of(error), "22023", error)
                self.assertIn("at least 1 s", error)
                self.assertIn("0 / off", hint_of(error))
        c.sql("ALTER SYSTEM SET cdw_backup.progress_log = '2s'")
        c.sql("ALTER SYSTEM RESET cdw_backup.progress_log")
        # Schedules check them when written and show them.
        error = c.sql_error("SELECT cdw_backup_schedule('bad', '0 3 * * *', tables => '{a.b.c}')")
        self.assertEqual(sqlstate_of(error), "22023", error)
        c.sql("SELECT cdw_backup_schedule('nightly', '0 3 * * *', databases => '{shop}', "
              "exclude_tables => '{public.log_*}', exclude_table_data => '{audit}')")
        self.assertEqual(c.value("SELECT exclude_tables::text || exclude_table_data::text "
                                 "FROM cdw_backup.schedules WHERE name = 'nightly'"),
                         "{public.log_*}{audit}")
        run_id = c.value("SELECT cdw_backup_run_schedule('nightly')")
        self.assertEqual(c.value(f"SELECT cdw_backup_wait({run_id})"), "succeeded")
        t = self.tables(run_id)
        self.assertEqual(t[("public", "log_events")]["status"], "excluded")
        self.assertEqual(t[("public", "audit")]["rows"], 0)

    def test_progress_adds_up(self):
        c = self.cluster
        c.sql("CREATE DATABASE zlast")
        c.sql("CREATE TABLE t (x integer); INSERT INTO t SELECT generate_series(1, 1000); "
              "CREATE TABLE u (x integer)", db="zlast")
        holder = Session(c, "zlast")
        self.assertEqual(holder.ask("BEGIN; LOCK TABLE u IN ACCESS EXCLUSIVE MODE; SELECT 'locked';"),
                         "locked")
        try:
            run_id = int(c.value("SELECT cdw_backup_run(databases => '{shop,zlast}')"))
            # shop is done, zlast waits for its lock: the run is half way.
            wait_until(lambda: c.value("SELECT databases_done FROM cdw_backup.run_progress "
                                       f"WHERE run_id = {run_id}") == "1",
                       what="the first database done")
            line = re.compile(rf"cdw_backup run {run_id} progress: tables (\d+)/(\d+), bytes (\d+)/(\d+)")
            wait_until(lambda: len(line.findall(c.server_log())) >= 2, what="two progress lines")
            p = json_rows(c, f"SELECT * FROM cdw_backup.run_progress WHERE run_id = {run_id}")[0]
            shop = json_rows(c, "SELECT count(*) AS tables, sum(bytes_raw) AS raw, "
                                "sum(bytes_stored) AS stored FROM cdw_backup.run_tables "
                                f"WHERE run_id = {run_id} AND database = 'shop'")[0]
            self.assertEqual((p["databases_total"], p["tables_done"], p["tables_total"]),
                             (2, shop["tables"], shop["tables"]), p)
            self.assertEqual(p["bytes_done"], shop["raw"], p)
            self.assertEqual(p["bytes_stored"], shop["stored"], p)
            # zlast is not listed yet: its size is estimated, so more is to come.
            self.assertGreater(p["bytes_total"], p["bytes_done"], p)
            self.assertLess(p["percent"], 100)
            self.assertIsNotNone(p["eta"])
            self.assertIsNotNone(p["rate_bytes_per_second"])
        finally:
            holder.send("COMMIT; SELECT 'done';")
            holder.finish()
        self.assertEqual(c.value(f"SELECT cdw_backup_wait({run_id})"), "succeeded")
        run = json_rows(c, f"SELECT tables_total, bytes_raw FROM cdw_backup.runs WHERE run_id = {run_id}")[0]
        final = re.compile(rf"cdw_backup run {run_id} progress: finished, tables (\d+)/(\d+), "
                           rf"bytes (\d+)/(\d+) \(100\.0%\).*ETA 0s, databases 2/2")
        found = final.findall(c.server_log())
        self.assertEqual(len(found), 1, c.server_log()[-3000:])
        done, total, bytes_done, bytes_total = map(int, found[0])
        self.assertEqual((done, total), (run["tables_total"], run["tables_total"]))
        self.assertEqual((bytes_done, bytes_total), (run["bytes_raw"], run["bytes_raw"]))
        # Finished runs leave the view.
        self.assertEqual(c.value(f"SELECT count(*) FROM cdw_backup.run_progress WHERE run_id = {run_id}"),
                         "0")


if __name__ == "__main__":
    unittest.main()
