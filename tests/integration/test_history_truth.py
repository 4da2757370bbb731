"""History that never says succeeded when the backup is not restorable.

The history is checked against what is actually on the target, read without
cdw_backup (os.walk / boto3):

    DiskFullTest        a tmpfs target that fills up while the manifest or
                        the run index is written: the database / the run is
                        failed with the storage error, nothing is partial,
                        and what the run wrote is removed when it is settled
    CancelTruthTest     a cancelled run calls no table succeeded whose
                        objects are gone
    CrashCleanupTest    kill -9 of a worker and an immediate restart: the
                        interrupted run's finished parts are removed when it
                        is settled; objects that cannot be removed are listed
                        in the history
    S3CrashCleanupTest  the same on s3:// (moto): no object and no multipart
                        upload that no manifest lists stays behind

"Settled" is observable: runs.cleanup_pending is false once the launcher has
dealt with the run's objects.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import unittest

from harness import RUN_AS, wait_until
from s3_server import MotoServer
from test_backup_run import (SLOW_DATABASE, SLOW_TABLES, BackupTestCase, create_slow_database,
                             encode_component, files_under, url_to_path)

BUCKET = "cdw-truth"


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def server_uid_gid():
    if not RUN_AS:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(RUN_AS)
    return entry.pw_uid, entry.pw_gid


class TmpfsMount:
    """A tmpfs the server user owns; mounting needs root (else SkipTest)."""

    def __init__(self, parent, **options):
        self.path = os.path.join(parent, "tmpfs")
        os.makedirs(self.path, exist_ok=True)
        uid, gid = server_uid_gid()
        opts = ",".join([f"{k}={v}" for k, v in options.items()] +
                        [f"uid={uid}", f"gid={gid}", "mode=0700"])
        if os.geteuid() != 0:
            raise unittest.SkipTest("disk-full tests mount a tmpfs and must run as root")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", self.path],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise unittest.SkipTest(f"cannot mount a tmpfs here: {proc.stderr.strip()}")

    def remount(self, **options):
        opts = ",".join(["remount"] + [f"{k}={v}" for k, v in options.items()])
        subprocess.run(["mount", "-o", opts, self.path], check=True)

    def inodes_used(self):
        st = os.statvfs(self.path)
        return st.f_files - st.f_ffree

    def empty(self):
        for name in os.listdir(self.path):
            full = os.path.join(self.path, name)
            shutil.rmtree(full) if os.path.isdir(full) else os.unlink(full)

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], check=False)


class TruthTestCase(BackupTestCase):
    """Checks shared by the classes: history against the files of a run."""

    def wait_cleaned(self, run_id, timeout=60):
        """Waits until the run is settled and its cleanup is done."""
        def done():
            row = self.cluster.try_value(
                f"SELECT status || '|' || cleanup_pending FROM cdw_backup.runs "
                f"WHERE run_id = {run_id}")
            return row if row and not row.startswith("running|") and row.endswith("|false") \
                else None
        try:
            wait_until(done, timeout=timeout, interval=0.2, what=f"run {run_id} to be cleaned up")
        except AssertionError as e:
            self.fail(f"{e}: {self.run_row(run_id)}\n{self.cluster.server_log()[-3000:]}")
        return self.run_row(run_id)

    def manifest_listing(self, run_id, read):
        """{database: set of keys (relative to the run) its manifest lists} for
        every database the history calls succeeded or partial; `read(key)`
        returns the object's bytes or None."""
        listed = {}
        for db, d in self.database_rows(run_id).items():
            if d["status"] not in ("succeeded", "partial"):
                continue
            db_key = encode_component(db) + "/"
            body = read(db_key + "manifest.json")
            self.assertIsNotNone(body, f"database {db} is {d['status']} without its manifest")
            manifest = json.loads(body)
            keys = {db_key + "manifest.json", db_key + "manifest.json.hmac"}
            for t in manifest["tables"]:
                for o in t["objects"]:
                    keys.add(db_key + t["path"] + o["key"])
            listed[db] = keys
        return listed

    def assert_history_matches_target(self, run_id, keys_under_run, read):
        """Every object under the run is listed by a manifest of a database
        the history calls succeeded/partial, and every table the history
        calls succeeded has its objects there and listed."""
        listing = self.manifest_listing(run_id, read)
        every_listed = set().union(*listing.values()) if listing else set()
        orphans = sorted(set(keys_under_run) - every_listed)
        self.assertEqual(orphans, [], "objects under the run that no manifest lists")
        missing = sorted(every_listed - set(keys_under_run))
        self.assertEqual(missing, [], "objects a manifest lists that are not there")
        for t in self.table_rows(run_id):
            if t["status"] != "succeeded":
                continue
            name = f"{t['database']}.{t['schema_name']}.{t['table_name']}"
            self.assertIn(t["database"], listing, f"{name} succeeded in a database without "
                                                  f"a valid manifest")
            prefix = (encode_component(t["database"]) + "/" + encode_component(t["schema_name"]) +
                      "." + encode_component(t["table_name"]) + "/")
            objects = [k for k in listing[t["database"]] if k.startswith(prefix)]
            self.assertTrue(objects, f"{name} succeeded but has no objects on the target")


