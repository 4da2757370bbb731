"""Backups to s3:// through a link with latency (issue 16, object-store latency).

A DelayProxy (delay_proxy.py: 10 ms added round-trip time, a new upstream
connection per client connection) sits between the cluster and moto, so
every request pays a round trip as on a remote object store. Functional, not
timed: the figures are the benchmark's (bench/run_bench.py --only-latency).

    test_many_small_tables_and_a_multipart_table_round_trip
        60 small tables and one split into four block ranges, three of them
        multipart objects (part_size 5MB) whose last parts and completion
        run in the background while the worker scans on, with several
        uploads in flight per worker (background commits): the run succeeds,
        every table's objects are on the target, no GET existence check
        precedes the parts' PUTs, verify re-reads everything, and a restore
        gives back every row
    test_failed_upload_fails_its_table_not_the_run
        the proxy resets every upload of one table's part (in flight while
        the worker scans the next tables): that table fails with the storage
        error, the others succeed (run 'partial'), nothing of it is left on
        the target (the manifest lists it as failed, with no object), and
        verify and restore of the run work for the rest
    test_failed_completion_of_one_range_fails_its_table_not_the_run
        the proxy resets every attempt at the CompleteMultipartUpload of one
        block range of the big table (sent in the background): that table
        fails with the storage error, the others succeed (run 'partial'),
        neither its other ranges' objects nor an open upload are left on the
        target, and verify and restore work for the rest
"""
import json
import re
import unittest

from delay_proxy import DelayProxy
from harness import ClusterTestCase, qualified, wait_until
from s3_server import MotoServer

BUCKET = "cdw-lat"
SMALL = 60
RTT_MS = 10


def literal(text):
    return "'" + text.replace("'", "''") + "'"


