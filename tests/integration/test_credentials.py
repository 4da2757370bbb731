"""Credentials without static secrets (issue 14): instance metadata (EC2 IMDSv2
and Tencent CVM shapes) and the server's environment, against moto with every
signature and session token checked.

The fake metadata service (metadata_server.py) hands out real temporary
credentials of moto (STS AssumeRole of a fresh role per set) that live
LIFETIME seconds and are revoked in moto when they expire, so a request
signed with credentials that were not renewed in time fails. LIFETIME is
20 s rather than the 30 s of the issue to keep the test short: cdw_backup
renews credentials when a quarter of their lifetime is left (5 s here, 5
minutes for real instance credentials), see core/s3/credentials.h.

    MetadataCredentialsTest   a multipart upload (external table) held in the
                              middle until its first credentials are revoked;
                              a backup run to cos:// with a CVM role that waits
                              on a lock for longer than a lifetime; a metadata
                              service that goes away; who may use the server's
                              credentials; secrets nowhere
    EnvCredentialsTest        the launcher's scheduled run with credentials
                              'env' from the postmaster's environment
                              (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                              AWS_SESSION_TOKEN)

Waits are on conditions (lock waiters, uploads in moto, revocations), never
fixed sleeps; the one long wait is for the first credentials to expire.
"""
import hashlib
import json
import os
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import (ClusterTestCase, Session, hint_of, sqlstate_of, wait_until)
from harness import quote_literal as literal
from metadata_server import S3_POLICY, TRUST_POLICY, MetadataServer
from s3_server import MotoServer, make_client

BUCKET = "cdw-creds"
COS_BUCKET = "cdwcreds-1250000000"
COS_HOST = f"{COS_BUCKET}.cos.ap-guangzhou.myqcloud.com"
LIFETIME = 20
ROLE = "cdw-instance-role"
GATE_LOCK = 4242
ROWS, GATE_ROW = 60000, 30000  # ~16 MB of CSV: three 5 MB parts, the gate after the first
ROW_SQL = "SELECT g::bigint AS id, repeat(md5(g::text), 8) AS v FROM generate_series(1, {n}) g"


def raw_copy(cluster, query, db):
    """COPY (query) TO STDOUT (FORMAT csv) as bytes: what the FDW must have written."""
    return subprocess.run(cluster.psql_args(db, "postgres") +
                          ["-c", f"COPY ({query}) TO STDOUT (FORMAT csv)"],
                          capture_output=True, check=True).stdout


class CredentialsCase(ClusterTestCase):
    # A run waits for a held table for longer than a credential lifetime.
    settings = {"log_min_messages": "warning", "log_min_error_statement": "error",
                "cdw_backup.lock_wait_timeout": "'120s'"}

    def assert_secrets_nowhere(self, sets, extra_texts=()):
        """No secret key, session token or access key id of `sets` in the server log,
        pg_stat_activity, the history or `extra_texts` (what the target holds)."""
        log = self.cluster.server_log()
        activity = self.cluster.sql(
            "SELECT coalesce(string_agg(coalesce(query, ''), E'\\n'), '') FROM pg_stat_activity")
        history = self.cluster.sql(
            "SELECT coalesce(string_agg(to_json(r)::text, E'\\n'), '') FROM cdw_backup.runs r")
        history += self.cluster.sql(
            "SELECT coalesce(string_agg(to_json(t)::text, E'\\n'), '') FROM cdw_backup.run_tables t")
        for entry in sets:
            for secret in (entry["secret"], entry["token"], entry["key_id"]):
                self.assertGreaterEqual(len(secret), 16)
                self.assertNotIn(secret, log, "secret in the server log")
                self.assertNotIn(secret, activity, "secret in pg_stat_activity")
                self.assertNotIn(secret, history, "secret in the history")
                for text in extra_texts:
                    self.assertNotIn(secret.encode(), text, "secret on the target")