def file_reader(root):
    def read(key):
        path = os.path.join(root, key)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()
    return read


def run_files(root):
    """Keys of every file under a run directory (nothing if it is gone)."""
    if not os.path.isdir(root):
        return []
    return [os.path.relpath(p, root) for p in files_under(root)]


class DiskFullTest(TruthTestCase):
    WIDE_COLUMNS = 1500

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.base = cls.shared_dir("cdw_diskfull_")
        c.sql("CREATE EXTENSION cdw_backup")
        # A database whose data is a few KB but whose manifest is ~300 KB:
        # 1500 columns with 60-byte names are listed twice in the manifest
        # (columns and CREATE TABLE), the rows are mostly NULL.
        c.sql("CREATE DATABASE wide")
        columns = ", ".join(f"c{i:04d}_{'x' * 54} int" for i in range(cls.WIDE_COLUMNS))
        c.sql(f"CREATE TABLE wide_t ({columns}); "
              f"INSERT INTO wide_t (c0000_{'x' * 54}) SELECT g FROM generate_series(1, 20) g; "
              "CREATE TABLE narrow (id int, v text); "
              "INSERT INTO narrow SELECT g, 'v' || g FROM generate_series(1, 500) g", db="wide")
        c.sql("CREATE DATABASE small")
        c.sql("CREATE TABLE s1 (id int, v text); CREATE TABLE s2 (id int); "
              "INSERT INTO s1 SELECT g, md5(g::text) FROM generate_series(1, 2000) g; "
              "INSERT INTO s2 SELECT generate_series(1, 100)", db="small")

    def mount(self, name, **options):
        parent = os.path.join(self.base, name)
        os.makedirs(parent)
        mount = TmpfsMount(parent, **options)
        self.addCleanup(mount.unmount)
        target = f"{name}_target"
        self.cluster.sql(f"SELECT cdw_backup_add_target({literal(target)}, "
                         f"{literal('file://' + mount.path)})")
        return mount, target

    def assert_failed_with_storage_error(self, run_id, where):
        run = self.run_row(run_id)
        self.assertEqual(run["status"], "failed", run)
        self.assertIn("No space left on device", run["error"] or "", run)
        self.assertIn(where, run["error"], run)
        self.assertEqual(run["tables_succeeded"], 0, run)
        self.assertEqual(run["tables_failed"], run["tables_total"], run)
        self.assertGreater(run["tables_total"], 0, run)
        for db, d in self.database_rows(run_id).items():
            self.assertEqual(d["status"], "failed", d)
            self.assertEqual(d["sqlstate"], "58030", d)
            self.assertIn("No space left on device", d["error"], d)
            self.assertIsNone(d["manifest"], d)
        for t in self.table_rows(run_id):
            self.assertEqual(t["status"], "failed", t)
            self.assertEqual(t["sqlstate"], "58030", t)
            self.assertIn("No space left on device", t["error"], t)
        return run

    def test_disk_full_while_writing_the_manifest(self):
        # 256 kB: the parts (a few pages) fit, the manifest (~300 kB) does not.
        mount, target = self.mount("manifest", size="256k")
        run_id = self.start_run(f"target => {literal(target)}, databases => '{{wide}}', "
                                f"wait => true")
        self.wait_cleaned(run_id)
        run = self.assert_failed_with_storage_error(run_id, "manifest.json")
        self.assertIn("wide", run["error"])
        # Nothing of the run stays on the target (the parts went with the
        # failed database), and no temporary file.
        root = url_to_path(run["location"])
        self.assertEqual(run_files(root), [])
        self.assertEqual([f for f in files_under(mount.path) if ".tmp-" in f], [])

    def test_disk_full_while_writing_the_run_index(self):
        # The run index is written after every manifest. A calibration run
        # counts the inodes a backup of `small` takes; the tmpfs is then
        # limited to one inode less than that, so the data and the manifest
        # fit and the index file (after its _runs/ directory) does not.
        mount, target = self.mount("index", size="64m", nr_inodes=10000)
        args = f"target => {literal(target)}, databases => '{{small}}', wait => true"
        calibration = self.start_run(args)
        self.assertEqual(self.wait_run(calibration), "succeeded")
        self.assertTrue(os.path.isdir(os.path.join(mount.path, "_runs")))
        used = mount.inodes_used()
        mount.empty()
        mount.remount(nr_inodes=used - 1)

        run_id = self.start_run(args)
        self.wait_cleaned(run_id)
        run = self.assert_failed_with_storage_error(run_id, "_runs")
        self.assertIn("run index", run["error"])
        # No index entry, and the run's manifests and parts are gone: the
        # history says failed and the target holds nothing of the run.
        self.assertEqual(os.listdir(os.path.join(mount.path, "_runs")), [])
        self.assertEqual(run_files(url_to_path(run["location"])), [])
        err = self.cluster.sql_error(
            f"SELECT * FROM cdw_backup_restore({run_id}, 'small', dry_run => true)")
        self.assertIn("was not found on target", err)


