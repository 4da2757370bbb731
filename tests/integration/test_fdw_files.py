"""The external table's parts are standard files that tools other than ours read.

Writes through cdw_backup_fdw, then checks with independent tools: gzip -t,
zstd -t, and COPY ... FROM PROGRAM 'gzip -dc ...' (FORMAT csv) into a copy of
the table, which must hold exactly the original rows.
"""
import glob
import os
import subprocess
import unittest

from harness import ClusterTestCase, make_shared_dir

SOURCE_TABLE = """
CREATE TABLE source (id bigint, ts timestamptz, amount numeric, note text, doc jsonb, raw bytea, tags text[]);
INSERT INTO source
SELECT g, '2026-01-01'::timestamptz + g * interval '37 seconds', g / 7.0,
       CASE WHEN g % 10 = 0 THEN NULL WHEN g % 10 = 1 THEN '' ELSE repeat('note, "quoted"' || E'\\n', g % 4) || g END,
       jsonb_build_object('g', g, 's', 'x' || g), decode(lpad(to_hex(g), 8, '0'), 'hex'),
       ARRAY['a' || g, NULL, '']
  FROM generate_series(1, 300000) g;
"""

# Types the writer formats itself (column_text.h), with the values its fast
# paths hand back to PostgreSQL: infinity, BC, years after 9999.
FORMATTED_TABLE = """
CREATE DOMAIN doc_domain AS jsonb;
CREATE TABLE formatted (i2 smallint, i4 int, i8 bigint, u uuid, d date, ts timestamp,
                        tstz timestamptz, j jsonb, jd doc_domain, js json);
INSERT INTO formatted
SELECT (g % 65536 - 32768)::smallint, (g::bigint * 40503 % 4294967296 - 2147483648)::int,
       g * 92233720368547 - 4611686018427387904,
       md5(g::text)::uuid,
       date '0001-01-01' + g * 37 % 3652058 + CASE WHEN g % 1000 = 0 THEN 40000 ELSE 0 END,
       timestamp '0001-01-01' + g * interval '61 days 3 hours 7 minutes 11.123457 seconds',
       timestamptz '1900-01-01 00:00:00+00' - g * interval '30 days 1 second 10 microseconds',
       CASE g % 7
         WHEN 0 THEN jsonb_build_object('k' || chr(1 + g % 126), chr(1 + g % 126) || 'v"\\',
                                        'n', g * 1.5 - 1000, 'e', '{}'::jsonb, 'a', '[]'::jsonb)
         WHEN 1 THEN jsonb_build_array(g, 'x"' || chr(1 + g % 31), NULL, true, false,
                                       jsonb_build_object('deep', jsonb_build_array(jsonb_build_array())))
         WHEN 2 THEN to_jsonb(g * 0.25)
         WHEN 3 THEN to_jsonb('scalar ' || chr(1 + g % 126) || ' café')
         WHEN 4 THEN (ARRAY['null', 'true', 'false', '[]', '{}', '1.50', '-0', '1e-7'])[1 + g % 8]::jsonb
         WHEN 5 THEN NULL
         ELSE jsonb_build_object('unicode', '中文 é 😀', 'tab', E'a\tb\nc')
       END,
       CASE WHEN g % 3 = 0 THEN jsonb_build_array(g, g) END,
       CASE WHEN g % 2 = 0 THEN '{"as": "typed",  "kept": [1,2]}'::json END
  FROM generate_series(1, 60000) g;
INSERT INTO formatted (d, ts, tstz) VALUES
  ('infinity', 'infinity', 'infinity'), ('-infinity', '-infinity', '-infinity'),
  ('0044-03-15 BC', '0044-03-15 12:00:00.5 BC', '0001-12-31 23:59:59.999999+00 BC'),
  ('10000-01-01', '10000-01-01 00:00:00', '200000-01-01 00:00:00+00'),
  ('9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00'),
  ('0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00'),
  ('2000-02-29', '2000-02-29 00:00:00.000001', '1999-12-31 23:59:59.999999+00');
"""


