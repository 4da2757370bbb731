"""A coordinator that fails after recording its run (issue 15, case 15).

The failure is injected with a trigger on cdw_backup.run_databases that
raises when a database is marked running: the coordinator's ERROR happens
after the run's row was committed. The run must then say what happened
(failed, with that error), not be left running for the launcher to label
"interrupted ... the server stopped", and the postmaster must not restart.
"""
import shutil
import unittest

from harness import ClusterTestCase, json_rows, make_shared_dir, quote_literal


class CoordinatorFailureTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        cls.target = make_shared_dir("cdw_coordinator_failure_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)})")
        c.sql("CREATE DATABASE fsrc")
        c.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g", db="fsrc")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def test_failure_after_the_run_is_recorded_is_the_runs_error(self):
        c = self.cluster
        start_time = c.value("SELECT pg_postmaster_start_time()")
        c.sql("""
            CREATE FUNCTION public.fail_running() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.status = 'running' THEN
                RAISE EXCEPTION 'injected history failure' USING HINT = 'the injected hint';
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER fail_running BEFORE INSERT OR UPDATE ON cdw_backup.run_databases
              FOR EACH ROW EXECUTE FUNCTION public.fail_running();""")
        try:
            run_id = c.value("SELECT cdw_backup_run(databases => '{fsrc}', wait => true)")
        finally:
            c.sql("DROP TRIGGER fail_running ON cdw_backup.run_databases; "
                  "DROP FUNCTION public.fail_running()")
        [run] = json_rows(c, f"SELECT status, error, hint FROM cdw_backup.runs WHERE run_id = {run_id}")
        self.assertEqual(run["status"], "failed", run)
        self.assertIn("injected history failure", run["error"], run)
        self.assertNotIn("server stopped", run["error"], run)
        self.assertEqual(run["hint"], "the injected hint", run)
        [database] = json_rows(c, f"SELECT status, error FROM cdw_backup.run_databases "
                                  f"WHERE run_id = {run_id}")
        self.assertEqual(database["status"], "failed", database)
        self.assertIn("injected history failure", database["error"], database)
        # The launcher settles nothing later: the run stays failed.
        c.sql("SELECT cdw_backup_wait(%s)" % run_id)
        self.assertEqual(c.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"), "failed")
        self.assertEqual(c.value("SELECT pg_postmaster_start_time()"), start_time)
        # The next run works.
        run_id = c.value("SELECT cdw_backup_run(databases => '{fsrc}', wait => true)")
        self.assertEqual(c.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"),
                         "succeeded")


if __name__ == "__main__":
    unittest.main()
