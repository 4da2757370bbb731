#!/usr/bin/env python3
"""cdw_backup benchmark: our backup against the tools users already have.

One invocation builds (or reuses) a throwaway cluster, generates a dataset of
realistic shape, runs every contender of issue 7 on the same data and the
same machine, and prints one table of MB/s and ratios against the goals:

  1. gzip   >= 2.0x pg_dump -Fd -jN -Z6 throughput, stored bytes <= 1.0x pg_dump's
  2. none   >= 0.9x COPY t TO '/dev/null' of all tables with N parallel processes
  3. zstd   >= 3.0x pg_dump -Fd -jN -Z6 throughput
  4. one big table alone: N workers >= 1.7x one worker (compression none; gzip shown too)
  5. 10,000 small tables backed up in <= 60 s
  6. a database worker's resident memory grows by <= 64 MiB, any compression
  7. (--s3) writing to moto_server: our FDW >= 0.8x boto3 upload_fileobj doing the same work
     (fed by COPY ... TO STDOUT); boto3 from a ready file shown for information
  8. max_rate: a run (compression none, N workers) limited to a third of its unthrottled
     rate achieves the limit within +-10% (stored bytes / the run's seconds in the history)
  9. (--eta, issue 16 goal 4) the ETA cdw_backup.run_progress shows when a run of database
     bench is half done is within +-25% of the time the run then actually takes
     (--only-eta measures just that: --scale 7 is ~2 GB of CSV)
  10. gzip + encryption (encryption => 'on', age) >= 0.9x gzip alone (the two measured
     interleaved, best of each; the CPU seconds of both shown too)
  11. (--databases N, issue 16 goal 1) N databases x 5 small tables (gzip) in <= 1.5x the time
      of one database holding the same tables, and >= 5x faster than a shell loop of
      pg_dump -Fd -jN -Z6 over the N databases
  12. (--table-counts 1000,50000, issue 16 goal 2) one database of that many tiny tables
      (gzip): <= 0.5x pg_dump -Fd -jN -Z6, worker RssAnon growth <= 64 MiB, and the time per
      table at the largest count within +-30% of the smallest's
      (--only-scale measures just 11 and 12)
  13. incremental, unchanged database: second run wall <= 0.2x the first, bytes written <= 1%
      (gzip; file://, and s3:// on moto with --s3)
  14. incremental after appending 1% rows to the largest table and updating 0.1% (random rows)
      of another: wall <= 0.3x a full run of the same data, bytes written <= 5%
      (--only-incremental measures just 13 and 14)
  15. (--latency, issue 16 goal 3) object-store latency, through a delaying TCP proxy
      (tests/integration/delay_proxy.py; this kernel has no netem) in front of moto_server:
      a run of --latency-tables (1,000) small tables to s3:// at --latency-ms (25 ms) added
      RTT <= 3x the same run at 0 ms; a run of one --latency-mb (500 MB) table at 25 ms
      >= 0.8x boto3 upload_file (10 threads) of a file of the same size at the same RTT
      (--only-latency measures just that)

"MB" is 10^6 bytes, and every rate is CSV bytes (what COPY ... (FORMAT csv)
produces for the tables) divided by wall-clock seconds, whatever the
contender actually writes, so rates compare work done, not bytes written.

Not a test and not in CI: numbers depend on the machine. Python 3 stdlib,
plus boto3 and moto for --s3. Run as root (the cluster runs as postgres) or
as the user that owns PostgreSQL's binaries:

    python3 bench/run_bench.py                  # ~300 MB of CSV, a few minutes on 2 cores
    python3 bench/run_bench.py --scale 3        # ~0.9 GB, the size measured in issue 7
    python3 bench/run_bench.py --scale 0.1 --many-tables 1000   # quick check
    python3 bench/run_bench.py --keep           # keep the cluster, print how to reuse it
    python3 bench/run_bench.py --reuse DIR      # reuse a kept cluster (and its data)
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
# --bindir: the PostgreSQL binaries (and the cdw_backup they load) to measure,
# e.g. a private install; harness reads PG_BINDIR when imported.
for _i, _arg in enumerate(sys.argv):
    if _arg == "--bindir" and _i + 1 < len(sys.argv):
        os.environ["PG_BINDIR"] = sys.argv[_i + 1]
    elif _arg.startswith("--bindir="):
        os.environ["PG_BINDIR"] = _arg.split("=", 1)[1]
from harness import PG_BINDIR, Cluster, make_shared_dir, wait_until  # noqa: E402
from delay_proxy import DelayProxy  # noqa: E402

MB = 1e6
MIB = 1 << 20
# Bump when the generated data changes, so that --reuse regenerates it.
DATASET_VERSION = 3
WORKER_BACKEND_TYPE = "cdw_backup database worker"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------

def cluster_settings(args):
    """Settings shared by every contender. Everything else stays at its
    default: fsync stays on (pg_dump and our writer both fsync their output,
    and every commit of our history rows pays a WAL flush, as in production)."""
    return {
        "fsync": "on",
        "shared_preload_libraries": "'cdw_backup'",
        # A run uses a coordinator and up to max_workers database workers
        # (plus the launcher); 32 leaves room for any --workers we try.
        "max_worker_processes": 32,
        "cdw_backup.max_workers": args.workers,
        # Smaller than the data on purpose: big tables are read through a
        # small ring of buffers and the OS page cache, as on a production
        # server whose data has outgrown shared_buffers.
        "shared_buffers": f"'{args.shared_buffers}'",
        # Goal 5: one snapshot holds an ACCESS SHARE lock on each of the
        # 10,000 tables; the lock table holds max_locks_per_transaction *
        # (max_connections + workers) locks, 64 (default) is too few.
        # Goal 12 needs more (the leader and pg_dump each lock every table).
        "max_locks_per_transaction": locks_for(args),
        # COPY, pg_dump and our writer (which pins UTC) then print the same bytes.
        "timezone": "'UTC'",
        "max_wal_size": "'4GB'",  # no checkpoint storms while generating the data
    }


def locks_for(args):
    """max_locks_per_transaction for the largest count of tables in one
    database: the lock table has max_locks_per_transaction * ~150 slots here
    (max_connections 100 + 32 workers + ...), shared by our leader and by
    pg_dump, each holding one lock per table; 256 at least."""
    most = max([args.many_tables] + [int(n) for n in args.table_counts.split(",") if n])
    return max(256, (most * 5 // 4) // 128 + 64)


def attach_cluster(directory, args):
    """A cluster kept by an earlier --keep run: harness.Cluster without initdb."""
    cluster = Cluster.__new__(Cluster)
    cluster.dir = directory
    cluster.nofile = None  # harness.Cluster's open-files limit: the default
    cluster.data = os.path.join(directory, "data")
    cluster.log = os.path.join(directory, "server.log")
    port = None
    with open(os.path.join(cluster.data, "postgresql.conf")) as f:
        for line in f:
            if line.startswith("port = "):
                port = int(line.split("=")[1])  # the last one wins, as for the server
    cluster.port = port
    if cluster.pg_ctl("status", check=False).returncode != 0:
        cluster.start()
    # Settings may have changed (e.g. --workers): append and restart if so.
    wanted = cluster_settings(args)
    current = {k: cluster.value(f"SHOW {k}") for k in ("max_locks_per_transaction",
                                                       "shared_buffers", "max_worker_processes")}
    if (current["max_locks_per_transaction"] != str(locks_for(args))
            or current["max_worker_processes"] != "32"
            or current["shared_buffers"] != args.shared_buffers):
        with open(os.path.join(cluster.data, "postgresql.conf"), "a") as f:
            for key, value in wanted.items():
                f.write(f"{key} = {value}\n")
        cluster.restart()
    return cluster


class PsqlSession:
    """One long-lived psql connection, for polling every 50 ms without paying
    for a new process and backend each time (which would load the 2 cores
    that the contenders are measured on)."""

    MARKER = "__cdw_bench_end__"

    def __init__(self, cluster, db="postgres"):
        # Errors must not end the session: a polled worker may just have exited.
        args = [("ON_ERROR_STOP=0" if a == "ON_ERROR_STOP=1" else a)
                for a in cluster.psql_args(db, "postgres")]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def rows(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.MARKER + "\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == self.MARKER:
                return out
            if line:
                out.append(line.split("|"))
        raise RuntimeError("psql session ended")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


# ---------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------

# Words for generated prose, most common first: text is drawn with a skew
# towards the first words (as in natural language), so it compresses like
# real comments and descriptions do (gzip ratio ~0.3), not like md5() hex
# (~0.55) or like one repeated string (~0.01).
WORDS = """the of and to a in is it you that he was for on are with as his they be at one have
this from or had by hot word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so these
her long make thing see him two has look more day could go come did number sound no most people
my over know water than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play small end put
home read hand port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother world near build
self earth father order invoice payment customer shipment delivered refund account password
session checkout warehouse priority ticket resolved escalated pending approved rejected""".split()

FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
               "David", "Elizabeth", "Wei", "Fang", "Hiroshi", "Yuki", "Ahmed", "Fatima", "Carlos",
               "Sofia", "Ivan", "Olga", "Pierre", "Chloe", "Hans", "Greta", "Raj", "Priya"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
              "Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Khan", "Silva", "Ivanov", "Martin",
              "Bernard", "Muller", "Schmidt", "Patel", "Sharma", "Rossi", "Novak", "Kowalski"]
COUNTRIES = [("US", "United States"), ("CN", "China"), ("DE", "Germany"), ("JP", "Japan"),
             ("GB", "United Kingdom"), ("FR", "France"), ("IN", "India"), ("BR", "Brazil"),
             ("IT", "Italy"), ("CA", "Canada"), ("KR", "South Korea"), ("RU", "Russia"),
             ("AU", "Australia"), ("ES", "Spain"), ("MX", "Mexico"), ("ID", "Indonesia"),
             ("NL", "Netherlands"), ("SA", "Saudi Arabia"), ("TR", "Turkey"), ("CH", "Switzerland"),
             ("PL", "Poland"), ("SE", "Sweden"), ("BE", "Belgium"), ("AR", "Argentina"),
             ("NO", "Norway"), ("AT", "Austria"), ("TH", "Thailand"), ("SG", "Singapore")]


def sql_array(values):
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def dataset_rows(scale):
    """Row counts. At scale 1 the CSV is ~300 MB: events ~50%, orders ~30%,
    accounts and documents ~10% each. Not more skewed than that on purpose:
    pg_dump -j and COPY in parallel split work by table, and issue 7 measured
    them on two tables that kept both cores busy; a database that is one big
    table is goal 4's own case (bench_one)."""
    return {
        "events": int(500_000 * scale),
        "orders": int(475_000 * scale),
        "accounts": int(100_000 * scale),
        "documents": int(20_000 * scale),
        "countries": len(COUNTRIES),
    }