class FdwFilesTest(ClusterTestCase):
    preload = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.target = make_shared_dir("cdw_fdw_files_")
        cls.cluster.sql(SOURCE_TABLE)
        cls.cluster.sql(FORMATTED_TABLE)
        cls.cluster.sql(f"""
            CREATE EXTENSION cdw_backup_fdw;
            CREATE SERVER target FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location 'file://{cls.target}');
        """)

    def write(self, compression):
        self.cluster.sql(f"""
            CREATE FOREIGN TABLE ext_{compression} (id bigint, ts timestamptz, amount numeric, note text,
                                                   doc jsonb, raw bytea, tags text[])
              SERVER target OPTIONS (path 'files/{compression}/', compression '{compression}');
            INSERT INTO ext_{compression} SELECT * FROM source;
        """)
        parts = glob.glob(os.path.join(self.target, "files", compression, "part-*"))
        self.assertEqual(len(parts), 1, parts)
        return parts[0]

    def assert_copy_from_program_matches(self, program):
        self.cluster.sql(f"""
            DROP TABLE IF EXISTS restored;
            CREATE TABLE restored (LIKE source);
            COPY restored FROM PROGRAM '{program}' (FORMAT csv);
        """)
        counts = self.cluster.rows("""
            SELECT (SELECT count(*) FROM restored),
                   (SELECT count(*) FROM (SELECT * FROM source EXCEPT ALL SELECT * FROM restored) a),
                   (SELECT count(*) FROM (SELECT * FROM restored EXCEPT ALL SELECT * FROM source) b)
        """)
        self.assertEqual(counts, [["300000", "0", "0"]])

    def test_gzip_part_is_standard_gzip(self):
        part = self.write("gzip")
        self.assertTrue(part.endswith(".csv.gz"))
        subprocess.run(["gzip", "-t", part], check=True)
        # Several independent members, still one valid file.
        with open(part, "rb") as f:
            self.assertGreater(f.read().count(b"\x1f\x8b\x08"), 3)
        self.assert_copy_from_program_matches(f"gzip -dc {part}")

    def test_zstd_part_is_standard_zstd(self):
        part = self.write("zstd")
        self.assertTrue(part.endswith(".csv.zst"))
        subprocess.run(["zstd", "-q", "-t", part], check=True)
        self.assert_copy_from_program_matches(f"zstd -dc {part}")

    def test_plain_part_is_copy_csv(self):
        part = self.write("none")
        self.assertTrue(part.endswith(".csv"))
        self.assert_copy_from_program_matches(f"cat {part}")
        # Byte-identical to what COPY itself writes.
        copy_out = os.path.join(self.target, "copy.csv")
        self.cluster.sql(f"SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
                         f"COPY source TO '{copy_out}' (FORMAT csv)")
        with open(part, "rb") as a, open(copy_out, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_types_formatted_by_the_writer_match_copy_byte_for_byte(self):
        # The session's own settings differ from the pinned ones on purpose.
        self.cluster.sql("""
            SET TimeZone = 'America/Los_Angeles'; SET DateStyle = 'SQL, DMY';
            CREATE FOREIGN TABLE ext_formatted (i2 smallint, i4 int, i8 bigint, u uuid, d date,
                                                ts timestamp, tstz timestamptz, j jsonb,
                                                jd doc_domain, js json)
              SERVER target OPTIONS (path 'files/formatted/', compression 'none');
            INSERT INTO ext_formatted SELECT * FROM formatted;
        """)
        parts = glob.glob(os.path.join(self.target, "files", "formatted", "part-*"))
        self.assertEqual(len(parts), 1, parts)
        copy_out = os.path.join(self.target, "formatted-copy.csv")
        self.cluster.sql(f"SET TimeZone = 'UTC'; COPY formatted TO '{copy_out}' (FORMAT csv)")
        with open(parts[0], "rb") as a, open(copy_out, "rb") as b:
            ours, theirs = a.read().split(b"\n"), b.read().split(b"\n")
        self.assertEqual(len(ours), len(theirs))
        for line, (mine, copy) in enumerate(zip(ours, theirs), 1):
            self.assertEqual(mine, copy, f"line {line}")

    def test_truncated_gzip_is_an_error_not_fewer_rows(self):
        part = self.write("gzip") if not glob.glob(os.path.join(self.target, "files/gzip/part-*")) \
            else glob.glob(os.path.join(self.target, "files/gzip/part-*"))[0]
        damaged_dir = os.path.join(self.target, "damaged")
        os.makedirs(damaged_dir, exist_ok=True)
        with open(part, "rb") as f:
            data = f.read()
        damaged = os.path.join(damaged_dir, os.path.basename(part))
        with open(damaged, "wb") as f:
            f.write(data[: len(data) // 2])
        subprocess.run(["chown", "-R", "postgres:", damaged_dir], check=False)
        self.cluster.sql("""
            CREATE FOREIGN TABLE damaged (id bigint, ts timestamptz, amount numeric, note text,
                                          doc jsonb, raw bytea, tags text[])
              SERVER target OPTIONS (path 'damaged/');
        """)
        error = self.cluster.sql_error("SELECT count(*) FROM damaged")
        self.assertIn("XX001", error)
        self.assertIn("corrupt compressed data", error)


if __name__ == "__main__":
    unittest.main()
