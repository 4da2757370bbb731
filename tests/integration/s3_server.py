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
import secrets
import shutil
import signal
import subprocess
import tempfile
import urllib.request
import uuid

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
# "admin" runs the fake metadata service (metadata_server.py): it creates
# roles and assumes them with STS.
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
USERS = (("writer", WRITE_POLICY), ("reader", READ_POLICY))
MOTO_USERS = USERS + (("admin", ADMIN_POLICY),)
IAM_CALLS_PER_USER = 3  # create_user, put_user_policy, create_access_key


def make_client(endpoint, key_id, secret, service="s3", region="us-east-1"):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1},
                                      s3={"addressing_style": "path"}))


class S3Reader:
    """What every test server offers: boto3 clients with the set-up keys.

    Subclasses set `endpoint` and `keys` ("writer"/"reader" -> (id, secret))."""

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


class MotoServer(S3Reader):
    """One moto server process; `keys` maps "writer"/"reader" to (id, secret)."""
    name = "moto"

    records_checksums = True  # checks x-amz-checksum-crc32 and keeps the composite

    def __init__(self, buckets, port=None, dns_name=None):
        """`dns_name` is accepted for RGWServer's sake: moto takes any
        <bucket>.<domain> Host as virtual-hosted."""
        del dns_name
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

    def spare(self):
        """Another, unstarted server for one test to stall or kill: for moto a
        new process on its own port (same buckets, new keys)."""
        return MotoServer(self.buckets)

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
        return IAM_CALLS_PER_USER * len(MOTO_USERS) + len(self.buckets)

    def setup(self):
        """Exactly setup_calls() unsigned calls, then proves signatures are checked."""
        iam = make_client(self.endpoint, "setup", "setup", service="iam")
        s3 = make_client(self.endpoint, "setup", "setup")
        self.keys = {}
        for user, policy in MOTO_USERS:
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


# ---------------------------------------------------------------------------
# Ceph RADOS Gateway: a second, production S3 implementation
# ---------------------------------------------------------------------------

CEPH_CONF = """\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
paxos propose interval = 0.05
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
run dir = {dir}/run
crash dir = {dir}/crash
admin socket = {dir}/run/$name.asok
pid file = {dir}/run/$name.pid
log file = {dir}/log/$name.log
mon cluster log file = {dir}/log/cluster.log
mon data = {dir}/mon/$cluster-$id
osd data = {dir}/osd/$cluster-$id
keyring = {dir}/keyring

[client]
ms mon client mode = crc
# radosgw-admin runs beside radosgw: no admin socket of its own (each
# radosgw gets one on its command line).
admin socket =
rgw data = {dir}/rgw
{dns_name}# SSE-C and SSE-KMS without TLS on loopback, with the "testing" KMS backend
# (static keys below): as a store that has them configured would answer.
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = {kms_keys}
"""

KMS_TEST_KEYS = {  # key id -> 256-bit key (base64), for the "testing" KMS backend
    "cdw-test-key-1": "a2V5LW9uZS1mb3ItY2R3LWJhY2t1cC10ZXN0cy0zMiE=",
    "cdw-test-key-2": "a2V5LXR3by1mb3ItY2R3LWJhY2t1cC10ZXN0cy0zMiE=",
}