def generation_sql(rows):
    """{table: SQL creating and filling it}. Values are derived from hashes
    of the row number, not random(), so every run measures the same bytes."""
    n = rows
    countries = sql_array([c for c, _ in COUNTRIES])
    statuses = sql_array(["new", "paid", "shipped", "delivered", "cancelled", "refunded"])
    kinds = sql_array(["view", "click", "search", "add_to_cart", "purchase", "login", "logout"])
    agents = sql_array(["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0",
                        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edge/124.0",
                        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15",
                        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
                        "okhttp/4.12.0", "curl/8.5.0"])
    return {
        # ~310 bytes of CSV per row; the large table. request_id (random hex)
        # is what keeps real event logs from compressing much below 0.25.
        "events": f"""
            CREATE TABLE events (
              id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, account_id bigint NOT NULL,
              kind text NOT NULL, amount numeric(12,2), request_id uuid NOT NULL, session_id text,
              attrs jsonb, message text);
            INSERT INTO events
            SELECT g,
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '250 ms'
                     + bench_h(g, 1, 1000) * interval '1 ms',
                   1 + bench_h(g, 2, {n['accounts']}),
                   ({kinds})[1 + bench_h(g, 3, 7)],
                   CASE WHEN bench_h(g, 4, 10) < 3 THEN NULL
                        ELSE round(bench_h(g, 5, 5000000) / 100.0, 2) END,
                   md5(g::text)::uuid,
                   substr(md5((g / 20)::text), 1, 16),
                   jsonb_build_object(
                     'ip', '10.' || bench_h(g, 6, 256) || '.' || bench_h(g, 7, 256) || '.'
                           || bench_h(g, 8, 256),
                     'ua', ({agents})[1 + bench_h(g, 9, 6)],
                     'country', ({countries})[1 + bench_h(g, 10, {len(COUNTRIES)})],
                     'score', round(bench_h(g, 11, 100000) / 100000.0, 5),
                     'mobile', bench_h(g, 12, 3) = 0),
                   p.phrase
              FROM generate_series(1, {n['events']}) g
              JOIN bench_phrases p ON p.id = bench_h(g, 13, 10000);
        """,
        # ~200 bytes per row: a jsonb array of line items, a short address.
        "orders": f"""
            CREATE TABLE orders (
              id bigint PRIMARY KEY, account_id bigint NOT NULL, ordered_at timestamptz NOT NULL,
              status text NOT NULL, total numeric(12,2) NOT NULL, currency text NOT NULL,
              items jsonb NOT NULL, shipping_address text);
            INSERT INTO orders
            SELECT g, 1 + bench_h(g, 20, {n['accounts']}),
                   timestamptz '2023-06-01 00:00:00+00' + g * interval '37 s',
                   ({statuses})[1 + bench_h(g, 21, 6)],
                   round(bench_h(g, 22, 2000000) / 100.0, 2),
                   (ARRAY['USD', 'EUR', 'CNY', 'JPY'])[1 + bench_h(g, 23, 4)],
                   (SELECT jsonb_agg(jsonb_build_object(
                             'sku', 'SKU-' || lpad(bench_h(g * 10 + i, 24, 100000)::text, 5, '0'),
                             'qty', 1 + bench_h(g * 10 + i, 25, 5),
                             'price', round(bench_h(g * 10 + i, 26, 50000) / 100.0, 2)))
                      FROM generate_series(1, 1 + bench_h(g, 27, 3)::int) i),
                   (1 + bench_h(g, 28, 9999)) || ' ' || initcap(w.word) || ' Street, '
                     || ({sql_array([n for _, n in COUNTRIES])})[1 + bench_h(g, 29, {len(COUNTRIES)})]
              FROM generate_series(1, {n['orders']}) g
              JOIN bench_words w ON w.id = 1 + bench_h(g, 30, {len(WORDS)});
        """,
        # ~230 bytes per row: names, e-mail, a boolean, a jsonb profile with prose.
        "accounts": f"""
            CREATE TABLE accounts (
              id bigint PRIMARY KEY, created_at timestamptz NOT NULL, name text NOT NULL,
              email text NOT NULL, country text, balance numeric(14,2) NOT NULL,
              is_active boolean NOT NULL, profile jsonb);
            INSERT INTO accounts
            SELECT g, timestamptz '2020-01-01 00:00:00+00' + g * interval '613 s',
                   f.name || ' ' || l.name,
                   lower(f.name) || '.' || lower(l.name) || g || '@example.com',
                   ({countries})[1 + bench_h(g, 40, {len(COUNTRIES)})],
                   round((bench_h(g, 41, 20000000) - 5000000) / 100.0, 2),
                   bench_h(g, 42, 10) > 0,
                   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])
                                                [1 + bench_h(g, 43, 4)],
                                      'newsletter', bench_h(g, 44, 2) = 0,
                                      'locale', (ARRAY['en_US', 'zh_CN', 'de_DE', 'ja_JP'])
                                                  [1 + bench_h(g, 45, 4)],
                                      'bio', p.phrase)
              FROM generate_series(1, {n['accounts']}) g
              JOIN bench_first_names f ON f.id = 1 + bench_h(g, 46, {len(FIRST_NAMES)})
              JOIN bench_last_names l ON l.id = 1 + bench_h(g, 47, {len(LAST_NAMES)})
              JOIN bench_phrases p ON p.id = bench_h(g, 48, 10000);
        """,
        # ~2 KB of prose per row: long text, TOASTed (and pglz-compressed) in
        # the table, as real documents and comments are.
        "documents": f"""
            CREATE TABLE documents (
              id bigint PRIMARY KEY, account_id bigint NOT NULL, updated_at timestamptz NOT NULL,
              title text NOT NULL, body text NOT NULL);
            INSERT INTO documents
            SELECT d, 1 + bench_h(d, 50, {n['accounts']}),
                   timestamptz '2022-01-01 00:00:00+00' + d * interval '1 hour',
                   initcap(min(t.phrase)),
                   string_agg(p.phrase, '. ' ORDER BY i) || '.'
              FROM generate_series(1, {n['documents']}) d
              JOIN generate_series(1, 40) i ON i <= 10 + bench_h(d, 51, 31)
              JOIN bench_phrases p ON p.id = bench_h(d * 100 + i, 52, 10000)
              JOIN bench_phrases t ON t.id = bench_h(d, 53, 10000)
             GROUP BY d;
        """,
        "countries": f"""
            CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
            INSERT INTO countries SELECT * FROM unnest({countries},
                {sql_array([n for _, n in COUNTRIES])});
        """,
    }


def helpers_sql():
    """Helper function and lookup tables used while generating; dropped after."""
    def lookup(name, values):
        return (f"CREATE TABLE {name} AS SELECT i AS id, v AS {'word' if name == 'bench_words' else 'name'}"
                f" FROM unnest({sql_array(values)}) WITH ORDINALITY u(v, i);")
    return f"""
        -- A non-negative pseudo-random number in [0, m) from (x, salt); inlined by the planner.
        CREATE FUNCTION bench_h(x bigint, salt bigint, m bigint) RETURNS bigint
          LANGUAGE sql IMMUTABLE PARALLEL SAFE
          AS 'SELECT (hashint8extended(x, salt) & 9223372036854775807) % m';
        {lookup('bench_words', WORDS)}
        {lookup('bench_first_names', FIRST_NAMES)}
        {lookup('bench_last_names', LAST_NAMES)}
        -- 10,000 phrases of 6-17 words, words skewed towards the common ones
        -- (index ~ N * r^2): long text comes from these.
        CREATE TABLE bench_phrases AS
        SELECT p AS id, string_agg(w.word, ' ' ORDER BY i) AS phrase
          FROM generate_series(0, 9999) p
          JOIN generate_series(1, 17) i ON i <= 6 + bench_h(p, 90, 12)
          JOIN bench_words w
            ON w.id = 1 + floor({len(WORDS)} * power(bench_h(p * 100 + i, 91, 1000000) / 1e6, 2))
         GROUP BY p;
        ANALYZE bench_words, bench_first_names, bench_last_names, bench_phrases;
    """


def dataset_marker(kind, args):
    """The comment on a generated database: what --reuse checks before reusing it."""
    size = f"tables={args.many_tables}" if kind == "bench_many" else f"scale={args.scale}"
    return f"cdw_bench dataset v{DATASET_VERSION} {kind} {size}"


def database_comment(cluster, db):
    return cluster.value(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                         f"WHERE datname = '{db}'")


def generate_bench(cluster, args):
    """Database bench: the mixed-type tables, filled server-side in parallel."""
    marker = dataset_marker("bench", args)
    if database_comment(cluster, "bench") == marker:
        log("database bench: reusing the existing data")
        return False
    log(f"database bench: generating scale {args.scale} ...")
    started = time.monotonic()
    cluster.sql("DROP DATABASE IF EXISTS bench_one")
    cluster.sql("DROP DATABASE IF EXISTS bench")
    cluster.sql("CREATE DATABASE bench")
    cluster.sql(helpers_sql(), db="bench")
    statements = generation_sql(dataset_rows(args.scale))
    # Largest first, two at a time: generation is CPU-bound in the server.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda sql: cluster.sql(sql, db="bench"), statements.values()))
    cluster.sql("""
        DROP FUNCTION bench_h(bigint, bigint, bigint);
        DROP TABLE bench_words, bench_first_names, bench_last_names, bench_phrases;
    """, db="bench")
    # Set hint bits and the visibility map now: otherwise whichever contender
    # reads a table first pays for it (and writes it back).
    cluster.sql("VACUUM (FREEZE, ANALYZE)", db="bench")
    cluster.sql("CHECKPOINT")
    cluster.sql(f"COMMENT ON DATABASE bench IS '{marker}'")
    log(f"database bench: generated in {time.monotonic() - started:.1f} s")
    return True


def generate_bench_one(cluster, args, regenerated):
    """Database bench_one: only the large table (goal 4), copied from bench."""
    marker = dataset_marker("bench_one", args)
    if not regenerated and database_comment(cluster, "bench_one") == marker:
        return
    cluster.sql("DROP DATABASE IF EXISTS bench_one")
    # FILE_COPY: a file-level copy, no WAL for every block of the table.
    cluster.sql("CREATE DATABASE bench_one TEMPLATE bench STRATEGY FILE_COPY")
    cluster.sql("DROP TABLE orders, accounts, documents, countries", db="bench_one")
    cluster.sql("VACUUM (FREEZE, ANALYZE)", db="bench_one")
    cluster.sql(f"COMMENT ON DATABASE bench_one IS '{marker}'")


def generate_bench_many(cluster, args):
    """Database bench_many: --many-tables small tables of 3 rows (goal 5),
    1,000 per transaction so that no transaction needs too many locks."""
    marker = dataset_marker("bench_many", args)
    if database_comment(cluster, "bench_many") == marker:
        return
    log(f"database bench_many: creating {args.many_tables} tables ...")
    started = time.monotonic()
    cluster.sql("DROP DATABASE IF EXISTS bench_many")
    cluster.sql("CREATE DATABASE bench_many")
    batch = 1000
    for first in range(1, args.many_tables + 1, batch):
        last = min(first + batch - 1, args.many_tables)
        cluster.sql(f"""
            DO $$
            BEGIN
              FOR t IN {first}..{last} LOOP
                EXECUTE format('CREATE TABLE %I (id bigint PRIMARY KEY, name text, '
                               'updated_at timestamptz, amount numeric(10,2))',
                               'small_' || lpad(t::text, 5, '0'));
                EXECUTE format('INSERT INTO %I SELECT g, ''item '' || g, '
                               'timestamptz ''2024-01-01 00:00:00+00'' + g * interval ''1 day'', '
                               'g * 1.25 FROM generate_series(1, 3) g',
                               'small_' || lpad(t::text, 5, '0'));
              END LOOP;
            END $$;
        """, db="bench_many")
    # No VACUUM here (it costs more than creating the tables): the hint bits
    # of 10,000 one-page tables are a negligible cost for the first reader.
    cluster.sql("CHECKPOINT")
    cluster.sql(f"COMMENT ON DATABASE bench_many IS '{marker}'")
    log(f"database bench_many: created in {time.monotonic() - started:.1f} s")


def table_list(cluster, db):
    out = cluster.sql("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace "
                      "WHERE relkind = 'r' AND nspname = 'public' ORDER BY relpages DESC, relname",
                      db=db)
    return out.splitlines()