class CancelTruthTest(TruthTestCase):
    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_cancel_truth_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target}')")
        c.sql("CREATE DATABASE mixed")
        # `toasted` is one block of row pointers and ~200 MB of TOAST: the
        # costliest unit (taken first), never split into ranges, and slow to
        # export; `tiny` goes to the other worker and is done long before.
        c.sql("CREATE TABLE toasted (id int, doc text); "
              "ALTER TABLE toasted ALTER COLUMN doc SET STORAGE EXTERNAL; "
              "INSERT INTO toasted SELECT g, (SELECT string_agg(md5(g::text || x), '') "
              "  FROM generate_series(1, 125000) x) FROM generate_series(1, 50) g; "
              "CREATE TABLE tiny (id int); INSERT INTO tiny SELECT generate_series(1, 10)",
              db="mixed")

    def test_cancelled_run_calls_no_table_succeeded_without_its_objects(self):
        run_id = self.start_run("databases => '{mixed}'")
        run = self.run_row(run_id)
        root = url_to_path(run["location"])
        tiny_dir = os.path.join(root, "mixed", "public.tiny")
        # The tiny table's part is on the target and the toasted table is
        # still being exported: then cancel.
        wait_until(lambda: os.path.isdir(tiny_dir) and
                   any(n.startswith("part-") for n in os.listdir(tiny_dir)),
                   timeout=60, what="the tiny table's part")
        self.assertEqual(self.cluster.value(
            f"SELECT count(*) FROM cdw_backup.progress WHERE run_id = {run_id} "
            f"AND table_name = 'toasted'"), "1", "the run ended before it could be cancelled")
        self.assertEqual(self.cluster.value(f"SELECT cdw_backup_cancel({run_id})"), "t")
        self.assertEqual(self.wait_run(run_id), "cancelled")
        run = self.wait_cleaned(run_id)
        tables = {t["table_name"]: t for t in self.table_rows(run_id)}
        self.assertEqual(set(tables), {"toasted", "tiny"})
        # tiny's export had finished, but its part went with the cancelled
        # database: it is not backed up.
        for t in tables.values():
            self.assertEqual(t["status"], "cancelled", t)
            self.assertEqual(t["sqlstate"], "57014", t)
            self.assertIsNone(t["rows"], t)
        self.assertEqual(self.database_rows(run_id)["mixed"]["status"], "cancelled")
        self.assertEqual((run["tables_succeeded"], run["tables_failed"]), (0, 2), run)
        self.assert_history_matches_target(run_id, run_files(root), file_reader(root))
        self.assertEqual(run_files(root), [])


