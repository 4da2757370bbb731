"""Every server encoding round-trips names and data; what is on the target is UTF-8.

For each encoding PostgreSQL accepts as a server encoding, a database of
that encoding gets a schema, a table and columns whose names hold non-ASCII
characters of that encoding, and rows of such text (text, varchar, jsonb,
text[] and an enum, so the writer's fast paths and the output functions are
both covered). One run backs all of them up; the test then checks, without
cdw_backup:
- history in the UTF-8 home database holds the names as they read in their
  database (psql output decoded strictly as UTF-8),
- the manifest is strict UTF-8 JSON with "source_encoding" the database's
  encoding and "encoding" (the parts' text) UTF8,
- object keys (file names; S3 keys read back with boto3) are the names in
  UTF-8, and the parts decompress to strict UTF-8 text,
and that cdw_backup_restore() gives back the same rows under the same names
in a UTF-8 database and in a database of the source's encoding.

SQL_ASCII has no encoding, so no conversion: its bytes are written as they
are and the manifest says "encoding": "SQL_ASCII"; a restore checks them
against the destination's encoding (an error with a hint for non-UTF-8
bytes restored into a UTF-8 database, not garbage).
"""
import glob
import gzip
import json
import os
import shutil
import subprocess
import unittest

from harness import ClusterTestCase, PsqlError, make_shared_dir, quote_ident, quote_literal
from s3_server import MotoServer

BUCKET = "cdw-encoding"

# Server encodings of PostgreSQL 15 (pg_wchar.h, PG_VALID_BE_ENCODING),
# SQL_ASCII and MULE_INTERNAL apart (no conversion to UTF-8; tested on their
# own).
SERVER_ENCODINGS = [
    "UTF8", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004",
    "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
    "LATIN10", "WIN1256", "WIN1258", "WIN866", "WIN874", "KOI8R", "WIN1251", "WIN1252",
    "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8", "WIN1250", "WIN1253", "WIN1254",
    "WIN1255", "WIN1257", "KOI8U",
]

# Characters to pick from: each database gets the first few its encoding has
# (asked of PostgreSQL itself, so the test follows its conversion tables).
# Scripts first, Latin last (JIS X 0212 and KS X 1001 have Latin letters too).
POOL = ("한국어日本語表カナｶﾅ中文繁體ЖщЯґєΩλπאבשعربกไ"
        "ŒšžąęłżćčřůőűğışĀāĒēĦħĸĻļŊŋŦŧẀẁŴŵŶŷÞþÐðéüßñøÅÆ€„‰")
NAME_CHARS = 5


def psql(cluster, sql, db="postgres", client_encoding="UTF8", check=True, raw=False):
    """Runs SQL (text, sent as UTF-8, or bytes as they are) with the given
    client_encoding; stdout decoded strictly as UTF-8 (bytes if raw)."""
    args = cluster.psql_args(db, "postgres") + ["-v", "VERBOSITY=verbose"]
    env = dict(os.environ, PGCLIENTENCODING=client_encoding)
    data = sql if isinstance(sql, bytes) else sql.encode("utf-8")
    proc = subprocess.run(args, input=data, capture_output=True, env=env)
    if proc.returncode != 0:
        if check:
            raise PsqlError(proc.stderr.decode("utf-8", "replace"))
        return None, proc.stderr.decode("utf-8", "replace")
    if raw:
        return proc.stdout.strip()
    out = proc.stdout.decode("utf-8").strip()
    return out if check else (out, proc.stderr.decode("utf-8", "replace"))


def json_rows(cluster, sql, db="postgres"):
    out = psql(cluster, f"SELECT coalesce(json_agg(to_json(x)), '[]') FROM ({sql}) x", db=db)
    return json.loads(out)


def restore(cluster, run_id, database, **options):
    args = [str(run_id), quote_literal(database)]
    for key, value in options.items():
        if isinstance(value, bool):
            args.append(f"{key} => {'true' if value else 'false'}")
        else:
            args.append(f"{key} => {quote_literal(value)}")
    return json_rows(cluster, f"SELECT * FROM cdw_backup_restore({', '.join(args)})")


def db_name(prefix, encoding):
    return f"{prefix}_{encoding.lower()}"


def create_database(cluster, name, encoding):
    psql(cluster, f"CREATE DATABASE {quote_ident(name)} ENCODING {quote_literal(encoding)} "
                  "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")


