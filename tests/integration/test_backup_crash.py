"""A backup run that dies mid-export: kill -9 of a database worker, an
immediate restart of the server, a terminated coordinator.

Each time the run must end as 'interrupted' (the launcher settles it after
the restart), its unfinished tables failed, no database left with an
external table or server of the run, and the next run must work.
"""
import glob
import os
import signal
import subprocess
import unittest

from harness import wait_until
from test_backup_run import (SLOW_DATABASE, SLOW_TABLES, BackupTestCase, create_slow_database,
                             encode_component, url_to_path)


class BackupCrashTest(BackupTestCase):
    expects_crashes = True

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_crash_target_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target}')")
        c.sql("CREATE DATABASE small")
        c.sql("CREATE TABLE s (id int, v text); "
              "INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 1000) g", db="small")
        create_slow_database(c)
        # Both databases are exported at once (databases run in parallel):
        # small ends early, a_slow is still being exported when it is hit.
        cls.databases = f"ARRAY['{SLOW_DATABASE}', 'small']"

    def start_slow_run(self):
        """Starts a run and returns (run id, pid of a worker exporting a table)
        once the tables are recorded and a table is being written."""
        run_id = self.start_run(f"databases => {self.databases}")

        def exporting():
            recorded = self.cluster.value(
                f"SELECT count(*) FROM cdw_backup.run_tables WHERE run_id = {run_id} "
                f"AND database = '{SLOW_DATABASE}'")
            if recorded != str(len(SLOW_TABLES)):
                return None
            return self.cluster.value(
                f"SELECT pid FROM cdw_backup.progress WHERE run_id = {run_id} AND rows > 0 "
                f"AND database = '{SLOW_DATABASE}' LIMIT 1")
        pid = int(wait_until(exporting, timeout=60, what="a table being exported"))
        backend = self.cluster.value(f"SELECT backend_type FROM pg_stat_activity WHERE pid = {pid}")
        self.assertEqual(backend, "cdw_backup database worker")
        return run_id, pid

    def wait_interrupted(self, run_id):
        def status():
            return self.cluster.try_value(
                f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id} "
                f"AND status <> 'running'")
        return wait_until(status, timeout=90, interval=0.2, what=f"run {run_id} to be settled")

    def assert_settled_as_interrupted(self, run_id, before):
        self.assertEqual(self.wait_interrupted(run_id), "interrupted",
                         self.cluster.server_log()[-3000:])
        wait_until(lambda: self.cluster.try_value(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN "
            "('cdw_backup database worker', 'cdw_backup coordinator')") == "0",
            timeout=60, interval=0.2, what="the run's workers to exit")
        unsettled = (f"SELECT (SELECT count(*) FROM cdw_backup.run_tables WHERE run_id = {run_id} "
                     f"AND status IN ('pending', 'running')) + (SELECT count(*) FROM "
                     f"cdw_backup.run_databases WHERE run_id = {run_id} "
                     f"AND status IN ('pending', 'running'))")
        try:
            wait_until(lambda: self.cluster.value(unsettled) == "0", timeout=20, interval=0.2,
                       what="the run's tables and databases to be settled")
        except AssertionError as e:
            self.fail(f"{e}: {self.table_rows(run_id)}")
        run = self.run_row(run_id)
        self.assertIsNotNone(run["finished_at"])
        self.assertTrue(run["error"])
        tables = self.table_rows(run_id)
        self.assertEqual({t["table_name"] for t in tables if t["database"] == SLOW_DATABASE},
                         set(SLOW_TABLES))
        unfinished = [t for t in tables if t["status"] != "succeeded"]
        self.assertTrue(unfinished, "the run ended before it could be interrupted")
        for t in unfinished:
            self.assertEqual(t["status"], "failed", t)
            self.assertTrue(t["sqlstate"] and t["error"], t)
            self.assertIsNotNone(t["finished_at"], t)
        databases = self.database_rows(run_id)
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_wait({run_id}, '10 s')"),
                         "interrupted")
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE run_id = {run_id}"), "0")
        # Nothing of the run is left in any database.
        self.assertEqual(self.fdw_objects(), before)
        # The target agrees with the history: no finished object of a failed
        # table, no manifest of a database that did not succeed, and nothing
        # an interrupted writer left (settling the run removes .tmp- files).
        root = url_to_path(run["location"])
        self.assertEqual(glob.glob(os.path.join(root, "**", ".tmp-*"), recursive=True), [])
        for t in unfinished:
            table_dir = os.path.join(root, encode_component(t["database"]),
                                     "public." + t["table_name"])
            self.assertEqual(glob.glob(os.path.join(table_dir, "part-*")), [],
                             f"{t['table_name']} is recorded as {t['status']} but has objects")
        for db, d in databases.items():
            if d["status"] not in ("succeeded", "partial"):
                manifest = os.path.join(root, encode_component(db), "manifest.json")
                self.assertFalse(os.path.exists(manifest),
                                 f"database {db} is recorded as {d['status']} but has a manifest")
        # The next run works.
        next_run = self.start_run("databases => '{small}', wait => true")
        self.assertEqual(self.wait_run(next_run), "succeeded")
        self.verify_run(next_run)
        # The run's counts match its tables.
        succeeded = [t for t in tables if t["status"] == "succeeded"]
        self.assertEqual((run["tables_total"], run["tables_succeeded"], run["tables_failed"],
                          run["rows"]),
                         (len(tables), len(succeeded), len(unfinished),
                          sum(t["rows"] for t in succeeded)), "runs counts != run_tables")

    def test_kill_9_of_a_database_worker(self):
        before = self.fdw_objects()
        run_id, pid = self.start_slow_run()
        os.kill(pid, signal.SIGKILL)
        self.assert_settled_as_interrupted(run_id, before)
        self.assertIn(f"(PID {pid}) was terminated by signal 9", self.cluster.server_log())

    def test_immediate_restart_mid_run(self):
        before = self.fdw_objects()
        run_id, _ = self.start_slow_run()
        self.cluster.restart("immediate")
        self.assert_settled_as_interrupted(run_id, before)

    def test_terminated_coordinator(self):
        # No crash: only the coordinator goes (pg_terminate_backend).
        before = self.fdw_objects()
        run_id, _ = self.start_slow_run()
        coordinator = self.cluster.value(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdw_backup coordinator'")
        self.assertTrue(coordinator)
        self.assertEqual(self.cluster.value(f"SELECT pg_terminate_backend({coordinator})"), "t")
        self.assert_settled_as_interrupted(run_id, before)

    def test_waiter_seeing_a_dead_coordinator_first(self):
        # cdw_backup_wait() notices a run without its coordinator and marks it
        # interrupted; the run's tables must be settled all the same. The
        # launcher (which settles runs when a coordinator exits) is kept out
        # of the way by terminating it first: it restarts 10 s later.
        before = self.fdw_objects()
        run_id, _ = self.start_slow_run()
        launcher = self.cluster.value(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdw_backup launcher'")
        self.assertTrue(launcher)
        self.cluster.sql(f"SELECT pg_terminate_backend({launcher})")
        waiter = subprocess.Popen(self.cluster.psql_args("postgres", "postgres"),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        waiter.stdin.write(f"SELECT cdw_backup_wait({run_id});\n")
        waiter.stdin.flush()
        wait_until(lambda: self.cluster.value(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' "
            "AND backend_type = 'client backend'") == "1", what="the waiter to wait")
        coordinator = self.cluster.value(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdw_backup coordinator'")
        self.cluster.sql(f"SELECT pg_terminate_backend({coordinator})")
        out, err = waiter.communicate(timeout=60)
        self.assertEqual(out.strip(), "interrupted", err)
        self.assert_settled_as_interrupted(run_id, before)


if __name__ == "__main__":
    unittest.main()