def csv_bytes(cluster, db, table):
    """Bytes of COPY t TO STDOUT (FORMAT csv), counted here. Doubles as a
    warm-up: afterwards the table is in the OS page cache for everyone."""
    proc = subprocess.Popen(cluster.psql_args(db, "postgres")
                            + ["-c", f"COPY {table} TO STDOUT (FORMAT csv)"],
                            stdout=subprocess.PIPE)
    total = 0
    for block in iter(lambda: proc.stdout.read(1 << 20), b""):
        total += len(block)
    if proc.wait() != 0:
        raise RuntimeError(f"COPY {table} failed")
    return total


# ---------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------

def best_of(repeat, function):
    """Runs a contender `repeat` times and keeps the fastest run (the least
    disturbed by the rest of the machine); every time is kept in the JSON.
    Peak memory is the worst seen in any repetition."""
    return best_run([function() for _ in range(repeat)])


def best_run(runs):
    """The fastest of `runs` (see best_of)."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [r["seconds"] for r in runs]
    with_rss = [r["rss"] for r in runs if r.get("rss") and r["rss"]["max_anon_growth"] is not None]
    if with_rss:
        best["rss"] = max(with_rss, key=lambda rss: rss["max_anon_growth"])
    if any(r.get("status", "succeeded") != "succeeded" for r in runs):
        best["status"] = next(r["status"] for r in runs if r.get("status") != "succeeded")
    return best


def settle():
    """Untimed, before every contender: flush what the previous one wrote, so
    that its writeback does not run during the next one's timing."""
    os.sync()


def du_bytes(path):
    return int(subprocess.check_output(["du", "-sb", path], text=True).split()[0])


class CpuMeter:
    """How much CPU the rest of the machine used while a contender ran.

    Other work on the machine (another cluster, a build) takes cores away
    from whichever contender happens to run at the time and skews the ratios.
    Busy time of all CPUs (/proc/stat) minus the CPU time of our own process
    trees (the postmaster's and this script's: backends, workers, psql,
    pg_dump, gzip, moto) is the others' share. A process's utime + stime +
    cutime + cstime counts it and its reaped children, so summing that over
    the live processes of a tree counts every process once."""

    def __init__(self):
        self.roots = {os.getpid()}
        self.ticks = os.sysconf("SC_CLK_TCK")

    def add_root(self, pid):
        self.roots.add(pid)

    @staticmethod
    def busy_ticks():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
        return user + nice + system + irq + softirq

    def our_ticks(self):
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # gone meanwhile
            fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        total = 0
        for pid in cpu:
            ancestor = pid
            while ancestor > 1 and ancestor not in self.roots:
                ancestor = parents.get(ancestor, 0)
            if ancestor in self.roots:
                total += cpu[pid]
        return total

    def sample(self):
        return time.monotonic(), self.busy_ticks(), self.our_ticks()

    def others_share(self, start):
        """Fraction of the machine's CPU capacity used by others since `start`."""
        now = self.sample()
        elapsed = now[0] - start[0]
        others = (now[1] - start[1]) - (now[2] - start[2])
        return max(0.0, others / self.ticks / (elapsed * os.cpu_count())) if elapsed > 0 else 0.0

    def ours_seconds(self, start):
        """CPU seconds our own process trees used since `start`."""
        return (self.our_ticks() - start[2]) / self.ticks


METER = CpuMeter()


def timed(function):
    """Runs function() after settle(); returns ({"seconds", "others_cpu"}, its result)."""
    settle()
    start = METER.sample()
    result = function()
    seconds = time.monotonic() - start[0]
    return {"seconds": seconds, "others_cpu": METER.others_share(start),
            "our_cpu_seconds": METER.ours_seconds(start)}, result


def copy_scaling(cluster, db, table, workers, repeat):
    """PostgreSQL's own COPY of `table` to /dev/null: one process for the
    whole table, then `workers` processes for as many block ranges (TID range
    scans, as our workers split it). What the machine gives a second process
    on this very work is the ceiling for goal 4: on a VM whose two vCPUs share
    a physical core, or a throttled one, it is well below N."""
    blocks = int(cluster.value(f"SELECT pg_relation_size('{table}') / 8192", db=db))
    bounds = [blocks * i // workers for i in range(workers)] + [None]

    def copy(where):
        cluster.sql(f"COPY (SELECT * FROM ONLY {table} {where}) TO '/dev/null' (FORMAT csv)",
                    db=db)

    def ranges():
        wheres = [f"WHERE ctid >= '({lo},0)'" + (f" AND ctid < '({hi},0)'" if hi else "")
                  for lo, hi in zip(bounds, bounds[1:])]
        parallel_tables(wheres, workers, copy)

    one = best_of(repeat, lambda: timed(lambda: copy(""))[0])
    many = best_of(repeat, lambda: timed(ranges)[0])
    return {"table": table, "one": one, "many": many, "processes": workers,
            "scaling": one["seconds"] / many["seconds"]}


def parallel_tables(tables, workers, job):
    """Runs job(table) for every table on `workers` threads, largest table
    first (tables come sorted by size): a pool of processes taking tables."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(job, t) for t in tables]:
            future.result()


def baseline_copy_devnull(cluster, tables, workers):
    def job(table):
        cluster.sql(f"COPY {table} TO '/dev/null' (FORMAT csv)", db="bench")
    clock, _ = timed(lambda: parallel_tables(tables, workers, job))
    return clock


def baseline_copy_gzip(cluster, tables, workers, work_dir):
    """COPY ... TO STDOUT | gzip -6 > file, one pipeline per table, in parallel.
    Like the issue's figure, the files are not fsynced (ours and pg_dump's are)."""
    out_dir = os.path.join(work_dir, "gzip")
    os.mkdir(out_dir)

    def job(table):
        with open(os.path.join(out_dir, table + ".csv.gz"), "wb") as out:
            copy = subprocess.Popen(cluster.psql_args("bench", "postgres")
                                    + ["-c", f"COPY {table} TO STDOUT (FORMAT csv)"],
                                    stdout=subprocess.PIPE)
            gzip = subprocess.Popen(["gzip", "-6"], stdin=copy.stdout, stdout=out)
            copy.stdout.close()  # gzip owns the pipe now
            if gzip.wait() != 0 or copy.wait() != 0:
                raise RuntimeError(f"COPY {table} | gzip failed")
    clock, _ = timed(lambda: parallel_tables(tables, workers, job))
    stored = du_bytes(out_dir)
    shutil.rmtree(out_dir)
    return {**clock, "stored_bytes": stored}


def baseline_pg_dump(cluster, workers, level, out_dir):
    target = os.path.join(out_dir, f"dump-Z{level}")

    def run():
        subprocess.run([f"{PG_BINDIR}/pg_dump", "-h", cluster.dir, "-p", str(cluster.port),
                        "-U", "postgres", "-Fd", f"-j{workers}", f"-Z{level}", "-f", target,
                        "bench"], check=True)
    clock, _ = timed(run)
    stored = du_bytes(target)
    shutil.rmtree(target, ignore_errors=True)
    return {**clock, "stored_bytes": stored}


class RssSampler(threading.Thread):
    """Samples /proc/<pid>/status of every 'cdw_backup database worker' every
    50 ms while a run goes on (goal 6).

    Two figures per worker: VmHWM minus VmRSS at first sight (what the brief
    asks for), and the growth of RssAnon, the process's private memory. VmRSS
    also counts the pages of shared memory (shared_buffers) the worker has
    touched, which cost no memory of its own, so RssAnon is the one judged.
    A worker seen late (after its first 50 ms) has its start-up growth missed."""

    def __init__(self, cluster, interval=0.05):
        super().__init__(daemon=True)
        self.session = PsqlSession(cluster)
        self.interval = interval
        self.stop_event = threading.Event()
        self.workers = {}  # pid -> {"first_rss", "hwm", "first_anon", "max_anon"}

    @staticmethod
    def status(pid):
        fields = {}
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"):
                        fields[key] = int(value.split()[0]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            return None
        return fields if "VmRSS" in fields else None

    def run(self):
        while not self.stop_event.is_set():
            for (pid,) in self.session.rows(
                    f"SELECT pid FROM pg_stat_activity WHERE backend_type = '{WORKER_BACKEND_TYPE}'"):
                fields = self.status(int(pid))
                if not fields:
                    continue
                seen = self.workers.setdefault(int(pid), {
                    "first_rss": fields["VmRSS"], "first_anon": fields.get("RssAnon", 0),
                    "hwm": 0, "max_anon": 0, "max_shmem": 0})
                seen["hwm"] = max(seen["hwm"], fields["VmHWM"])
                seen["max_anon"] = max(seen["max_anon"], fields.get("RssAnon", 0))
                seen["max_shmem"] = max(seen["max_shmem"], fields.get("RssShmem", 0))
            self.stop_event.wait(self.interval)

    def finish(self):
        self.stop_event.set()
        self.join()
        self.session.close()
        per_worker = {pid: {"hwm_growth": w["hwm"] - w["first_rss"],
                            "anon_growth": w["max_anon"] - w["first_anon"],
                            "max_rss_shmem": w["max_shmem"]} for pid, w in self.workers.items()}
        return {
            "workers_seen": len(per_worker),
            "max_hwm_growth": max((w["hwm_growth"] for w in per_worker.values()), default=None),
            "max_anon_growth": max((w["anon_growth"] for w in per_worker.values()), default=None),
            "per_worker": per_worker,
        }


def our_run(cluster, target_dir, db, compression, timeout, sample_rss=False, max_rate=None,
            target="bench"):
    """One cdw_backup_run() into the file:// target, timed wall-clock.

    cdw_backup_wait(cdw_backup_run(..., wait => false), timeout) is what
    wait => true does (the same wait loop), in one statement, plus a
    timeout: a run that is too slow is cancelled instead of hanging the
    benchmark."""
    for name in os.listdir(target_dir):  # an empty target for every run
        shutil.rmtree(os.path.join(target_dir, name), ignore_errors=True)
    sampler = RssSampler(cluster) if sample_rss else None
    if sampler:
        sampler.start()
    clock, status = timed(lambda: cluster.value(f"""
        SELECT cdw_backup_wait(cdw_backup_run(target => '{target}', databases => '{{{db}}}',
                                              compression => '{compression}', wait => false
                                              {f", max_rate => '{max_rate}'" if max_rate else ""}),
                               interval '{timeout} seconds')"""))
    rss = sampler.finish() if sampler else None
    run = json.loads(cluster.value(
        "SELECT row_to_json(r) FROM (SELECT *, extract(epoch FROM finished_at - started_at)"
        "::float8 AS history_seconds FROM cdw_backup.runs ORDER BY run_id DESC LIMIT 1) r"))
    if status == "running":
        cluster.value(f"SELECT cdw_backup_cancel({run['run_id']})")
        cluster.value(f"SELECT cdw_backup_wait({run['run_id']}, interval '120 seconds')")
    tables = [json.loads(line) for line in cluster.sql(
        f"SELECT row_to_json(t) FROM (SELECT table_name, status, rows, bytes_raw, bytes_stored, "
        f"extract(epoch FROM finished_at - started_at) AS seconds, error "
        f"FROM cdw_backup.run_tables WHERE run_id = {run['run_id']} "
        f"ORDER BY bytes_raw DESC NULLS LAST LIMIT 20) t").splitlines()]
    result = {**clock, "status": status, "run_id": run["run_id"],
              "tables_total": run["tables_total"], "tables_failed": run["tables_failed"],
              "bytes_raw": run["bytes_raw"], "stored_bytes": run["bytes_stored"],
              "target_bytes": du_bytes(target_dir), "largest_tables": tables,
              "history_seconds": run["history_seconds"],
              "error": run.get("error")}
    if rss:
        result["rss"] = rss
    if status != "succeeded":
        log(f"  run {run['run_id']} ended {status}: {run.get('error')}")
    return result


def eta_goal(cluster, target_dir, compression, timeout):
    """Goal 8: starts a run of database bench and samples cdw_backup.run_progress
    every 0.1 s; the first sample at or past 50% gives the ETA, which is
    compared with the time the run then actually took to end."""
    for name in os.listdir(target_dir):
        shutil.rmtree(os.path.join(target_dir, name), ignore_errors=True)
    run_id = int(cluster.value(f"SELECT cdw_backup_run(target => 'bench', databases => '{{bench}}', "
                               f"compression => '{compression}')"))
    session = PsqlSession(cluster)
    started = time.monotonic()
    samples, half = [], None
    try:
        while time.monotonic() - started < timeout:
            row = session.rows(
                "SELECT percent, extract(epoch FROM eta), bytes_done, bytes_total, "
                f"tables_done, tables_total FROM cdw_backup.run_progress WHERE run_id = {run_id}")
            now = time.monotonic() - started
            if not row:
                break  # the run ended
            percent, eta, done, total, tables_done, tables_total = row[0]
            sample = {"t": now, "percent": float(percent), "eta": float(eta) if eta else None,
                      "bytes_done": int(done), "bytes_total": int(total)}
            samples.append(sample)
            if half is None and sample["percent"] >= 50 and sample["eta"] is not None:
                half = sample
            time.sleep(0.1)
    finally:
        session.close()
    ended = time.monotonic() - started
    status = cluster.value(f"SELECT cdw_backup_wait({run_id}, interval '{timeout} seconds')")
    bytes_raw = int(cluster.value(f"SELECT bytes_raw FROM cdw_backup.runs WHERE run_id = {run_id}"))
    result = {"run_id": run_id, "status": status, "seconds": ended, "bytes_raw": bytes_raw,
              "samples": samples[::max(1, len(samples) // 50)]}
    if half:
        actual = ended - half["t"]
        result.update({"at_half": half, "actual_remaining": actual,
                       "eta_error": half["eta"] / actual - 1 if actual > 0 else None})
    # The estimate of the total at the start, against what was produced.
    if samples:
        result["first_total_error"] = samples[0]["bytes_total"] / bytes_raw - 1 if bytes_raw else None
    return result


def set_max_workers(cluster, n):
    cluster.sql(f"ALTER SYSTEM SET cdw_backup.max_workers = {n}")
    cluster.sql("SELECT pg_reload_conf()")
    wait_until(lambda: cluster.value("SHOW cdw_backup.max_workers") == str(n), timeout=10,
               what=f"cdw_backup.max_workers = {n}")


# ---------------------------------------------------------------------------
# Goal 7: S3 (moto_server)
# ---------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_goal(cluster, table, csv_size, work_dir, repeat):
    """Our FDW writing `table` to moto vs boto3 uploading a file of the same
    CSV. moto runs without signature checks (no INITIAL_NO_AUTH_ACTION_COUNT):
    checking costs moto the same for both, and the test suite covers it."""
    from boto3.s3.transfer import TransferConfig

    moto, endpoint, moto_log, s3 = start_moto(work_dir)
    try:
        columns = cluster.value(f"""
            SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', '
                              ORDER BY attnum)
              FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0
               AND NOT attisdropped""", db="bench")
        # The same CSV, as a file written by the server, for boto3.
        path = os.path.join(work_dir, f"{table}.csv")
        cluster.sql(f"COPY {table} TO '{path}' (FORMAT csv)", db="bench")
        file_bytes = os.path.getsize(path)

        def drop_prefix(prefix):
            """Untimed: keeps moto's memory (it stores objects in RAM) flat."""
            for item in s3.list_objects_v2(Bucket="bench", Prefix=prefix).get("Contents", []):
                s3.delete_object(Bucket="bench", Key=item["Key"])

        def ours_once(i):
            cluster.sql(f"""
                CREATE FOREIGN TABLE bench_s3_{table} ({columns}) SERVER bench_s3
                  OPTIONS (path '{table}/{i}/', format 'csv', compression 'none');""", db="bench")
            clock, _ = timed(lambda: cluster.sql(
                f"INSERT INTO bench_s3_{table} SELECT * FROM ONLY {table}", db="bench"))
            cluster.sql(f"DROP FOREIGN TABLE bench_s3_{table}", db="bench")
            listing = s3.list_objects_v2(Bucket="bench", Prefix=f"fdw/{table}/{i}/")
            written = sum(o["Size"] for o in listing.get("Contents", []))
            drop_prefix(f"fdw/{table}/{i}/")
            return {**clock, "bytes": written, "rate": written / clock["seconds"]}

        def boto_once(i):
            # boto3's default transfer settings: 8 MB parts, 10 threads.
            def upload():
                with open(path, "rb") as f:
                    s3.upload_fileobj(f, "bench", f"boto3/{i}/{table}.csv", Config=TransferConfig())
            clock, _ = timed(upload)
            drop_prefix(f"boto3/{i}/")
            return {**clock, "bytes": file_bytes, "rate": file_bytes / clock["seconds"]}

        def boto_copy_once(i):
            """The same work as ours: the table's CSV made by COPY ... TO STDOUT
            while boto3 uploads it from the pipe."""
            def upload():
                copy = subprocess.Popen(cluster.psql_args("bench", "postgres")
                                        + ["-c", f"COPY {table} TO STDOUT (FORMAT csv)"],
                                        stdout=subprocess.PIPE)
                s3.upload_fileobj(copy.stdout, "bench", f"boto3-copy/{i}/{table}.csv",
                                  Config=TransferConfig())
                if copy.wait() != 0:
                    raise RuntimeError(f"COPY {table} TO STDOUT failed")
            clock, _ = timed(upload)
            drop_prefix(f"boto3-copy/{i}/")
            return {**clock, "bytes": file_bytes, "rate": file_bytes / clock["seconds"]}

        cluster.sql(f"""
            CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw;
            DROP SERVER IF EXISTS bench_s3 CASCADE;
            CREATE SERVER bench_s3 FOREIGN DATA WRAPPER cdw_backup_fdw
              OPTIONS (location 's3://bench/fdw', endpoint '{endpoint}');
            CREATE USER MAPPING FOR postgres SERVER bench_s3
              OPTIONS (secret_id 'bench', secret_key 'bench');
        """, db="bench")
        ours, boto, boto_copy = [], [], []
        try:
            # Alternating, so that a slow phase of the machine (or of moto)
            # does not fall on one contender only.
            for i in range(repeat):
                ours.append(ours_once(i))
                boto_copy.append(boto_copy_once(i))
                boto.append(boto_once(i))
        finally:
            cluster.sql("DROP SERVER bench_s3 CASCADE", db="bench")
            os.unlink(path)
        fastest = lambda runs: dict(min(runs, key=lambda r: r["seconds"]),  # noqa: E731
                                    all_seconds=[r["seconds"] for r in runs])
        return {"table": table, "csv_bytes": csv_size, "ours": fastest(ours),
                "boto3": fastest(boto), "boto3_copy": fastest(boto_copy)}
    finally:
        os.killpg(moto.pid, 15)
        moto.wait()
        moto_log.close()


