"""A real S3 server for the integration tests: moto, with signatures verified.

MotoServer starts tests/unit/data/moto_server_raw_uri.py (moto_server whose
SigV4 check uses the raw request line; see that file for why) on a free port
of 127.0.0.1 with INITIAL_NO_AUTH_ACTION_COUNT set to exactly the number of
set-up calls: an IAM user with full S3 access, one that may only read, their
access keys and the buckets. Every request after that must be signed with one
of those keys, so a wrong secret is refused as real S3 refuses it.

Readiness is polled (GET /moto-api/), never waited for with a fixed sleep.
moto keeps its state in memory: kill() loses every bucket and key, and
start() on the same port needs set-up again (new keys).
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

from harness import SOURCE_DIR, free_port, wait_until

LAUNCHER = os.path.join(SOURCE_DIR, "tests", "unit", "data", "moto_server_raw_uri.py")

WRITE_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
READ_POLICY = {"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                              "Resource": "*"}]}
USERS = (("writer", WRITE_POLICY), ("reader", READ_POLICY))
IAM_CALLS_PER_USER = 3  # create_user, put_user_policy, create_access_key


def make_client(endpoint, key_id, secret, service="s3", region="us-east-1"):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1},
                                      s3={"addressing_style": "path"}))


class MotoServer:
    """One moto server process; `keys` maps "writer"/"reader" to (id, secret)."""

    def __init__(self, buckets, port=None):
        self.buckets = list(buckets)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="cdw_moto_")
        self.log_path = os.path.join(self.dir, "moto.log")
        self.proc = None
        self.keys = {}
        self._log = None

    # -- process ------------------------------------------------------------

    def start(self, timeout=60):
        """Starts moto on self.port, waits until it answers, sets it up."""
        assert self.proc is None, "already running"
        env = dict(os.environ)
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.setup_calls())
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["python3", LAUNCHER, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"moto exited during start-up ({self.proc.returncode}); "
                                     f"see {self.log_path}:\n{self.log()[-3000:]}")
            return self.answers()
        wait_until(ready, timeout=timeout, what=f"moto on port {self.port}")
        self.setup()
        return self

    def answers(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def kill(self):
        """SIGKILL, as a crash: every connection drops, all state is lost."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None
        self._log.close()

    def pause(self):
        """SIGSTOP: connections are still accepted by the kernel, never answered."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
        self._log.close()

    def close(self):
        """stop() and remove the log (kept with CDW_KEEP_CLUSTER)."""
        self.stop()
        if not os.environ.get("CDW_KEEP_CLUSTER"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    # -- set-up -------------------------------------------------------------

    def setup_calls(self):
        return IAM_CALLS_PER_USER * len(USERS) + len(self.buckets)

    def setup(self):
        """Exactly setup_calls() unsigned calls, then proves signatures are checked."""
        iam = make_client(self.endpoint, "setup", "setup", service="iam")
        s3 = make_client(self.endpoint, "setup", "setup")
        self.keys = {}
        for user, policy in USERS:
            iam.create_user(UserName=f"cdw-{user}")
            iam.put_user_policy(UserName=f"cdw-{user}", PolicyName="s3",
                                PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=f"cdw-{user}")["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        for bucket in self.buckets:
            s3.create_bucket(Bucket=bucket)
        key_id, secret = self.keys["writer"]
        try:
            make_client(self.endpoint, key_id, secret + "x").list_objects_v2(
                Bucket=self.buckets[0])
            raise AssertionError("moto accepted a wrong secret: signature checking is off")
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
                raise
        self.client().list_objects_v2(Bucket=self.buckets[0])

    # -- independent reader (boto3, writer's key) ---------------------------

    def client(self, user="writer"):
        key_id, secret = self.keys[user]
        return make_client(self.endpoint, key_id, secret)

    def list_keys(self, bucket, prefix=""):
        """{key: size} of every object under prefix (paginated)."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
        return found

    def uploads(self, bucket, prefix=""):
        """In-progress multipart uploads under prefix: [(key, upload id)]."""
        reply = self.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        return [(u["Key"], u["UploadId"]) for u in reply.get("Uploads", [])]

    def uploaded_parts(self, bucket, key, upload_id):
        reply = self.client().list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        return reply.get("Parts", [])

    def get(self, bucket, key):
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def head(self, bucket, key):
        return self.client().head_object(Bucket=bucket, Key=key)

    def put(self, bucket, key, body):
        self.client().put_object(Bucket=bucket, Key=key, Body=body)

    def delete_prefix(self, bucket, prefix):
        for key in self.list_keys(bucket, prefix):
            self.client().delete_object(Bucket=bucket, Key=key)
