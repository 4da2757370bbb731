"""Cold storage (issue 12): archive storage classes and the thaw path, on moto.

moto records the storage class of every object (x-amz-storage-class on PUT
and on Initiate Multipart Upload), refuses a GET of a GLACIER/DEEP_ARCHIVE
object with InvalidObjectState until it is restored, and implements
RestoreObject; what it reports is read here with boto3 head_object, not
through cdw_backup.

    StorageClassTest   storage_class on every data object (single PUT and
                       multipart), never on manifests, their .hmac or the run
                       index; manifest_storage_class; validation errors
    ThawTest           a GLACIER run: a plain read fails with a hint naming the
                       thaw arguments; verify with wait => false requests the
                       thaw and returns; restore waits for it (cdw_backup.progress
                       shows objects thawed / total), then reads; a store that
                       refuses the thaw gives a per-table error with its code

moto's restore status is a state machine (model "s3::keyrestore") that we set
to advance by time (POST /moto-api/state-manager/set-transition): an object's
first status read at least THAW_SECONDS after its creation makes it
"ongoing-request=true", the first read THAW_SECONDS after that "false".
"""
import json
import os
import subprocess
import time
import unittest
import urllib.request

from harness import hint_of, json_rows, qualified, sqlstate_of, wait_until
from harness import quote_literal as literal
from s3_server import MotoServer
from test_s3 import BUCKET, COS_HOST, S3TestCase

# One table big enough for a multipart upload (compression 'none', > 5 MiB),
# one small table (a single PUT) and an empty one.
SOURCE = """
CREATE TABLE big (id bigint, a text, b text);
INSERT INTO big SELECT g, md5(g::text), md5((g * 7)::text) FROM generate_series(1, 90000) g;
CREATE TABLE small (id int, note text);
INSERT INTO small SELECT g, 'note ' || g FROM generate_series(1, 100) g;
CREATE TABLE empty (id int);
"""


class ColdTestCase(S3TestCase):
    # moto: it records storage classes and implements RestoreObject.
    server_class = MotoServer

    @classmethod
    def prepare(cls):
        cls.moto = cls.server
        c = cls.cluster
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql("CREATE DATABASE cold")
        c.sql(SOURCE, db="cold")

    @classmethod
    def add_target(cls, name, prefix, options, user="writer"):
        key_id, secret = cls.moto.keys[user]
        all_options = {"endpoint": cls.moto.endpoint, "region": "us-east-1", "part_size": "5MB"}
        all_options.update(options)
        cls.cluster.sql(
            f"SELECT cdw_backup_add_target({literal(name)}, 's3://{BUCKET}/{prefix}', "
            f"secret_id => {literal(key_id)}, secret_key => {literal(secret)}, "
            f"options => {literal(json.dumps(all_options))})")

    def run_backup(self, target):
        run_id = int(self.cluster.value(
            f"SELECT cdw_backup_run(target => {literal(target)}, databases => ARRAY['cold'], "
            f"compression => 'none', incremental => false, wait => true)"))  # its own objects
        status = self.cluster.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}")
        self.assertEqual(status, "succeeded", self.cluster.sql(
            f"SELECT error, hint FROM cdw_backup.runs WHERE run_id = {run_id}"))
        return run_id

    def run_objects(self, target_prefix, run_id):
        """{key: storage class} of every object of the run and its index entry."""
        keys = [k for k in self.moto.list_keys(BUCKET, target_prefix + "/")
                if f"-run{run_id}/" in k or k.endswith(f"-run{run_id}.json")
                or k.endswith(f"-run{run_id}.json.hmac")]
        self.assertTrue(keys)
        return {k: self.moto.head(BUCKET, k).get("StorageClass", "STANDARD") for k in keys}


def is_data(key):
    return "/part-" in key