def make_test_ca(directory, names=("127.0.0.1", "localhost")):
    """A throwaway CA and a server certificate it signed for `names` (openssl).

    Returns {"ca_file", "cert_file", "key_file"}; every file readable by the
    server user (PostgreSQL reads ca_file)."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    ca_key, ca_crt = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt")
    key, csr, crt = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.crt"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *cmd: subprocess.run(["openssl", *cmd], check=True, capture_output=True)
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "2",
        "-subj", "/CN=cdw_backup test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={names[0]}")
    alt = ",".join(("IP:" if n[0].isdigit() else "DNS:") + n for n in names)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={alt}\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    for name in (ca_crt, crt):
        os.chmod(name, 0o644)
    return {"ca_file": ca_crt, "cert_file": crt, "key_file": key}


def _tcp_accepts(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class RGWServer(S3Reader):
    """A throwaway single-node Ceph cluster (one ceph-mon, one memstore
    ceph-osd) with one radosgw on 127.0.0.1, same interface as MotoServer.

    Everything lives in one temporary directory; ports are free ports; every
    step waits on a condition (port open, HTTP answer), never a fixed sleep.
    The "writer" user owns the buckets; the "reader" user may only read them
    (bucket policy). With tls=True radosgw also serves https on https_port
    with a certificate of a CA made at start (ca_file).

    kill()/pause() act on radosgw only: the objects live in the OSD, so after
    kill() + start() buckets, keys and objects are still there (unlike moto).
    stop() stops radosgw, then the OSD, then the monitor."""
    name = "rgw"

    # What the tests may check of the server's own records.
    records_checksums = False  # accepts x-amz-checksum-crc32 but neither checks nor keeps it

    def __init__(self, buckets, port=None, tls=False, dns_name=None, memstore_bytes=2 << 30):
        """`dns_name`: the domain of virtual-hosted requests (Host:
        <bucket>.<dns_name>), e.g. "cos.ap-guangzhou.myqcloud.com"."""
        self.buckets = list(buckets)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tls = tls
        self.https_port = free_port() if tls else None
        self.https_endpoint = f"https://127.0.0.1:{self.https_port}" if tls else None
        self.mon_port = free_port()
        self.memstore_bytes = memstore_bytes
        self.dns_name = dns_name
        self.frontends = None
        self.gateway_name = "client.rgw"
        self.spares = 0
        self.dir = tempfile.mkdtemp(prefix="cdw_rgw_")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.log_path = os.path.join(self.dir, "log", "client.rgw.log")
        self.ca_file = None
        self.kms_keys = dict(KMS_TEST_KEYS)
        self.keys = {user: ("CDW" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
                     for user, _ in USERS}
        self.procs = {}  # daemon name -> Popen
        self._made = False
        self._set_up = False

    # -- process ------------------------------------------------------------

    def start(self, timeout=60):
        """Brings up mon and OSD (first call), then radosgw, then the users
        and buckets (first call); returns once radosgw answers S3 requests."""
        assert "rgw" not in self.procs, "already running"
        if not self._made:
            self._make_cluster(timeout)
        elif "mon" not in self.procs:
            raise AssertionError("RGWServer was stopped; make a new one")
        self._daemon("rgw", self._radosgw_cmd(self.gateway_name, self.frontends))

        def ready():
            self._check_alive()
            return self.answers()
        wait_until(ready, timeout=timeout, what=f"radosgw on port {self.port}")
        if not self._set_up:
            self.setup()
        return self

    def _make_cluster(self, timeout):
        for sub in ("run", "log", "crash", "mon", "osd/ceph-0", "rgw"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        frontends = f"beast endpoint=127.0.0.1:{self.port}"
        if self.tls:
            tls = make_test_ca(os.path.join(self.dir, "tls"))
            self.ca_file = tls["ca_file"]
            frontends += (f" ssl_endpoint=127.0.0.1:{self.https_port}"
                          f" ssl_certificate={tls['cert_file']} ssl_private_key={tls['key_file']}")
        self.frontends = frontends
        fsid = str(uuid.uuid4())
        with open(self.conf, "w") as f:
            f.write(CEPH_CONF.format(
                fsid=fsid, mon_port=self.mon_port, dir=self.dir,
                dns_name=f"rgw dns name = {self.dns_name}\n" if self.dns_name else "",
                memstore_bytes=self.memstore_bytes,
                kms_keys=" ".join(f"{k}={v}" for k, v in self.kms_keys.items())))
        keyring, monmap = os.path.join(self.dir, "keyring"), os.path.join(self.dir, "monmap")
        self._tool(["ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.",
                    "--cap", "mon", "allow *"])
        self._tool(["monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]",
                    "--fsid", fsid, monmap])
        self._tool(["ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap])
        self._daemon("mon", ["ceph-mon", "-i", "a"])
        wait_until(lambda: self._check_alive() or _tcp_accepts(self.mon_port), timeout=timeout,
                   what=f"ceph-mon on port {self.mon_port}")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._tool(["ceph", "--connect-timeout", str(timeout), "osd", "new", osd_uuid])
        assert osd_id.strip() == "0", osd_id
        self._tool(["ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid])
        self._daemon("osd", ["ceph-osd", "-i", "0"])
        self._made = True

    def _radosgw_cmd(self, name, frontends):
        return ["radosgw", "-n", name, f"--rgw-frontends={frontends}",
                f"--admin-socket={self.dir}/run/{name}.asok"]

    def spare(self):
        """Another, unstarted gateway of the same kind for one test to stall or
        kill: a second radosgw on its own port over the same cluster (same
        users, buckets and objects); close() stops only it."""
        assert self._made, "start() first"
        self.spares += 1
        return RGWGateway(self, f"client.rgw.{self.spares}")

    def _tool(self, cmd):
        proc = subprocess.run(cmd + ["-c", self.conf], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc.stdout

    def _out_path(self, name):
        return os.path.join(self.dir, "log",
                            f"{self.gateway_name if name == 'rgw' else name}.out")

    def _daemon(self, name, cmd):
        out = open(self._out_path(name), "ab")
        try:
            self.procs[name] = subprocess.Popen(cmd + ["-f", "-c", self.conf], stdout=out,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True)
        finally:
            out.close()

    def _check_alive(self):
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = ""
                for path in (self._out_path(name), self.log_path):
                    if os.path.exists(path):
                        with open(path, errors="replace") as f:
                            tail += f.read()[-2000:]
                raise AssertionError(f"ceph daemon {name} exited ({proc.returncode}); "
                                     f"see {self.dir}/log:\n{tail}")
        return False

    def answers(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def _signal(self, name, sig):
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL radosgw, as a crash: every connection drops (the objects stay)."""
        proc = self.procs.pop("rgw", None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def pause(self):
        """SIGSTOP radosgw: connections are still accepted by the kernel, never answered."""
        self._signal("rgw", signal.SIGSTOP)

    def resume(self):
        self._signal("rgw", signal.SIGCONT)

    def stop(self):
        """radosgw, then the OSD, then the monitor (the order ceph needs)."""
        self.resume()
        for name in ("rgw", "osd", "mon"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                # radosgw takes ~5 s to drain on SIGTERM; nothing of it is kept.
                os.killpg(proc.pid, signal.SIGKILL if name == "rgw" else signal.SIGTERM)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def close(self):
        """stop() and remove the directory (kept with CDW_KEEP_CLUSTER)."""
        self.stop()
        if not os.environ.get("CDW_KEEP_CLUSTER"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        """radosgw's log: its access lines read like moto's ("PUT /b/k HTTP/1.1" 200)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- set-up -------------------------------------------------------------

    def setup(self):
        """The two users, the buckets (owned by the writer, readable by the
        reader), then proves signatures are checked."""
        for user, _ in USERS:
            key_id, secret = self.keys[user]
            self._tool(["radosgw-admin", "user", "create", f"--uid=cdw-{user}",
                        f"--display-name=cdw {user}", f"--access-key={key_id}",
                        f"--secret-key={secret}"])
        s3 = self.client()
        for bucket in self.buckets:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow",
                               "Principal": {"AWS": ["arn:aws:iam:::user/cdw-reader"]},
                               "Action": ["s3:GetObject", "s3:ListBucket"],
                               "Resource": [f"arn:aws:s3:::{bucket}",
                                            f"arn:aws:s3:::{bucket}/*"]}]}))
        key_id, secret = self.keys["writer"]
        try:
            make_client(self.endpoint, key_id, secret + "x").list_objects_v2(
                Bucket=self.buckets[0])
            raise AssertionError("radosgw accepted a wrong secret: signature checking is off")
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
                raise
        self.client("reader").list_objects_v2(Bucket=self.buckets[0])
        self._set_up = True

    def https_client(self, user="writer"):
        """A boto3 client on the https endpoint that trusts the test CA."""
        key_id, secret = self.keys[user]
        return boto3.client(
            "s3", endpoint_url=self.https_endpoint, region_name="us-east-1",
            aws_access_key_id=key_id, aws_secret_access_key=secret, verify=self.ca_file,
            config=botocore.config.Config(retries={"max_attempts": 1},
                                          s3={"addressing_style": "path"}))


class RGWGateway(RGWServer):
    """A further radosgw of an RGWServer's cluster (RGWServer.spare())."""

    def __init__(self, cluster, name):  # pylint: disable=super-init-not-called
        self.__dict__.update({k: v for k, v in cluster.__dict__.items()
                              if k in ("buckets", "dir", "conf", "keys", "kms_keys", "dns_name")})
        self.cluster = cluster
        self.gateway_name = name
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.frontends = f"beast endpoint=127.0.0.1:{self.port}"
        self.tls = False
        self.log_path = os.path.join(self.dir, "log", f"{name}.log")
        self.procs = {}
        self._made = True
        self._set_up = True

    def start(self, timeout=60):
        assert "rgw" not in self.procs, "already running"
        self._daemon("rgw", self._radosgw_cmd(self.gateway_name, self.frontends))
        wait_until(lambda: self._check_alive() or self.answers(), timeout=timeout,
                   what=f"radosgw {self.gateway_name} on port {self.port}")
        return self

    def stop(self):
        self.resume()
        self.kill()

    def close(self):
        self.stop()


SERVERS = {"moto": MotoServer, "rgw": RGWServer}


def server_kinds():
    """The S3 servers the suite runs against: CDW_S3_SERVERS (comma-separated
    names of SERVERS), by default all of them."""
    wanted = os.environ.get("CDW_S3_SERVERS", ",".join(SERVERS)).split(",")
    unknown = [w for w in wanted if w.strip() not in SERVERS]
    if unknown:
        raise AssertionError(f"CDW_S3_SERVERS names unknown servers {unknown}; "
                             f"known: {', '.join(SERVERS)}")
    return [w.strip() for w in wanted if w.strip()]


def per_server(namespace):
    """Class decorator: defines the decorated TestCase once per server of
    server_kinds() in `namespace` (the module's globals()), as NAME_moto,
    NAME_rgw, ... with `server_class` set; NAME itself is not run. Each
    class starts its server once (setUpClass)."""
    def define(cases):
        for kind in server_kinds():
            name = f"{cases.__name__}_{kind}"
            namespace[name] = type(name, (cases,), {
                "server_class": SERVERS[kind], "__module__": cases.__module__,
                "__qualname__": name})
        return None
    return define
