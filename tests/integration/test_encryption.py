"""Encryption at rest (encryption => 'on'): every object a run writes (parts,
manifests, the run index) is an age file; the stock `age` command decrypts a
part to exactly the CSV an unencrypted run writes; verify and restore work
on file:// for every compression (s3:// on moto and Ceph RGW:
test_encryption_s3.py); a flipped byte in any encrypted object, or a wrong
key, fails that table (or the call) clearly and never gives wrong data;
after cdw_backup_rotate_key() new runs use the new key and old runs still
restore; the keys are nowhere but the target store.

One cluster for the whole file.
"""
import glob
import os
import shutil
import unittest

from age_cli import AGE_MAGIC, COMPRESSIONS, SUFFIX, age_decrypt, decompress, new_identity
from harness import (ClusterTestCase, assert_secrets_nowhere, backup, hint_of, json_rows,
                     make_shared_dir, quote_literal, restore, rewrite, sqlstate_of, target_files)


def flipped(data, offset):
    data = bytearray(data)
    data[offset] ^= 0x01
    return bytes(data)


class EncryptionTest(ClusterTestCase):
    settings = {"log_min_messages": "warning", "log_min_error_statement": "error"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        c = cls.cluster
        cls.plain_dir = make_shared_dir("cdw_enc_plain_")
        cls.enc_dir = make_shared_dir("cdw_enc_target_")
        cls.pass_dir = make_shared_dir("cdw_enc_pass_")
        cls.identity, cls.recipient = new_identity()
        cls.passphrase = "correct horse battery staple 4711"
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql("CREATE DATABASE app")
        # Small enough for one part (and one range) per table: the parts of
        # an encrypted and an unencrypted run hold the same rows in the same
        # order.
        c.sql("""
            CREATE TABLE t (id integer NOT NULL, note text, f float8, raw bytea);
            INSERT INTO t SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'row, "' || g || E'"\\n' END,
                                 g / 3.0, decode(md5(g::text), 'hex')
              FROM generate_series(1, 3000) g;
            CREATE TABLE other (k text PRIMARY KEY, v numeric);
            INSERT INTO other SELECT 'k' || g, g / 7.0 FROM generate_series(1, 500) g;
        """, db="app")
        c.sql(f"""
            SELECT cdw_backup_add_target('plain', {quote_literal('file://' + cls.plain_dir)});
            SELECT cdw_backup_add_target('enc', {quote_literal('file://' + cls.enc_dir)},
                     options => '{{"encryption": "on"}}', encryption_key => {quote_literal(cls.identity)});
            SELECT cdw_backup_add_target('pass', {quote_literal('file://' + cls.pass_dir)},
                     options => '{{"encryption": "on"}}', encryption_key => {quote_literal(cls.passphrase)});
        """)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for d in ("plain_dir", "enc_dir", "pass_dir"):
            if hasattr(cls, d):
                shutil.rmtree(getattr(cls, d), ignore_errors=True)

    # -- helpers -------------------------------------------------------------

    def backup_run(self, target, compression="gzip"):
        # Full copies: the checks read each run's own parts (incremental runs
        # on encrypted targets: test_incremental.py).
        return backup(self.cluster, ["app"], target=target, compression=compression,
                      incremental=False)

    def verify_rows(self, run_id, target):
        return json_rows(self.cluster, f"SELECT * FROM cdw_backup_verify({run_id}, "
                                       f"target => {quote_literal(target)})")

    def assertVerifies(self, run_id, target):
        rows = self.verify_rows(run_id, target)
        self.assertEqual(sorted((r["table_name"], r["status"]) for r in rows),
                         [("other", "ok"), ("t", "ok")], rows)

    def assertRestores(self, run_id, target, table="public.t"):
        """Restores `table` into a new table and compares it with the source."""
        name = table.split(".")[1]
        into = f"{name}_back"
        self.cluster.sql(f"DROP TABLE IF EXISTS public.{into}", db="app")
        result = restore(self.cluster, run_id, "app", table, target=target, into_table=f"public.{into}")
        self.assertEqual([r["status"] for r in result], ["restored"], result)
        diff = self.cluster.value(
            f"SELECT (SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL SELECT * FROM public.{into}) a)"
            f" + (SELECT count(*) FROM (SELECT * FROM public.{into} EXCEPT ALL SELECT * FROM {table}) b)",
            db="app")
        self.assertEqual(diff, "0")
        # Not part of later runs.
        self.cluster.sql(f"DROP TABLE public.{into}", db="app")

    def files(self, directory, run_id, pattern):
        return target_files(directory, run_id, "app", pattern)

    def part_of(self, directory, run_id, table, compression="gzip"):
        found = self.files(directory, run_id, f"public.{table}/part-*{SUFFIX[compression]}")
        self.assertEqual(len(found), 1, found)
        return found[0]

    def index_of(self, directory, run_id):
        found = glob.glob(os.path.join(directory, "_runs", f"*-run{run_id}.json"))
        self.assertEqual(len(found), 1, found)
        return found[0]

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    # -- tests ---------------------------------------------------------------

    def test_file_round_trip_every_compression_and_every_object_is_age(self):
        for compression in COMPRESSIONS:
            with self.subTest(compression=compression):
                run_id = self.backup_run("enc", compression)
                part = self.part_of(self.enc_dir, run_id, "t", compression)
                manifest = self.files(self.enc_dir, run_id, "manifest.json")[0]
                for path in (part, manifest, self.index_of(self.enc_dir, run_id)):
                    self.assertTrue(self.read(path).startswith(AGE_MAGIC), path)
                # What verify checks (the manifest's SHA-256) is the stored, encrypted object.
                self.assertVerifies(run_id, "enc")
                self.assertRestores(run_id, "enc")
                self.assertRestores(run_id, "enc", "public.other")

    def test_age_command_decrypts_a_part_to_the_csv_of_an_unencrypted_run(self):
        for compression in ("gzip", "none"):
            with self.subTest(compression=compression):
                plain_run, enc_run = self.backup_run("plain", compression), self.backup_run("enc", compression)
                expected = decompress(compression, self.read(self.part_of(self.plain_dir, plain_run, "t",
                                                                          compression)))
                stored = self.read(self.part_of(self.enc_dir, enc_run, "t", compression))
                decrypted = age_decrypt(self.identity, stored)
                self.assertIsNotNone(decrypted, "age refused the part")
                self.assertEqual(decompress(compression, decrypted), expected)
                self.assertGreater(len(expected), 100000)
                # The manifest too: the JSON a user reads to find the parts.
                manifest = age_decrypt(self.identity, self.read(self.files(self.enc_dir, enc_run,
                                                                           "manifest.json")[0]))
                self.assertIn(b'"encryption"', manifest)
                self.assertIn(self.recipient.encode(), manifest)

    def test_passphrase_target_round_trip(self):
        run_id = self.backup_run("pass", "zstd")
        part = self.read(self.part_of(self.pass_dir, run_id, "t", "zstd"))
        self.assertTrue(part.startswith(AGE_MAGIC + b"-> scrypt "), part[:60])
        self.assertVerifies(run_id, "pass")
        self.assertRestores(run_id, "pass")

    def test_flipped_byte_in_any_object_fails_that_table_or_the_run(self):
        run_id = self.backup_run("enc")
        part = self.part_of(self.enc_dir, run_id, "t")
        original = self.read(part)
        # In the header, in the first chunk and in the last bytes (the last tag).
        for offset in (40, len(original) // 2, len(original) - 3):
            with self.subTest(object="part", offset=offset):
                rewrite(part, flipped(original, offset))
                try:
                    rows = {r["table_name"]: r for r in self.verify_rows(run_id, "enc")}
                    self.assertEqual(rows["other"]["status"], "ok", rows)
                    self.assertNotEqual(rows["t"]["status"], "ok", rows)
                    self.assertIn("checksum_mismatch", {p["problem"] for p in self.verify_rows(run_id, "enc")
                                                        if p["table_name"] == "t"})
                    self.cluster.sql("DROP TABLE IF EXISTS public.t_back", db="app")
                    result = restore(self.cluster, run_id, "app", "public.t", target="enc",
                                     into_table="public.t_back")
                    self.assertEqual([r["status"] for r in result], ["failed"], result)
                    # A changed recipient stanza cannot be told from another
                    # key's; everything after it is "damaged".
                    self.assertTrue(any(text in (result[0]["detail"] or "") for text in
                                        ("is damaged", "no key of the target's key ring")), result)
                    if offset > 200:
                        self.assertIn("is damaged", result[0]["detail"], result)
                finally:
                    rewrite(part, original)
        self.assertRestores(run_id, "enc")
        # The manifest and the run index: the MAC covers the stored bytes.
        for name, path in (("manifest", self.files(self.enc_dir, run_id, "manifest.json")[0]),
                           ("run index", self.index_of(self.enc_dir, run_id))):
            data = self.read(path)
            with self.subTest(object=name):
                rewrite(path, flipped(data, len(data) // 2))
                try:
                    if name == "manifest":  # verify reports it as a problem row
                        problems = [r["problem"] for r in self.verify_rows(run_id, "enc")]
                        self.assertEqual(problems, ["manifest_mac_mismatch"])
                    else:
                        error = self.cluster.sql_error(
                            f"SELECT * FROM cdw_backup_verify({run_id}, target => 'enc')")
                        self.assertEqual(sqlstate_of(error), "XX001", error)
                        self.assertIn("does not match its MAC", error)
                    error = self.cluster.sql_error(
                        f"SELECT * FROM cdw_backup_restore({run_id}, 'app', 'public.t', "
                        f"target => 'enc', into_table => 'public.t_back2')")
                    self.assertEqual(sqlstate_of(error), "XX001", error)
                    self.assertIn("does not match its MAC", error)
                finally:
                    rewrite(path, data)

    def test_wrong_key_fails_clearly_and_a_decryption_key_fixes_it(self):
        run_id = self.backup_run("enc")
        manifest_key = self.cluster.value("SELECT cdw_backup_target_key('enc')")
        other_identity, _ = new_identity()
        # The same directory and manifest key, another encryption key.
        self.cluster.sql(f"""SELECT cdw_backup_add_target('enc_wrong', {quote_literal('file://' + self.enc_dir)},
                               options => '{{"encryption": "on"}}', manifest_key => {quote_literal(manifest_key)},
                               encryption_key => {quote_literal(other_identity)})""")
        try:
            for sql in (f"SELECT * FROM cdw_backup_verify({run_id}, target => 'enc_wrong')",
                        f"SELECT * FROM cdw_backup_restore({run_id}, 'app', 'public.t', "
                        f"target => 'enc_wrong', into_table => 'public.t_wrong')"):
                error = self.cluster.sql_error(sql)
                self.assertEqual(sqlstate_of(error), "28000", error)
                self.assertIn("no key of the target's key ring decrypts", error)
                self.assertIn("DETAIL:", error)
                self.assertIn("cdw_backup_add_decryption_key", hint_of(error) or "", error)
            self.cluster.sql(f"SELECT cdw_backup_add_decryption_key('enc_wrong', {quote_literal(self.identity)})")
            self.assertVerifies(run_id, "enc_wrong")
            self.assertRestores(run_id, "enc_wrong")
        finally:
            self.cluster.sql("SELECT cdw_backup_drop_target('enc_wrong')")

    def test_rotation_new_runs_use_the_new_key_and_old_runs_restore(self):
        self.cluster.sql(f"""SELECT cdw_backup_add_target('rot', {quote_literal('file://' + self.enc_dir + '/rot')},
                               options => '{{"encryption": "on"}}', encryption_key => {quote_literal(self.identity)})""")
        try:
            old_run = self.backup_run("rot")
            new_identity_, _ = new_identity()
            self.cluster.sql(f"SELECT cdw_backup_rotate_key('rot', {quote_literal(new_identity_)})")
            new_run = self.backup_run("rot")
            old_part = self.read(self.part_of(self.enc_dir + "/rot", old_run, "t"))
            new_part = self.read(self.part_of(self.enc_dir + "/rot", new_run, "t"))
            self.assertIsNotNone(age_decrypt(new_identity_, new_part))
            self.assertIsNone(age_decrypt(self.identity, new_part))
            self.assertIsNotNone(age_decrypt(self.identity, old_part))
            for run_id in (old_run, new_run):
                self.assertVerifies(run_id, "rot")
                self.assertRestores(run_id, "rot")
        finally:
            self.cluster.sql("SELECT cdw_backup_drop_target('rot')")

    def test_argument_errors(self):
        cases = [
            ("SELECT cdw_backup_add_target('x', 'file:///tmp/x', options => '{\"encryption\": \"on\"}')",
             "22023", "has no encryption_key"),
            ("SELECT cdw_backup_add_target('x', 'file:///tmp/x', encryption_key => 'a long passphrase')",
             "22023", "which is not encrypted"),
            ("SELECT cdw_backup_add_target('x', 'file:///tmp/x', options => '{\"encryption\": \"on\"}', "
             "encryption_key => 'AGE-SECRET-KEY-1SECRETBUTBROKEN')", "22023", "invalid encryption key"),
            ("SELECT cdw_backup_add_target('x', 'file:///tmp/x', options => '{\"encryption\": \"maybe\"}')",
             "22023", "encryption"),
            ("SELECT cdw_backup_rotate_key('plain', 'another long passphrase')", "55000", "is not encrypted"),
        ]
        for sql, state, text in cases:
            with self.subTest(sql=sql):
                error = self.cluster.sql_error(sql)
                self.assertEqual(sqlstate_of(error), state, error)
                self.assertIn(text, error)
                self.assertIsNotNone(hint_of(error), error)
                self.assertNotIn("SECRETBUTBROKEN", error)

    def test_keys_are_nowhere_but_the_target_store(self):
        self.backup_run("enc")
        self.backup_run("pass")
        secrets = [self.identity, self.passphrase]
        # Not on the targets, not in the catalog views, history or log.
        for directory in (self.enc_dir, self.pass_dir):
            for root, _, names in os.walk(directory):
                for name in names:
                    data = self.read(os.path.join(root, name))
                    for secret in secrets:
                        self.assertNotIn(secret.encode(), data, name)
        assert_secrets_nowhere(self, self.cluster, secrets + ["SECRETBUTBROKEN"],
                               what="encryption key")
        # An ordinary role cannot read the store.
        self.cluster.sql("DROP ROLE IF EXISTS nobody_enc; CREATE ROLE nobody_enc LOGIN")
        error = self.cluster.sql_error("SELECT encryption_keys FROM cdw_backup.target_store",
                                       user="nobody_enc")
        self.assertEqual(sqlstate_of(error), "42501", error)


if __name__ == "__main__":
    unittest.main()