class MetadataCredentialsTest(CredentialsCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer([BUCKET, COS_BUCKET]).start()
        cls.metadata = []
        try:
            super().setUpClass()
            cls.imds = cls.metadata_server("imds")
            cls.cvm = cls.metadata_server("cvm")
            c, port = cls.cluster, cls.moto.port
            c.sql("CREATE EXTENSION cdw_backup")
            c.sql("CREATE DATABASE src")
            c.sql(f"CREATE TABLE big AS {ROW_SQL.format(n=ROWS)}", db="src")
            c.sql("CREATE DATABASE src2")
            c.sql("CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)", db="src2")
            c.sql("CREATE DATABASE fdwdb")
            c.sql(f"""
                CREATE EXTENSION cdw_backup_fdw;
                CREATE SERVER imds FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (
                  location 's3://{BUCKET}/fdw', endpoint 'http://127.0.0.1:{port}',
                  path_style 'true', part_size '5MB',
                  credentials 'imds', metadata_endpoint '{cls.imds.endpoint}');
                CREATE FOREIGN TABLE rotation (id bigint, v text) SERVER imds
                  OPTIONS (path 'rotation/', compression 'none');
                -- Stops the rows at GATE_ROW until the test lets them go on.
                CREATE FUNCTION gate(g int) RETURNS boolean LANGUAGE plpgsql AS $$
                BEGIN
                  IF g = {GATE_ROW} THEN
                    PERFORM pg_advisory_lock_shared({GATE_LOCK});
                    PERFORM pg_advisory_unlock_shared({GATE_LOCK});
                  END IF;
                  RETURN true;
                END $$;
            """, db="fdwdb")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def metadata_server(cls, shape):
        server = MetadataServer(cls.moto, shape, LIFETIME, role=ROLE).start()
        cls.metadata.append(server)
        return server

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        for server in cls.metadata:
            server.close()
        cls.moto.close()

    def wait_revoked(self, server, entry):
        wait_until(lambda: entry["role"] in server.revoked, timeout=LIFETIME + 30,
                   what="the first credentials to expire and be revoked")
        self.assertTrue(server.stale_set_refused(entry),
                        "moto still accepts revoked credentials: the test proves nothing")

    def test_1_multipart_upload_outlives_its_credentials(self):
        c = self.cluster
        holder = Session(c, "fdwdb", name="cdw_test_gate")
        try:
            holder.send(f"SELECT pg_advisory_lock({GATE_LOCK});")
            wait_until(lambda: c.value(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                f"AND objid = {GATE_LOCK}") == "1", timeout=30, what="the gate lock")
            with ThreadPoolExecutor(1) as pool:
                insert = pool.submit(
                    c.sql, f"INSERT INTO rotation {ROW_SQL.format(n=ROWS)} WHERE gate(g)",
                    db="fdwdb")
                # The upload is under way (a part is stored) and held at the gate.
                wait_until(lambda: c.value(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    f"AND objid = {GATE_LOCK}") == "1" or insert.done(), timeout=60,
                    what="the INSERT at the gate")
                self.assertFalse(insert.done(), insert.result() if insert.done() else "")
                wait_until(lambda: any(self.moto.uploaded_parts(BUCKET, key, upload)
                                       for key, upload in self.moto.uploads(BUCKET, "fdw/")),
                           timeout=60, what="a stored part of the multipart upload")
                first = self.imds.issued[0]
                self.wait_revoked(self.imds, first)
                holder.finish(f"SELECT pg_advisory_unlock({GATE_LOCK});")
                insert.result(timeout=120)
        finally:
            holder.kill()
        keys = self.moto.list_keys(BUCKET, "fdw/rotation/")
        self.assertEqual(len(keys), 1, keys)
        [key] = keys
        expected = raw_copy(c, ROW_SQL.format(n=ROWS), "fdwdb")
        stored = self.moto.get(BUCKET, key)
        self.assertEqual(len(stored), len(expected))
        self.assertEqual(hashlib.sha256(stored).hexdigest(), hashlib.sha256(expected).hexdigest())
        self.assertGreater(len(stored), 10 * 1024 * 1024)  # three parts at least
        self.assertEqual(self.moto.uploads(BUCKET, "fdw/"), [])
        # The metadata service saw renewals: new credentials after the first set,
        # each with a fresh IMDSv2 token, and no request without one.
        served = self.imds.served_key_ids()
        self.assertGreaterEqual(len(set(served)), 2, served)
        self.assertEqual(served[0], first["key_id"])
        puts = [r for r in self.imds.requests if r[0] == "PUT"]
        gets = [r for r in self.imds.requests if r[0] == "GET"]
        self.assertGreaterEqual(len(puts), 2)
        self.assertTrue(gets and all(ok for _, _, ok in gets), gets)
        self.assert_secrets_nowhere(self.imds.issued)

    def test_2_backup_run_with_a_cvm_role_outlives_its_credentials(self):
        c, port = self.cluster, self.moto.port
        options = {"https": "false", "connect_to": f"127.0.0.1:{port}", "part_size": "5MB",
                   "credentials": "instance", "role": ROLE,
                   "metadata_endpoint": self.cvm.endpoint}
        c.sql(f"SELECT cdw_backup_add_target('cvm', 'cos://{COS_HOST}/runs', "
              f"options => {literal(json.dumps(options))})")
        self.assertEqual(c.value("SELECT has_credentials FROM cdw_backup.targets "
                                 "WHERE name = 'cvm'"), "f")
        holder = Session(c, "src2", name="cdw_test_lock")
        try:
            holder.send("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE;")
            wait_until(lambda: c.value(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE a.application_name = 'cdw_test_lock' AND l.mode = 'AccessExclusiveLock' "
                "AND l.granted AND l.locktype = 'relation'") != "0", timeout=30, what="table lock")
            run_id = int(c.value("SELECT cdw_backup_run(target => 'cvm', "
                                 "databases => '{src,src2}', compression => 'none')"))
            wait_until(lambda: c.value(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE d.datname = 'src2' AND NOT l.granted AND l.locktype = 'relation'") != "0",
                timeout=60, what="the run waiting for the held table")
            # Table "big" is exported (multipart) meanwhile, with the role's credentials.
            wait_until(lambda: c.value(f"SELECT status FROM cdw_backup.run_tables WHERE "
                                       f"run_id = {run_id} AND table_name = 'big'") == "succeeded",
                       timeout=120, what="table big backed up")
            self.assertTrue(self.cvm.issued, "the run fetched no credentials")
            self.wait_revoked(self.cvm, self.cvm.issued[0])
            holder.finish("COMMIT;")
        finally:
            holder.kill()
        status = c.value(f"SELECT cdw_backup_wait({run_id}, '120 s')")
        run = json.loads(c.value(f"SELECT to_json(r) FROM cdw_backup.runs r WHERE run_id = {run_id}"))
        self.assertEqual(status, "succeeded", run)
        keys = self.moto.list_keys(COS_BUCKET, "runs/")
        self.assertTrue(any(k.endswith("src/manifest.json") for k in keys), keys)
        self.assertTrue(any(k.endswith("src2/manifest.json") for k in keys), keys)
        tables = c.rows(f"SELECT table_name, status, rows FROM cdw_backup.run_tables "
                        f"WHERE run_id = {run_id} ORDER BY table_name")
        self.assertEqual(tables, [["big", "succeeded", str(ROWS)], ["held", "succeeded", "1"]])
        self.assertGreaterEqual(len(set(self.cvm.served_key_ids())), 2)
        objects = [self.moto.get(COS_BUCKET, k) for k in keys]
        self.assert_secrets_nowhere(self.cvm.issued, objects)
        # Verify reads the run back with the same credentials, in this session.
        verified = c.rows(f"SELECT status FROM cdw_backup_verify({run_id})")
        self.assertTrue(verified and all(r == ["ok"] for r in verified), verified)

    def test_3_metadata_service_that_goes_away(self):
        c, port = self.cluster, self.moto.port
        gone = self.metadata_server("imds")
        c.sql(f"""
            CREATE SERVER gone FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (
              location 's3://{BUCKET}/gone', endpoint 'http://127.0.0.1:{port}',
              credentials 'imds', metadata_endpoint '{gone.endpoint}');
            CREATE FOREIGN TABLE gone_t (id int) SERVER gone OPTIONS (path 'a/');
            INSERT INTO gone_t VALUES (1);
        """, db="fdwdb")
        options = {"endpoint": f"http://127.0.0.1:{port}", "credentials": "imds",
                   "metadata_endpoint": gone.endpoint}
        c.sql(f"SELECT cdw_backup_add_target('gone', 's3://{BUCKET}/gone-runs', "
              f"options => {literal(json.dumps(options))})")
        gone.stop()
        # A new session has no credentials cached: it must ask, and fails clearly.
        error = c.sql_error("INSERT INTO gone_t VALUES (2)", db="fdwdb")
        self.assertEqual(sqlstate_of(error), "08006", error)
        self.assertIn(f"could not get credentials from EC2 instance metadata at {gone.endpoint}",
                      error)
        self.assertIn("instance profile", hint_of(error) or "", error)
        run_id = int(c.value("SELECT cdw_backup_run(target => 'gone', databases => '{src}', "
                             "wait => true)"))
        run = json.loads(c.value(f"SELECT to_json(r) FROM cdw_backup.runs r WHERE run_id = {run_id}"))
        self.assertEqual(run["status"], "failed", run)
        self.assertIn("could not get credentials from EC2 instance metadata", run["error"], run)
        self.assertIn("instance profile", run["hint"] or "", run)
        self.assert_secrets_nowhere(gone.issued)

    def test_4_who_may_use_the_servers_credentials(self):
        c, port = self.cluster, self.moto.port
        c.sql("CREATE ROLE ops LOGIN IN ROLE cdw_backup_operator; GRANT ALL ON DATABASE fdwdb "
              "TO ops")
        c.sql("GRANT USAGE ON FOREIGN DATA WRAPPER cdw_backup_fdw TO ops", db="fdwdb")
        add = (f"SELECT cdw_backup_add_target('ops_env', 's3://{BUCKET}/ops', "
               "options => '{\"credentials\": \"env\"}')")
        error = c.sql_error(add, user="ops")
        self.assertEqual(sqlstate_of(error), "42501", error)
        self.assertIn("GRANT pg_read_server_files TO ops", hint_of(error) or "", error)
        error = c.sql_error(
            "CREATE SERVER ops_imds FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS ("
            f"location 's3://{BUCKET}/ops', credentials 'imds')", db="fdwdb", user="ops")
        self.assertEqual(sqlstate_of(error), "42501", error)
        # Secrets and a credential source do not mix; a source is spelled right.
        error = c.sql_error(f"SELECT cdw_backup_add_target('mixed', 's3://{BUCKET}/m', "
                            "secret_id => 'AKIAMIXED', secret_key => 'mixedsecretvalue', "
                            "options => '{\"credentials\": \"env\"}')")
        self.assertEqual(sqlstate_of(error), "22023", error)
        self.assertNotIn("mixedsecretvalue", error)
        error = c.sql_error(f"SELECT cdw_backup_add_target('typo', 's3://{BUCKET}/m', "
                            "options => '{\"credentials\": \"imsd\"}')")
        self.assertEqual(sqlstate_of(error), "HV024", error)
        self.assertIn("'imds'", hint_of(error) or "", error)
        c.sql("GRANT pg_read_server_files TO ops")
        c.sql(add, user="ops")


class EnvCredentialsTest(CredentialsCase):
    """The postmaster's environment holds temporary credentials (an assumed role:
    moto checks AWS_SESSION_TOKEN too); the launcher's scheduled run uses them."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer([BUCKET]).start()
        try:
            admin_id, admin_secret = cls.moto.keys["admin"]
            iam = make_client(cls.moto.endpoint, admin_id, admin_secret, service="iam")
            sts = make_client(cls.moto.endpoint, admin_id, admin_secret, service="sts")
            arn = iam.create_role(RoleName="cdw-env",
                                  AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))["Role"]["Arn"]
            iam.put_role_policy(RoleName="cdw-env", PolicyName="s3",
                                PolicyDocument=json.dumps(S3_POLICY))
            creds = sts.assume_role(RoleArn=arn, RoleSessionName="env")["Credentials"]
            cls.env_set = {"key_id": creds["AccessKeyId"], "secret": creds["SecretAccessKey"],
                           "token": creds["SessionToken"]}
            saved = {k: os.environ.get(k) for k in
                     ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
            os.environ.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                              AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                              AWS_SESSION_TOKEN=creds["SessionToken"])
            try:
                super().setUpClass()  # pg_ctl start: the postmaster inherits them
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            c = cls.cluster
            c.sql("CREATE EXTENSION cdw_backup")
            c.sql("CREATE DATABASE src")
            c.sql("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v "
                  "FROM generate_series(1, 1000) g", db="src")
            options = {"endpoint": f"http://127.0.0.1:{cls.moto.port}", "credentials": "env"}
            c.sql(f"SELECT cdw_backup_add_target('env', 's3://{BUCKET}/env', "
                  f"options => {literal(json.dumps(options))})")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "cluster"):
            super().tearDownClass()
        cls.moto.close()

    def test_scheduled_run_uses_the_postmasters_environment(self):
        c = self.cluster
        c.sql("SELECT cdw_backup_schedule('nightly', '0 3 * * *', target => 'env', "
              "databases => '{src}')")
        seconds = int(c.value("SELECT ceil(extract(epoch FROM next_run_at - now()))::bigint + 2 "
                              "FROM cdw_backup.schedules WHERE name = 'nightly'"))
        c.sql(f"ALTER SYSTEM SET cdw_backup.test_time_offset = {seconds}")
        c.sql("SELECT pg_reload_conf()")
        run_id = wait_until(lambda: c.value("SELECT last_run_id FROM cdw_backup.schedules "
                                            "WHERE name = 'nightly'"), timeout=60,
                            what="the scheduled run")
        status = c.value(f"SELECT cdw_backup_wait({run_id}, '60 s')")
        run = json.loads(c.value(f"SELECT to_json(r) FROM cdw_backup.runs r WHERE run_id = {run_id}"))
        self.assertEqual(status, "succeeded", run)
        self.assertEqual(run["schedule_name"], "nightly")
        keys = self.moto.list_keys(BUCKET, "env/")
        self.assertTrue(any(k.endswith("src/manifest.json") for k in keys), keys)
        objects = [self.moto.get(BUCKET, k) for k in keys]
        self.assert_secrets_nowhere([self.env_set], objects)


if __name__ == "__main__":
    unittest.main()
