"""Test harness: throwaway PostgreSQL clusters run as an unprivileged user.

PostgreSQL refuses to run as root, so when the tests run as root every server
command goes through `runuser -u postgres`. Each cluster lives in its own
temporary directory, listens on a free port and on a private Unix socket.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

PG_BINDIR = os.environ.get("PG_BINDIR") or subprocess.check_output(
    ["pg_config", "--bindir"], text=True).strip()
SOURCE_DIR = os.environ.get("CDW_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_AS = "postgres" if os.geteuid() == 0 else None


def as_server_user(cmd):
    return ["runuser", "-u", RUN_AS, "--"] + cmd if RUN_AS else cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=60, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a true value; no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def make_shared_dir(prefix):
    """A temp directory the server user can write to (for file:// targets)."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o777)
    if RUN_AS:
        shutil.chown(path, RUN_AS)
    return path


def quote_ident(name):
    """An SQL identifier, always double-quoted (like format('%I') but unconditional)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    """An SQL string literal (standard_conforming_strings is on)."""
    return "'" + text.replace("'", "''") + "'"


def object_mac(key_hex, object_key, data):
    """The ".hmac" line cdw_backup writes for an object (core/manifest/authentication.h),
    computed independently: HMAC-SHA-256 over a label, the key relative to the target
    root and the object's bytes."""
    import hashlib
    import hmac
    key = bytes.fromhex(key_hex)
    message = b"cdw_backup object v1\0" + object_key.encode() + b"\0" + data
    key_id = hmac.new(key, b"cdw_backup key id", hashlib.sha256).hexdigest()[:16]
    mac = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"cdw_backup-hmac-sha256 v1 key={key_id} mac={mac}\n"


class PsqlError(Exception):
    def __init__(self, stderr):
        super().__init__(stderr)
        self.stderr = stderr


class Cluster:
    def __init__(self, preload=True, settings=None, nofile=None):
        """`nofile`: the open-files limit (RLIMIT_NOFILE) the server runs under."""
        self.nofile = nofile
        self.dir = make_shared_dir("cdw_cluster_")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.log = os.path.join(self.dir, "server.log")
        subprocess.run(as_server_user([f"{PG_BINDIR}/initdb", "-D", self.data, "-U", "postgres",
                                       "--auth=trust", "--no-sync", "-E", "UTF8",
                                       "--locale=C.UTF-8"]),
                       check=True, stdout=subprocess.DEVNULL)
        conf = {
            "port": self.port,
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.dir}'",
            "fsync": "off",
            "max_worker_processes": 16,
            # The default (warning) keeps ERROR lines and their STATEMENT in
            # the log; tests check that no secret ever appears there.
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] %b '",
        }
        if preload:
            conf["shared_preload_libraries"] = "'cdw_backup'"
        conf.update(settings or {})
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        self.start()

    def pg_ctl(self, *args, check=True):
        limit = ["prlimit", f"--nofile={self.nofile}:{self.nofile}"] if self.nofile else []
        return subprocess.run(as_server_user(limit + [f"{PG_BINDIR}/pg_ctl", "-D", self.data,
                                                      "-l", self.log, "-w", "-t", "120"]
                                             + list(args)),
                              check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        self.pg_ctl("start")

    def stop(self, mode="fast"):
        self.pg_ctl("stop", "-m", mode, check=False)

    def restart(self, mode="fast"):
        self.pg_ctl("restart", "-m", mode)

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql_args(self, db, user):
        return [f"{PG_BINDIR}/psql", "-h", self.dir, "-p", str(self.port), "-U", user, "-d", db,
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-A", "-t"]

    def sql(self, sql, db="postgres", user="postgres", check=True, verbose=False):
        """Runs SQL; returns stdout rows (unaligned, '|' separated). Raises PsqlError."""
        args = self.psql_args(db, user)
        if verbose:
            args += ["-v", "VERBOSITY=verbose"]
        proc = subprocess.run(args, input=sql, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise PsqlError(proc.stderr)
        return proc.stdout.strip()

    def sql_error(self, sql, db="postgres", user="postgres"):
        """Runs SQL that must fail; returns the verbose error text."""
        args = self.psql_args(db, user) + ["-v", "VERBOSITY=verbose"]
        proc = subprocess.run(args, input=sql, capture_output=True, text=True)
        if proc.returncode == 0:
            raise AssertionError(f"expected an error from: {sql}\nstdout: {proc.stdout}")
        return proc.stderr

    def rows(self, sql, db="postgres", user="postgres"):
        out = self.sql(sql, db, user)
        return [line.split("|") for line in out.splitlines()] if out else []

    def value(self, sql, db="postgres", user="postgres"):
        return self.sql(sql, db, user)

    def try_value(self, sql, db="postgres", user="postgres"):
        """Like value(), but None while the server is unreachable (crash, restart)."""
        args = self.psql_args(db, user)
        proc = subprocess.run(args, input=sql, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def databases(self):
        """Databases that accept connections (not templates)."""
        return self.sql("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                        "ORDER BY 1").splitlines()

    def server_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Session:
    """A psql session kept open (stdin a pipe): statements are sent one by
    one, to hold a lock or LISTEN while a test watches. `name` is its
    application_name (to find it in pg_stat_activity); `pid` its backend's.
    Errors do not end it (ON_ERROR_STOP off)."""

    def __init__(self, cluster, db="postgres", name=None):
        self.cluster, self.name = cluster, name
        env = dict(os.environ, PGAPPNAME=name) if name else None
        self.proc = subprocess.Popen(
            cluster.psql_args(db, "postgres") + ["-v", "ON_ERROR_STOP=0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1, env=env)
        self.send("SELECT pg_backend_pid();")
        self.pid = int(self.proc.stdout.readline().strip())

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()

    def ask(self, sql):
        """Sends `sql` and returns the next line of output (its one value)."""
        self.send(sql)
        return self.proc.stdout.readline().strip()

    def finish(self, sql="", timeout=60):
        """Sends the last statements, ends the session; returns (stdout, stderr)."""
        if self.proc.poll() is not None:
            return "", ""
        try:
            return self.proc.communicate(sql + "\n" if sql else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    close = finish

    def kill(self):
        if self.proc.returncode is None:
            self.proc.kill()
            self.proc.communicate()


class ClusterTestCase(unittest.TestCase):
    """One cluster per test class."""
    preload = True
    settings = None
    nofile = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(preload=cls.preload, settings=cls.settings, nofile=cls.nofile)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("CDW_KEEP_CLUSTER"):
            print(f"keeping cluster in {cls.cluster.dir}")
            cls.cluster.stop()
        else:
            cls.cluster.destroy()


def run_as_server_user(cmd, **kwargs):
    return subprocess.run(as_server_user(cmd), **kwargs)


# ---------------------------------------------------------------------------
# Helpers shared by the tests (one copy here, not one per test file)
# ---------------------------------------------------------------------------

def qualified(schema, table):
    """schema.table, both always double-quoted."""
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def url_to_path(url):
    assert url.startswith("file://"), url
    return url[len("file://"):]


def files_under(root):
    found = []
    for directory, _, names in os.walk(root):
        found.extend(os.path.join(directory, n) for n in names)
    return sorted(found)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sqlstate_of(error_text):
    """The SQLSTATE of a verbose psql error ("ERROR:  22023: ...")."""
    match = re.search(r"ERROR:\s+([0-9A-Z]{5}):", error_text)
    return match.group(1) if match else None


def hint_of(error_text):
    match = re.search(r"^HINT:\s+(.*)$", error_text, re.M)
    return match.group(1) if match else None


def json_rows(cluster, sql, db="postgres"):
    """Rows of a query as dicts (robust to '|' and newlines inside values)."""
    out = cluster.value(f"SELECT coalesce(json_agg(to_json(x)), '[]') FROM ({sql}) x", db=db)
    return json.loads(out)


def backup(cluster, databases, target=None, compression=None, incremental=True):
    """A waited-for run of `databases` (to `target`, with `compression`, when
    given) that must succeed; its run id. incremental=False: a full copy
    (every object its own)."""
    args = "databases => ARRAY[%s]" % ", ".join(quote_literal(d) for d in databases)
    if target is not None:
        args += f", target => {quote_literal(target)}"
    if compression is not None:
        args += f", compression => {quote_literal(compression)}"
    if not incremental:
        args += ", incremental => false"
    run_id = cluster.value(f"SELECT cdw_backup_run({args}, wait => true)")
    status = cluster.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}")
    if status != "succeeded":
        raise AssertionError(f"run {run_id} ended {status}: " + cluster.sql(
            f"SELECT * FROM cdw_backup.run_tables WHERE run_id = {run_id} AND status <> 'succeeded'"))
    return int(run_id)


def restore(cluster, run_id, database, table=None, **options):
    """Calls cdw_backup_restore in the home database; rows as dicts."""
    args = [str(run_id), quote_literal(database)]
    if table is not None:
        args.append(quote_literal(table))
    for key, value in options.items():
        if isinstance(value, bool):
            args.append(f"{key} => {'true' if value else 'false'}")
        else:
            args.append(f"{key} => {quote_literal(value)}")
    return json_rows(cluster, f"SELECT * FROM cdw_backup_restore({', '.join(args)})")


def verify(cluster, run_id):
    return json_rows(cluster, f"SELECT * FROM cdw_backup_verify({run_id})")


def target_files(directory, run_id, database, pattern):
    """Files of `database` in run `run_id` under a file:// target's directory."""
    found = glob.glob(os.path.join(directory, "*", f"*Z-run{run_id}", database, pattern))
    if not found:
        raise AssertionError(f"no {pattern} for run {run_id} database {database} under {directory}")
    return sorted(found)


def rewrite(path, data):
    """Replaces a file's content in place (keeps its owner and mode)."""
    with open(path, "wb") as f:
        f.write(data)


def visible_texts(cluster):
    """Where a secret must never show, each as one text: the server log, the
    history (runs, run_databases, run_tables), the targets view and every
    pg_stat_activity query and application_name."""
    return {
        "server log": cluster.server_log(),
        "history": cluster.sql("""
            SELECT (SELECT coalesce(json_agg(r)::text, '') FROM cdw_backup.runs r)
                || (SELECT coalesce(json_agg(d)::text, '') FROM cdw_backup.run_databases d)
                || (SELECT coalesce(json_agg(t)::text, '') FROM cdw_backup.run_tables t)"""),
        "targets view": cluster.sql(
            "SELECT coalesce(json_agg(t)::text, '') FROM cdw_backup.targets t"),
        "pg_stat_activity": cluster.sql(
            "SELECT coalesce(string_agg(coalesce(query, '') || ' ' || coalesce(application_name, ''),"
            " E'\\n'), '') FROM pg_stat_activity"),
    }


def assert_secrets_nowhere(test, cluster, secrets, extra_texts=(), what="secret"):
    """Fails `test` when any of `secrets` is in visible_texts(cluster) or in
    one of `extra_texts` (error messages the test collected)."""
    texts = visible_texts(cluster)
    for i, text in enumerate(extra_texts):
        texts[f"extra text {i}"] = text
    for secret in secrets:
        test.assertGreaterEqual(len(secret), 8, "too short to search for")
        for where, text in texts.items():
            test.assertNotIn(secret, text, f"the {what} is in the {where}")