# Interrupted runs back up a_done (complete before the interruption, so kept
# with its manifest), then a_slow (interrupted mid-export), then small (never
# started): databases are exported in name order.
DONE_DATABASE = "a_done"
RUN_DATABASES = f"databases => ARRAY['{DONE_DATABASE}', '{SLOW_DATABASE}', 'small']"


def create_done_and_small(cluster):
    for db in (DONE_DATABASE, "small"):
        cluster.sql(f"CREATE DATABASE {db}")
        cluster.sql("CREATE TABLE s (id int, v text); "
                    "INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 1000) g", db=db)


def assert_done_database_kept(test, run_id, keys_under_run):
    """a_done finished before the interruption: it stays, as history says."""
    d = test.database_rows(run_id)[DONE_DATABASE]
    test.assertEqual(d["status"], "succeeded", d)
    done = [t for t in test.table_rows(run_id) if t["database"] == DONE_DATABASE]
    test.assertEqual([t["status"] for t in done], ["succeeded"], done)
    kept = sorted(k for k in keys_under_run if k.startswith(DONE_DATABASE + "/"))
    test.assertEqual(len(kept), 3, kept)  # its manifest, the manifest's MAC and its part
    test.assertIn(DONE_DATABASE + "/manifest.json", kept)


class CrashCleanupTest(TruthTestCase):
    expects_crashes = True

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.target = cls.shared_dir("cdw_crash_cleanup_")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target}')")
        create_done_and_small(c)
        create_slow_database(c)

    def start_run_with_finished_parts(self):
        """A run with a finished part of a_slow on the target and a table still
        being exported; returns (run id, run directory, pid of an exporting worker)."""
        run_id = self.start_run(RUN_DATABASES)
        root = url_to_path(self.run_row(run_id)["location"])

        def ready():
            parts = [f for f in files_under(os.path.join(root, SLOW_DATABASE))
                     if os.path.basename(f).startswith("part-")]
            if not parts:
                return None
            return self.cluster.value(
                f"SELECT pid FROM cdw_backup.progress WHERE run_id = {run_id} AND rows > 0 "
                f"LIMIT 1")
        pid = int(wait_until(ready, timeout=90, what="a finished part and a table in progress"))
        return run_id, root, pid

    def assert_interrupted_and_clean(self, run_id, root):
        run = self.wait_cleaned(run_id, timeout=90)
        self.assertEqual(run["status"], "interrupted", run)
        self.assertIsNone(run["leftover_objects"], run)
        tables = self.table_rows(run_id)
        slow = [t for t in tables if t["database"] == SLOW_DATABASE]
        self.assertEqual(len(slow), len(SLOW_TABLES))
        for t in slow:
            # The database had no manifest: none of its tables is backed up.
            self.assertEqual(t["status"], "failed", t)
        self.assertEqual(run["tables_succeeded"],
                         sum(t["status"] == "succeeded" for t in tables), run)
        self.assert_history_matches_target(run_id, run_files(root), file_reader(root))
        self.assertEqual([f for f in run_files(root) if f.startswith(SLOW_DATABASE + "/")], [])
        assert_done_database_kept(self, run_id, run_files(root))

    def test_kill_9_of_a_worker_removes_the_finished_parts(self):
        run_id, root, pid = self.start_run_with_finished_parts()
        os.kill(pid, signal.SIGKILL)
        self.assert_interrupted_and_clean(run_id, root)

    def test_immediate_restart_removes_the_finished_parts(self):
        run_id, root, _ = self.start_run_with_finished_parts()
        self.cluster.restart("immediate")
        self.assert_interrupted_and_clean(run_id, root)

    def test_objects_that_cannot_be_removed_are_listed_in_the_history(self):
        run_id, root, _ = self.start_run_with_finished_parts()
        self.cluster.stop("immediate")
        # The server user may no longer remove anything in the run's
        # database directory (nor its table directories).
        db_dir = os.path.join(root, SLOW_DATABASE)
        locked = [db_dir] + [os.path.join(db_dir, d) for d in os.listdir(db_dir)]
        for path in locked:
            os.chmod(path, 0o500)
        try:
            self.cluster.start()

            def listed():
                return self.cluster.try_value(
                    f"SELECT leftover_objects IS NOT NULL FROM cdw_backup.runs "
                    f"WHERE run_id = {run_id} AND status <> 'running'") == "t"
            wait_until(listed, timeout=90, interval=0.2, what="the leftovers to be listed")
            run = self.run_row(run_id)
            remaining = sorted(f for f in files_under(db_dir)
                               if not os.path.basename(f).startswith(".tmp-"))
            self.assertTrue(remaining)
            self.assertEqual(run["status"], "interrupted", run)
            self.assertEqual(sorted(url_to_path(u) for u in run["leftover_objects"]), remaining,
                             run)
            self.assertIn("Permission denied", run["leftover_error"] or "", run)
            # Still to be removed: settling tries again.
            self.assertTrue(run["cleanup_pending"], run)
        finally:
            for path in locked:
                os.chmod(path, 0o700)
        # Once removal works again, the next settling (the launcher wakes
        # when a run ends) removes them and clears the list.
        next_run = self.start_run("databases => '{small}', wait => true")
        self.assertEqual(self.wait_run(next_run), "succeeded")
        run = self.wait_cleaned(run_id)
        self.assertIsNone(run["leftover_objects"], run)
        self.assertIsNone(run["leftover_error"], run)
        self.assertEqual([f for f in run_files(root) if f.startswith(SLOW_DATABASE + "/")], [])


