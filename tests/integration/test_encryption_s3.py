"""Encrypted round trips on s3:// for every compression, once per S3 server
(s3_server.per_server: moto and Ceph RGW): every object a run writes to the
bucket is an age file (the .hmac files of the manifest and run index excepted:
they authenticate the stored bytes), verify and restore of each compression
succeed, and the stock age command decrypts a part fetched from the bucket
(boto3) to the CSV of the table.

One cluster and one server (for RGW one Ceph cluster and gateway) per class;
test_encryption.py covers the rest of encryption on file://.
"""
import json
import unittest

from age_cli import AGE_MAGIC, COMPRESSIONS, SUFFIX, age_decrypt, decompress, new_identity
from harness import ClusterTestCase, backup, json_rows, quote_literal, restore
from s3_server import per_server

BUCKET = "cdw-enc"
PREFIX = "enc"


@per_server(globals())
class EncryptedS3Test(ClusterTestCase):
    settings = {"log_min_messages": "warning", "log_min_error_statement": "error"}
    server_class = None

    @classmethod
    def setUpClass(cls):
        cls.server = cls.server_class([BUCKET]).start()
        try:
            super().setUpClass()
        except BaseException:
            cls.server.close()
            raise
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.identity, _ = new_identity()
        writer_id, writer_secret = cls.server.keys["writer"]
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql("CREATE DATABASE app")
        # One part per table (so one part to decrypt), > 100 kB of CSV
        # (several age chunks).
        c.sql("""
            CREATE TABLE t (id integer NOT NULL, note text, f float8, raw bytea);
            INSERT INTO t SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'row, "' || g || E'"\\n' END,
                                 g / 3.0, decode(md5(g::text), 'hex')
              FROM generate_series(1, 3000) g;
            CREATE TABLE other (k text PRIMARY KEY, v numeric);
            INSERT INTO other SELECT 'k' || g, g / 7.0 FROM generate_series(1, 500) g;
        """, db="app")
        options = {"endpoint": cls.server.endpoint, "region": "us-east-1", "encryption": "on"}
        c.sql(f"SELECT cdw_backup_add_target('s3enc', 's3://{BUCKET}/{PREFIX}', "
              f"secret_id => {quote_literal(writer_id)}, secret_key => {quote_literal(writer_secret)}, "
              f"options => {quote_literal(json.dumps(options))}, "
              f"encryption_key => {quote_literal(cls.identity)})")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.server.close()

    def assertRestores(self, run_id, table):
        into = f"public.{table}_back"
        self.cluster.sql(f"DROP TABLE IF EXISTS {into}", db="app")
        result = restore(self.cluster, run_id, "app", f"public.{table}", target="s3enc",
                         into_table=into)
        self.assertEqual([r["status"] for r in result], ["restored"], result)
        diff = self.cluster.value(
            f"SELECT (SELECT count(*) FROM (SELECT * FROM public.{table} EXCEPT ALL "
            f"SELECT * FROM {into}) a) + (SELECT count(*) FROM (SELECT * FROM {into} "
            f"EXCEPT ALL SELECT * FROM public.{table}) b)", db="app")
        self.assertEqual(diff, "0")
        self.cluster.sql(f"DROP TABLE {into}", db="app")

    def test_round_trip_every_compression(self):
        client = self.server.client()
        for compression in COMPRESSIONS:
            with self.subTest(compression=compression):
                run_id = backup(self.cluster, ["app"], target="s3enc", compression=compression,
                                incremental=False)
                keys = [k for k in self.server.list_keys(BUCKET, PREFIX + "/") if f"-run{run_id}" in k]
                parts = [k for k in keys if "/public.t/part-" in k and k.endswith(SUFFIX[compression])]
                self.assertEqual(len(parts), 1, keys)
                self.assertTrue(any(k.endswith("/manifest.json") for k in keys), keys)
                self.assertTrue(any(k.endswith(f"-run{run_id}.json") and "/_runs/" in k
                                    for k in keys), keys)
                for key in keys:
                    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                    if key.endswith(".hmac"):
                        self.assertTrue(body.startswith(b"cdw_backup-hmac-sha256 v1"), key)
                    else:
                        self.assertTrue(body.startswith(AGE_MAGIC), key)
                # The standard tool reads what the store holds.
                stored = client.get_object(Bucket=BUCKET, Key=parts[0])["Body"].read()
                decrypted = age_decrypt(self.identity, stored)
                self.assertIsNotNone(decrypted, "age refused the part")
                csv = decompress(compression, decrypted)
                self.assertGreater(len(csv), 100000)
                self.assertIn(b'"row, ""1""\n"', csv)
                verified = json_rows(self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, "
                                                   f"target => 's3enc')")
                self.assertEqual(sorted((r["table_name"], r["status"]) for r in verified),
                                 [("other", "ok"), ("t", "ok")], verified)
                self.assertRestores(run_id, "t")
                self.assertRestores(run_id, "other")


if __name__ == "__main__":
    unittest.main()
