"""TLS and network options of s3:// targets, against Ceph RGW on https.

RGW serves https with a certificate of a CA made with openssl for this run
(s3_server.make_test_ca). The cluster's postmaster runs with
http_proxy/https_proxy pointing at a recording proxy and no_proxy=127.0.0.1,
so "localhost" endpoints go through the environment's proxy and 127.0.0.1
ones do not, unless an option says otherwise.

    test_ca_file_verifies_the_server      ca_file: writes and reads back over https
    test_ca_path_verifies_the_server      ca_path (a directory after openssl rehash)
    test_without_ca_the_tls_error_names_the_options
                                          no CA, or another CA: a TLS error (08006)
                                          whose hint names ca_file / ca_path / tls_verify
    test_tls_verify_false_works_and_warns tls_verify false: works, WARNING when the server
                                          or target is added and when it is used
    test_proxy_option_is_used             proxy: every request goes through it (CONNECT
                                          for https, absolute URIs for http), no_proxy ignored
    test_environment_proxy_is_honoured    no option: the postmaster's http_proxy is used;
                                          proxy 'none' bypasses it
    test_request_timeout_fires_against_a_silent_server
                                          a server that accepts and never answers: the
                                          statement fails within the bound, saying timed out
    test_connect_timeout_fires            a connect that never completes
    test_bad_values_are_refused_with_hints
Secrets never appear in an error.
"""
import os
import select
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from harness import Cluster, hint_of, quote_literal as literal, sqlstate_of
from s3_server import RGWServer, make_test_ca

BUCKET = "cdw-net"
ROWS = 200


class RecordingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that records what it is asked: CONNECT
    tunnels (https) and absolute-URI requests (http), forwarded upstream."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.seen = []  # request lines, e.g. "CONNECT 127.0.0.1:443" or "PUT http://..."
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def record(self, line):
        with self.lock:
            self.seen.append(line)

    def lines(self):
        with self.lock:
            return list(self.seen)


def read_head(reader):
    """Request line and header lines up to the blank line; None at EOF."""
    line = reader.readline()
    if not line:
        return None
    head = [line]
    while True:
        header = reader.readline()
        if not header:
            return None
        head.append(header)
        if header in (b"\r\n", b"\n"):
            return head


def pipe(a, b):
    """Copies bytes both ways until either side closes."""
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return


class ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        head = read_head(self.rfile)
        if head is None:
            return
        method, target, _ = head[0].decode("latin-1").split(" ", 2)
        self.server.record(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            pipe(self.connection, upstream)
            upstream.close()
            return
        # Forward proxying: absolute URIs, rewritten to origin form upstream;
        # each request of the kept-alive connection is recorded.
        assert target.startswith("http://"), target
        hostport = target[len("http://"):].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        back = threading.Thread(target=self.copy_back, args=(upstream,), daemon=True)
        back.start()
        try:
            while head is not None:
                method, target, version = head[0].decode("latin-1").split(" ", 2)
                path = "/" + target[len("http://"):].split("/", 1)[1] if target.startswith(
                    "http://") else target
                length = 0
                for header in head[1:]:
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                upstream.sendall(f"{method} {path} {version}".encode("latin-1") +
                                 b"".join(h for h in head[1:]
                                          if not h.lower().startswith(b"proxy-")))
                while length > 0:
                    chunk = self.rfile.read(min(length, 65536))
                    if not chunk:
                        return
                    upstream.sendall(chunk)
                    length -= len(chunk)
                head = read_head(self.rfile)
                if head is not None:
                    self.server.record(" ".join(head[0].decode("latin-1").split(" ")[:2]))
        finally:
            try:
                upstream.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            back.join(timeout=30)
            upstream.close()

    def copy_back(self, upstream):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    return
                self.connection.sendall(data)
        except OSError:
            return


class NetworkOptionsTest(unittest.TestCase):
    settings = {"log_min_messages": "warning"}

    @classmethod
    def setUpClass(cls):
        cls.rgw = RGWServer([BUCKET], tls=True).start()
        cls.env_proxy = RecordingProxy()
        cls.option_proxy = RecordingProxy()
        saved = {k: os.environ.get(k) for k in ("http_proxy", "https_proxy", "no_proxy")}
        os.environ.update(http_proxy=cls.env_proxy.url, https_proxy=cls.env_proxy.url,
                          no_proxy="127.0.0.1")
        try:
            cls.cluster = Cluster(settings=cls.settings)
        except BaseException:
            cls.rgw.close()
            raise
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        cls.writer_id, cls.writer_secret = cls.rgw.keys["writer"]
        cls.cluster.sql(f"""
            CREATE EXTENSION cdw_backup_fdw;
            CREATE TABLE source AS SELECT g AS id, md5(g::text) AS v
              FROM generate_series(1, {ROWS}) g;""")
        cls.servers = 0

    @classmethod
    def tearDownClass(cls):
        cls.cluster.destroy()
        cls.rgw.close()
        cls.env_proxy.shutdown()
        cls.option_proxy.shutdown()

    # -- helpers ---------------------------------------------------------------

    def server(self, endpoint, **options):
        """A cdw_backup_fdw server (and its table ext_<name>) on endpoint with options;
        returns (name, the verbose psql output of creating it)."""
        type(self).servers += 1
        name = f"net{self.servers}"
        opts = {"location": f"s3://{BUCKET}/{name}", "endpoint": endpoint,
                "retry_max_attempts": "2", "retry_max_seconds": "10", **options}
        opts_sql = ", ".join(f"{k} {literal(v)}" for k, v in opts.items())
        proc = subprocess.run(
            self.cluster.psql_args("postgres", "postgres") + ["-v", "VERBOSITY=verbose"],
            input=f"""
                CREATE SERVER {name} FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS ({opts_sql});
                CREATE USER MAPPING FOR CURRENT_USER SERVER {name} OPTIONS (
                  secret_id {literal(self.writer_id)}, secret_key {literal(self.writer_secret)});
                CREATE FOREIGN TABLE ext_{name} (id int, v text) SERVER {name}
                  OPTIONS (path 't/');""", capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return name, proc.stderr

    def round_trip(self, name):
        """INSERT then SELECT through the server; returns psql's stderr (warnings)."""
        proc = subprocess.run(
            self.cluster.psql_args("postgres", "postgres") + ["-v", "VERBOSITY=verbose"],
            input=f"INSERT INTO ext_{name} SELECT * FROM source;\n"
                  f"SELECT count(*), count(DISTINCT id) FROM ext_{name};",
            capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), f"{ROWS}|{ROWS}")
        self.assertEqual(len(self.rgw.list_keys(BUCKET, f"{name}/t/")), 1)
        return proc.stderr

    def failing_insert(self, name):
        started = time.monotonic()
        error = self.cluster.sql_error(f"INSERT INTO ext_{name} SELECT * FROM source")
        self.assert_no_secret(error)
        return error, time.monotonic() - started

    def assert_no_secret(self, text):
        self.assertNotIn(self.writer_secret, text)
        self.assertNotIn(self.writer_id, text)

    # -- TLS -------------------------------------------------------------------

    def test_ca_file_verifies_the_server(self):
        name, _ = self.server(self.rgw.https_endpoint, ca_file=self.rgw.ca_file)
        stderr = self.round_trip(name)
        self.assertNotIn("WARNING", stderr)

    def test_ca_path_verifies_the_server(self):
        directory = tempfile.mkdtemp(prefix="cdw_ca_path_")
        os.chmod(directory, 0o755)
        with open(self.rgw.ca_file, "rb") as src, open(os.path.join(directory, "ca.pem"),
                                                       "wb") as dst:
            dst.write(src.read())
        os.chmod(os.path.join(directory, "ca.pem"), 0o644)
        subprocess.run(["openssl", "rehash", directory], check=True, capture_output=True)
        name, _ = self.server(self.rgw.https_endpoint, ca_path=directory)
        self.round_trip(name)

    def test_without_ca_the_tls_error_names_the_options(self):
        name, _ = self.server(self.rgw.https_endpoint)
        error, _ = self.failing_insert(name)
        self.assertEqual(sqlstate_of(error), "08006", error)
        self.assertIn("the server's TLS certificate could not be verified", error)
        hint = hint_of(error)
        for option in ("ca_file", "ca_path", "tls_verify"):
            self.assertIn(option, hint)
        # Another CA (not the one that signed the certificate): same failure,
        # and the hint says what to check in the options that are set.
        other = make_test_ca(tempfile.mkdtemp(prefix="cdw_other_ca_"))
        os.chmod(os.path.dirname(other["ca_file"]), 0o755)
        name, _ = self.server(self.rgw.https_endpoint, ca_file=other["ca_file"])
        error, _ = self.failing_insert(name)
        self.assertIn("the server's TLS certificate could not be verified", error)
        self.assertIn("ca_file/ca_path hold the CA", hint_of(error))

    def test_tls_verify_false_works_and_warns(self):
        name, created = self.server(self.rgw.https_endpoint, tls_verify="false")
        self.assertIn("WARNING:  01000: TLS certificate verification is off for this "
                      "cdw_backup_fdw server", created)
        used = self.round_trip(name)
        self.assertIn(f'TLS certificate verification is off for "s3://{BUCKET}/{name}"', used)
        self.assertRegex(used, r"HINT:  Set the option ca_file")
        # A target: warned when added.
        added = subprocess.run(
            self.cluster.psql_args("postgres", "postgres"), capture_output=True, text=True,
            input="CREATE EXTENSION IF NOT EXISTS cdw_backup;\n"
                  f"SELECT cdw_backup_add_target('noverify', 's3://{BUCKET}/noverify', "
                  f"secret_id => {literal(self.writer_id)}, "
                  f"secret_key => {literal(self.writer_secret)}, options => "
                  f"'{{\"endpoint\": \"{self.rgw.https_endpoint}\", \"tls_verify\": false}}');")
        self.assertEqual(added.returncode, 0, added.stderr)
        self.assertIn('TLS certificate verification is off for target "noverify"', added.stderr)
        self.assert_no_secret(added.stderr)
        # Verification on (the default) over plain http: nothing to warn about.
        name, created = self.server(self.rgw.endpoint, tls_verify="true")
        self.assertNotIn("WARNING", created)

    # -- proxies ---------------------------------------------------------------

    def test_proxy_option_is_used(self):
        for endpoint, expected in (
                (self.rgw.https_endpoint, f"CONNECT 127.0.0.1:{self.rgw.https_port}"),
                (self.rgw.endpoint, f"PUT http://127.0.0.1:{self.rgw.port}/{BUCKET}/")):
            with self.subTest(endpoint=endpoint):
                before = len(self.option_proxy.lines())
                env_before = len(self.env_proxy.lines())
                name, _ = self.server(endpoint, ca_file=self.rgw.ca_file,
                                      proxy=self.option_proxy.url)
                self.round_trip(name)
                seen = self.option_proxy.lines()[before:]
                self.assertTrue(any(line.startswith(expected) for line in seen), seen)
                if endpoint == self.rgw.endpoint:
                    # Every request of the INSERT and the SELECT went through it.
                    self.assertTrue(any(line.startswith("GET ") for line in seen), seen)
                # 127.0.0.1 is in no_proxy and the env proxy saw nothing: the
                # option, not the environment, routed these requests.
                self.assertEqual(self.env_proxy.lines()[env_before:], [])

    def test_environment_proxy_is_honoured(self):
        endpoint = f"http://localhost:{self.rgw.port}"
        before = len(self.env_proxy.lines())
        name, _ = self.server(endpoint)
        self.round_trip(name)
        seen = self.env_proxy.lines()[before:]
        self.assertTrue(any(line.startswith(f"PUT {endpoint}/{BUCKET}/") for line in seen), seen)
        # proxy 'none': straight to the server although http_proxy is set.
        before = len(self.env_proxy.lines())
        name, _ = self.server(endpoint, proxy="none")
        self.round_trip(name)
        self.assertEqual(self.env_proxy.lines()[before:], [])

    # -- timeouts --------------------------------------------------------------

    def test_request_timeout_fires_against_a_silent_server(self):
        # The kernel accepts connections on a listening socket nobody serves.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        self.addCleanup(silent.close)
        port = silent.getsockname()[1]
        name, _ = self.server(f"http://127.0.0.1:{port}", request_timeout="1s")
        error, elapsed = self.failing_insert(name)
        self.assertEqual(sqlstate_of(error), "08006", error)
        self.assertIn(f"connection to object storage at 127.0.0.1:{port} timed out", error)
        self.assertIn("1 s (option request_timeout)", hint_of(error))
        # Two attempts of 1 s and a backoff; without the option a stalled
        # request lasts 60 s (the low-speed limit).
        self.assertLess(elapsed, 10, f"the INSERT took {elapsed:.1f} s to fail")

    def test_connect_timeout_fires(self):
        # A listening socket whose accept queue is full: further connects
        # get no answer to their SYN and hang until connect_timeout.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        self.addCleanup(full.close)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        self.addCleanup(lambda: [s.close() for s in fillers])
        name, _ = self.server(f"http://127.0.0.1:{port}", connect_timeout="500ms",
                              retry_max_attempts="1")
        error, elapsed = self.failing_insert(name)
        self.assertIn(f"connection to object storage at 127.0.0.1:{port} timed out", error)
        self.assertIn("500 ms (option connect_timeout)", hint_of(error))
        self.assertLess(elapsed, 5, f"the INSERT took {elapsed:.1f} s to fail")

    # -- validation ------------------------------------------------------------

    def test_bad_values_are_refused_with_hints(self):
        secret = "Pr0xyPass" + uuid.uuid4().hex
        cases = [
            ("ca_file", "relative/ca.pem", "The path must be absolute."),
            ("ca_file", "/nonexistent/ca.pem", "No such file or directory"),
            ("ca_path", self.rgw.ca_file, "Not a directory"),
            ("tls_verify", "maybe", "Use true or false."),
            ("proxy", "socks://127.0.0.1:1080", "Use 'http://proxy.example.com:3128'"),
            ("proxy", f"http://user:{secret}@127.0.0.1:3128", "https_proxy environment"),
            ("connect_timeout", "soon", "Use seconds or an interval"),
            ("connect_timeout", "0", "between 100 milliseconds and 1 hour"),
            ("request_timeout", "2 days", "Use seconds or an interval"),
            ("request_timeout", "25h", "between 100 milliseconds and 24 hours"),
        ]
        for option, value, expected in cases:
            with self.subTest(option=option, value=value):
                error = self.cluster.sql_error(
                    f"CREATE SERVER bad FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS ("
                    f"location 's3://{BUCKET}/bad', {option} {literal(value)})")
                self.assertIn(expected, error)
                self.assertEqual(sqlstate_of(error), "HV024", error)
                self.assertNotIn(secret, error)
        # Intervals and seconds are accepted.
        for value in ("30", "2.5", "30s", "500ms", "2min", "1 minute", "1h"):
            self.cluster.sql(f"CREATE SERVER ok FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS ("
                             f"location 's3://{BUCKET}/ok', request_timeout {literal(value)}); "
                             f"DROP SERVER ok")


if __name__ == "__main__":
    unittest.main(verbosity=2)