# ---------------------------------------------------------------------------
# Goals 10 and 11: incremental runs
# ---------------------------------------------------------------------------

def start_moto(work_dir):
    """A moto_server on a free port with bucket "bench"; (process, endpoint,
    log file, boto3 client)."""
    import boto3
    import botocore.config
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto_log = open(os.path.join(work_dir, "moto.log"), "w")
    moto = subprocess.Popen([sys.executable,
                             os.path.join(SOURCE_DIR, "tests", "unit", "data",
                                          "moto_server_raw_uri.py"),
                             "-H", "127.0.0.1", "-p", str(port)],
                            stdout=moto_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=botocore.config.Config(s3={"addressing_style": "path"}))

        def up():
            if moto.poll() is not None:
                raise RuntimeError(f"moto_server exited; see {moto_log.name}")
            try:
                s3.list_buckets()
                return True
            except Exception:  # not listening yet
                return False
        wait_until(up, timeout=60, what="moto_server")
        s3.create_bucket(Bucket="bench")
    except BaseException:
        os.killpg(moto.pid, 15)
        moto.wait()
        moto_log.close()
        raise
    return moto, endpoint, moto_log, s3


def incremental_run(cluster, target, db, incremental, timeout):
    """One gzip run of `db` to `target` (the target is not emptied)."""
    clock, status = timed(lambda: cluster.value(f"""
        SELECT cdw_backup_wait(cdw_backup_run(target => '{target}', databases => '{{{db}}}',
                                              incremental => {str(incremental).lower()},
                                              wait => false),
                               interval '{timeout} seconds')"""))
    run = json.loads(cluster.value("SELECT row_to_json(r) FROM cdw_backup.runs r "
                                   "ORDER BY run_id DESC LIMIT 1"))
    if status != "succeeded":
        log(f"  run {run['run_id']} ended {status}: {run.get('error')}")
    return {**clock, "status": status, "run_id": run["run_id"], "bytes_raw": run["bytes_raw"],
            "stored_bytes": run["bytes_stored"], "bytes_written": run["bytes_written"],
            "bytes_reused": run["bytes_reused"], "base_run_id": run["base_run_id"]}


