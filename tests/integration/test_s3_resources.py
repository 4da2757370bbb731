"""Backup runs to s3:// hold no resources per table and stop within seconds.

    test_worker_holds_no_socket_per_table    a run of many tables under a low
        open-files limit: every table succeeds, and the worker's sockets
        (counted in /proc/<pid>/fd while it runs) do not grow with the tables
        written (each table used to keep a libcurl handle and its socket pair
        until the worker exited: 2 descriptors per table); at most one
        connection per upload in flight (uploads_in_flight) besides
    test_cancel_against_a_stalled_server_ends_the_run_within_seconds
        the S3 server stops answering mid-run (SIGSTOP); cdw_backup_cancel()
        ends the run, its coordinator and its workers within seconds: part
        removals that cannot finish quickly are left for settling
    test_terminate_against_a_stalled_server_ends_the_workers_within_seconds
        the same with pg_terminate_backend() of the workers

Every case runs against each S3 server of s3_server.server_kinds() (moto and
Ceph RGW), one server per class.
"""
import os
import re
import time
import unittest

from harness import ClusterTestCase, wait_until
from s3_server import per_server

BUCKET = "cdw-res"
TABLES = 200
# Under this many open files the server starts (PostgreSQL needs 48 for
# itself beyond max_files_per_process) and a worker that leaked two
# descriptors per table would run out after about 80 tables.
NOFILE = 256
# Seconds a cancel or terminate may take against a stalled server: the
# in-flight request stops within ~1 s, one bounded part removal (~1.5 s),
# one bounded abort of deferred uploads at exit (~2 s), the coordinator's
# poll (1 s).
STOP_WITHIN = 10


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def sockets_of(pid):
    """Sockets among the open descriptors of a process; None once it is gone."""
    try:
        count = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
        return count
    except OSError:
        return None