def encode_component(name):
    """layout.h's EncodePathComponent on the UTF-8 bytes of a name."""
    out = []
    for byte in name.encode("utf-8"):
        ch = chr(byte)
        if byte >= 0x80 or ch.isalnum() and ch.isascii() or ch in "_-":
            out.append(bytes([byte]))
        else:
            out.append(b"%%%02X" % byte)
    return b"".join(out).decode("utf-8")


class Sample:
    """The names and rows of one encoding's database (as Python text)."""

    def __init__(self, encoding, chars):
        self.encoding = encoding
        self.chars = chars
        self.database = db_name("src", encoding)
        self.schema = "s_" + chars
        self.table = "t_" + chars
        self.column = "c_" + chars
        self.enum_label = "e_" + chars[::-1]
        self.values = [chars, chars[::-1] + ', "quoted"', f"{chars}\nline two", ""]

    def setup_sql(self):
        s, t, c = quote_ident(self.schema), quote_ident(self.table), quote_ident(self.column)
        rows = []
        for i, value in enumerate(self.values):
            rows.append(f"({i}, {quote_literal(value)}, {quote_literal(value[:3])}, "
                        f"jsonb_build_object({quote_literal(self.column)}, {quote_literal(value)}), "
                        f"ARRAY[{quote_literal(value)}, NULL], "
                        f"{quote_literal(self.enum_label)})")
        rows.append("(99, NULL, NULL, NULL, NULL, NULL)")
        return f"""
            CREATE SCHEMA {s};
            CREATE TYPE {s}.{quote_ident('mood_' + self.chars)} AS ENUM ({quote_literal(self.enum_label)});
            CREATE TABLE {s}.{t} (id int, {c} text, {quote_ident('v_' + self.chars)} varchar(10),
                                  doc jsonb, tags text[],
                                  mood {s}.{quote_ident('mood_' + self.chars)});
            INSERT INTO {s}.{t} VALUES {", ".join(rows)};"""

    def qualified(self):
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"

    def prepare_destination(self, cluster, db):
        """The enum type the table uses (restore recreates tables, not types)."""
        s = quote_ident(self.schema)
        psql(cluster, f"CREATE SCHEMA {s}; CREATE TYPE {s}.{quote_ident('mood_' + self.chars)} "
                      f"AS ENUM ({quote_literal(self.enum_label)})", db=db)