class S3CrashCleanupTest(TruthTestCase):
    expects_crashes = True

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer([BUCKET]).start()
        try:
            super().setUpClass()
        except BaseException:
            cls.moto.close()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.moto.close()

    @classmethod
    def prepare(cls):
        c = cls.cluster
        key_id, secret = cls.moto.keys["writer"]
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"""SELECT cdw_backup_add_target('default', 's3://{BUCKET}/backups',
                     secret_id => {literal(key_id)}, secret_key => {literal(secret)},
                     options => '{{"endpoint": "http://127.0.0.1:{cls.moto.port}",
                                  "region": "us-east-1"}}')""")
        create_done_and_small(c)
        create_slow_database(c, rows=400000)

    def run_key(self, run_id):
        location = self.run_row(run_id)["location"]
        prefix = f"s3://{BUCKET}/"
        self.assertTrue(location.startswith(prefix), location)
        return location[len(prefix):]

    def keys_under(self, run_key):
        return [k[len(run_key):] for k in self.moto.list_keys(BUCKET, run_key)]

    def reader(self, run_key):
        def read(key):
            if run_key + key not in self.moto.list_keys(BUCKET, run_key + key):
                return None
            return self.moto.get(BUCKET, run_key + key)
        return read

    def interrupt(self, how):
        run_id = self.start_run(RUN_DATABASES)
        run_key = self.run_key(run_id)

        def ready():
            if not any(k.startswith(SLOW_DATABASE + "/") and "/part-" in k
                       for k in self.keys_under(run_key)):
                return None
            return self.cluster.value(
                f"SELECT pid FROM cdw_backup.progress WHERE run_id = {run_id} AND rows > 0 "
                f"LIMIT 1")
        pid = int(wait_until(ready, timeout=120, what="a finished object and a table in progress"))
        how(pid)
        run = self.wait_cleaned(run_id, timeout=120)
        self.assertEqual(run["status"], "interrupted", run)
        self.assertIsNone(run["leftover_objects"], run)
        self.assert_history_matches_target(run_id, self.keys_under(run_key),
                                           self.reader(run_key))
        self.assertEqual([k for k in self.keys_under(run_key)
                          if k.startswith(SLOW_DATABASE + "/")], [])
        self.assertEqual(self.moto.uploads(BUCKET, run_key), [])
        assert_done_database_kept(self, run_id, self.keys_under(run_key))

    def test_kill_9_of_a_worker_removes_the_finished_objects(self):
        self.interrupt(lambda pid: os.kill(pid, signal.SIGKILL))

    def test_immediate_restart_removes_the_finished_objects(self):
        self.interrupt(lambda pid: self.cluster.restart("immediate"))


if __name__ == "__main__":
    unittest.main()
