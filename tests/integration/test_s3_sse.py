"""Server-side encryption on s3:// and cos:// targets (issue 12).

    SseMotoTest   moto behind a recording HTTP proxy (connect_to): every
                  PutObject and CreateMultipartUpload of a run carries the
                  SSE-KMS headers each provider documents (x-amz-* on s3://,
                  x-cos-* on cos://), no UploadPart does, and moto's record
                  (boto3 head_object) has ServerSideEncryption / SSEKMSKeyId
                  on every object, multipart ones included; with an SSE-C key
                  every request that writes or reads an object (runs,
                  verify, restore, list) carries the key and its MD5; the
                  options are checked at cdw_backup_add_target; the key is
                  nowhere (server log, history, errors, the targets view,
                  pg_stat_activity).
    SseRgwTest    Ceph RGW, which enforces SSE-C (moto does not): objects a
                  run wrote cannot be read without the key, our verify and
                  restore with the key work, a wrong key fails with the
                  store's code and a hint naming sse_customer_key; SSE-KMS
                  with RGW's testing KMS backend. Runs when s3_server has
                  RGWServer and CDW_S3_SERVERS allows rgw.
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import threading
import unittest

from harness import (ClusterTestCase, assert_secrets_nowhere, backup, hint_of, json_rows,
                     sqlstate_of, wait_until)
from harness import quote_literal as literal
import s3_server
from s3_server import MotoServer

BUCKET = "cdw-sse"
COS_BUCKET = "cdwsse-1250000000"
COS_HOST = f"{COS_BUCKET}.cos.ap-guangzhou.myqcloud.com"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/cdw-test"
CONTEXT = '{"app": "cdw_backup"}'
# SSE-C keys: one in hex, one (the wrong one) in base64.
CUSTOMER_KEY = hashlib.sha256(b"cdw sse-c test key").hexdigest()
CUSTOMER_KEY_B64 = base64.b64encode(bytes.fromhex(CUSTOMER_KEY)).decode()
CUSTOMER_KEY_MD5 = base64.b64encode(hashlib.md5(bytes.fromhex(CUSTOMER_KEY)).digest()).decode()
WRONG_KEY = base64.b64encode(hashlib.sha256(b"another key").digest()).decode()

# 'big' is ~7 MB of CSV: two 5 MB parts when the run is not compressed.
TABLES = """
CREATE TABLE small (id int PRIMARY KEY, note text);
INSERT INTO small SELECT g, 'row ' || g FROM generate_series(1, 300) g;
CREATE TABLE big (id int, a text, b text);
INSERT INTO big SELECT g, md5(g::text), md5((g * 7)::text) FROM generate_series(1, 100000) g;
"""


class RecordingProxy:
    """An HTTP proxy in front of an S3 server: forwards every request as it
    came (the signature covers Host, path and headers, so it stays valid)
    and records (method, path, query, lower-case headers)."""

    def __init__(self, upstream_port):
        proxy = self
        self.records = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                with proxy.lock:
                    proxy.records.append((self.command, path, query,
                                          {k.lower(): v for k, v in self.headers.items()}))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                try:
                    forwarded = {k: v for k, v in self.headers.items()
                                 if k.lower() not in ("expect", "connection")}
                    upstream.request(self.command, self.path, body=body, headers=forwarded)
                    reply = upstream.getresponse()
                    data = reply.read()
                    self.send_response(reply.status, reply.reason)
                    for key, value in reply.getheaders():
                        if key.lower() not in ("transfer-encoding", "content-length",
                                               "connection"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        with self.lock:
            records, self.records = self.records, []
        return records

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def object_requests(records, bucket_in_path):
    """Requests on objects (not on the bucket): (kind, method, key, query, headers)."""
    found = []
    for method, path, query, headers in records:
        parts = path.lstrip("/").split("/", 1) if bucket_in_path else ["", path.lstrip("/")]
        key = parts[1] if len(parts) > 1 else ""
        if not key:
            continue  # list, multipart listing
        if method == "PUT" and "partNumber=" in query:
            kind = "UploadPart"
        elif method == "PUT":
            kind = "PutObject"
        elif method == "POST" and query.startswith("uploads"):
            kind = "CreateMultipartUpload"
        elif method == "POST":
            kind = "CompleteMultipartUpload"
        elif method in ("GET", "HEAD"):
            kind = "Read"
        else:
            kind = method
        found.append((kind, method, key, query, headers))
    return found


class SseTestCase(ClusterTestCase):
    preload = True
    settings = {"log_min_messages": "warning", "log_min_error_statement": "error"}

    def run_backup(self, target, compression="none"):
        # Full copies: every run writes (and the proxy sees) its own objects.
        return backup(self.cluster, ["postgres"], target=target, compression=compression,
                      incremental=False)

    def assert_key_nowhere(self, key, extra_texts=()):
        forms = [key, base64.b64encode(bytes.fromhex(key)).decode()] if len(key) == 64 else [key]
        assert_secrets_nowhere(self, self.cluster, forms, extra_texts, what="SSE-C key")

    def restored_matches(self, run_id, target, table):
        self.cluster.sql("DROP DATABASE IF EXISTS restored")
        self.cluster.sql("CREATE DATABASE restored")
        rows = json_rows(self.cluster, f"SELECT * FROM cdw_backup_restore({run_id}, 'postgres', "
                                       f"{literal(table)}, into_database => 'restored', "
                                       f"target => {literal(target)})")
        self.assertEqual([r["status"] for r in rows], ["restored"], rows)
        source = self.cluster.sql(f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) "
                                  f"FROM {table} t")
        restored = self.cluster.sql(f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) "
                                    f"FROM {table} t", db="restored")
        self.assertEqual(restored, source)


class SseMotoTest(SseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer([BUCKET, COS_BUCKET]).start()
        cls.proxy = RecordingProxy(cls.moto.port)
        try:
            super().setUpClass()
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        c = cls.cluster
        key_id, secret = cls.moto.keys["writer"]
        cls.secrets = f"secret_id => {literal(key_id)}, secret_key => {literal(secret)}"
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(TABLES)
        s3 = {"endpoint": f"http://127.0.0.1:{cls.moto.port}", "connect_to":
              f"127.0.0.1:{cls.proxy.port}", "part_size": "5MB"}
        cos = {"https": "false", "connect_to": f"127.0.0.1:{cls.proxy.port}", "part_size": "5MB"}
        targets = {
            "s3_kms": ("s3://" + BUCKET + "/kms", dict(s3, sse="aws:kms", sse_kms_key_id=KMS_KEY,
                                                       sse_kms_context=CONTEXT)),
            "s3_aes": ("s3://" + BUCKET + "/aes", dict(s3, sse="AES256")),
            # The context as a JSON object inside the options (jsonb's text of it is CONTEXT).
            "cos_kms": (f"cos://{COS_HOST}/kms", dict(cos, sse="cos/kms", sse_kms_key_id="cos-key-1",
                                                       sse_kms_context=json.loads(CONTEXT))),
            "s3_ssec": ("s3://" + BUCKET + "/ssec", dict(s3, sse_customer_key=CUSTOMER_KEY)),
            "cos_ssec": (f"cos://{COS_HOST}/ssec", dict(cos, sse_customer_key=CUSTOMER_KEY_B64)),
        }
        for name, (location, options) in targets.items():
            c.sql(f"SELECT cdw_backup_add_target({literal(name)}, {literal(location)}, "
                  f"{cls.secrets}, options => {literal(json.dumps(options))})")

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        cls.proxy.close()
        cls.moto.close()

    def setUp(self):
        self.proxy.take()

    def check_kms_run(self, target, prefix, cos):
        run_id = self.run_backup(target)
        requests = object_requests(self.proxy.take(), bucket_in_path=not cos)
        kinds = [r[0] for r in requests]
        self.assertGreaterEqual(kinds.count("CreateMultipartUpload"), 1, kinds)
        self.assertGreaterEqual(kinds.count("UploadPart"), 2, kinds)
        self.assertGreaterEqual(kinds.count("PutObject"), 3, kinds)  # small, manifest, index
        p, other = ("x-cos-", "x-amz-") if cos else ("x-amz-", "x-cos-")
        key_header = p + ("server-side-encryption-cos-kms-key-id" if cos
                          else "server-side-encryption-aws-kms-key-id")
        context = base64.b64encode(CONTEXT.encode()).decode()
        for kind, method, key, query, headers in requests:
            where = f"{kind} {key}?{query}"
            self.assertNotIn(other + "server-side-encryption", headers, where)
            if kind in ("PutObject", "CreateMultipartUpload"):
                self.assertEqual(headers.get(p + "server-side-encryption"),
                                 "cos/kms" if cos else "aws:kms", where)
                self.assertEqual(headers.get(key_header), "cos-key-1" if cos else KMS_KEY, where)
                self.assertEqual(headers.get(p + "server-side-encryption-context"), context,
                                 where)
                self.assertIn(p + "server-side-encryption;",
                              headers["authorization"].replace(",", ";") + ";", where)
            else:
                self.assertNotIn(p + "server-side-encryption", headers, where)
        return run_id

    def test_s3_kms_headers_on_every_write_and_recorded_by_the_store(self):
        run_id = self.check_kms_run("s3_kms", "kms/", cos=False)
        keys = self.moto.list_keys(BUCKET, "kms/")
        self.assertGreaterEqual(len(keys), 4, keys)
        multipart = 0
        for key in keys:
            head = self.moto.head(BUCKET, key)
            self.assertEqual(head.get("ServerSideEncryption"), "aws:kms", key)
            self.assertEqual(head.get("SSEKMSKeyId"), KMS_KEY, key)
            multipart += "-" in head["ETag"]
        self.assertGreaterEqual(multipart, 1, "no multipart object in the run")
        verify = json_rows(self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, 's3_kms')")
        self.assertEqual({v["status"] for v in verify}, {"ok"}, verify)

    def test_s3_aes256_on_every_object(self):
        self.run_backup("s3_aes")
        for key in self.moto.list_keys(BUCKET, "aes/"):
            self.assertEqual(self.moto.head(BUCKET, key).get("ServerSideEncryption"), "AES256",
                             key)

    def test_cos_kms_sends_the_cos_headers(self):
        self.check_kms_run("cos_kms", "kms/", cos=True)

    def check_customer_key_everywhere(self, records, cos, md5=CUSTOMER_KEY_MD5):
        p = "x-cos-" if cos else "x-amz-"
        requests = object_requests(records, bucket_in_path=not cos)
        self.assertTrue(requests)
        for kind, method, key, query, headers in requests:
            where = f"{kind} {method} {key}?{query}"
            if kind == "DELETE":
                continue  # removals need no key
            if cos and kind == "CompleteMultipartUpload":
                continue  # COS documents no SSE-C headers there
            self.assertEqual(headers.get(p + "server-side-encryption-customer-algorithm"),
                             "AES256", where)
            self.assertEqual(headers.get(p + "server-side-encryption-customer-key"),
                             CUSTOMER_KEY_B64, where)
            self.assertEqual(headers.get(p + "server-side-encryption-customer-key-md5"), md5,
                             where)
            self.assertNotIn(p + "server-side-encryption", headers, where)
        return [r[0] for r in requests]

    def test_customer_key_on_every_object_request_of_run_verify_list_restore(self):
        for target, cos in (("s3_ssec", False), ("cos_ssec", True)):
            with self.subTest(target=target):
                run_id = self.run_backup(target)
                kinds = self.check_customer_key_everywhere(self.proxy.take(), cos)
                self.assertIn("UploadPart", kinds)
                self.assertIn("CreateMultipartUpload", kinds)
                verify = json_rows(self.cluster,
                                   f"SELECT * FROM cdw_backup_verify({run_id}, {literal(target)})")
                self.assertEqual({v["status"] for v in verify}, {"ok"}, verify)
                listed = json_rows(self.cluster,
                                   f"SELECT * FROM cdw_backup_list({literal(target)})")
                self.assertIn(run_id, [row["run_id"] for row in listed])
                self.restored_matches(run_id, target, "big")
                kinds = self.check_customer_key_everywhere(self.proxy.take(), cos)
                self.assertIn("Read", kinds)
        self.assert_key_nowhere(CUSTOMER_KEY)

    def test_fdw_user_mapping_carries_the_customer_key(self):
        c = self.cluster
        key_id, secret = self.moto.keys["writer"]
        c.sql(f"""
            CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw;
            CREATE SERVER sse_fdw FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (
              location 's3://{BUCKET}/fdw', endpoint 'http://127.0.0.1:{self.moto.port}',
              connect_to '127.0.0.1:{self.proxy.port}');
            CREATE USER MAPPING FOR CURRENT_USER SERVER sse_fdw OPTIONS (
              secret_id {literal(key_id)}, secret_key {literal(secret)},
              sse_customer_key {literal(CUSTOMER_KEY)});
            CREATE FOREIGN TABLE sse_ext (id int, note text) SERVER sse_fdw
              OPTIONS (path 'small/');
            INSERT INTO sse_ext SELECT * FROM small;""")
        self.assertEqual(c.value("SELECT count(*) FROM sse_ext"), "300")
        kinds = self.check_customer_key_everywhere(self.proxy.take(), cos=False)
        self.assertIn("PutObject", kinds)
        self.assertIn("Read", kinds)
        # A secret only on user mappings. (PostgreSQL logs the failing DDL
        # statement itself, as for secret_key on a server: a throwaway key.)
        throwaway = WRONG_KEY
        error = c.sql_error(f"CREATE SERVER sse_bad FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS ("
                            f"location 's3://{BUCKET}/x', sse_customer_key {literal(throwaway)})")
        self.assertIn("only allowed on a user mapping", error)
        self.assertNotIn("ERROR:  " + throwaway, error)
        error = c.sql_error("ALTER USER MAPPING FOR CURRENT_USER SERVER sse_fdw OPTIONS "
                            "(SET sse_customer_key 'not-a-key-123456')")
        self.assertIn('invalid value for option "sse_customer_key"', error)
        self.assertNotIn("not-a-key-123456", error)
        self.assert_key_nowhere(CUSTOMER_KEY, [error])

    def test_add_target_checks_the_options(self):
        def refused(location, options):
            return self.cluster.sql_error(
                f"SELECT cdw_backup_add_target('bad', {literal(location)}, {self.secrets}, "
                f"options => {literal(json.dumps(options))})")
        s3, cos = f"s3://{BUCKET}/bad", f"cos://{COS_HOST}/bad"
        cases = [
            (s3, {"sse_kms_key_id": KMS_KEY}, "Add sse 'aws:kms', or drop sse_kms_key_id."),
            (s3, {"sse": "AES256", "sse_kms_context": CONTEXT}, "Add sse 'aws:kms'"),
            (cos, {"sse": "aws:kms"}, "Use sse 'cos/kms' on cos:// locations."),
            (s3, {"sse": "cos/kms"}, "Use sse 'aws:kms' on s3:// locations."),
            (s3, {"sse": "rot13"}, "Use 'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS)"),
            (s3, {"sse": "aws:kms", "sse_kms_context": "[1]"}, "JSON object of strings"),
            (s3, {"sse": "AES256", "sse_customer_key": CUSTOMER_KEY}, "Drop one of them."),
            (s3, {"sse_customer_key": "0123456789abcdef"}, "openssl rand -base64 32"),
            ("file:///tmp/cdw_sse_bad", {"sse_customer_key": CUSTOMER_KEY},
             "Drop sse_customer_key for a file:// target."),
        ]
        for location, options, hint in cases:
            with self.subTest(options=options):
                error = refused(location, options)
                self.assertIn(hint, error)
                self.assertIn(sqlstate_of(error), ("HV024", "22023"), error)
                self.assertNotIn(CUSTOMER_KEY, error)
                self.assertNotIn("0123456789abcdef", error)
        self.assertEqual(self.cluster.value(
            "SELECT count(*) FROM cdw_backup.targets WHERE name = 'bad'"), "0")
        self.assert_key_nowhere(CUSTOMER_KEY)

    def test_targets_view_shows_no_customer_key(self):
        view = {t["name"]: t for t in json_rows(self.cluster, "SELECT * FROM cdw_backup.targets")}
        self.assertTrue(view["s3_ssec"]["has_sse_customer_key"])
        self.assertFalse(view["s3_kms"]["has_sse_customer_key"])
        self.assertNotIn("sse_customer_key", view["s3_ssec"]["options"])
        self.assertEqual(view["s3_kms"]["options"]["sse_kms_key_id"], KMS_KEY)
        self.assert_key_nowhere(CUSTOMER_KEY)
        self.assert_key_nowhere(CUSTOMER_KEY_B64)


def rgw_wanted():
    kinds = os.environ.get("CDW_S3_SERVERS", "moto,rgw").split(",")
    return hasattr(s3_server, "RGWServer") and "rgw" in [k.strip() for k in kinds]


@unittest.skipUnless(rgw_wanted(), "needs s3_server.RGWServer (Ceph RGW) and rgw in CDW_S3_SERVERS")
class SseRgwTest(SseTestCase):
    """Ceph RGW enforces SSE-C: the store itself refuses reads without the key."""

    @classmethod
    def setUpClass(cls):
        cls.rgw = s3_server.RGWServer([BUCKET]).start()
        try:
            super().setUpClass()
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        c = cls.cluster
        key_id, secret = cls.rgw.keys["writer"]
        cls.secrets = f"secret_id => {literal(key_id)}, secret_key => {literal(secret)}"
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(TABLES)
        base = {"endpoint": cls.rgw.endpoint, "part_size": "5MB"}
        kms_key = sorted(cls.rgw.kms_keys)[0]
        cls.kms_key = kms_key
        for name, prefix, options in (
                ("rgw_ssec", "ssec", dict(base, sse_customer_key=CUSTOMER_KEY)),
                ("rgw_kms", "kms", dict(base, sse="aws:kms", sse_kms_key_id=kms_key))):
            c.sql(f"SELECT cdw_backup_add_target({literal(name)}, 's3://{BUCKET}/{prefix}', "
                  f"{cls.secrets}, options => {literal(json.dumps(options))})")
        # The same location with another key (and the first target's manifest key).
        manifest_key = c.value("SELECT cdw_backup_target_key('rgw_ssec')")
        for name, options in (("rgw_wrong", dict(base, sse_customer_key=WRONG_KEY)),
                              ("rgw_nokey", base)):
            c.sql(f"SELECT cdw_backup_add_target({literal(name)}, 's3://{BUCKET}/ssec', "
                  f"{cls.secrets}, options => {literal(json.dumps(options))}, "
                  f"manifest_key => {literal(manifest_key)})")

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        cls.rgw.close()

    def test_customer_key_enforced_by_the_store(self):
        import botocore.exceptions
        run_id = self.run_backup("rgw_ssec")
        keys = self.rgw.list_keys(BUCKET, "ssec/")
        self.assertGreaterEqual(len(keys), 4, keys)
        client = self.rgw.client()
        for key in keys:
            with self.assertRaises(botocore.exceptions.ClientError, msg=key) as refused:
                client.get_object(Bucket=BUCKET, Key=key)
            self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            head = client.head_object(Bucket=BUCKET, Key=key, SSECustomerAlgorithm="AES256",
                                      SSECustomerKey=bytes.fromhex(CUSTOMER_KEY))
            self.assertEqual(head.get("SSECustomerKeyMD5"), CUSTOMER_KEY_MD5, key)
        verify = json_rows(self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, 'rgw_ssec')")
        self.assertEqual({v["status"] for v in verify}, {"ok"}, verify)
        self.restored_matches(run_id, "rgw_ssec", "big")
        self.restored_matches(run_id, "rgw_ssec", "small")

        # A wrong key and no key: the store's code and a hint naming the option.
        errors = []
        for target, hint in (("rgw_wrong", "Check sse_customer_key"),
                             ("rgw_nokey", "set sse_customer_key")):
            with self.subTest(target=target):
                error = self.cluster.sql_error(
                    f"SELECT * FROM cdw_backup_restore({run_id}, 'postgres', 'small', "
                    f"into_table => 'small_again', target => {literal(target)})")
                errors.append(error)
                self.assertRegex(error, r"(InvalidRequest|InvalidArgument|AccessDenied|BadRequest)")
                self.assertIn(hint, hint_of(error) or "", error)
        self.assert_key_nowhere(CUSTOMER_KEY, errors)
        self.assert_key_nowhere(WRONG_KEY, errors)
        with open(self.rgw.log_path, errors="replace") as f:
            rgw_log = f.read()
        self.assertNotIn(CUSTOMER_KEY_B64, rgw_log)

    def test_kms_recorded_by_the_store(self):
        run_id = self.run_backup("rgw_kms")
        keys = self.rgw.list_keys(BUCKET, "kms/")
        self.assertGreaterEqual(len(keys), 4, keys)
        for key in keys:
            head = self.rgw.head(BUCKET, key)
            self.assertEqual(head.get("ServerSideEncryption"), "aws:kms", key)
            self.assertEqual(head.get("SSEKMSKeyId"), self.kms_key, key)
        self.restored_matches(run_id, "rgw_kms", "big")


if __name__ == "__main__":
    unittest.main()