class EncodingTestCase(ClusterTestCase):
    """A UTF-8 cluster (home database postgres), a file:// and an s3:// target."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer([BUCKET]).start()
        try:
            super().setUpClass()
            cls.target = make_shared_dir("cdw_encoding_target_")
            key_id, secret = cls.moto.keys["writer"]
            psql(cls.cluster, f"""
                CREATE EXTENSION cdw_backup;
                SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)});
                SELECT cdw_backup_add_target('s3', 's3://{BUCKET}/backups',
                         secret_id => {quote_literal(key_id)}, secret_key => {quote_literal(secret)},
                         options => '{{"endpoint": "{cls.moto.endpoint}", "region": "us-east-1"}}');
                CREATE FUNCTION representable(pool text, encoding name) RETURNS text
                LANGUAGE plpgsql AS $$
                DECLARE c text; found text := '';
                BEGIN
                  FOREACH c IN ARRAY regexp_split_to_array(pool, '') LOOP
                    BEGIN
                      PERFORM convert_to(c, encoding);
                      found := found || c;
                    EXCEPTION WHEN OTHERS THEN NULL;
                    END;
                  END LOOP;
                  RETURN found;
                END $$;""")
            cls.prepare()
        except BaseException:
            cls.moto.close()
            if hasattr(cls, "cluster"):
                cls.cluster.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.moto.close()
        shutil.rmtree(cls.target, ignore_errors=True)

    @classmethod
    def prepare(cls):
        pass

    def run_backup(self, databases, target="default"):
        run_id = int(psql(self.cluster, "SELECT cdw_backup_run(target => %s, databases => ARRAY[%s], "
                                        "wait => true)" % (quote_literal(target),
                                                           ", ".join(map(quote_literal, databases)))))
        return run_id

    def history(self, run_id):
        run = json_rows(self.cluster, f"SELECT * FROM cdw_backup.runs WHERE run_id = {run_id}")[0]
        tables = json_rows(self.cluster, f"SELECT * FROM cdw_backup.run_tables WHERE run_id = {run_id}")
        databases = json_rows(self.cluster,
                              f"SELECT * FROM cdw_backup.run_databases WHERE run_id = {run_id}")
        return run, databases, tables

    def rows_of(self, db, qualified):
        """The rows as JSON text, in id order, read through client_encoding UTF8."""
        return psql(self.cluster, f"SELECT row_to_json(t)::text FROM {qualified} t ORDER BY id",
                    db=db).splitlines()

    def manifest_file(self, run_id, database):
        found = glob.glob(os.path.join(self.target, "*", f"*Z-run{run_id}", database, "manifest.json"))
        self.assertEqual(len(found), 1, found)
        return found[0]


class EveryEncodingTest(EncodingTestCase):
    """All server encodings in one run to file://, restored into UTF-8 and into their own."""

    @classmethod
    def prepare(cls):
        cls.samples = {}
        for encoding in SERVER_ENCODINGS:
            chars = psql(cls.cluster, f"SELECT representable({quote_literal(POOL)}, "
                                      f"{quote_literal(encoding)})")
            chars = chars[:NAME_CHARS]
            sample = Sample(encoding, chars)
            create_database(cls.cluster, sample.database, encoding)
            psql(cls.cluster, sample.setup_sql(), db=sample.database)
            cls.samples[encoding] = sample

    def test_every_encoding_round_trips_names_and_data(self):
        samples = self.samples
        # Every encoding but UTF8 itself has non-ASCII characters here (those
        # without a conversion to UTF8 have none, and would show up as '').
        no_chars = [e for e, s in samples.items() if not s.chars]
        self.assertEqual(no_chars, [], "encodings with no non-ASCII sample characters")
        run_id = self.run_backup([s.database for s in samples.values()])
        run, databases, tables = self.history(run_id)
        self.assertEqual(run["status"], "succeeded",
                         [t for t in tables if t["status"] != "succeeded"] or databases)
        # History: the names as they read in their database, as UTF-8 text.
        self.assertEqual({(t["database"], t["schema_name"], t["table_name"]) for t in tables},
                         {(s.database, s.schema, s.table) for s in samples.values()})
        for encoding, sample in samples.items():
            with self.subTest(encoding=encoding):
                self.check_target(run_id, sample)
                for prefix, dest_encoding in (("utf8", "UTF8"), ("same", encoding)):
                    dest = db_name(f"{prefix}_{run_id}", encoding)
                    create_database(self.cluster, dest, dest_encoding)
                    result = restore(self.cluster, run_id, sample.database, into_database=dest)
                    self.assertEqual([(r["schema_name"], r["table_name"], r["status"]) for r in result],
                                     [(sample.schema, sample.table, "restored")], result)
                    self.assertEqual(self.rows_of(dest, sample.qualified()),
                                     self.rows_of(sample.database, sample.qualified()))
                    columns = psql(self.cluster, f"""
                        SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                         WHERE attrelid = {quote_literal(sample.qualified())}::regclass
                           AND attnum > 0""", db=dest)
                    self.assertEqual(columns, f"id,{sample.column},v_{sample.chars},doc,tags,mood")

    def check_target(self, run_id, sample):
        """Manifest and keys in UTF-8, parts strict UTF-8, read without cdw_backup."""
        path = self.manifest_file(run_id, sample.database)
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))  # strict
        self.assertEqual(manifest["source_encoding"], sample.encoding)
        self.assertEqual(manifest["encoding"], "UTF8")
        [table] = manifest["tables"]
        self.assertEqual((table["schema"], table["name"]), (sample.schema, sample.table))
        self.assertEqual([c["name"] for c in table["columns"]],
                         ["id", sample.column, "v_" + sample.chars, "doc", "tags", "mood"])
        table_dir = os.path.join(os.path.dirname(path),
                                 encode_component(sample.schema) + "." + encode_component(sample.table))
        self.assertTrue(os.path.isdir(table_dir.encode("utf-8")),
                        f"{table_dir} missing: {os.listdir(os.path.dirname(path).encode())}")
        parts = [p for p in os.listdir(table_dir.encode("utf-8")) if p.endswith(b".csv.gz")]
        self.assertEqual(len(parts), 1, parts)
        with open(os.path.join(table_dir.encode("utf-8"), parts[0]), "rb") as f:
            text = gzip.decompress(f.read()).decode("utf-8")  # strict
        for value in sample.values[:1]:
            self.assertIn(value, text)
        self.assertIn(sample.enum_label, text)


