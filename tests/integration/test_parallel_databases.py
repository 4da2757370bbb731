"""Databases exported in parallel (README, "Scaling").

    test_a_blocked_database_does_not_hold_up_the_others
        one database's table is locked ACCESS EXCLUSIVE by an idle
        transaction: the other database is backed up (succeeded, with its
        manifest) while the first one still waits; once the lock goes, the
        first one succeeds too. Exported one after the other, the second
        database would wait for the first.
    test_each_database_keeps_its_own_snapshot
        writers move value between two tables of each database, one
        transaction per move, all through the run: in each database's backup
        the two tables add up to the constant total (one snapshot per
        database, shared by its workers)
    test_max_workers_is_the_total_across_the_run
        six databases, cdw_backup.max_workers = 2: never more than two
        database workers run at a time, and every database is backed up
"""
import csv
import glob
import io
import os
import unittest

from harness import ClusterTestCase, Session, backup, json_rows, make_shared_dir, wait_until

LOCK_WAIT = 60  # seconds: long enough that only the test's COMMIT ends the wait


class ParallelDatabasesTest(ClusterTestCase):
    settings = {"cdw_backup.max_workers": 2, "cdw_backup.lock_wait_timeout": f"'{LOCK_WAIT}s'"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.target_dir = make_shared_dir("cdw_pardb_target_")
        cls.cluster.sql("CREATE EXTENSION cdw_backup")
        cls.cluster.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target_dir}')")

    def setUp(self):
        self.sessions = []

    def tearDown(self):
        for session in self.sessions:
            if session.proc.poll() is None:
                self.cluster.sql(f"SELECT pg_terminate_backend({session.pid})", check=False)
                session.close()

    def session(self, db):
        session = Session(self.cluster, db)
        self.sessions.append(session)
        return session

    def database_rows(self, run_id):
        return {r["database"]: r for r in json_rows(
            self.cluster, f"SELECT database, status, manifest FROM cdw_backup.run_databases "
                          f"WHERE run_id = {run_id}")}

    def test_a_blocked_database_does_not_hold_up_the_others(self):
        # pdb_a is first by name and, being larger, first by size too.
        self.cluster.sql("CREATE DATABASE pdb_a")
        self.cluster.sql("CREATE DATABASE pdb_b")
        self.cluster.sql("CREATE TABLE t AS SELECT g AS id, repeat('x', 500) AS pad "
                         "FROM generate_series(1, 20000) g", db="pdb_a")
        self.cluster.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g",
                         db="pdb_b")
        holder = self.session("pdb_a")
        holder.send("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT 'locked';")
        self.assertEqual(holder.proc.stdout.readline().strip(), "locked")
        run_id = self.cluster.value(
            "SELECT cdw_backup_run(databases => ARRAY['pdb_a', 'pdb_b'])")
        rows = wait_until(
            lambda: (lambda r: r if r.get("pdb_b", {}).get("status") not in
                     (None, "pending", "running") else None)(self.database_rows(run_id)),
            timeout=LOCK_WAIT - 20, what="pdb_b to finish while pdb_a waits for its lock")
        self.assertEqual(rows["pdb_b"]["status"], "succeeded", rows)
        self.assertIsNotNone(rows["pdb_b"]["manifest"])
        self.assertEqual(rows["pdb_a"]["status"], "running", rows)
        holder.send("COMMIT;")
        holder.close()
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_wait({run_id})"), "succeeded")
        self.assertEqual({d: r["status"] for d, r in self.database_rows(run_id).items()},
                         {"pdb_a": "succeeded", "pdb_b": "succeeded"})

    def part_values(self, run_id, database, table):
        total = 0
        paths = glob.glob(os.path.join(self.target_dir, "*", f"*Z-run{run_id}", database,
                                       f"public.{table}", "part-*.csv"))
        self.assertTrue(paths, f"no parts of {database}.{table}")
        for path in paths:
            with open(path, newline="") as f:
                for row in csv.reader(io.StringIO(f.read())):
                    total += int(row[1])
        return total

    def test_each_database_keeps_its_own_snapshot(self):
        databases = ["pdb_snap1", "pdb_snap2"]
        for db in databases:
            self.cluster.sql(f"CREATE DATABASE {db}")
            self.cluster.sql("""
                CREATE TABLE acct_a (id int PRIMARY KEY, v bigint);
                CREATE TABLE acct_b (id int PRIMARY KEY, v bigint);
                INSERT INTO acct_a SELECT g, 1000 FROM generate_series(1, 50) g;
                INSERT INTO acct_b SELECT g, 1000 FROM generate_series(1, 50) g;
                CREATE TABLE moves (n bigint);
                INSERT INTO moves VALUES (0);
                CREATE PROCEDURE mover() LANGUAGE plpgsql AS $$
                DECLARE
                  a int;
                  b int;
                BEGIN
                  LOOP
                    a := 1 + (random() * 49)::int;
                    b := 1 + (random() * 49)::int;
                    UPDATE acct_a SET v = v - 1 WHERE id = a;
                    UPDATE acct_b SET v = v + 1 WHERE id = b;
                    UPDATE moves SET n = n + 1;
                    COMMIT;
                  END LOOP;
                END $$;""", db=db)
            # More tables, so that the workers have something else to do.
            self.cluster.sql("DO $$ BEGIN FOR i IN 1..10 LOOP EXECUTE format("
                             "'CREATE TABLE other_%s AS SELECT g FROM generate_series(1, 100) g',"
                             " i); END LOOP; END $$", db=db)
        for db in databases:
            self.session(db).send("CALL mover();")
        for db in databases:
            wait_until(lambda: int(self.cluster.value("SELECT n FROM moves", db=db)) > 10,
                       what=f"the writer of {db} to be moving")
        run_id = self.cluster.value(
            "SELECT cdw_backup_run(databases => ARRAY['pdb_snap1', 'pdb_snap2'], "
            "compression => 'none', wait => true)")
        moved = {db: int(self.cluster.value("SELECT n FROM moves", db=db)) for db in databases}
        self.assertEqual(self.cluster.value(f"SELECT status FROM cdw_backup.runs "
                                            f"WHERE run_id = {run_id}"), "succeeded")
        for db in databases:
            self.assertGreater(moved[db], 20, "the writers did not run during the backup")
            total = self.part_values(run_id, db, "acct_a") + self.part_values(run_id, db, "acct_b")
            self.assertEqual(total, 100 * 1000, f"{db}: the two tables are from different moments")

    def test_max_workers_is_the_total_across_the_run(self):
        databases = [f"pdb_many{i}" for i in range(6)]
        for db in databases:
            self.cluster.sql(f"CREATE DATABASE {db}")
            self.cluster.sql("DO $$ BEGIN FOR i IN 1..5 LOOP EXECUTE format("
                             "'CREATE TABLE t%s AS SELECT g FROM generate_series(1, 2000) g', i);"
                             " END LOOP; END $$", db=db)
        run_id = self.cluster.value(
            "SELECT cdw_backup_run(databases => ARRAY[%s])" % ", ".join(f"'{d}'" for d in databases))
        most = 0
        while self.cluster.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}") \
                == "running":
            running = int(self.cluster.value(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'cdw_backup database worker'"))
            most = max(most, running)
        self.assertLessEqual(most, 2)
        self.assertEqual(self.cluster.value(f"SELECT status FROM cdw_backup.runs "
                                            f"WHERE run_id = {run_id}"), "succeeded")
        self.assertEqual(sorted(self.database_rows(run_id)), databases)


if __name__ == "__main__":
    unittest.main()