def restores_match(cluster, db, run_a, run_b):
    """Goal 3 of the incremental issue: runs `run_a` and `run_b` restored
    into two new databases hold the same rows (per table: the count and the
    MD5 of the rows' text in sorted order). Returns True/False."""
    digests = []
    for run_id in (run_a, run_b):
        into = f"{db}_restored_{run_id}"
        cluster.sql(f"DROP DATABASE IF EXISTS {into}")
        rows = cluster.rows(f"SELECT status FROM cdw_backup_restore({run_id}, '{db}', "
                            f"into_database => '{into}')")
        if any(r[0] != "restored" for r in rows):
            log(f"  restore of run {run_id}: {rows}")
            return False
        tables = [r[0] for r in cluster.rows(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", db=into)]
        digests.append({t: cluster.value(
            f"SELECT count(*) || ' ' || md5(coalesce(string_agg(x::text, E'\\n' "
            f"ORDER BY x::text), '')) FROM {t} x", db=into) for t in tables})
        cluster.sql(f"DROP DATABASE {into}")
    return digests[0] == digests[1] and bool(digests[0])


def incremental_goal(cluster, args, tables, location, name, options="{}"):
    """Goals 13 and 14 on a copy of the bench database (so --reuse keeps its
    data): full, unchanged, then 1% appended to the largest table and 0.1% of
    the second largest updated, measured with a full run and an incremental
    one of that same data."""
    db = "bench_inc"
    cluster.sql(f"DROP DATABASE IF EXISTS {db}")
    cluster.sql(f"CREATE DATABASE {db} TEMPLATE bench")
    cluster.sql(f"SELECT cdw_backup_drop_target('{name}') FROM cdw_backup.targets "
                f"WHERE name = '{name}'")
    cluster.sql(f"SELECT cdw_backup_add_target('{name}', '{location}', "
                + ("secret_id => 'bench', secret_key => 'bench', " if location.startswith("s3")
                   else "") + f"options => '{options}')")
    largest, other = tables[0], tables[1]
    # The copy's largest table gets appended copies of its own rows: without
    # its unique constraints (dropped before the first run, so the table's
    # definition is the same in every run).
    for constraint in cluster.rows(
            f"SELECT conname FROM pg_constraint WHERE conrelid = '{largest}'::regclass "
            f"AND contype IN ('p', 'u')", db=db):
        cluster.sql(f"ALTER TABLE {largest} DROP CONSTRAINT {constraint[0]} CASCADE", db=db)
    result = {}
    log(f"  {name}: full run ...")
    result["first"] = incremental_run(cluster, name, db, False, args.timeout)
    log(f"  {name}: unchanged, incremental ...")
    result["unchanged"] = incremental_run(cluster, name, db, True, args.timeout)
    rows = int(cluster.value(f"SELECT count(*) FROM {largest}", db=db))
    cluster.sql(f"INSERT INTO {largest} SELECT * FROM {largest} LIMIT {max(rows // 100, 1)}",
                db=db)
    first_column = cluster.value(
        f"SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = '{other}'::regclass "
        f"AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1", db=db)
    cluster.sql(f"UPDATE {other} SET {first_column} = {first_column} "
                f"WHERE random() < 0.001", db=db)
    cluster.sql(f"VACUUM ANALYZE {largest}, {other}", db=db)
    # The incremental run first: its base is the run before the changes (a
    # full run of the changed data would be the newest base otherwise).
    log(f"  {name}: changed, incremental ...")
    result["changed"] = incremental_run(cluster, name, db, True, args.timeout)
    log(f"  {name}: changed, full run ...")
    result["changed_full"] = incremental_run(cluster, name, db, False, args.timeout)
    result["appended_to"], result["updated"] = largest, other
    log(f"  {name}: restoring the changed data's incremental and full runs ...")
    result["restored_same"] = restores_match(cluster, db, result["changed"]["run_id"],
                                             result["changed_full"]["run_id"])
    cluster.sql(f"SELECT cdw_backup_drop_target('{name}')")
    cluster.sql(f"DROP DATABASE {db}")
    return result


# ---------------------------------------------------------------------------
# Goal 15 (issue 16 goal 3): object-store latency
# ---------------------------------------------------------------------------

def generate_latency_data(cluster, args):
    """Databases bench_lat_many (--latency-tables tables of 3 rows) and
    bench_lat_big (one table of about --latency-mb MB of CSV)."""
    many = f"tables={args.latency_tables} v{DATASET_VERSION}"
    if database_comment(cluster, "bench_lat_many") != many:
        log(f"generating bench_lat_many ({args.latency_tables} small tables) ...")
        cluster.sql("DROP DATABASE IF EXISTS bench_lat_many")
        cluster.sql("CREATE DATABASE bench_lat_many")
        for start in range(0, args.latency_tables, 500):
            stop = min(args.latency_tables, start + 500)
            cluster.sql(f"""
                DO $$ BEGIN FOR i IN {start}..{stop - 1} LOOP
                  EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, name text, at timestamptz)', i);
                  EXECUTE format('INSERT INTO t%s SELECT g, md5(g::text), now() FROM generate_series(1, 3) g', i);
                END LOOP; END $$;""", db="bench_lat_many")
        cluster.sql(f"COMMENT ON DATABASE bench_lat_many IS '{many}'")
    big = f"mb={args.latency_mb} v{DATASET_VERSION}"
    if database_comment(cluster, "bench_lat_big") != big:
        log(f"generating bench_lat_big (one table of ~{args.latency_mb} MB of CSV) ...")
        cluster.sql("DROP DATABASE IF EXISTS bench_lat_big")
        cluster.sql("CREATE DATABASE bench_lat_big")
        rows = int(args.latency_mb * MB / 107)  # ~107 bytes of CSV per row
        cluster.sql(f"""
            CREATE TABLE big (id bigint, a text, b text, n numeric, at timestamptz);
            INSERT INTO big SELECT g, md5(g::text), md5((g + 1)::text), g * 1.5,
                                   timestamptz '2024-01-01' + g * interval '1 second'
              FROM generate_series(1, {rows}) g;
            VACUUM ANALYZE big;""", db="bench_lat_big")
        cluster.sql(f"COMMENT ON DATABASE bench_lat_big IS '{big}'")


def latency_goal(cluster, args, work_dir):
    """Runs to an s3:// target behind DelayProxy: the small tables at 0 ms
    and at --latency-ms, the big table at --latency-ms, and boto3
    upload_file of a file as big as the big table's CSV at --latency-ms
    through the same proxy. Alternating per repetition; moto is emptied
    (untimed) between runs, it keeps objects in memory."""
    import boto3
    import botocore.config
    from boto3.s3.transfer import TransferConfig

    generate_latency_data(cluster, args)
    port = free_port()
    moto_log = open(os.path.join(work_dir, "moto.log"), "w")
    moto = subprocess.Popen([sys.executable,
                             os.path.join(SOURCE_DIR, "tests", "unit", "data",
                                          "moto_server_raw_uri.py"),
                             "-H", "127.0.0.1", "-p", str(port)],
                            stdout=moto_log, stderr=subprocess.STDOUT, start_new_session=True)
    proxy = DelayProxy(port, 0)
    try:
        direct = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                              region_name="us-east-1", aws_access_key_id="bench",
                              aws_secret_access_key="bench",
                              config=botocore.config.Config(s3={"addressing_style": "path"}))
        delayed = boto3.client("s3", endpoint_url=proxy.endpoint, region_name="us-east-1",
                               aws_access_key_id="bench", aws_secret_access_key="bench",
                               config=botocore.config.Config(s3={"addressing_style": "path"},
                                                             max_pool_connections=20))

        def up():
            if moto.poll() is not None:
                raise RuntimeError(f"moto_server exited; see {moto_log.name}")
            try:
                direct.list_buckets()
                return True
            except Exception:  # not listening yet
                return False
        wait_until(up, timeout=60, what="moto_server")
        direct.create_bucket(Bucket="bench")

        def empty_bucket():
            for page in direct.get_paginator("list_objects_v2").paginate(Bucket="bench"):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    direct.delete_objects(Bucket="bench", Delete={"Objects": keys})

        cluster.sql("SELECT cdw_backup_drop_target('lat') FROM cdw_backup.targets "
                    "WHERE name = 'lat'")
        cluster.sql(f"""SELECT cdw_backup_add_target('lat', 's3://bench/lat', 'bench', 'bench',
                        options => '{{"endpoint": "{proxy.endpoint}"}}')""")
        scratch = make_shared_dir("cdw_bench_lat_")  # our_run() empties a file:// target dir

        def ours(db, rtt):
            proxy.set_rtt(rtt)
            res = our_run(cluster, scratch, db, "none", args.timeout, target="lat")
            proxy.set_rtt(0)
            res["rtt_ms"] = rtt
            empty_bucket()
            return res

        big_bytes = csv_bytes(cluster, "bench_lat_big", "big")
        path = os.path.join(work_dir, "big.csv")
        with open(path, "wb") as f:  # same size; content does not matter to S3
            chunk = os.urandom(1 << 20)
            left = big_bytes
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)

        def boto(rtt):
            proxy.set_rtt(rtt)
            clock, _ = timed(lambda: delayed.upload_file(
                path, "bench", "boto3/big.csv", Config=TransferConfig(max_concurrency=10)))
            proxy.set_rtt(0)
            empty_bucket()
            return {**clock, "bytes": big_bytes, "status": "succeeded"}

        rtt = args.latency_ms
        runs = {"many_0": [], "many_rtt": [], "big_rtt": [], "boto3_rtt": []}
        for _ in range(args.repeat):
            log(f"  {args.latency_tables} small tables at 0 ms ...")
            runs["many_0"].append(ours("bench_lat_many", 0))
            log(f"  {args.latency_tables} small tables at {rtt:g} ms ...")
            runs["many_rtt"].append(ours("bench_lat_many", rtt))
            log(f"  one {big_bytes / MB:.0f} MB table at {rtt:g} ms ...")
            runs["big_rtt"].append(ours("bench_lat_big", rtt))
            log(f"  boto3 upload_file of {big_bytes / MB:.0f} MB at {rtt:g} ms ...")
            runs["boto3_rtt"].append(boto(rtt))
        os.unlink(path)
        shutil.rmtree(scratch, ignore_errors=True)
        fastest = lambda rs: dict(min(rs, key=lambda r: r["seconds"]),  # noqa: E731
                                  all_seconds=[r["seconds"] for r in rs])
        result = {k: fastest(v) for k, v in runs.items()}
        result.update(rtt_ms=rtt, tables=args.latency_tables, big_csv_bytes=big_bytes,
                      proxy_connections=proxy.connections)
        cluster.sql("SELECT cdw_backup_drop_target('lat')")
        return result
    finally:
        proxy.close()
        os.killpg(moto.pid, 15)
        moto.wait()
        moto_log.close()


def latency_rows(lat, row):
    """Goal 15's lines, through build_rows' row()."""
    rtt, n = lat["rtt_ms"], lat["tables"]
    zero, slow = lat["many_0"], lat["many_rtt"]
    row("15", f"{n} small tables to s3://, 0 ms", zero, mbps=0.0)
    ratio = slow["seconds"] / zero["seconds"]
    row("15", f"{n} small tables to s3://, {rtt:g} ms RTT", slow, mbps=0.0, ratio=ratio,
        threshold="<= 3.0x the time at 0 ms", passed=ratio <= 3.0, also=[zero])
    big, boto = lat["big_rtt"], lat["boto3_rtt"]
    csv = lat["big_csv_bytes"]
    row("15", f"boto3 upload_file (10 threads), {rtt:g} ms RTT", boto, csv=csv)
    ratio = boto["seconds"] / big["seconds"]
    row("15", f"one {csv / MB:.0f} MB table to s3://, {rtt:g} ms RTT", big, csv=csv, ratio=ratio,
        threshold=">= 0.8x boto3", passed=ratio >= 0.8, also=[boto])


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

COLUMNS = ("goal", "contender", "seconds", "mb_per_s_csv", "stored_mb", "ratio", "threshold",
           "verdict", "others_cpu")