class StorageClassTest(ColdTestCase):
    def test_storage_class_on_data_objects_only(self):
        self.add_target("ia", "ia", {"storage_class": "standard_ia"})
        run_id = self.run_backup("ia")
        classes = self.run_objects("ia", run_id)
        data = {k: v for k, v in classes.items() if is_data(k)}
        metadata = {k: v for k, v in classes.items() if not is_data(k)}
        # Parts of big (multipart) and small (single PUT) at least.
        self.assertGreaterEqual(len([k for k in data if "/public.big/" in k]), 1, classes)
        self.assertGreaterEqual(len([k for k in data if "/public.small/" in k]), 1, classes)
        big_part = max((k for k in data if "/public.big/" in k),
                       key=lambda k: self.moto.head(BUCKET, k)["ContentLength"])
        self.assertGreater(self.moto.head(BUCKET, big_part)["ContentLength"], 5 * 1024 * 1024)
        self.assertEqual(set(data.values()), {"STANDARD_IA"}, data)
        # Manifests, their MACs and the run index: STANDARD, readable at once.
        kinds = {k.rsplit("/", 1)[-1].split(".", 1)[-1] if "_runs/" not in k else "index"
                 for k in metadata}
        self.assertIn("index", kinds, metadata)
        self.assertTrue(any(k.endswith("/manifest.json") for k in metadata), metadata)
        self.assertTrue(any(k.endswith("/manifest.json.hmac") for k in metadata), metadata)
        self.assertEqual(set(metadata.values()), {"STANDARD"}, metadata)
        # Readable directly: verify and restore need no thaw.
        self.assertEqual({r["status"] for r in json_rows(
            self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, target => 'ia')")}, {"ok"})

    def test_manifest_storage_class(self):
        self.add_target("mia", "mia", {"manifest_storage_class": "ONEZONE_IA"})
        run_id = self.run_backup("mia")
        classes = self.run_objects("mia", run_id)
        self.assertEqual({v for k, v in classes.items() if is_data(k)}, {"STANDARD"}, classes)
        self.assertEqual({v for k, v in classes.items() if not is_data(k)}, {"ONEZONE_IA"},
                         classes)

    def test_invalid_names_are_refused_with_the_valid_ones(self):
        error = self.cluster.sql_error(
            f"SELECT cdw_backup_add_target('bad', 's3://{BUCKET}/bad', secret_id => 'a', "
            f"secret_key => 'b', options => '{{\"storage_class\": \"ARCHIVE\"}}')")
        self.assertEqual(sqlstate_of(error), "HV024", error)
        self.assertIn("DEEP_ARCHIVE", hint_of(error))
        self.assertIn("x-amz-storage-class", hint_of(error))
        # ARCHIVE is a COS class: accepted on cos://.
        self.cluster.sql(
            f"SELECT cdw_backup_check_location('cos://{COS_HOST}/p', "
            f"'{{\"storage_class\": \"ARCHIVE\", \"restore_tier\": \"Expedited\"}}')")
        error = self.cluster.sql_error(
            "SELECT cdw_backup_check_location('file:///tmp/x', '{\"storage_class\": \"GLACIER\"}')")
        self.assertIn("applies to object storage only", error)


THAW_SECONDS = 6  # generous: the restore must start within this window on a loaded machine


def set_thaw_transition(endpoint, seconds):
    body = json.dumps({"model_name": "s3::keyrestore",
                       "transition": {"progression": "time", "seconds": seconds}}).encode()
    request = urllib.request.Request(endpoint + "/moto-api/state-manager/set-transition",
                                     data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status in (200, 201), reply.status


class ThawTest(ColdTestCase):
    @classmethod
    def prepare(cls):
        super().prepare()
        set_thaw_transition(cls.moto.endpoint, THAW_SECONDS)
        cls.add_target("glacier", "glacier",
                       {"storage_class": "GLACIER", "restore_tier": "Expedited"})

    def psql(self, sql):
        """(stdout, stderr) of one psql call that must succeed (NOTICEs go to stderr)."""
        proc = subprocess.run(self.cluster.psql_args("postgres", "postgres"), input=sql,
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout, proc.stderr

    def parts(self, run_id, target="glacier"):
        return [k for k in self.run_objects(target, run_id) if is_data(k)]

    def wait_for_moto_clock(self, since):
        # Not a fixed sleep for the server to be ready: moto's restore model
        # advances by time, so the first status read must come THAW_SECONDS
        # after the objects were written (see the module docstring).
        wait_until(lambda: time.monotonic() > since + THAW_SECONDS + 0.3,
                   timeout=THAW_SECONDS + 5, interval=0.1, what="moto's thaw clock")

    def test_glacier_run_is_thawed_then_restored_and_verified(self):
        run_id = self.run_backup("glacier")
        written = time.monotonic()
        parts = self.parts(run_id)
        self.assertTrue(parts)
        for key in parts:
            self.assertEqual(self.moto.head(BUCKET, key).get("StorageClass"), "GLACIER", key)
        # Archived for real: the server refuses to read a part.
        with self.assertRaises(Exception) as refused:
            self.moto.get(BUCKET, parts[0])
        self.assertIn("InvalidObjectState", str(refused.exception))

        # A plain read (the external table) says what to do.
        small = next(k for k in parts if "/public.small/" in k)
        table_path = small.split("/", 1)[1].rsplit("/", 1)[0] + "/"
        key_id, secret = self.moto.keys["writer"]
        self.cluster.sql(f"""
            CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw;
            CREATE SERVER glacier_fdw FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (
              location 's3://{BUCKET}/glacier', endpoint {literal(self.moto.endpoint)},
              region 'us-east-1');
            CREATE USER MAPPING FOR CURRENT_USER SERVER glacier_fdw
              OPTIONS (secret_id {literal(key_id)}, secret_key {literal(secret)});
            CREATE FOREIGN TABLE glacier_small (id int, note text) SERVER glacier_fdw
              OPTIONS (path {literal(table_path)}, compression 'none');""")
        error = self.cluster.sql_error("SELECT count(*) FROM glacier_small")
        self.assertEqual(sqlstate_of(error), "55000", error)
        self.assertIn("InvalidObjectState", error)
        self.assertIn("restore_tier", hint_of(error))
        self.assertIn("wait => false", hint_of(error))

        # verify with wait => false: the thaw is requested, nothing waits.
        self.wait_for_moto_clock(written)
        out, notices = self.psql(
            "SELECT coalesce(json_agg(v), '[]') FROM "
            f"cdw_backup_verify({run_id}, target => 'glacier', wait => false) v")
        rows = {r["table_name"]: r for r in json.loads(out)}
        self.assertEqual(rows["big"]["status"], "thawing", rows)
        self.assertEqual(rows["small"]["status"], "thawing", rows)
        self.assertIn("tier Expedited", rows["small"]["detail"])
        self.assertIn("call cdw_backup_verify() again", rows["small"]["detail"].lower())
        self.assertIn(f"archived objects of run {run_id} are thawing", notices)
        for key in parts:  # every part's thaw was requested (and moto now says: under way)
            self.assertIn("Restore", self.moto.head(BUCKET, key), key)

        # restore waits for the thaw, showing it in cdw_backup.progress.
        self.cluster.sql("DROP DATABASE IF EXISTS cold_thawed")
        proc = subprocess.Popen(
            self.cluster.psql_args("postgres", "postgres") + [
                "-c", "SELECT coalesce(json_agg(r), '[]') FROM "
                      f"cdw_backup_restore({run_id}, 'cold', into_database => 'cold_thawed', "
                      "target => 'glacier') r"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        def thaw_row():
            rows = self.cluster.rows(
                "SELECT run_id, objects_thawed, objects_total, database FROM cdw_backup.progress "
                "WHERE phase = 'thaw'")
            if not rows and proc.poll() is not None:
                self.fail("the restore ended without waiting for the thaw: "
                          + " ".join(proc.communicate()))
            return rows
        seen = wait_until(thaw_row, timeout=60, interval=0.05, what="a thaw row in progress")
        self.assertEqual(seen[0][0], str(run_id))
        self.assertEqual(seen[0][3], "cold")
        self.assertEqual(int(seen[0][2]), len(parts), seen)
        self.assertLess(int(seen[0][1]), len(parts), seen)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        restored = {r["table_name"]: r for r in json.loads(out)}
        for table in ("big", "small", "empty"):
            self.assertEqual(restored[table]["status"], "restored", restored)
            name = qualified("public", table)
            self.assertEqual(
                self.cluster.sql(f"SELECT t::text FROM {name} t ORDER BY 1", db="cold_thawed"),
                self.cluster.sql(f"SELECT t::text FROM {name} t ORDER BY 1", db="cold"), table)
        self.assertEqual(self.cluster.rows("SELECT * FROM cdw_backup.progress"), [])
        # Thawed objects are read directly.
        statuses = {r["table_name"]: r["status"] for r in json_rows(
            self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, target => 'glacier')")}
        self.assertEqual(set(statuses.values()), {"ok"}, statuses)

    def test_refused_thaw_is_a_per_table_error_with_the_store_code(self):
        run_id = self.run_backup("glacier")
        key = self.cluster.value("SELECT cdw_backup_target_key('glacier')")
        reader_id, reader_secret = self.moto.keys["reader"]  # may not s3:RestoreObject
        options = json.dumps({"endpoint": self.moto.endpoint, "region": "us-east-1"})
        self.cluster.sql(
            f"SELECT cdw_backup_add_target('glacier_ro', 's3://{BUCKET}/glacier', "
            f"secret_id => {literal(reader_id)}, secret_key => {literal(reader_secret)}, "
            f"options => {literal(options)}, manifest_key => {literal(key)})")
        self.cluster.sql("DROP DATABASE IF EXISTS cold_ro; CREATE DATABASE cold_ro")
        rows = json_rows(self.cluster, f"SELECT * FROM cdw_backup_restore({run_id}, 'cold', "
                                       "'public.small', into_database => 'cold_ro', "
                                       "target => 'glacier_ro')")
        rows = [r for r in rows if r["table_name"] == "small"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["status"], "failed", rows)
        self.assertIn("could not thaw object", rows[0]["detail"])
        self.assertIn("AccessDenied", rows[0]["detail"])
        self.assertIn("s3:RestoreObject", rows[0]["hint"])
        problems = {r["table_name"]: r for r in json_rows(
            self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, target => 'glacier_ro')")}
        self.assertEqual(problems["small"]["problem"], "thaw_failed", problems)
        self.assertIn("AccessDenied", problems["small"]["detail"])
        self.assertEqual(problems["big"]["problem"], "thaw_failed", problems)


if __name__ == "__main__":
    unittest.main()