class S3AndSqlAsciiTest(EncodingTestCase):
    """LATIN1 and EUC_JP through s3:// (keys read back with boto3); SQL_ASCII; errors."""

    @classmethod
    def prepare(cls):
        cls.samples = {}
        for encoding in ("LATIN1", "EUC_JP"):
            chars = psql(cls.cluster, f"SELECT representable({quote_literal(POOL)}, "
                                      f"{quote_literal(encoding)})")[:NAME_CHARS]
            sample = Sample(encoding, chars)
            create_database(cls.cluster, sample.database, encoding)
            psql(cls.cluster, sample.setup_sql(), db=sample.database)
            cls.samples[encoding] = sample
        # A LATIN1 name of 40 characters: 40 bytes there, 80 in UTF-8.
        cls.long_table = "é" * 40
        psql(cls.cluster, f"CREATE TABLE public.{quote_ident(cls.long_table)} (id int, v text);"
                          f"INSERT INTO public.{quote_ident(cls.long_table)} VALUES (1, 'ü');",
             db="src_latin1")
        # SQL_ASCII: bytes of no declared encoding (here: LATIN1 'café' and
        # UTF-8 'café'), under a name that is valid UTF-8.
        create_database(cls.cluster, "src_sql_ascii", "SQL_ASCII")
        psql(cls.cluster, "CREATE TABLE public.bytes (id int, v text);"
                          "INSERT INTO public.bytes VALUES (1, E'caf\\xe9'), (2, E'caf\\xc3\\xa9'), "
                          "(3, 'plain');"
                          "CREATE TABLE public.\"ünï\" (id int);",
             db="src_sql_ascii", client_encoding="SQL_ASCII")

    def test_s3_keys_manifest_and_restore_are_utf8(self):
        samples = self.samples.values()
        run_id = self.run_backup([s.database for s in samples], target="s3")
        run, databases, tables = self.history(run_id)
        self.assertEqual(run["status"], "succeeded", tables)
        keys = self.moto.list_keys(BUCKET, "backups/")
        self.assertFalse([k for k in keys if "\ufffd" in k], keys)
        for sample in samples:
            with self.subTest(encoding=sample.encoding):
                manifest_keys = [k for k in keys
                                 if k.endswith(f"-run{run_id}/{sample.database}/manifest.json")]
                self.assertEqual(len(manifest_keys), 1, keys)
                manifest = json.loads(self.moto.get(BUCKET, manifest_keys[0]).decode("utf-8"))
                self.assertEqual(manifest["source_encoding"], sample.encoding)
                table_prefix = (manifest_keys[0].rsplit("/", 1)[0] + "/" + encode_component(sample.schema)
                                + "." + encode_component(sample.table) + "/")
                parts = [k for k in keys if k.startswith(table_prefix)]
                self.assertEqual(len(parts), 1, (table_prefix, keys))
                text = gzip.decompress(self.moto.get(BUCKET, parts[0])).decode("utf-8")
                self.assertIn(sample.values[0], text)
                dest = db_name(f"s3_{run_id}", sample.encoding)
                create_database(self.cluster, dest, "UTF8")
                sample.prepare_destination(self.cluster, dest)
                result = restore(self.cluster, run_id, sample.database, into_database=dest,
                                 table_name=sample.qualified())
                self.assertEqual([r["status"] for r in result], ["restored"], result)
                self.assertEqual(self.rows_of(dest, sample.qualified()),
                                 self.rows_of(sample.database, sample.qualified()))

    def test_long_latin1_name_is_never_truncated_in_utf8(self):
        run_id = self.run_backup(["src_latin1"])
        run, _, tables = self.history(run_id)
        self.assertEqual(run["status"], "succeeded", tables)
        self.assertIn(self.long_table, {t["table_name"] for t in tables})
        create_database(self.cluster, f"long_{run_id}", "UTF8")
        [row] = restore(self.cluster, run_id, "src_latin1", table_name=f"public.{quote_ident(self.long_table)}",
                        into_database=f"long_{run_id}")
        self.assertEqual(row["status"], "failed", row)
        self.assertIn("too long in encoding UTF8", row["detail"])
        self.assertIn("into_table", row["hint"])
        tables_there = psql(self.cluster, "SELECT count(*) FROM pg_class WHERE relname LIKE 'é%'",
                            db=f"long_{run_id}")
        self.assertEqual(tables_there, "0")
        [row] = restore(self.cluster, run_id, "src_latin1", table_name=f"public.{quote_ident(self.long_table)}",
                        into_database=f"long_{run_id}", into_table="short_é")
        self.assertEqual(row["status"], "restored", row)
        self.assertEqual(psql(self.cluster, "SELECT v FROM public.\"short_é\"", db=f"long_{run_id}"), "ü")

    def test_untranslatable_name_is_an_error_with_a_hint(self):
        sample = self.samples["EUC_JP"]
        run_id = self.run_backup([sample.database])
        create_database(self.cluster, f"latin1_{run_id}", "LATIN1")
        rows = restore(self.cluster, run_id, sample.database, into_database=f"latin1_{run_id}")
        # The table, and each schema object of the whole-database restore
        # (its schema, its enum type, its CREATE TABLE), one failed row each.
        self.assertEqual([r["destination"].split(" ")[0] for r in rows[1:]],
                         ["SCHEMA", "TYPE", "TABLE"], rows)
        for row in rows:
            self.assertEqual(row["status"], "failed", row)
            self.assertIn("has no equivalent in encoding \"LATIN1\"", row["detail"])
            self.assertIn("UTF8", row["hint"])
        self.assertEqual(psql(self.cluster, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 's_%'",
                              db=f"latin1_{run_id}"), "0")

    def test_sql_ascii_bytes_pass_through_and_are_checked_on_restore(self):
        run_id = self.run_backup(["src_sql_ascii"])
        run, _, tables = self.history(run_id)
        self.assertEqual(run["status"], "succeeded", tables)
        self.assertEqual({t["table_name"] for t in tables}, {"bytes", "ünï"})
        with open(self.manifest_file(run_id, "src_sql_ascii"), "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
        self.assertEqual((manifest["source_encoding"], manifest["encoding"]), ("SQL_ASCII", "SQL_ASCII"))
        part = glob.glob(os.path.join(os.path.dirname(self.manifest_file(run_id, "src_sql_ascii")),
                                      "public.bytes", "*.csv.gz"))[0]
        with open(part, "rb") as f:
            data = gzip.decompress(f.read())
        self.assertIn(b"1,caf\xe9\n", data)
        self.assertIn(b"2,caf\xc3\xa9\n", data)
        # Into UTF-8: the LATIN1 byte is not UTF-8, an error with a hint.
        create_database(self.cluster, f"ascii_utf8_{run_id}", "UTF8")
        result = {r["table_name"]: r for r in restore(self.cluster, run_id, "src_sql_ascii",
                                                      into_database=f"ascii_utf8_{run_id}")}
        self.assertEqual(result["bytes"]["status"], "failed", result)
        self.assertIn("invalid byte sequence for encoding \"UTF8\": 0xe9", result["bytes"]["detail"])
        self.assertIn("SQL_ASCII", result["bytes"]["hint"])
        self.assertEqual(result["ünï"]["status"], "restored", result)
        # Into LATIN1: every byte is valid there.
        create_database(self.cluster, f"ascii_latin1_{run_id}", "LATIN1")
        result = restore(self.cluster, run_id, "src_sql_ascii", into_database=f"ascii_latin1_{run_id}",
                         table_name="public.bytes")
        self.assertEqual(result[0]["status"], "restored", result)
        self.assertEqual(psql(self.cluster, "SELECT v FROM public.bytes WHERE id = 1",
                              db=f"ascii_latin1_{run_id}"), "café")
        # Into SQL_ASCII: the same bytes.
        create_database(self.cluster, f"ascii_ascii_{run_id}", "SQL_ASCII")
        result = restore(self.cluster, run_id, "src_sql_ascii", into_database=f"ascii_ascii_{run_id}",
                         table_name="public.bytes")
        self.assertEqual(result[0]["status"], "restored", result)
        query = "SELECT string_agg(encode(convert_to(v, 'SQL_ASCII'), 'hex'), ',' ORDER BY id) FROM public.bytes"
        self.assertEqual(psql(self.cluster, query, db=f"ascii_ascii_{run_id}", client_encoding="SQL_ASCII"),
                         psql(self.cluster, query, db="src_sql_ascii", client_encoding="SQL_ASCII"))

    def test_sql_ascii_name_that_is_not_utf8_fails_with_a_hint(self):
        psql(self.cluster, "CREATE DATABASE bad_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                           "TEMPLATE template0")
        psql(self.cluster, b'CREATE TABLE public."caf\xe9" (id int); CREATE TABLE public.fine (id int);',
             db="bad_ascii", client_encoding="SQL_ASCII")
        run_id = self.run_backup(["bad_ascii"])
        run, _, tables = self.history(run_id)
        by_status = {t["status"]: t for t in tables}
        self.assertEqual(run["status"], "partial", tables)
        failed = by_status["failed"]
        self.assertIn("invalid byte sequence for encoding \"UTF8\"", failed["error"])
        self.assertIn("rename", failed["hint"])
        self.assertEqual(by_status["succeeded"]["table_name"], "fine")

    def test_mule_internal_keeps_its_bytes(self):
        """PostgreSQL has no conversion between MULE_INTERNAL and UTF-8."""
        create_database(self.cluster, "src_mule", "MULE_INTERNAL")
        setup = ("CREATE TABLE public.mule (id int, v text);"
                 "INSERT INTO public.mule VALUES (1, '日本語のテキスト'), (2, 'ascii');"
                 "CREATE TABLE public.\"名前\" (id int);")
        psql(self.cluster, setup.encode("euc_jp"), db="src_mule", client_encoding="EUC_JP")
        run_id = self.run_backup(["src_mule"])
        run, _, tables = self.history(run_id)
        by_table = {t["table_name"]: t for t in tables}
        self.assertEqual(by_table["mule"]["status"], "succeeded", tables)
        # A name that UTF-8 cannot be made of: the table fails, with a hint.
        [failed] = [t for t in tables if t["status"] == "failed"]
        self.assertIn("no conversion from encoding \"MULE_INTERNAL\" to \"UTF8\"", failed["error"])
        self.assertIn("rename", failed["hint"])
        with open(self.manifest_file(run_id, "src_mule"), "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
        self.assertEqual((manifest["source_encoding"], manifest["encoding"]),
                         ("MULE_INTERNAL", "MULE_INTERNAL"))
        query = "SELECT string_agg(v, ',' ORDER BY id) FROM public.mule"
        create_database(self.cluster, f"mule_utf8_{run_id}", "UTF8")
        [row] = restore(self.cluster, run_id, "src_mule", table_name="public.mule",
                        into_database=f"mule_utf8_{run_id}")
        self.assertEqual(row["status"], "failed", row)
        self.assertIn("MULE_INTERNAL", row["hint"])
        create_database(self.cluster, f"mule_mule_{run_id}", "MULE_INTERNAL")
        [row] = restore(self.cluster, run_id, "src_mule", table_name="public.mule",
                        into_database=f"mule_mule_{run_id}")
        self.assertEqual(row["status"], "restored", row)
        self.assertEqual(psql(self.cluster, query, db=f"mule_mule_{run_id}", client_encoding="EUC_JP",
                              raw=True).decode("euc_jp"), "日本語のテキスト,ascii")

    def test_fdw_encoding_option(self):
        db = "src_latin1"
        error = psql(self.cluster, f"""
            CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw;
            CREATE SERVER enc_dir FOREIGN DATA WRAPPER cdw_backup_fdw
              OPTIONS (location {quote_literal('file://' + self.target)});
            CREATE FOREIGN TABLE public.bad_enc (v text) SERVER enc_dir
              OPTIONS (path 'fdw/bad/', encoding 'NOPE');""", db=db, check=False)[1]
        self.assertIn("invalid value for option \"encoding\": \"NOPE\"", error)
        self.assertIn("UTF8", error)
        # Written from LATIN1 as UTF-8 (the default) and as LATIN1; a path in
        # LATIN1 names a UTF-8 key; read back the same.
        psql(self.cluster, """
            CREATE FOREIGN TABLE public.as_utf8 (v text) SERVER enc_dir OPTIONS (path 'fdw/é_utf8/');
            CREATE FOREIGN TABLE public.as_latin1 (v text) SERVER enc_dir
              OPTIONS (path 'fdw/latin1/', encoding 'latin1', compression 'none');
            INSERT INTO public.as_utf8 VALUES ('Ünï');
            INSERT INTO public.as_latin1 VALUES ('Ünï');""", db=db)
        [utf8_part] = glob.glob(os.path.join(self.target, "fdw", "é_utf8", "*.csv.gz"))
        with open(utf8_part, "rb") as f:
            self.assertEqual(gzip.decompress(f.read()), "Ünï\n".encode("utf-8"))
        [latin1_part] = glob.glob(os.path.join(self.target, "fdw", "latin1", "*.csv"))
        with open(latin1_part, "rb") as f:
            self.assertEqual(f.read(), "Ünï\n".encode("latin-1"))
        self.assertEqual(psql(self.cluster, "SELECT v FROM public.as_utf8 UNION ALL "
                                            "SELECT v FROM public.as_latin1", db=db), "Ünï\nÜnï")
        psql(self.cluster, "DROP SERVER enc_dir CASCADE", db=db)


if __name__ == "__main__":
    unittest.main()