def build_rows(r, args):
    """The printed table, one dict per line (COLUMNS). Ratios are of rates,
    each contender's rate being the same CSV bytes over its own seconds.
    others_cpu: share of the machine's CPU used by other processes meanwhile."""
    csv_total = r["csv_bytes_total"]
    b, o, w = r.get("baselines"), r.get("ours", {}), args.workers
    rows = []

    def verdict(passed, checked):
        # A run that did not succeed makes its goal ERROR, not a fast PASS.
        if any(x.get("status", "succeeded") != "succeeded" for x in checked):
            return "ERROR"
        return "PASS" if passed else "FAIL"

    def row(goal, name, res=None, csv=csv_total, ratio=None, threshold="", passed=None,
            stored=None, mbps=None, also=()):
        rows.append(dict(zip(COLUMNS, (
            goal, name, res["seconds"] if res else None,
            mbps if mbps is not None else (csv / res["seconds"] / MB if res else None),
            stored if stored is not None else
            (res["stored_bytes"] / MB if res and res.get("stored_bytes") else None),
            ratio, threshold,
            "" if passed is None else verdict(passed, ([res] if res else []) + list(also)),
            res.get("others_cpu") if res else None))))

    def rate(res, csv=csv_total):
        return csv / res["seconds"]

    if b:
        row("", f"COPY TO '/dev/null', {w} procs", b["copy_devnull"])
        row("", f"pg_dump -Fd -j{w} -Z0", b["pg_dump_z0"])
        row("", f"pg_dump -Fd -j{w} -Z6", b["pg_dump_z6"])
        row("", f"COPY | gzip -6, {w} procs", b["copy_gzip"])
    dump6 = b["pg_dump_z6"] if b else None
    if "gzip" in o:
        ratio = rate(o["gzip"]) / rate(dump6)
        row("1", "cdw_backup gzip", o["gzip"], ratio=ratio, threshold=">= 2.0x pg_dump -Z6",
            passed=ratio >= 2.0)
        size_ratio = o["gzip"]["stored_bytes"] / dump6["stored_bytes"]
        rows.append(dict(zip(COLUMNS, (
            "1", "  stored bytes vs pg_dump -Z6", None, None, o["gzip"]["stored_bytes"] / MB,
            size_ratio, "<= 1.0x", verdict(size_ratio <= 1.0, [o["gzip"]]), None))))
    if "none" in o:
        ratio = rate(o["none"]) / rate(b["copy_devnull"])
        row("2", "cdw_backup none", o["none"], ratio=ratio, threshold=">= 0.9x COPY /dev/null",
            passed=ratio >= 0.9)
    if "zstd" in o:
        ratio = rate(o["zstd"]) / rate(dump6)
        row("3", "cdw_backup zstd", o["zstd"], ratio=ratio, threshold=">= 3.0x pg_dump -Z6",
            passed=ratio >= 3.0)
    one = r.get("one_table")
    if one:
        for compression in ("none", "gzip"):
            single = one[f"{compression}_workers_1"]
            multi = one[f"{compression}_workers_{w}"]
            row("4", f"bench_one ({one['table']}) {compression}, 1 worker", single,
                csv=one["csv_bytes"])
            ratio = single["seconds"] / multi["seconds"]
            if compression == "none":
                row("4", f"bench_one ({one['table']}) {compression}, {w} workers", multi,
                    csv=one["csv_bytes"], ratio=ratio, threshold=">= 1.7x 1 worker",
                    passed=ratio >= 1.7, also=[single])
                machine = r.get("copy_scaling")
                if machine:
                    row("4", f"  COPY {one['table']} /dev/null, 1 process", machine["one"],
                        csv=one["csv_bytes"])
                    row("4", f"  COPY {one['table']} /dev/null, {w} processes (ranges)",
                        machine["many"], csv=one["csv_bytes"], ratio=machine["scaling"],
                        threshold="(info: the machine's own)")
            else:  # information: one gzip worker already uses two threads
                row("4", f"bench_one ({one['table']}) {compression}, {w} workers", multi,
                    csv=one["csv_bytes"], ratio=ratio, threshold="(info: 1 worker = 2 threads)",
                    also=[single])
    enc = r.get("gzip_encrypted")
    plain = r.get("gzip_for_encryption") or o.get("gzip")
    if enc and plain:
        ratio = rate(enc) / rate(plain)
        row("10", "cdw_backup gzip (interleaved)", plain)
        row("10", "cdw_backup gzip + encryption", enc, ratio=ratio, threshold=">= 0.9x gzip",
            passed=ratio >= 0.9, also=[plain])
        cpu = r.get("encryption_cpu")
        if cpu:
            row("10", "  CPU seconds gzip / gzip + encryption", None,
                ratio=cpu["gzip"] / cpu["gzip_encrypted"], threshold="(info: medians)")
    many = r.get("many_tables")
    if many:
        limit = 60.0 * args.many_tables / 10000  # the 60 s are for 10,000 tables
        row("5", f"bench_many: {args.many_tables} small tables, gzip", many, mbps=0.0,
            threshold=f"<= {limit:g} s", passed=many["seconds"] <= limit)
    for compression, res in o.items():
        rss = res.get("rss")
        if not rss or rss["max_anon_growth"] is None:
            continue
        growth = rss["max_anon_growth"] / MIB
        rows.append(dict(zip(COLUMNS, (
            "6", f"  worker RSS growth, {compression} (MiB)", None, None, None, growth,
            "<= 64 MiB", verdict(growth <= 64, [res]), None))))
    s3 = r.get("s3")
    if s3:
        row("7", f"boto3 upload_fileobj, file ({s3['table']})", s3["boto3"],
            mbps=s3["boto3"]["rate"] / MB, stored=s3["boto3"]["bytes"] / MB)
        if "boto3_copy" in s3:
            row("7", "boto3 upload_fileobj, COPY TO STDOUT", s3["boto3_copy"],
                mbps=s3["boto3_copy"]["rate"] / MB, stored=s3["boto3_copy"]["bytes"] / MB)
        # Goal 7 compares the same work: table -> CSV -> S3. The file upload
        # (its CSV made by an untimed COPY) is shown against ours for
        # information; tests/perf/s3_upload_perf.py compares the S3 clients
        # alone on the same file.
        same_work = s3.get("boto3_copy", s3["boto3"])
        ratio = s3["ours"]["rate"] / same_work["rate"]
        row("7", "cdw_backup_fdw INSERT to s3://", s3["ours"], mbps=s3["ours"]["rate"] / MB,
            stored=s3["ours"]["bytes"] / MB, ratio=ratio,
            threshold=">= 0.8x boto3 (same work)", passed=ratio >= 0.8, also=[same_work])
        file_ratio = s3["ours"]["rate"] / s3["boto3"]["rate"]
        row("7", "  vs boto3 from the ready file", None, ratio=file_ratio,
            threshold="(info: CSV made untimed)")
    if r.get("latency"):
        latency_rows(r["latency"], row)
    limited = r.get("max_rate")
    if limited:
        res, limit = limited["run"], limited["limit"]
        free = o["none"]
        row("8", "cdw_backup none, no limit (stored MB/s)", free,
            mbps=free["stored_bytes"] / free["history_seconds"] / MB)
        achieved = res["stored_bytes"] / res["history_seconds"]
        ratio = achieved / limit
        row("8", f"cdw_backup none, max_rate {limit // MIB}MB (stored MB/s)", res,
            mbps=achieved / MB, ratio=ratio, threshold="0.9x..1.1x the limit",
            passed=0.9 <= ratio <= 1.1)
    for key, label in (("incremental", "file://"), ("incremental_s3", "s3:// (moto)")):
        inc = r.get(key)
        if not inc:
            continue
        first, same = inc["first"], inc["unchanged"]
        csv = first["bytes_raw"]
        row("13", f"incremental {label}: full run", first, csv=csv)
        ratio = same["seconds"] / first["seconds"]
        row("13", f"incremental {label}: unchanged", same, csv=csv, ratio=ratio,
            threshold="wall <= 0.2x full", passed=ratio <= 0.2, also=[first])
        written = same["bytes_written"] / max(first["bytes_written"], 1)
        row("13", "  bytes written vs full", None, ratio=written, threshold="<= 0.01",
            passed=written <= 0.01, also=[same, first], stored=same["bytes_written"] / MB)
        full, changed = inc["changed_full"], inc["changed"]
        row("14", f"incremental {label}: +1% rows, 0.1% updated, full", full, csv=csv)
        ratio = changed["seconds"] / full["seconds"]
        row("14", f"incremental {label}: +1% rows, 0.1% updated", changed, csv=csv, ratio=ratio,
            threshold="wall <= 0.3x full", passed=ratio <= 0.3, also=[full])
        written = changed["bytes_written"] / max(full["bytes_written"], 1)
        row("14", "  bytes written vs full", None, ratio=written, threshold="<= 0.05",
            passed=written <= 0.05, also=[changed, full], stored=changed["bytes_written"] / MB)
        if "restored_same" in inc:
            row("14", "  restore of it = restore of the full run", None,
                threshold="the same rows", passed=inc["restored_same"], also=[changed, full])
    return rows