@per_server(globals())
class S3RunResourcesTest(ClusterTestCase):
    server_class = None
    nofile = NOFILE
    settings = {"cdw_backup.max_workers": 1, "max_files_per_process": 100}

    @classmethod
    def setUpClass(cls):
        cls.server = cls.server_class([BUCKET]).start()
        try:
            super().setUpClass()
            c = cls.cluster
            c.sql("CREATE EXTENSION cdw_backup")
            c.sql(f"""
                DO $$ BEGIN
                  FOR i IN 1..{TABLES} LOOP
                    EXECUTE format('CREATE TABLE t%s AS SELECT g AS id, md5(g::text) AS v '
                                   'FROM generate_series(1, 20) g', lpad(i::text, 3, '0'));
                  END LOOP;
                END $$;""")
            cls.add_target("s3", cls.server)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        cls.server.close()

    @classmethod
    def add_target(cls, name, server):
        key_id, secret = server.keys["writer"]
        cls.cluster.sql(f"""
            SELECT cdw_backup_add_target({literal(name)}, 's3://{BUCKET}/{name}',
                     secret_id => {literal(key_id)}, secret_key => {literal(secret)},
                     options => '{{"endpoint": "http://127.0.0.1:{server.port}",
                                   "region": "us-east-1"}}')""")

    def start_run(self, target, max_rate="0"):
        return int(self.cluster.value(
            f"SELECT cdw_backup_run(target => {literal(target)}, databases => '{{postgres}}', "
            f"max_rate => {literal(max_rate)}, "
            "incremental => false)"))  # every run writes its tables

    def status(self, run_id):
        return self.cluster.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}")

    def run_processes(self, run_id):
        """pids of the run's coordinator and workers still alive."""
        return self.cluster.sql(
            "SELECT pid FROM pg_stat_activity "
            f"WHERE application_name = 'cdw_backup run {run_id}'").split()

    def worker_pids(self, run_id):
        return self.cluster.sql(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdw_backup database worker' "
            f"AND application_name = 'cdw_backup run {run_id}'").split()

    def test_worker_holds_no_socket_per_table(self):
        # The run writes about 80 kB; at 48 kB/s it lasts some seconds however
        # fast the server is, so the samples (a listing of the store each,
        # slow on a loaded RGW) span the run: unthrottled it can end in under
        # a second, after three samples.
        run_id = self.start_run("s3", max_rate="48kB")
        samples = []  # (tables on the store, sockets of the worker)

        def finished():
            for pid in self.worker_pids(run_id):
                sockets = sockets_of(pid)
                if sockets is not None:
                    samples.append((len(self.server.list_keys(BUCKET, "s3/")), sockets))
            return self.status(run_id) != "running"
        wait_until(finished, timeout=300, interval=0.1, what=f"run {run_id} to finish")
        failed = self.cluster.rows(
            "SELECT table_name, sqlstate, error FROM cdw_backup.run_tables "
            f"WHERE run_id = {run_id} AND status <> 'succeeded' ORDER BY 1 LIMIT 5")
        self.assertEqual(failed, [])
        self.assertEqual(self.status(run_id), "succeeded")
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.run_tables WHERE run_id = {run_id}"), str(TABLES))
        # Sampled across the run (not only at its start).
        self.assertGreater(len(samples), 3, samples)
        self.assertGreater(max(objects for objects, _ in samples), TABLES // 4, samples)
        print(f"\nworker sockets while writing {TABLES} tables: "
              f"min {min(s for _, s in samples)}, max {max(s for _, s in samples)} "
              f"({len(samples)} samples)")
        # Bounded, not per table: besides the worker's own, one connection
        # (and libcurl's wake-up socket pair) per upload in flight
        # (uploads_in_flight, 6 by default).
        self.assertLessEqual(max(s for _, s in samples), 8 + 3 * 6, samples)

    def stalled_run(self):
        """A run to a second S3 server (spare(): for RGW another gateway of the
        same cluster) that stops answering once parts are written."""
        stalled = self.server.spare().start()
        self.addCleanup(stalled.close)
        name = f"stalled{stalled.port}"
        self.add_target(name, stalled)
        # Throttled, so that the run cannot end between the objects seen and
        # the pause (200 small tables otherwise finish in about a second,
        # faster than a loaded RGW lists them).
        run_id = self.start_run(name, max_rate="16kB")
        wait_until(lambda: len(stalled.list_keys(BUCKET, f"{name}/")) >= 3
                   or self.status(run_id) != "running",
                   timeout=120, interval=0.1, what="three objects of the run on the server")
        self.assertEqual(self.status(run_id), "running")
        stalled.pause()
        self.addCleanup(stalled.resume)
        return run_id

    def test_cancel_against_a_stalled_server_ends_the_run_within_seconds(self):
        run_id = self.stalled_run()
        started = time.monotonic()
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_cancel({run_id})"), "t")
        wait_until(lambda: self.status(run_id) != "running" and not self.run_processes(run_id),
                   timeout=180, interval=0.1, what=f"run {run_id} to end")
        elapsed = time.monotonic() - started
        print(f"\ncancel against a stalled server: run ended in {elapsed:.1f} s")
        self.assertEqual(self.status(run_id), "cancelled")
        self.assertLess(elapsed, STOP_WITHIN)
        # The run's LOG line counts its tables as run_tables does.
        line = re.search(rf"cdw_backup run {run_id} cancelled: (\d+) tables, (\d+) succeeded, "
                         rf"(\d+) failed, (\d+) cancelled", self.cluster.server_log())
        self.assertIsNotNone(line, self.cluster.server_log()[-2000:])
        counts = dict(self.cluster.rows(
            "SELECT status, count(*) FROM cdw_backup.run_tables "
            f"WHERE run_id = {run_id} GROUP BY 1"))
        self.assertEqual(line.group(4), counts.get("cancelled", "0"), counts)
        self.assertEqual(int(line.group(3)),
                         sum(int(n) for st, n in counts.items()
                             if st not in ("succeeded", "cancelled", "excluded")), counts)

    def test_terminate_against_a_stalled_server_ends_the_workers_within_seconds(self):
        run_id = self.stalled_run()
        workers = self.worker_pids(run_id)
        self.assertTrue(workers)
        started = time.monotonic()
        for pid in workers:
            self.cluster.sql(f"SELECT pg_terminate_backend({pid})")
        wait_until(lambda: not set(workers) & set(self.run_processes(run_id)), timeout=180,
                   interval=0.1, what=f"the workers of run {run_id} to exit")
        elapsed = time.monotonic() - started
        print(f"\nterminate against a stalled server: workers ended in {elapsed:.1f} s")
        self.assertLess(elapsed, STOP_WITHIN)
        wait_until(lambda: self.status(run_id) != "running" and not self.run_processes(run_id),
                   timeout=180, interval=0.1, what=f"run {run_id} to end")
        self.assertLess(time.monotonic() - started, STOP_WITHIN)
        self.assertNotEqual(self.status(run_id), "succeeded")


if __name__ == "__main__":
    unittest.main(verbosity=2)