class S3LatencyTest(ClusterTestCase):
    settings = {"cdw_backup.max_workers": 2}

    @classmethod
    def setUpClass(cls):
        cls.server = MotoServer([BUCKET]).start()
        cls.proxy = DelayProxy(cls.server.port, RTT_MS)
        try:
            super().setUpClass()
            c = cls.cluster
            c.sql("CREATE EXTENSION cdw_backup")
            c.sql("CREATE DATABASE shop")
            c.sql(f"""
                DO $$ BEGIN
                  FOR i IN 1..{SMALL} LOOP
                    EXECUTE format('CREATE TABLE t%s AS SELECT g AS id, md5(g::text) AS v '
                                   'FROM generate_series(1, 20) g', lpad(i::text, 3, '0'));
                  END LOOP;
                END $$;
                -- ~22 MB of CSV, incompressible, in ~3,300 blocks: with two
                -- workers, four block ranges of 1,024 blocks (kMinRangeBlocks),
                -- three of them two parts of 5MB.
                CREATE TABLE big AS
                  SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS v
                    FROM generate_series(1, 210000) g;""", db="shop")
            key_id, secret = cls.server.keys["writer"]
            cls.cluster.sql(f"""
                SELECT cdw_backup_add_target('lat', 's3://{BUCKET}/lat',
                         secret_id => {literal(key_id)}, secret_key => {literal(secret)},
                         options => '{{"endpoint": "{cls.proxy.endpoint}", "region": "us-east-1",
                                       "part_size": "5MB", "uploads_in_flight": "4",
                                       "retry_max_attempts": "2"}}')""")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        cls.proxy.close()
        cls.server.close()

    def run_backup(self):
        """A full run (incremental => false: every part is uploaded, none reused)."""
        run_id = int(self.cluster.value(
            "SELECT cdw_backup_run(target => 'lat', databases => '{shop}', "
            "compression => 'none', incremental => false, wait => false)"))
        wait_until(lambda: self.cluster.value(
            f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}") != "running",
            timeout=300, interval=0.2, what=f"run {run_id}")
        return run_id

    def tables(self, run_id):
        return {row[0]: row[1:] for row in self.cluster.rows(
            "SELECT table_name, status, sqlstate, error, location, rows "
            f"FROM cdw_backup.run_tables WHERE run_id = {run_id}")}

    def manifest(self, tables):
        location = next(row[3] for row in tables.values() if row[3])
        key = location.split(f"s3://{BUCKET}/", 1)[1]
        database_prefix = key.rstrip("/").rsplit("/", 1)[0] + "/"
        return json.loads(self.server.get(BUCKET, database_prefix + "manifest.json"))

    def restore_and_compare(self, run_id, skip=()):
        self.cluster.sql("DROP DATABASE IF EXISTS shop_restored")
        self.cluster.sql("CREATE DATABASE shop_restored")
        result = self.cluster.rows(
            f"SELECT schema_name, table_name, status FROM cdw_backup_restore({run_id}, 'shop', "
            "into_database => 'shop_restored')")
        restored = {table for _, table, status in result if status == "restored"}
        expected = {f"t{i:03d}" for i in range(1, SMALL + 1)} | {"big"}
        self.assertEqual(restored, expected - set(skip), result)
        for table in sorted(restored):
            name = qualified("public", table)
            query = f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)) FROM {name} t"
            self.assertEqual(self.cluster.value(query, db="shop_restored"),
                             self.cluster.value(query, db="shop"), name)

    def test_many_small_tables_and_a_multipart_table_round_trip(self):
        log_before = len(self.server.log())
        run_id = self.run_backup()
        tables = self.tables(run_id)
        self.assertEqual(len(tables), SMALL + 1)
        self.assertEqual({row[0] for row in tables.values()}, {"succeeded"}, tables)
        self.assertEqual(self.cluster.value(
            f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"), "succeeded")
        # Every table's part is on the target, with the size the history says.
        for table, (_, _, _, location, _) in tables.items():
            key = location.split(f"s3://{BUCKET}/", 1)[1]
            found = self.server.list_keys(BUCKET, key)
            self.assertTrue(found, table)
        manifest = self.manifest(tables)
        self.assertIn("big", json.dumps(manifest))
        # Parts are PUT without a GET existence check first: the only GETs
        # of the run are the few of its metadata objects.
        requests = self.server.log()[log_before:]
        part_gets = [line for line in requests.splitlines()
                     if '"GET /' in line and "/part-" in line]
        self.assertEqual(part_gets, [])
        self.assertGreater(requests.count("partNumber="), 2)  # the big table: multipart
        # Its block ranges are objects of their own, several of them multipart.
        big = next(t for t in manifest["tables"] if t["name"] == "big")
        self.assertGreaterEqual(len(big["objects"]), 3, big["objects"])
        completions = [line for line in requests.splitlines()
                       if '"POST /' in line and "/public.big/part-" in line and "uploadId=" in line]
        self.assertGreaterEqual(len(completions), 2, completions)
        verify = self.cluster.rows(
            f"SELECT table_name, status, problem FROM cdw_backup_verify({run_id})")
        self.assertEqual(len(verify), SMALL + 1)
        self.assertEqual({row[1] for row in verify}, {"ok"}, verify)
        self.restore_and_compare(run_id)

    def test_failed_upload_fails_its_table_not_the_run(self):
        # Every attempt to PUT a part of t017 has its connection reset.
        self.proxy.fail_matching(b"/public.t017/part-")
        run_id = self.run_backup_with_failures()
        self.assert_only_table_failed(run_id, "t017", "t017")

    def test_failed_completion_of_one_range_fails_its_table_not_the_run(self):
        # Every attempt at the completion of one of big's multipart block
        # ranges (whichever is completed first) has its connection reset.
        self.proxy.fail_first_match(
            re.compile(rb"^POST /[^ ]*/public\.big/(part-[^ ?]*)\?uploadId="))
        run_id = self.run_backup_with_failures()
        # Its ranges that did complete are removed too.
        self.assert_only_table_failed(run_id, "big", "public.big")

    def run_backup_with_failures(self):
        """A backup while the proxy fails what it was told to; the failures
        are cleared after it, and at least one must have happened."""
        failed_before = self.proxy.failed
        try:
            run_id = self.run_backup()
        finally:
            self.proxy.clear_failures()
        self.assertGreater(self.proxy.failed, failed_before)
        return run_id

    def assert_only_table_failed(self, run_id, table, named_as):
        """`table` failed on a storage connection (its error naming it as
        `named_as`) and the run went on: every other table succeeded, the run
        is partial, no object of it (keys containing `named_as`) and no open
        upload is on the target, the manifest lists it failed with no
        objects, and verify and restore work for the rest."""
        tables = self.tables(run_id)
        self.assertEqual(tables[table][0], "failed", tables[table])
        self.assertEqual(tables[table][1], "08006", tables[table])  # storage connection
        self.assertIn(named_as, tables[table][2])
        others = {t: row[0] for t, row in tables.items() if t != table}
        self.assertEqual(set(others.values()), {"succeeded"}, others)
        self.assertEqual(self.cluster.value(
            f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}"), "partial")
        run_prefix = next(row[3] for row in tables.values() if row[3]).split(
            f"s3://{BUCKET}/", 1)[1].rstrip("/").rsplit("/", 2)[0] + "/"
        keys = self.server.list_keys(BUCKET, run_prefix)
        self.assertFalse([k for k in keys if named_as in k], keys)
        self.assertEqual(self.server.uploads(BUCKET, run_prefix), [])
        entry = next(t for t in self.manifest(tables)["tables"] if t["name"] == table)
        self.assertEqual((entry["status"], entry["objects"]), ("failed", []))
        verdicts = dict(self.cluster.rows(
            f"SELECT table_name, status FROM cdw_backup_verify({run_id})"))
        self.assertEqual(verdicts.pop(table), "not_backed_up")
        self.assertEqual(set(verdicts.values()), {"ok"}, verdicts)
        self.restore_and_compare(run_id, skip={table})


if __name__ == "__main__":
    unittest.main()
