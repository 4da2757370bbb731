"""A fake instance metadata service for the credential tests, backed by moto.

Speaks both shapes cdw_backup reads (core/s3/credential_provider.cpp):

  imds  EC2 IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds)
        returns a token; GET /latest/meta-data/iam/security-credentials/[<role>]
        needs it (X-aws-ec2-metadata-token), else 401 as the real IMDSv2.
  cvm   Tencent CVM: GET /latest/meta-data/cam/security-credentials/[<role>] returning
        TmpSecretId, TmpSecretKey, Token, ExpiredTime, Expiration.

The credentials are real temporary credentials of the moto server: for each
set, an IAM role with full S3 access is created and assumed with STS
(AccessKeyId ASIA..., a session token moto checks on every request). A set
lives `lifetime` seconds; a request made when the current set is older than
half its lifetime gets a new set (as AWS makes new credentials available well
before the old ones expire), and each set is revoked when it expires (its
role's policy is deleted, so moto refuses it with AccessDenied): credentials
that are not renewed in time really fail.

Secrets handed out are kept in `issued` so tests can check they appear
nowhere. Every request is recorded in `requests` (method, path, whether a
valid token came with it).
"""
import http.server
import json
import secrets
import threading
import time
from datetime import datetime, timezone

from s3_server import make_client

S3_POLICY = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
# Stands for EC2 / CVM assuming the instance's role; here the admin user
# does (moto checks the trust policy's AWS principal).
TRUST_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                               "Action": "sts:AssumeRole"}]}


def iso8601(unix_seconds):
    return datetime.fromtimestamp(unix_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataServer:
    def __init__(self, moto, shape, lifetime, role="cdw-instance-role"):
        assert shape in ("imds", "cvm")
        self.moto, self.shape, self.lifetime, self.role = moto, shape, lifetime, role
        admin_id, admin_secret = moto.keys["admin"]
        self.iam = make_client(moto.endpoint, admin_id, admin_secret, service="iam")
        self.sts = make_client(moto.endpoint, admin_id, admin_secret, service="sts")
        self.lock = threading.Lock()
        self.requests = []        # (method, path, token_ok)
        self.issued = []          # every set handed out: dict(key_id, secret, token, expires)
        self.revoked = []         # role names whose policy was deleted
        self.tokens = set()       # IMDSv2 session tokens handed out
        self.current = None       # (set, issued_at, role name)
        self.timers = []
        self.generation = 0
        self.instance = secrets.token_hex(4)  # role names unique among servers on one moto
        self.documents = []       # key ids of the credential documents served, in order
        self.httpd = None
        self.thread = None
        self.port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    # -- credentials ----------------------------------------------------------

    def _new_set(self):
        self.generation += 1
        role_name = f"{self.role}-{self.shape}-{self.instance}-{self.generation}"
        arn = self.iam.create_role(RoleName=role_name,
                                   AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))["Role"]["Arn"]
        self.iam.put_role_policy(RoleName=role_name, PolicyName="s3",
                                 PolicyDocument=json.dumps(S3_POLICY))
        creds = self.sts.assume_role(RoleArn=arn, RoleSessionName=f"cdw-{self.generation}",
                                     DurationSeconds=900)["Credentials"]
        issued_at = time.time()
        entry = {"key_id": creds["AccessKeyId"], "secret": creds["SecretAccessKey"],
                 "token": creds["SessionToken"], "expires": int(issued_at + self.lifetime),
                 "role": role_name}
        self.issued.append(entry)
        timer = threading.Timer(max(0.0, entry["expires"] - time.time()), self._revoke,
                                args=(role_name,))
        timer.daemon = True
        timer.start()
        self.timers.append(timer)
        self.current = (entry, issued_at)
        return entry

    def _revoke(self, role_name):
        try:
            self.iam.delete_role_policy(RoleName=role_name, PolicyName="s3")
        except Exception:  # the moto server may be gone at tear-down
            return
        with self.lock:
            self.revoked.append(role_name)

    def credentials(self):
        """The set to hand out now (a new one when the current is half-way through)."""
        with self.lock:
            if self.current is None or time.time() - self.current[1] >= self.lifetime / 2:
                return self._new_set()
            return self.current[0]

    def stale_set_refused(self, entry):
        """True when moto refuses a revoked set (checked with boto3)."""
        client = make_client(self.moto.endpoint, entry["key_id"], entry["secret"])
        client.meta.events.register(
            "before-sign.s3.*",
            lambda request, **kw: request.headers.__setitem__("X-Amz-Security-Token",
                                                              entry["token"]))
        try:
            client.list_buckets()
            return False
        except Exception as e:  # botocore ClientError
            return "AccessDenied" in str(e)

    def served_key_ids(self):
        """The access key ids of the credential documents served, in order."""
        with self.lock:
            return list(self.documents)

    # -- HTTP -----------------------------------------------------------------

    def _handle(self, handler):
        path = handler.path
        token_ok = handler.headers.get("X-aws-ec2-metadata-token") in self.tokens
        with self.lock:
            self.requests.append((handler.command, path, token_ok))
        if self.shape == "imds":
            if handler.command == "PUT" and path == "/latest/api/token":
                if not handler.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return 400, "text/plain", "missing TTL"
                token = secrets.token_urlsafe(24)
                with self.lock:
                    self.tokens.add(token)
                return 200, "text/plain", token
            base = "/latest/meta-data/iam/security-credentials/"
            if handler.command != "GET" or not path.startswith(base):
                return 404, "text/plain", "not found"
            if not token_ok:
                return 401, "text/plain", "unauthorized"
        else:
            base = "/latest/meta-data/cam/security-credentials/"
            if handler.command != "GET" or not path.startswith(base):
                return 404, "text/plain", "not found"
        role = path[len(base):]
        if role == "":
            return 200, "text/plain", self.role
        if role != self.role:
            return 404, "text/plain", "not found"
        entry = self.credentials()
        with self.lock:
            self.documents.append(entry["key_id"])
        if self.shape == "imds":
            doc = {"Code": "Success", "LastUpdated": iso8601(time.time()), "Type": "AWS-HMAC",
                   "AccessKeyId": entry["key_id"], "SecretAccessKey": entry["secret"],
                   "Token": entry["token"], "Expiration": iso8601(entry["expires"])}
        else:
            doc = {"TmpSecretId": entry["key_id"], "TmpSecretKey": entry["secret"],
                   "Token": entry["token"], "ExpiredTime": entry["expires"],
                   "Expiration": iso8601(entry["expires"]), "Code": "Success"}
        return 200, "application/json", json.dumps(doc)

    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, content_type, body = server._handle(self)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _reply

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """The metadata service goes away: the port stops answering."""
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def close(self):
        self.stop()
        for timer in self.timers:
            timer.cancel()