def print_table(rows):
    header = ("goal", "contender", "seconds", "MB/s CSV", "stored MB", "ratio", "goal",
              "verdict", "others")

    def fmt(value, spec):
        return "" if value is None else format(value, spec)
    lines = [(r["goal"], r["contender"], fmt(r["seconds"], ".2f"),
              "-" if r["mb_per_s_csv"] == 0 else fmt(r["mb_per_s_csv"], ".1f"),
              fmt(r["stored_mb"], ".1f"), fmt(r["ratio"], ".2f"), r["threshold"], r["verdict"],
              "" if r["others_cpu"] is None else f"{100 * r['others_cpu']:.0f}%")
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    numeric = {2, 3, 4, 5, 8}
    for i, line in enumerate([header] + lines):
        print("  ".join(str(x).rjust(wd) if j in numeric else str(x).ljust(wd)
                        for j, (x, wd) in enumerate(zip(line, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * wd for wd in widths))


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0,
                   help="dataset size: 1 is ~300 MB of CSV, 3 is ~0.9 GB (issue 7's size)")
    p.add_argument("--workers", type=int, default=2,
                   help="cdw_backup.max_workers, pg_dump -j and COPY processes (default 2)")
    p.add_argument("--many-tables", type=int, default=10000,
                   help="tables in bench_many for goal 5 (default 10000; 0 skips the goal); "
                        "the 60 s limit is scaled to the count")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every contender this many times and keep the fastest (default 1)")
    p.add_argument("--skip-one-table", action="store_true", help="skip goal 4")
    p.add_argument("--s3", action="store_true", help="also run goal 7 against moto_server")
    p.add_argument("--eta", action="store_true", help="also run goal 9 (ETA at 50%%)")
    p.add_argument("--only-eta", action="store_true",
                   help="generate database bench and run goal 9 only")
    p.add_argument("--only-incremental", action="store_true",
                   help="measure goals 13 and 14 only (with --s3: on moto too)")
    p.add_argument("--latency", action="store_true",
                   help="also run goal 15 (issue 16 goal 3: object-store latency)")
    p.add_argument("--only-latency", action="store_true", help="run goal 15 only")
    p.add_argument("--latency-ms", type=float, default=25.0,
                   help="goal 15's added round-trip time in ms (default 25)")
    p.add_argument("--latency-tables", type=int, default=1000,
                   help="goal 15's small tables (default 1000)")
    p.add_argument("--latency-mb", type=float, default=500,
                   help="goal 15's big table, MB of CSV (default 500)")
    p.add_argument("--s3-table", default="orders",
                   help="table written to S3 for goal 7 (default orders, ~50 MB at scale 1)")
    p.add_argument("--max-rate-mb", type=int, default=0,
                   help="goal 8's max_rate in MiB/s (default: a third of the unthrottled rate of "
                        "compression none; -1 skips the goal)")
    p.add_argument("--databases", type=int, default=0,
                   help="goal 11: this many databases of 5 small tables (issue 16: 200; 0 skips)")
    p.add_argument("--table-counts", default="",
                   help="goal 12: comma-separated counts of tiny tables in one database, each "
                        "measured (e.g. 1000,10000,50000; empty skips)")
    p.add_argument("--only-scale", action="store_true",
                   help="measure only goals 11 and 12 (no database bench)")
    p.add_argument("--bindir", help="PostgreSQL bin directory to use (default: PG_BINDIR or "
                                    "pg_config's); its server must have cdw_backup installed")
    p.add_argument("--shared-buffers", default="256MB")
    p.add_argument("--timeout", type=int, default=1800, help="seconds before a run is cancelled")
    p.add_argument("--keep", action="store_true", help="keep the cluster and its data")
    p.add_argument("--reuse", metavar="DIR", help="reuse the cluster kept by --keep in DIR")
    p.add_argument("--results-dir", default=HERE)
    return p.parse_args()


def git_commit():
    try:
        return subprocess.check_output(["git", "-C", SOURCE_DIR, "describe", "--always",
                                        "--dirty"], text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def library_mtime():
    try:
        libdir = subprocess.check_output([os.path.join(PG_BINDIR, "pg_config"), "--pkglibdir"],
                                         text=True).strip()
        return datetime.datetime.fromtimestamp(
            os.path.getmtime(os.path.join(libdir, "cdw_backup.so"))).isoformat()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    args = parse_args()
    begun = time.monotonic()
    load_before = os.getloadavg()
    if args.reuse:
        cluster = attach_cluster(args.reuse, args)
        log(f"reusing the cluster in {cluster.dir}")
    else:
        cluster = Cluster(settings=cluster_settings(args))
        log(f"cluster in {cluster.dir}, port {cluster.port}")
    work_dirs = []
    try:
        if args.only_scale:
            results = run_scale_only(cluster, args, work_dirs)
            results["total_seconds"] = time.monotonic() - begun
            results["load_average"] = {"before": load_before, "after": os.getloadavg()}
            rows = scale_rows(results, args)
            results["table"] = rows
            print_table(rows)
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = os.path.join(args.results_dir, f"results-scale-{stamp}.json")
            with open(path, "w") as f:
                json.dump(results, f, indent=2, default=str)
            print(f"results: {path}")
            return
        if args.only_latency:
            results = run_latency_only(cluster, args, work_dirs)
            rows = []
            build_latency_table(results, rows)
            print_table(rows)
            print(json.dumps(results, indent=2, default=str))
            return
        if args.only_eta:
            results = run_eta_only(cluster, args, work_dirs)
            print(json.dumps({k: v for k, v in results["eta"].items() if k != "samples"},
                             indent=2, default=str))
            return
        results = run_all(cluster, args, work_dirs)
    finally:
        for path in work_dirs:
            shutil.rmtree(path, ignore_errors=True)
        if args.keep or args.reuse:
            cluster.stop()
            log(f"cluster kept (stopped): rerun with --reuse {cluster.dir}")
        else:
            cluster.destroy()
    results["total_seconds"] = time.monotonic() - begun
    # Every figure assumes the machine does nothing else: say so when it did.
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    rows = build_rows(results, args) + scale_rows(results, args)
    results["table"] = rows
    print()
    print(f"CSV: {results['csv_bytes_total'] / MB:.1f} MB in {len(results['csv_bytes'])} tables "
          f"(largest: {max(results['csv_bytes'].values()) / MB:.1f} MB); "
          f"{args.workers} workers; {os.cpu_count()} CPUs; MB = 10^6 bytes")
    print_table(rows)
    print(f"\ntotal {results['total_seconds']:.0f} s")
    busy = max((r["others_cpu"] or 0) for r in rows)
    if busy > 0.10:
        print(f"warning: other processes used up to {100 * busy:.0f}% of the CPUs during a "
              f"contender (column others); ratios involving it are not reliable")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(args.results_dir, f"results-{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=str)
    print(f"results: {path}")


def run_latency_only(cluster, args, work_dirs):
    cluster.sql("CREATE EXTENSION IF NOT EXISTS cdw_backup")
    set_max_workers(cluster, args.workers)
    work_dir = make_shared_dir("cdw_bench_lat_work_")
    work_dirs.append(work_dir)
    log("goal 15: object-store latency ...")
    return {"latency": latency_goal(cluster, args, work_dir)}


def build_latency_table(results, rows):
    def row(goal, name, res=None, csv=0, ratio=None, threshold="", passed=None, mbps=None,
            also=()):
        checked = ([res] if res else []) + list(also)
        verdict = ("" if passed is None else "ERROR" if any(
            x.get("status", "succeeded") != "succeeded" for x in checked)
            else "PASS" if passed else "FAIL")
        rows.append(dict(zip(COLUMNS, (
            goal, name, res["seconds"] if res else None,
            mbps if mbps is not None else (csv / res["seconds"] / MB if res else None),
            None, ratio, threshold, verdict, res.get("others_cpu") if res else None))))
    latency_rows(results["latency"], row)


def run_eta_only(cluster, args, work_dirs):
    cluster.sql("CREATE EXTENSION IF NOT EXISTS cdw_backup")
    set_max_workers(cluster, args.workers)
    generate_bench(cluster, args)
    target_dir = make_shared_dir("cdw_bench_target_")
    work_dirs.append(target_dir)
    cluster.sql("SELECT cdw_backup_drop_target('bench') FROM cdw_backup.targets "
                "WHERE name = 'bench'")
    cluster.sql(f"SELECT cdw_backup_add_target('bench', 'file://{target_dir}')")
    log("goal 9: ETA at 50% of a run of database bench, gzip ...")
    eta = eta_goal(cluster, target_dir, "gzip", args.timeout)
    if "eta_error" in eta:
        log(f"  at {eta['at_half']['t']:.1f} s ({eta['at_half']['percent']:.1f}%) the ETA was "
            f"{eta['at_half']['eta']:.1f} s; the run took {eta['actual_remaining']:.1f} s more: "
            f"error {100 * eta['eta_error']:+.1f}% (goal +-25%): "
            f"{'PASS' if abs(eta['eta_error']) <= 0.25 else 'FAIL'}")
    return {"eta": eta}


def run_all(cluster, args, work_dirs):
    results = {
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        # The source tree's commit; the library measured is the installed one,
        # so its time says whether it was built from that tree.
        "commit": git_commit(), "library_built_at": library_mtime(),
        "host": platform.node(), "cpus": os.cpu_count(),
        "server_version": cluster.value("SHOW server_version"),
        "args": vars(args), "settings": cluster_settings(args),
    }
    with open(os.path.join(cluster.data, "postmaster.pid")) as f:
        METER.add_root(int(f.readline()))  # the server's CPU is ours, not the others'
    cluster.sql("CREATE EXTENSION IF NOT EXISTS cdw_backup")
    set_max_workers(cluster, args.workers)

    regenerated = generate_bench(cluster, args)
    tables = table_list(cluster, "bench")
    if not args.skip_one_table:
        generate_bench_one(cluster, args, regenerated)
    if args.many_tables:
        generate_bench_many(cluster, args)

    log("measuring CSV bytes (and warming the page cache) ...")
    sizes = {t: csv_bytes(cluster, "bench", t) for t in tables}
    tables.sort(key=lambda t: -sizes[t])  # largest first, for the process pools
    results["csv_bytes"] = sizes
    results["csv_bytes_total"] = sum(sizes.values())
    log(f"  {results['csv_bytes_total'] / MB:.1f} MB: "
        + ", ".join(f"{t} {s / MB:.1f}" for t, s in sizes.items()))

    # Everyone writes to the same disk: temp directories next to the cluster's.
    out_dir = make_shared_dir("cdw_bench_out_")
    target_dir = make_shared_dir("cdw_bench_target_")
    work_dirs += [out_dir, target_dir]
    cluster.sql("SELECT cdw_backup_drop_target('bench') FROM cdw_backup.targets "
                "WHERE name = 'bench'")
    cluster.sql(f"SELECT cdw_backup_add_target('bench', 'file://{target_dir}')")
    # Goal 8: the same target directory, encrypted to a fresh age identity
    # (a passphrase when age-keygen is missing).
    try:
        key = next(line for line in subprocess.run(["age-keygen"], capture_output=True, text=True,
                                                   check=True).stdout.splitlines()
                   if line.startswith("AGE-SECRET-KEY-1"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        key = "bench passphrase " + str(os.getpid())
    cluster.sql("SELECT cdw_backup_drop_target('bench_enc') FROM cdw_backup.targets "
                "WHERE name = 'bench_enc'")
    cluster.sql(f"SELECT cdw_backup_add_target('bench_enc', 'file://{target_dir}', "
                f"options => '{{\"encryption\": \"on\"}}', encryption_key => '{key}')")

    w = args.workers
    if not args.only_incremental:
        run_baselines_and_goals(cluster, args, results, tables, sizes, target_dir, out_dir,
                                work_dirs)
    log("incremental runs (goals 13, 14), file:// ...")
    inc_dir = make_shared_dir("cdw_bench_inc_")
    work_dirs.append(inc_dir)
    results["incremental"] = incremental_goal(cluster, args, tables, f"file://{inc_dir}",
                                              "bench_inc")
    if args.s3:
        log("incremental runs (goals 13, 14), s3:// on moto_server ...")
        moto_dir = make_shared_dir("cdw_bench_moto_")
        work_dirs.append(moto_dir)
        moto, endpoint, moto_log, _ = start_moto(moto_dir)
        try:
            results["incremental_s3"] = incremental_goal(
                cluster, args, tables, "s3://bench/inc", "bench_inc_s3",
                json.dumps({"endpoint": endpoint}))
        finally:
            os.killpg(moto.pid, 15)
            moto.wait()
            moto_log.close()
    return results


def run_baselines_and_goals(cluster, args, results, tables, sizes, target_dir, out_dir,
                            work_dirs):
    w = args.workers
    b = results["baselines"] = {}
    log(f"COPY TO '/dev/null', {w} processes ...")
    n = args.repeat
    b["copy_devnull"] = best_of(n, lambda: baseline_copy_devnull(cluster, tables, w))
    log(f"pg_dump -Fd -j{w} -Z0 ...")
    b["pg_dump_z0"] = best_of(n, lambda: baseline_pg_dump(cluster, w, 0, out_dir))
    log(f"pg_dump -Fd -j{w} -Z6 ...")
    b["pg_dump_z6"] = best_of(n, lambda: baseline_pg_dump(cluster, w, 6, out_dir))
    log(f"COPY | gzip -6, {w} processes ...")
    b["copy_gzip"] = best_of(n, lambda: baseline_copy_gzip(cluster, tables, w, out_dir))

    o = results["ours"] = {}
    for compression in ("gzip", "zstd", "none"):
        log(f"cdw_backup_run, compression {compression} ...")
        o[compression] = best_of(n, lambda: our_run(cluster, target_dir, "bench", compression,
                                                    args.timeout, sample_rss=True))
        if o[compression]["bytes_raw"] != results["csv_bytes_total"]:
            log(f"  note: bytes_raw {o[compression]['bytes_raw']} != CSV bytes "
                f"{results['csv_bytes_total']}")
    # Goal 10: gzip alone and gzip + encryption alternate (ABBA...), so that
    # the load of a shared machine drifts over both alike; CPU seconds of
    # our processes show the cost whatever the machine's load.
    log("goal 10: cdw_backup_run gzip and gzip + encryption, interleaved ...")
    pairs = {"bench": [], "bench_enc": []}
    for i in range(max(n, 3)):
        for target in ("bench", "bench_enc") if i % 2 == 0 else ("bench_enc", "bench"):
            pairs[target].append(our_run(cluster, target_dir, "bench", "gzip", args.timeout,
                                         target=target))
    results["gzip_for_encryption"] = best_run(pairs["bench"])
    results["gzip_encrypted"] = best_run(pairs["bench_enc"])
    results["encryption_cpu"] = {
        name: sorted(run["our_cpu_seconds"] for run in runs)[len(runs) // 2]
        for name, runs in (("gzip", pairs["bench"]), ("gzip_encrypted", pairs["bench_enc"]))}

    if args.max_rate_mb >= 0 and o["none"]["status"] == "succeeded":
        free = o["none"]["stored_bytes"] / o["none"]["history_seconds"]
        # A third: the tail of a run, when one worker is left, still keeps up.
        limit_mib = args.max_rate_mb or max(1, int(free / 3 / MIB))
        log(f"max_rate: compression none at {limit_mib}MB (1024-based) per second, "
            f"unthrottled {free / MIB:.1f} MiB/s ...")
        results["max_rate"] = {"limit": limit_mib * MIB, "run": our_run(
            cluster, target_dir, "bench", "none", args.timeout, max_rate=f"{limit_mib}MB")}

    if not args.skip_one_table:
        largest = tables[0]
        log(f"bench_one: COPY {largest} TO '/dev/null' in 1 and {w} processes ...")
        results["copy_scaling"] = copy_scaling(cluster, "bench_one", largest, w, n)
        one = results["one_table"] = {"table": largest, "csv_bytes": sizes[largest]}
        # Goal 4 is measured without compression: with gzip one worker
        # already keeps a second core busy (its compression thread), so on a
        # 2-core machine the gzip figure shows the cores, not the splitting.
        # It is printed too, for information.
        for compression in ("none", "gzip"):
            for count in sorted({1, w}):
                log(f"bench_one ({largest} only), {compression}, "
                    f"cdw_backup.max_workers = {count} ...")
                set_max_workers(cluster, count)
                one[f"{compression}_workers_{count}"] = best_of(n, lambda: our_run(
                    cluster, target_dir, "bench_one", compression, args.timeout))
        set_max_workers(cluster, w)

    if args.many_tables:
        log(f"bench_many ({args.many_tables} tables), gzip ...")
        results["many_tables"] = best_of(n, lambda: our_run(cluster, target_dir, "bench_many",
                                                            "gzip", args.timeout))
        results["many_tables"]["tables"] = args.many_tables

    if args.s3:
        log(f"S3: cdw_backup_fdw vs boto3 on moto_server, table {args.s3_table} ...")
        s3_dir = make_shared_dir("cdw_bench_s3_")
        work_dirs.append(s3_dir)
        results["s3"] = s3_goal(cluster, args.s3_table, sizes[args.s3_table], s3_dir,
                                args.repeat)
    if args.eta:
        log("goal 9: ETA at 50% of a run of database bench, gzip ...")
        results["eta"] = eta_goal(cluster, target_dir, "gzip", args.timeout)
    scale_goals(cluster, args, target_dir, out_dir, results)
    if args.latency:
        log("goal 15: object-store latency ...")
        lat_dir = make_shared_dir("cdw_bench_lat_work_")
        work_dirs.append(lat_dir)
        results["latency"] = latency_goal(cluster, args, lat_dir)
    return results


# ---------------------------------------------------------------------------
# Goals 11 and 12 (issue 16): many databases, many tables
# ---------------------------------------------------------------------------

SMALL_TABLE = ("(id bigint PRIMARY KEY, name text, updated_at timestamptz, amount numeric(10,2))")
SMALL_ROWS = ("SELECT g, ''item '' || g, timestamptz ''2024-01-01 00:00:00+00'' + g * "
              "interval ''1 day'', g * 1.25 FROM generate_series(1, 20) g")


def create_small_tables(cluster, db, names):
    """Tables of 20 rows, 1,000 per transaction (no transaction needs too many locks)."""
    for first in range(0, len(names), 1000):
        batch = names[first:first + 1000]
        cluster.sql(f"""
            DO $$
            DECLARE t text;
            BEGIN
              FOREACH t IN ARRAY {sql_array(batch)} LOOP
                EXECUTE format('CREATE TABLE %I {SMALL_TABLE}', t);
                EXECUTE format('INSERT INTO %I {SMALL_ROWS}', t);
              END LOOP;
            END $$;
        """, db=db)


def scale_database_names(n):
    return [f"scale_db_{i:03d}" for i in range(1, n + 1)]


def generate_scale_databases(cluster, args):
    """Goal 11: --databases databases scale_db_NNN of 5 tables t1..t5 (copies
    of template scale_tpl), and scale_one holding the same tables (dNNN_tK)."""
    marker = dataset_marker(f"scale_dbs_{args.databases}", args)
    if database_comment(cluster, "scale_one") == marker:
        return
    log(f"goal 11: creating {args.databases} databases x 5 tables ...")
    started = time.monotonic()
    existing = cluster.sql("SELECT datname FROM pg_database WHERE datname LIKE 'scale\\_db\\_%' "
                           "OR datname IN ('scale_one', 'scale_tpl')")
    cluster.sql("".join(f'DROP DATABASE "{d}";\n' for d in existing.splitlines()))
    cluster.sql("CREATE DATABASE scale_tpl")
    create_small_tables(cluster, "scale_tpl", [f"t{k}" for k in range(1, 6)])
    cluster.sql("VACUUM (FREEZE, ANALYZE)", db="scale_tpl")
    cluster.sql("".join(f"CREATE DATABASE {d} TEMPLATE scale_tpl;\n"
                        for d in scale_database_names(args.databases)))
    cluster.sql("CREATE DATABASE scale_one")
    create_small_tables(cluster, "scale_one", [f"d{i:03d}_t{k}" for i in range(1, args.databases + 1)
                                               for k in range(1, 6)])
    cluster.sql("VACUUM (FREEZE, ANALYZE)", db="scale_one")
    cluster.sql("CHECKPOINT")
    cluster.sql(f"COMMENT ON DATABASE scale_one IS '{marker}'")
    log(f"  created in {time.monotonic() - started:.1f} s")


def generate_scale_tables(cluster, args, count):
    """Goal 12: database scale_many_N with N tables of 20 rows."""
    db = f"scale_many_{count}"
    marker = dataset_marker(db, args)
    if database_comment(cluster, db) == marker:
        return db
    log(f"goal 12: creating {count} tables in {db} ...")
    started = time.monotonic()
    cluster.sql(f"DROP DATABASE IF EXISTS {db}")
    cluster.sql(f"CREATE DATABASE {db}")
    create_small_tables(cluster, db, [f"small_{t:05d}" for t in range(1, count + 1)])
    cluster.sql("VACUUM (FREEZE, ANALYZE)", db=db)
    cluster.sql("CHECKPOINT")
    cluster.sql(f"COMMENT ON DATABASE {db} IS '{marker}'")
    log(f"  created in {time.monotonic() - started:.1f} s")
    return db


def our_run_databases(cluster, target_dir, databases, timeout):
    """One cdw_backup_run() of several databases, gzip, timed wall-clock."""
    for name in os.listdir(target_dir):
        shutil.rmtree(os.path.join(target_dir, name), ignore_errors=True)
    clock, status = timed(lambda: cluster.value(f"""
        SELECT cdw_backup_wait(cdw_backup_run(target => 'bench',
                                              databases => {sql_array(databases)},
                                              compression => 'gzip', wait => false),
                               interval '{timeout} seconds')"""))
    run = json.loads(cluster.value(
        "SELECT row_to_json(r) FROM (SELECT run_id, status, tables_total, tables_failed, error "
        "FROM cdw_backup.runs ORDER BY run_id DESC LIMIT 1) r"))
    if status != "succeeded":
        log(f"  run {run['run_id']} ended {status}: {run.get('error')}")
    return {**clock, "status": status, "run_id": run["run_id"],
            "tables_total": run["tables_total"], "target_bytes": du_bytes(target_dir)}


def pg_dump_loop(cluster, databases, workers, out_dir):
    """A shell loop of pg_dump -Fd -jN -Z6, one database after another."""
    target = os.path.join(out_dir, "dump-loop")
    os.makedirs(target, exist_ok=True)
    script = (f'for db in {" ".join(databases)}; do "{PG_BINDIR}/pg_dump" -h "{cluster.dir}" '
              f'-p {cluster.port} -U postgres -Fd -j{workers} -Z6 -f "{target}/$db" "$db" '
              f'|| exit 1; done')
    clock, _ = timed(lambda: subprocess.run(["sh", "-c", script], check=True))
    shutil.rmtree(target, ignore_errors=True)
    return clock


def pg_dump_database(cluster, db, workers, out_dir):
    target = os.path.join(out_dir, f"dump-{db}")
    clock, _ = timed(lambda: subprocess.run(
        [f"{PG_BINDIR}/pg_dump", "-h", cluster.dir, "-p", str(cluster.port), "-U", "postgres",
         "-Fd", f"-j{workers}", "-Z6", "-f", target, db], check=True))
    shutil.rmtree(target, ignore_errors=True)
    return clock


def scale_goals(cluster, args, target_dir, out_dir, results):
    w, n = args.workers, args.repeat
    if args.databases:
        generate_scale_databases(cluster, args)
        names = scale_database_names(args.databases)
        g = results["databases"] = {"count": args.databases}
        log(f"goal 11: cdw_backup_run of {args.databases} databases ...")
        g["ours"] = best_of(n, lambda: our_run_databases(cluster, target_dir, names,
                                                         args.timeout))
        log("goal 11: cdw_backup_run of scale_one (the same tables in one database) ...")
        g["one"] = best_of(n, lambda: our_run_databases(cluster, target_dir, ["scale_one"],
                                                        args.timeout))
        log(f"goal 11: a shell loop of pg_dump -Fd -j{w} -Z6 over {args.databases} databases ...")
        g["pg_dump_loop"] = best_of(n, lambda: pg_dump_loop(cluster, names, w, out_dir))
    counts = [int(c) for c in args.table_counts.split(",") if c]
    if counts:
        t = results["table_counts"] = {}
        for count in counts:
            db = generate_scale_tables(cluster, args, count)
            log(f"goal 12: cdw_backup_run of {db} ...")
            ours = best_of(n, lambda: our_run(cluster, target_dir, db, "gzip", args.timeout,
                                              sample_rss=True))
            ours.pop("largest_tables", None)
            log(f"  {ours['seconds']:.1f} s; pg_dump -Fd -j{w} -Z6 of {db} ...")
            dump = best_of(n, lambda: pg_dump_database(cluster, db, w, out_dir))
            log(f"  {dump['seconds']:.1f} s")
            t[str(count)] = {"ours": ours, "pg_dump": dump}


def scale_rows(r, args):
    rows = []
    w = args.workers

    def add(goal, name, seconds=None, ratio=None, threshold="", verdict="", others=None):
        rows.append(dict(zip(COLUMNS, (goal, name, seconds, 0.0 if seconds else None, None,
                                       ratio, threshold, verdict, others))))

    def judge(passed, *runs):
        if any(x.get("status", "succeeded") != "succeeded" for x in runs):
            return "ERROR"
        return "PASS" if passed else "FAIL"
    g = r.get("databases")
    if g:
        ours, one, loop = g["ours"], g["one"], g["pg_dump_loop"]
        add("11", f"{g['count']} databases x 5 tables, gzip", ours["seconds"],
            others=ours.get("others_cpu"))
        ratio = ours["seconds"] / one["seconds"]
        add("11", f"  vs one database of the same {5 * g['count']} tables", one["seconds"], ratio,
            "<= 1.5x", judge(ratio <= 1.5, ours, one), one.get("others_cpu"))
        speedup = loop["seconds"] / ours["seconds"]
        add("11", f"  vs shell loop of pg_dump -Fd -j{w} -Z6", loop["seconds"], speedup,
            ">= 5x faster", judge(speedup >= 5, ours), loop.get("others_cpu"))
    t = r.get("table_counts")
    if t:
        counts = sorted(t, key=int)
        base = t[counts[0]]["ours"]["seconds"] / int(counts[0])
        for count in counts:
            ours, dump = t[count]["ours"], t[count]["pg_dump"]
            ratio = ours["seconds"] / dump["seconds"]
            add("12", f"{count} tables, gzip", ours["seconds"], ratio,
                f"<= 0.5x pg_dump -j{w} -Z6 ({dump['seconds']:.1f} s)", judge(ratio <= 0.5, ours),
                ours.get("others_cpu"))
            per = ours["seconds"] / int(count)
            add("12", f"  ms per table ({1000 * per:.2f})", None, per / base,
                f"within +-30% of {counts[0]}'s", judge(abs(per / base - 1) <= 0.3, ours))
            rss = ours.get("rss") or {}
            if rss.get("max_anon_growth") is not None:
                growth = rss["max_anon_growth"] / MIB
                add("12", "  worker RssAnon growth (MiB)", None, growth, "<= 64 MiB",
                    judge(growth <= 64, ours))
    return rows


def run_scale_only(cluster, args, work_dirs):
    results = {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
               "commit": git_commit(), "library_built_at": library_mtime(),
               "cpus": os.cpu_count(), "args": vars(args), "settings": cluster_settings(args)}
    with open(os.path.join(cluster.data, "postmaster.pid")) as f:
        METER.add_root(int(f.readline()))
    cluster.sql("CREATE EXTENSION IF NOT EXISTS cdw_backup")
    set_max_workers(cluster, args.workers)
    out_dir = make_shared_dir("cdw_bench_out_")
    target_dir = make_shared_dir("cdw_bench_target_")
    work_dirs += [out_dir, target_dir]
    cluster.sql("SELECT cdw_backup_drop_target('bench') FROM cdw_backup.targets "
                "WHERE name = 'bench'")
    cluster.sql(f"SELECT cdw_backup_add_target('bench', 'file://{target_dir}')")
    scale_goals(cluster, args, target_dir, out_dir, results)
    return results


if __name__ == "__main__":
    main()
