"""Security: no privilege escalation through a backed-up database, progress
of a role's own runs only, no secret in the server log, no symbolic link
followed inside a file:// target.

The escalation cases plant hostile objects the way an attacker would: a
database owner puts operators and functions in `public` of their database
(and `public` first in its search_path) whose argument types match our
catalog SQL better than pg_catalog's do. Each writes a probe row and, when
run by a superuser, makes its owner one. A superuser then backs the database
up and restores it; the probe must stay empty and the owner unprivileged.
"""
import datetime
import os
import shutil
import unittest

from harness import ClusterTestCase, make_shared_dir, quote_literal, wait_until

# Run in the victim database by its owner. Every object calls hostile(),
# which records who ran it and escalates when it can.
HOSTILE = r"""
CREATE TABLE public.probe (who name, what text);
GRANT INSERT, SELECT ON public.probe TO PUBLIC;
CREATE FUNCTION public.hostile(what text) RETURNS void LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$
BEGIN
  INSERT INTO public.probe VALUES (current_user, what);
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER ROLE dbowner SUPERUSER;
  END IF;
END $$;
CREATE FUNCTION public.h_not_match(a name, b name) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('!~(name,name)'); RETURN a !~ b; END $$;
CREATE OPERATOR public.!~ (FUNCTION = public.h_not_match, LEFTARG = name, RIGHTARG = name);
CREATE FUNCTION public.h_match(a name, b name) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('~(name,name)'); RETURN a ~ b; END $$;
CREATE OPERATOR public.~ (FUNCTION = public.h_match, LEFTARG = name, RIGHTARG = name);
CREATE FUNCTION public.h_ne(a name, b name) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('<>(name,name)'); RETURN a <> b; END $$;
CREATE OPERATOR public.<> (FUNCTION = public.h_ne, LEFTARG = name, RIGHTARG = name);
CREATE FUNCTION public.h_eq_oid(a oid, b oid) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('=(oid,oid)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (FUNCTION = public.h_eq_oid, LEFTARG = oid, RIGHTARG = oid);
CREATE FUNCTION public.h_eq_char(a "char", b "char") RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('=("char","char")'); RETURN a = b; END $$;
CREATE OPERATOR public.= (FUNCTION = public.h_eq_char, LEFTARG = "char", RIGHTARG = "char");
CREATE FUNCTION public.h_eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('=(text,text)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (FUNCTION = public.h_eq_text, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION public.h_cat(a text, b text) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('||'); RETURN a || b; END $$;
CREATE OPERATOR public.|| (FUNCTION = public.h_cat, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION public.quote_ident(n name) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('quote_ident(name)'); RETURN quote_ident(n); END $$;
CREATE FUNCTION public.format_type(t oid, m integer) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('format_type'); RETURN format_type(t, m); END $$;
CREATE FUNCTION public.current_setting(n text) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$ BEGIN PERFORM public.hostile('current_setting'); RETURN current_setting(n); END $$;
CREATE FUNCTION public.h_agg_step(state text, value text, delimiter text) RETURNS text
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM public.hostile('string_agg');
  RETURN CASE WHEN state IS NULL THEN value ELSE state || delimiter || value END;
END $$;
CREATE AGGREGATE public.string_agg(text, text) (SFUNC = public.h_agg_step, STYPE = text);
"""

SAFE = "SET search_path = pg_catalog;\n"  # for the test's own queries in the victim database


class HostileDatabaseOwnerTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.target = make_shared_dir("cdw_security_target_")
        c = cls.cluster
        c.sql("CREATE EXTENSION cdw_backup;")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + cls.target)});")
        c.sql("CREATE ROLE dbowner LOGIN; CREATE DATABASE victim OWNER dbowner;")
        c.sql("CREATE TABLE public.items (id int PRIMARY KEY, label text NOT NULL);"
              "INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 500) g;"
              "CREATE SCHEMA sales;"
              "CREATE TABLE sales.orders (id bigint, item int, note text);"
              "INSERT INTO sales.orders SELECT g, g % 500, 'n' || g FROM generate_series(1, 2000) g;",
              db="victim", user="dbowner")
        c.sql(HOSTILE, db="victim", user="dbowner")
        # public before pg_catalog: same-signature objects win too.
        c.sql("ALTER DATABASE victim SET search_path = public, pg_catalog;", db="victim",
              user="dbowner")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def assert_nothing_hostile_ran(self):
        c = self.cluster
        self.assertEqual(c.sql(SAFE + "SELECT who || ' ' || what FROM public.probe;", db="victim"), "")
        self.assertEqual(c.value("SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner';"), "f")

    def test_the_hostile_objects_work(self):
        # The trap is real: the database owner's own query picks them.
        c = self.cluster
        out = c.sql("BEGIN; SELECT count(*) FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_'"
                    " \\g /dev/null\nSELECT count(*) > 0 FROM public.probe; ROLLBACK;",
                    db="victim", user="dbowner")
        self.assertEqual(out, "t")

    def test_backup_and_restore_by_a_superuser_run_nothing_of_the_owner(self):
        c = self.cluster
        run_id = c.value("SELECT cdw_backup_run(databases => '{victim}', wait => true);")
        self.assertEqual(
            c.rows(f"SELECT status, tables_total, tables_succeeded FROM cdw_backup.runs "
                   f"WHERE run_id = {run_id};"), [["succeeded", "3", "3"]])
        self.assert_nothing_hostile_ran()
        # verify and list read the backup back in the home database.
        self.assertEqual(c.value(f"SELECT count(*) FROM cdw_backup_verify({run_id}) "
                                 f"WHERE status = 'ok';"), "3")
        restored = c.rows(
            f"SELECT schema_name, table_name, status, rows FROM cdw_backup_restore({run_id}, "
            f"'victim', into_schema => 'restored') ORDER BY 1, 2;")
        self.assertEqual(restored, [["public", "items", "restored", "500"],
                                    ["public", "probe", "restored", "0"],
                                    ["sales", "orders", "restored", "2000"]])
        self.assertEqual(
            c.value(SAFE + "SELECT count(*) FROM (SELECT * FROM public.items EXCEPT ALL "
                    "SELECT * FROM restored.items) x;", db="victim"), "0")
        self.assert_nothing_hostile_ran()


class OwnRunsAndSecretsTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.target = make_shared_dir("cdw_security_own_")
        c = cls.cluster
        c.sql("CREATE EXTENSION cdw_backup;")
        for role in ("alice", "bob"):
            c.sql(f"CREATE ROLE {role} LOGIN; "
                  f"GRANT cdw_backup_operator, pg_write_server_files TO {role};")
        c.sql(f"SELECT cdw_backup_add_target('alice_target', "
              f"{quote_literal('file://' + cls.target)});", user="alice")
        c.sql("CREATE DATABASE big OWNER alice;")
        c.sql("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a, md5((g + 1)::text) AS b "
              "FROM generate_series(1, 1500000) g;", db="big", user="alice")
        # Progress as each role, evaluated within one statement.
        for role in ("alice", "bob"):
            c.sql(f"CREATE FUNCTION public.progress_as_{role}(bigint) RETURNS bigint LANGUAGE sql "
                  f"SECURITY DEFINER SET search_path = pg_catalog AS "
                  f"'SELECT count(*) FROM public.cdw_backup_progress() p WHERE p.run_id = $1';"
                  f"ALTER FUNCTION public.progress_as_{role}(bigint) OWNER TO {role};")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.target, ignore_errors=True)

    def test_progress_shows_a_role_only_its_own_runs(self):
        c = self.cluster
        run_id = c.value("SELECT cdw_backup_run('alice_target', databases => '{big}', "
                         "compression => 'gzip');", user="alice")

        # The rows are the run's workers now (shared memory, not MVCC): a
        # helper can join between two evaluations of one statement. A sample
        # counts only when the superuser's count is the same before and after
        # alice's and bob's.
        def sample():
            row = c.rows(f"SELECT (SELECT count(*) FROM cdw_backup_progress() p "
                         f"WHERE p.run_id = {run_id}), progress_as_alice({run_id}), "
                         f"progress_as_bob({run_id}), (SELECT count(*) FROM "
                         f"cdw_backup_progress() p WHERE p.run_id = {run_id});")[0]
            steady = row[0] == row[3] and row[0] != "0"
            return row[:3] if steady and row[1] != "0" else None

        superuser, alice, bob = wait_until(sample, timeout=120, what="the run's progress")
        self.assertEqual(bob, "0", "bob sees the progress of alice's run")
        self.assertEqual(alice, superuser)
        c.sql(f"SELECT cdw_backup_wait({run_id});", user="alice")
        err = c.sql_error(f"SELECT cdw_backup_wait({run_id});", user="bob")
        self.assertIn("42501", err)
        self.assertIn("permission denied to wait for run", err)

    def test_no_secret_in_the_server_log(self):
        c = self.cluster
        secret = "wJalrXUtnFEMI" + "K7MDENGbPxRfiCYEXAMPLEKEY"
        for name, location in (("", "s3://bucket/p"), ("x", ""), ("x", "ftp://nowhere/p")):
            c.sql_error(f"SELECT cdw_backup_add_target({quote_literal(name)}, "
                        f"{quote_literal(location)}, secret_id => 'AKIDSECURITY', "
                        f"secret_key => {quote_literal(secret)});", user="alice")
        c.sql(f"SELECT cdw_backup_add_target('s3t', 's3://bucket/p', secret_id => 'AKIDSECURITY', "
              f"secret_key => {quote_literal(secret)});", user="alice")
        c.sql_error(f"SELECT cdw_backup_add_target('s3t', 's3://bucket/p', "
                    f"secret_id => 'AKIDSECURITY', secret_key => {quote_literal(secret)});",
                    user="alice")
        # Nobody but a superuser reads them back.
        self.assertIn("permission denied",
                      c.sql_error("SELECT secret_key FROM cdw_backup.target_store;", user="alice"))
        self.assertEqual(c.value("SELECT has_credentials FROM cdw_backup.targets "
                                 "WHERE name = 's3t';", user="alice"), "t")
        c.sql("SELECT cdw_backup_drop_target('s3t');", user="alice")
        self.assertNotIn(secret, c.server_log())


class SymbolicLinkTest(ClusterTestCase):
    def test_a_link_inside_a_target_is_never_followed(self):
        c = self.cluster
        target = make_shared_dir("cdw_security_links_")
        elsewhere = make_shared_dir("cdw_security_elsewhere_")
        self.addCleanup(shutil.rmtree, target, True)
        self.addCleanup(shutil.rmtree, elsewhere, True)
        # The run's date directory (today's and tomorrow's, in case the run
        # starts after midnight) points elsewhere.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        for day in (today, today + datetime.timedelta(days=1)):
            os.symlink(elsewhere, os.path.join(target, day.strftime("%Y%m%d")))
        c.sql("CREATE EXTENSION cdw_backup;")
        c.sql(f"SELECT cdw_backup_add_target('default', {quote_literal('file://' + target)});")
        c.sql("CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g;")
        run_id = c.value("SELECT cdw_backup_run(databases => '{postgres}', wait => true);")
        status = c.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id};")
        self.assertNotEqual(status, "succeeded")
        errors = c.sql(f"SELECT coalesce(r.error, '') || ' ' || coalesce(string_agg(t.error, ' '), '') "
                       f"FROM cdw_backup.runs r LEFT JOIN cdw_backup.run_tables t USING (run_id) "
                       f"WHERE run_id = {run_id} GROUP BY r.error;")
        errors += c.sql(f"SELECT coalesce(string_agg(error, ' '), '') FROM cdw_backup.run_databases "
                        f"WHERE run_id = {run_id};")
        self.assertIn("symbolic link", errors)
        self.assertEqual(os.listdir(elsewhere), [])


if __name__ == "__main__":
    unittest.main()
