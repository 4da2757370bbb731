"""Scheduled backups (issue 5): the launcher fires, skips, catches up,
expires, survives dropped roles and targets, and recovers from a crash.

Time is never waited for. The test-only setting cdw_backup.test_time_offset
(seconds, reloadable) shifts the launcher's clock; a reload wakes the
launcher, which re-evaluates every schedule. Offsets only ever grow within a
cluster (the launcher records up to when it has looked). Runs are made slow
when a test needs one in flight by holding an ACCESS EXCLUSIVE lock on the
table they back up (the database worker waits for its ACCESS SHARE lock, as
pg_dump does), which is deterministic and costs nothing.

Everything is checked from outside: runs and schedules through SQL, backups
through the target directory (manifests present, expired run directories
gone), notifications through a LISTENing psql session.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import unittest

import harness
from harness import (Cluster, ClusterTestCase, files_under, hint_of, make_shared_dir, sqlstate_of,
                     url_to_path, wait_until)

SOURCE_DATABASE = "src"
TERMINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")
DAY = 86400
HEARTBEAT = "_heartbeat"


def run_sql(cluster, sql, db="postgres", user="postgres"):
    """Runs SQL that may fail; returns (exit code, stdout + verbose stderr)."""
    args = cluster.psql_args(db, user) + ["-v", "VERBOSITY=verbose"]
    proc = subprocess.run(args, input=sql, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


class Session(harness.Session):
    """harness.Session named `name` (its application_name), with a wait for
    its statements; finish() returns its output."""

    def __init__(self, cluster, name, db="postgres"):
        super().__init__(cluster, db, name=name)

    def wait_idle_after(self, prefix):
        """Waits until the session has run a statement starting with `prefix`."""
        wait_until(lambda: self.cluster.value(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            f"'{self.name}' AND state IN ('idle', 'idle in transaction') "
            f"AND query LIKE '{prefix}%'") == "1", timeout=30, what=f"{self.name}: {prefix}")

    def finish(self, sql="", timeout=60):
        out, err = super().finish(sql, timeout)
        return out + err


class LockHolder(Session):
    """Holds ACCESS EXCLUSIVE on a table until released: runs that reach it wait."""

    def __init__(self, cluster, table, db=SOURCE_DATABASE):
        super().__init__(cluster, "cdw_test_lock_holder", db)
        self.db, self.table = db, table
        self.send(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;")
        wait_until(lambda: cluster.value(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            f"WHERE a.application_name = '{self.name}' AND l.mode = 'AccessExclusiveLock' "
            "AND l.granted AND l.locktype = 'relation'") != "0", timeout=30, what="table lock")

    def has_waiter(self):
        """True when another backend waits for a lock on the table."""
        return self.cluster.value(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            f"WHERE d.datname = '{self.db}' AND NOT l.granted AND l.locktype = 'relation'") != "0"

    def release(self):
        return self.finish("COMMIT;")


class ScheduleCase(ClusterTestCase):
    """A cluster with the extension, a file target 'default' and a small
    database to back up; helpers to drive the launcher's clock."""
    offset = 0  # current cdw_backup.test_time_offset, per class

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.offset = 0
        cls.directories = []
        c = cls.cluster
        cls.target_dir = cls.shared_dir("target")
        c.sql("CREATE EXTENSION cdw_backup")
        c.sql(f"SELECT cdw_backup_add_target('default', 'file://{cls.target_dir}')")
        c.sql(f"CREATE DATABASE {SOURCE_DATABASE}")
        c.sql("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g",
              db=SOURCE_DATABASE)
        # Always enabled, never due (29 February, midnight): its last_checked_at
        # shows each pass of the launcher.
        c.sql(f"SELECT cdw_backup_schedule('{HEARTBEAT}', '0 0 29 2 *', databases => '{{src}}')")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if not os.environ.get("CDW_KEEP_CLUSTER"):
            for directory in cls.directories:
                shutil.rmtree(directory, ignore_errors=True)

    @classmethod
    def shared_dir(cls, name):
        """A directory for a file:// target, removed with the cluster."""
        directory = make_shared_dir(f"cdw_sched_{name}_")
        cls.directories.append(directory)
        return directory

    # -- the launcher's clock ------------------------------------------------

    def set_offset(self, seconds):
        seconds = int(seconds)
        self.assertGreaterEqual(seconds, type(self).offset, "the test clock only moves forward")
        type(self).offset = seconds
        self.cluster.sql(f"ALTER SYSTEM SET cdw_backup.test_time_offset = {seconds}")
        self.cluster.sql("SELECT pg_reload_conf()")

    def advance(self, seconds):
        self.set_offset(type(self).offset + seconds)

    def seconds_until_next_run(self, name):
        """Offset that puts the launcher's clock at the schedule's next run."""
        value = self.cluster.value(
            "SELECT ceil(extract(epoch FROM next_run_at - now()))::bigint "
            f"FROM cdw_backup.schedules WHERE name = '{name}'")
        self.assertNotEqual(value, "", f"schedule {name} has no next_run_at")
        return int(value)

    def advance_past_next_run(self, name, extra=2):
        self.set_offset(self.seconds_until_next_run(name) + extra)

    def offset_to(self, when):
        """Offset that makes the launcher's clock read `when` (naive UTC) now."""
        now = float(self.cluster.value("SELECT extract(epoch FROM now())"))
        return int(when.replace(tzinfo=datetime.timezone.utc).timestamp() - now)

    def launcher_clock(self):
        """What the launcher's clock reads now (naive UTC)."""
        now = float(self.cluster.value("SELECT extract(epoch FROM now())")) + type(self).offset
        return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)

    def launcher_now(self):
        """The launcher's clock now, as SQL text."""
        return self.cluster.value(
            f"SELECT clock_timestamp() + make_interval(secs => {type(self).offset})")

    def wait_launcher_pass_after(self, instant):
        """Waits for a pass of the launcher that started at or after `instant`
        (its clock): the heartbeat schedule's last_checked_at is its start."""
        wait_until(lambda: self.cluster.value(
            f"SELECT last_checked_at >= '{instant}' FROM cdw_backup.schedule_store "
            f"WHERE name = '{HEARTBEAT}'") == "t", timeout=30, what="a launcher pass")

    def launcher_pass(self):
        """Wakes the launcher and waits until it has looked at everything
        committed before this call, with the current clock offset."""
        instant = self.launcher_now()
        self.cluster.sql("SELECT pg_reload_conf()")
        self.wait_launcher_pass_after(instant)

    # -- schedules and runs --------------------------------------------------

    def schedule(self, name, cron, user="postgres", **params):
        args = [f"'{name}'", f"'{cron}'"]
        params.setdefault("databases", "{%s}" % SOURCE_DATABASE)
        for key, value in params.items():
            if isinstance(value, bool):
                args.append(f"{key} => {str(value).lower()}")
            elif isinstance(value, int):
                args.append(f"{key} => {value}")
            else:
                args.append(f"{key} => '{value}'")
        next_run = self.cluster.value(f"SELECT cdw_backup_schedule({', '.join(args)})", user=user)
        self.addCleanup(self.unschedule_quietly, name)
        return next_run

    def unschedule_quietly(self, name):
        self.cluster.sql(f"SELECT cdw_backup_unschedule(name) FROM cdw_backup.schedule_store "
                         f"WHERE name = '{name}'", check=False)

    def last_run_id(self, name):
        value = self.cluster.value(f"SELECT last_run_id FROM cdw_backup.schedules "
                                   f"WHERE name = '{name}'")
        return int(value) if value else None

    def fire(self, name, extra=2):
        """Moves the clock past the schedule's next run; returns the new run's id."""
        before = self.last_run_id(name)
        self.advance_past_next_run(name, extra)
        wait_until(lambda: self.last_run_id(name) not in (None, before), timeout=30,
                   what=f"a run of schedule {name}")
        return self.last_run_id(name)

    def wait_run(self, run_id, timeout=60):
        status = self.cluster.value(f"SELECT cdw_backup_wait({run_id}, '{timeout} s')")
        self.assertIn(status, TERMINAL, f"run {run_id} did not finish")
        return status

    def status(self, run_id):
        return self.cluster.value(f"SELECT status FROM cdw_backup.runs WHERE run_id = {run_id}")

    def runs_of(self, name, statuses=None):
        where = f"schedule_name = '{name}'"
        if statuses:
            where += " AND status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"
        return self.cluster.rows(f"SELECT run_id, status, error, hint, started_at, location "
                                 f"FROM cdw_backup.runs WHERE {where} ORDER BY run_id")

    def launcher_pid(self):
        return self.cluster.value("SELECT pid FROM pg_stat_activity "
                                  "WHERE backend_type = 'cdw_backup launcher'")

    def assert_backup_intact(self, location):
        path = url_to_path(location)
        manifest = os.path.join(path, SOURCE_DATABASE, "manifest.json")
        self.assertTrue(os.path.isfile(manifest), f"{manifest} missing")
        with open(manifest) as f:
            json.load(f)

    def assert_backup_gone(self, location):
        path = url_to_path(location)
        self.assertFalse(os.path.exists(path), f"{path} still exists: {files_under(path)}")
        run_id = location.rstrip("/").rsplit("-run", 1)[1]
        leftovers = [p for p in files_under(self.target_dir)
                     if f"-run{run_id}/" in p or p.endswith((f"-run{run_id}.json", f"-run{run_id}.json.hmac"))]
        self.assertEqual(leftovers, [], "objects of an expired run are left")


# ---------------------------------------------------------------------------
# 1. Validation


class ValidationTest(ScheduleCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        c.sql("CREATE ROLE plain LOGIN")

    def check_error(self, sql, sqlstate, message, hint_part=None, user="postgres"):
        error = self.cluster.sql_error(sql, user=user)
        self.assertEqual(sqlstate_of(error), sqlstate, error)
        self.assertIn(message, error)
        if hint_part is not None:
            hint = hint_of(error)
            self.assertIsNotNone(hint, f"no hint in: {error}")
            self.assertIn(hint_part, hint)
        return error

    def test_bad_cron_expressions(self):
        for cron in ("61 3 * * *", "0 3 * *", "0 3 * * * *", "x y z", "0 25 * * *", "@often", ""):
            with self.subTest(cron=cron):
                self.check_error(f"SELECT cdw_backup_schedule('bad', '{cron}')", "22023", "",
                                 "minute hour day-of-month month day-of-week")
        # Valid syntax that can never fire.
        self.check_error("SELECT cdw_backup_schedule('bad', '0 0 31 2 *')", "22023", "",
                         "February")
        self.assertEqual(self.cluster.value("SELECT count(*) FROM cdw_backup.schedule_store "
                                            "WHERE name = 'bad'"), "0")

    def test_bad_timezone(self):
        error = self.check_error(
            "SELECT cdw_backup_schedule('bad', '0 3 * * *', timezone => 'Mars/Base')",
            "22023", "Mars/Base", "IANA")
        self.assertIn("time zone", error)

    def test_keep_limits_must_be_positive(self):
        for param in ("keep_days", "keep_runs"):
            for value in (0, -1):
                with self.subTest(param=param, value=value):
                    self.check_error(
                        f"SELECT cdw_backup_schedule('bad', '0 3 * * *', {param} => {value})",
                        "22023", f"{param} must be at least 1", "NULL")

    def test_unknown_target_and_compression(self):
        self.check_error("SELECT cdw_backup_schedule('bad', '0 3 * * *', target => 'nowhere')",
                         "42704", 'target "nowhere" does not exist', "cdw_backup_add_target")
        error = self.cluster.sql_error(
            "SELECT cdw_backup_schedule('bad', '0 3 * * *', compression => 'rar')")
        self.assertEqual(sqlstate_of(error), "22023", error)
        self.assertEqual(self.cluster.value("SELECT count(*) FROM cdw_backup.schedule_store "
                                            "WHERE name = 'bad'"), "0")

    def test_unknown_schedule(self):
        self.check_error("SELECT cdw_backup_unschedule('nope')", "42704",
                         'schedule "nope" does not exist', "cdw_backup.schedules")
        self.check_error("SELECT cdw_backup_run_schedule('nope')", "42704",
                         'schedule "nope" does not exist', "cdw_backup.schedules")

    def test_non_operator_is_refused(self):
        self.check_error("SELECT cdw_backup_schedule('mine', '0 3 * * *')", "42501",
                         "permission denied", "GRANT cdw_backup_operator TO plain", user="plain")
        error = self.cluster.sql_error("SELECT * FROM cdw_backup.schedule_store", user="plain")
        self.assertEqual(sqlstate_of(error), "42501", error)

    def test_next_run_in_the_schedules_time_zone(self):
        next_run = self.schedule("shanghai", "30 2 * * *", timezone="Asia/Shanghai")
        row = self.cluster.rows(
            f"SELECT next_run_at = '{next_run}'::timestamptz, "
            "(next_run_at AT TIME ZONE 'Asia/Shanghai')::time, next_run_at > now(), "
            "next_run_at <= now() + interval '1 day', timezone, enabled, owner "
            "FROM cdw_backup.schedules WHERE name = 'shanghai'")
        self.assertEqual(row, [["t", "02:30:00", "t", "t", "Asia/Shanghai", "t", "postgres"]])
        # Changing a schedule replaces it (same name), with a new next run.
        next_run = self.schedule("shanghai", "@hourly")
        self.assertEqual(
            self.cluster.value(f"SELECT extract(minute FROM '{next_run}'::timestamptz)"), "0")
        self.launcher_pass()  # (see FiringTest.test_4 for what happens without it)
        row = self.cluster.rows(f"SELECT cron, timezone, next_run_at = '{next_run}' "
                                "FROM cdw_backup.schedules WHERE name = 'shanghai'")
        self.assertEqual(row, [["@hourly", "UTC", "t"]])
        self.assertEqual(self.cluster.value("SELECT cdw_backup_unschedule('shanghai')"), "t")
        self.assertEqual(self.cluster.value("SELECT count(*) FROM cdw_backup.schedules "
                                            "WHERE name = 'shanghai'"), "0")


class WithoutPreloadTest(unittest.TestCase):
    """Without shared_preload_libraries the scheduling functions say what to add."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(preload=False)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.destroy()

    def test_schedule_needs_preload(self):
        c = self.cluster
        c.sql("CREATE EXTENSION cdw_backup")
        for sql in ("SELECT cdw_backup_schedule('nightly', '0 3 * * *')",
                    "SELECT cdw_backup_run_schedule('nightly')"):
            with self.subTest(sql=sql):
                error = c.sql_error(sql)
                self.assertEqual(sqlstate_of(error), "55000", error)
                self.assertIn("shared_preload_libraries = 'cdw_backup'", hint_of(error) or "",
                              error)
        self.assertEqual(c.value("SELECT count(*) FROM cdw_backup.schedule_store"), "0")


# ---------------------------------------------------------------------------
# 2. Firing, notifications; 3. overlap; max_run_time


class VerifyScheduleTest(ScheduleCase):

    def test_verify_attached_to_a_schedule(self):
        """verify => true: every scheduled backup is re-read and checked right
        after it is written, and the outcome is recorded on its run."""
        c = self.cluster
        self.schedule("verified", "0 5 * * *", verify=True)
        run_id = self.fire("verified")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        wait_until(lambda: c.value(f"SELECT verify_status FROM cdw_backup.runs "
                                   f"WHERE run_id = {run_id}"), timeout=30,
                   what="the verification of the scheduled run")
        self.assertEqual(c.rows(f"SELECT verify_status, verify_detail FROM cdw_backup.runs "
                                f"WHERE run_id = {run_id}"), [["ok", ""]])
        # Without verify nothing is recorded.
        self.schedule("unverified", "0 6 * * *")
        other = self.fire("unverified")
        self.assertEqual(self.wait_run(other), "succeeded")
        self.assertEqual(c.value(f"SELECT verify_status IS NULL FROM cdw_backup.runs "
                                 f"WHERE run_id = {other}"), "t")


class FiringTest(ScheduleCase):

    def test_1_fires_when_due_and_notifies(self):
        c = self.cluster
        next_run = self.schedule("nightly", "0 3 * * *")
        self.assertEqual(c.value(f"SELECT '{next_run}'::timestamptz = next_run_at "
                                 "FROM cdw_backup.schedules WHERE name = 'nightly'"), "t")
        self.assertEqual(c.rows("SELECT last_run_id, last_status FROM cdw_backup.schedules "
                                "WHERE name = 'nightly'"), [["", ""]])
        listener = Session(c, "cdw_test_listener")
        try:
            listener.send("LISTEN cdw_backup;")
            listener.wait_idle_after("LISTEN")
            # A reload alone (clock not yet at 03:00) starts nothing.
            self.launcher_pass()
            self.assertEqual(c.value("SELECT count(*) FROM cdw_backup.runs"), "0")
            run_id = self.fire("nightly")
            self.assertEqual(self.wait_run(run_id), "succeeded")
            out = listener.finish("SELECT 1;\nSELECT 2;")
        finally:
            listener.kill()
        payloads = [json.loads(p) for p in re.findall(
            r'Asynchronous notification "cdw_backup" with payload "(.*)" received', out)]
        self.assertIn({"run_id": run_id, "schedule": "nightly", "status": "succeeded"}, payloads,
                      out)
        run = c.rows(f"SELECT schedule_name, role_name, databases, target, location "
                     f"FROM cdw_backup.runs WHERE run_id = {run_id}")[0]
        self.assertEqual(run[:4], ["nightly", "postgres", "{src}", "default"])
        self.assert_backup_intact(run[4])
        row = c.rows("SELECT last_run_id, last_status, next_run_at > "
                     f"'{next_run}'::timestamptz, next_run_at - '{next_run}'::timestamptz "
                     "FROM cdw_backup.schedules WHERE name = 'nightly'")
        self.assertEqual(row, [[str(run_id), "succeeded", "t", "1 day"]])
        self.assertIn(f"cdw_backup run {run_id} succeeded", c.server_log())
        # Exactly one run for one due time, however often the launcher looks.
        self.launcher_pass()
        self.assertEqual(len(self.runs_of("nightly")), 1)
        # run_schedule runs it now, with the schedule's name, as its owner.
        manual = int(c.value("SELECT cdw_backup_run_schedule('nightly')"))
        self.assertEqual(self.wait_run(manual), "succeeded")
        self.assertEqual(c.rows(f"SELECT schedule_name, role_name FROM cdw_backup.runs "
                                f"WHERE run_id = {manual}"), [["nightly", "postgres"]])
        self.assertEqual(self.last_run_id("nightly"), manual)
        # A disabled schedule does not fire.
        self.schedule("nightly", "0 3 * * *", enabled=False)
        self.advance(2 * DAY)
        self.launcher_pass()
        self.assertEqual(len(self.runs_of("nightly")), 2)
        self.assertEqual(c.value("SELECT enabled FROM cdw_backup.schedules "
                                 "WHERE name = 'nightly'"), "f")

    def test_2_overlapping_run_is_skipped(self):
        c = self.cluster
        self.schedule("every-minute", "* * * * *")
        holder = LockHolder(c, "t")
        try:
            first = self.fire("every-minute")
            wait_until(holder.has_waiter, timeout=30, what="the run waiting for the table lock")
            self.assertEqual(self.status(first), "running")
            # The next minute comes while the first run still waits.
            self.advance_past_next_run("every-minute")
            wait_until(lambda: self.runs_of("every-minute", ["skipped"]), timeout=30,
                       what="a skipped run")
            self.launcher_pass()  # looking again skips nothing more
            skipped = self.runs_of("every-minute", ["skipped"])
            self.assertEqual(len(skipped), 1, skipped)
            self.assertIn(f"run {first} of this schedule was still running", skipped[0][2])
            self.assertTrue(skipped[0][3], "a skipped run has a hint")
            self.assertEqual(self.runs_of("every-minute", ["running"])[0][0], str(first))
            self.assertEqual(len(self.runs_of("every-minute", ["running"])), 1)
            self.assertEqual(self.last_run_id("every-minute"), first)
            self.assertIn('schedule "every-minute": run skipped', c.server_log())
            holder.release()
        finally:
            holder.kill()
        self.assertEqual(self.wait_run(first), "succeeded")
        # Once it is done, the schedule fires again.
        second = self.fire("every-minute")
        self.assertEqual(self.wait_run(second), "succeeded")
        statuses = [r[1] for r in self.runs_of("every-minute")]
        self.assertEqual(statuses, ["succeeded", "skipped", "succeeded"])

    def test_3_max_run_time_cancels_a_run(self):
        """max_run_time is measured on the launcher's clock: a run is not
        cancelled before, and is cancelled after."""
        c = self.cluster
        self.schedule("capped", "0 3 * * *", max_run_time="1 hour")
        holder = LockHolder(c, "t")
        try:
            run_id = self.fire("capped")
            wait_until(holder.has_waiter, timeout=30, what="the run waiting for the table lock")
            self.launcher_pass()
            self.assertEqual(self.status(run_id), "running",
                             "cancelled before its max_run_time had passed on the launcher's clock")
            self.advance(3600 + 60)
            self.assertEqual(self.wait_run(run_id), "cancelled")
        finally:
            holder.kill()
        self.assertIn(f"cdw_backup run {run_id} exceeded its schedule's max_run_time",
                      c.server_log())


    def test_4_change_during_a_launcher_pass_is_kept(self):
        """A launcher pass that runs while a redefinition is uncommitted must
        not overwrite the new next_run_at with one computed from the old
        definition: the pass locks the rows it visits, waits for the change,
        and the change's own values survive."""
        c = self.cluster
        self.schedule("changing", "30 2 * * *", timezone="Asia/Shanghai")
        self.launcher_pass()
        session = Session(c, "cdw_test_changer")
        try:
            session.send("BEGIN;\nSELECT cdw_backup_schedule('changing', '@hourly', "
                         "databases => '{src}');")
            session.wait_idle_after("SELECT cdw_backup_schedule")
            # Make the launcher look now (schedule changes wake it only at
            # commit): its pass waits for our uncommitted row.
            c.sql("SELECT pg_reload_conf()")
            wait_until(lambda: c.value(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                "'cdw_backup launcher' AND wait_event_type = 'Lock'") == "1", timeout=30,
                what="the launcher waiting for the changed row")
            out = session.finish("COMMIT;")
        finally:
            session.kill()
        returned = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00", out).group(0)
        wait_until(lambda: c.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                   "'cdw_backup launcher' AND wait_event_type = 'Lock'") == "0",
                   timeout=30, what="the launcher's pass to end")
        wait_until(lambda: c.value("SELECT state FROM pg_stat_activity WHERE backend_type = "
                                   "'cdw_backup launcher'") in ("idle", ""), timeout=30,
                   what="the launcher idle")
        row = c.rows("SELECT cron, timezone, next_run_at = "
                     f"'{returned}'::timestamptz, next_run_at FROM cdw_backup.schedules "
                     "WHERE name = 'changing'")
        self.assertEqual(row[0][:3], ["@hourly", "UTC", "t"],
                         f"next_run_at {row[0][3]} is the old definition's, not {returned}")

    def test_5_schedule_created_in_a_transaction_fires_on_time(self):
        """The launcher must learn of a schedule when it is committed, not
        only when cdw_backup_schedule() runs: otherwise it sleeps on the
        schedules it knew (up to 5 minutes) and a run due before is late.
        The clock is set 6 seconds before a minute; the test waits for that
        minute in real time."""
        c = self.cluster
        minute = (self.launcher_clock() + datetime.timedelta(seconds=90)).replace(
            second=0, microsecond=0)
        self.set_offset(self.offset_to(minute - datetime.timedelta(seconds=6)))
        self.launcher_pass()
        session = Session(c, "cdw_test_creator")
        try:
            session.send("BEGIN;\nSELECT cdw_backup_schedule('soon', '* * * * *', "
                         "databases => '{src}');")
            self.addCleanup(self.unschedule_quietly, "soon")
            session.wait_idle_after("SELECT cdw_backup_schedule")
            # The launcher sleeps on the schedules it knew; only the commit
            # may wake it.
            wait_until(lambda: c.value(
                "SELECT wait_event FROM pg_stat_activity "
                "WHERE backend_type = 'cdw_backup launcher'") == "Extension", timeout=30,
                what="the launcher asleep")
            session.finish("COMMIT;")
        finally:
            session.kill()
        self.assertEqual(c.value("SELECT next_run_at FROM cdw_backup.schedules "
                                 "WHERE name = 'soon'"),
                         c.value(f"SELECT '{minute.isoformat()}+00'::timestamptz"))
        wait_until(lambda: self.last_run_id("soon"), timeout=20,
                   what="the run due 6 seconds after the schedule was committed")
        self.assertEqual(self.wait_run(self.last_run_id("soon")), "succeeded")

    def test_6_fired_run_keeps_the_schedules_filters(self):
        """A run the launcher starts applies the schedule's table filters
        (tables / exclude_* options), as cdw_backup_run_schedule() does."""
        c = self.cluster
        c.sql("CREATE DATABASE filtered")
        c.sql("CREATE TABLE keep_me AS SELECT 1 AS x; CREATE TABLE scratch_a AS SELECT 2 AS x; "
              "CREATE TABLE audit AS SELECT 3 AS x", db="filtered")
        self.schedule("filtered", "0 4 * * *", databases="{filtered}",
                      exclude_tables="{public.scratch_*}", exclude_table_data="{audit}")
        run_id = self.fire("filtered")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        tables = {r[0]: r[1:] for r in c.rows(
            "SELECT table_name, status, rows, coalesce(excluded_by, '') FROM cdw_backup.run_tables "
            f"WHERE run_id = {run_id}")}
        self.assertEqual(tables, {
            "keep_me": ["succeeded", "1", ""],
            "scratch_a": ["excluded", "", 'exclude_tables pattern "public.scratch_*"'],
            "audit": ["succeeded", "0", 'exclude_table_data pattern "audit"']}, tables)
        self.assertEqual(c.value("SELECT filters->>'exclude_tables' FROM cdw_backup.runs "
                                 f"WHERE run_id = {run_id}"), '["public.scratch_*"]')


# ---------------------------------------------------------------------------
# 5. Retention


class KeepRunsTest(ScheduleCase):

    def test_keep_runs(self):
        c = self.cluster
        manual = int(c.value("SELECT cdw_backup_run(databases => '{src}', wait => true)"))
        self.assertEqual(self.status(manual), "succeeded")
        other = self.schedule("other", "0 4 * * *")
        self.schedule("keep2", "0 3 * * *", keep_runs=2)
        other_run = int(c.value("SELECT cdw_backup_run_schedule('other')"))
        self.assertEqual(self.wait_run(other_run), "succeeded")
        c.sql("SELECT cdw_backup_unschedule('other')")
        runs = []
        for i in range(4):
            runs.append(self.fire("keep2"))
            self.assertEqual(self.wait_run(runs[-1]), "succeeded")
            expected = max(0, len(runs) - 2)
            wait_until(lambda: len(self.runs_of("keep2", ["expired"])) == expected, timeout=30,
                       what=f"{expected} expired runs")
        self.assertEqual([(r[0], r[1]) for r in self.runs_of("keep2")],
                         [(str(runs[0]), "expired"), (str(runs[1]), "expired"),
                          (str(runs[2]), "succeeded"), (str(runs[3]), "succeeded")])
        locations = {int(r[0]): r[5] for r in self.runs_of("keep2")}
        for run_id in runs[:2]:
            self.assert_backup_gone(locations[run_id])
            self.assertIn(f"cdw_backup run {run_id} expired", c.server_log())
        for run_id in runs[2:]:
            self.assert_backup_intact(locations[run_id])
        index = [os.path.basename(p) for p in files_under(os.path.join(self.target_dir, "_runs"))]
        for run_id in runs[:2]:
            self.assertFalse([n for n in index if n.endswith(f"-run{run_id}.json")], index)
        # Backups of a manual run and of another schedule are never touched.
        for run_id in (manual, other_run):
            self.assertEqual(self.status(run_id), "succeeded")
            self.assert_backup_intact(c.value(f"SELECT location FROM cdw_backup.runs "
                                              f"WHERE run_id = {run_id}"))


class KeepDaysTest(ScheduleCase):

    def test_keep_days(self):
        """Three runs now; two days later (clock moved, no new run) only the
        newest successful backup of the schedule is kept."""
        c = self.cluster
        manual = int(c.value("SELECT cdw_backup_run(databases => '{src}', wait => true)"))
        self.schedule("days", "0 3 * * *", keep_days=1, catch_up_window="1 minute")
        runs = []
        for _ in range(3):
            runs.append(int(c.value("SELECT cdw_backup_run_schedule('days')")))
            self.assertEqual(self.wait_run(runs[-1]), "succeeded")
        self.launcher_pass()
        self.assertEqual([r[1] for r in self.runs_of("days")], ["succeeded"] * 3)
        # Two days and more later, at noon: the 03:00 run was due hours ago,
        # beyond the catch-up window, so no new run starts.
        noon = (self.launcher_clock() + datetime.timedelta(days=2, hours=1)).replace(
            hour=12, minute=0, second=0, microsecond=0)
        if noon < self.launcher_clock() + datetime.timedelta(days=2, hours=1):
            noon += datetime.timedelta(days=1)
        self.set_offset(self.offset_to(noon))
        wait_until(lambda: len(self.runs_of("days", ["expired"])) == 2, timeout=30,
                   what="two expired runs")
        self.launcher_pass()
        rows = {int(r[0]): r for r in self.runs_of("days") if r[1] != "missed"}
        self.assertEqual({k: v[1] for k, v in rows.items()},
                         {runs[0]: "expired", runs[1]: "expired", runs[2]: "succeeded"})
        for run_id in runs[:2]:
            self.assert_backup_gone(rows[run_id][5])
        self.assert_backup_intact(rows[runs[2]][5])
        self.assertEqual(self.status(manual), "succeeded")
        self.assert_backup_intact(c.value(f"SELECT location FROM cdw_backup.runs "
                                          f"WHERE run_id = {manual}"))

    def test_keep_days_of_scheduled_runs(self):
        """Runs fired a day apart by the launcher's clock: with keep_days 2,
        the one from the day before is kept, older ones expire."""
        c = self.cluster
        self.schedule("daily2", "0 3 * * *", keep_days=2)
        runs = []
        for i in range(4):
            # The last one fires a minute later in its day than the others,
            # so the second run is clearly more than two days old then.
            runs.append(self.fire("daily2", extra=60 if i == 3 else 2))
            self.assertEqual(self.wait_run(runs[-1]), "succeeded")
        wait_until(lambda: len(self.runs_of("daily2", ["expired"])) >= 2, timeout=30,
                   what="expired runs")
        self.launcher_pass()
        self.assertEqual([(int(r[0]), r[1]) for r in self.runs_of("daily2")],
                         [(runs[0], "expired"), (runs[1], "expired"),
                          (runs[2], "succeeded"), (runs[3], "succeeded")])


class HistoryTest(ScheduleCase):
    settings = {"cdw_backup.history_days": 1}

    def advance_until_history_deleted(self, run_id):
        """Moves the clock past history_days and waits for the launcher to
        delete the history row of `run_id`."""
        self.advance(2 * DAY)
        wait_until(lambda: self.cluster.value(f"SELECT count(*) FROM cdw_backup.runs "
                                              f"WHERE run_id = {run_id}") == "0", timeout=30,
                   what="old history deleted")

    def test_history_is_bounded(self):
        c = self.cluster
        run_id = int(c.value("SELECT cdw_backup_run(databases => '{src}', wait => true)"))
        location = c.value(f"SELECT location FROM cdw_backup.runs WHERE run_id = {run_id}")
        self.launcher_pass()
        self.assertEqual(c.value(f"SELECT count(*) FROM cdw_backup.run_tables "
                                 f"WHERE run_id = {run_id}"), "1")
        self.advance_until_history_deleted(run_id)
        self.assertEqual(c.value(f"SELECT count(*) FROM cdw_backup.run_tables "
                                 f"WHERE run_id = {run_id}"), "0")
        # The backup itself stays: history_days bounds rows, not backups.
        self.assert_backup_intact(location)

    def test_history_keeps_a_run_whose_cleanup_is_pending(self):
        c = self.cluster
        run_id = int(c.value("SELECT cdw_backup_run(databases => '{src}', wait => true)"))
        location = c.value(f"SELECT location FROM cdw_backup.runs WHERE run_id = {run_id}")
        # A stray object of the run that settling cannot remove (in a
        # directory the server may not write), as a run that did not
        # succeed leaves when its storage refuses the DELETE.
        stuck = os.path.join(url_to_path(location), "stuck")
        os.makedirs(stuck)
        with open(os.path.join(stuck, "part.csv"), "w") as f:
            f.write("x\n")
        os.chmod(stuck, 0o555)
        self.addCleanup(os.chmod, stuck, 0o755)
        c.sql(f"UPDATE cdw_backup.runs SET status = 'failed', cleanup_pending = true "
              f"WHERE run_id = {run_id}")
        self.launcher_pass()
        wait_until(lambda: c.value(f"SELECT leftover_error IS NOT NULL FROM cdw_backup.runs "
                                   f"WHERE run_id = {run_id}") == "t", timeout=30,
                   what="the cleanup to fail")
        other = int(c.value("SELECT cdw_backup_run(databases => '{src}', wait => true)"))
        self.advance_until_history_deleted(other)
        # Its leftovers are still listed and retried: the row stays.
        self.assertEqual(c.value(f"SELECT cleanup_pending FROM cdw_backup.runs "
                                 f"WHERE run_id = {run_id}"), "t")


# ---------------------------------------------------------------------------
# 4. Downtime


class DowntimeTest(ScheduleCase):
    """The server is stopped, the clock moved in postgresql.auto.conf (as
    ALTER SYSTEM would), and started again."""

    def restart_with_offset(self, seconds):
        self.assertGreaterEqual(seconds, type(self).offset)
        type(self).offset = int(seconds)
        c = self.cluster
        c.stop()
        path = os.path.join(c.data, "postgresql.auto.conf")
        with open(path) as f:
            lines = [l for l in f if not l.startswith("cdw_backup.test_time_offset")]
        lines.append(f"cdw_backup.test_time_offset = {int(seconds)}\n")
        with open(path, "w") as f:
            f.writelines(lines)
        c.start()

    def wait_runs_settled(self, name):
        wait_until(lambda: not self.runs_of(name, ["running"]), timeout=60, what="runs finished")

    def test_1_short_downtime_catches_up_once(self):
        c = self.cluster
        self.schedule("nightly", "0 3 * * *")
        self.launcher_pass()
        next_run = c.value("SELECT next_run_at FROM cdw_backup.schedules WHERE name = 'nightly'")
        # Back an hour after the missed 03:00.
        self.restart_with_offset(self.seconds_until_next_run("nightly") + 3600)
        wait_until(lambda: self.runs_of("nightly"), timeout=30, what="the catch-up run")
        self.launcher_pass()
        self.wait_runs_settled("nightly")
        self.launcher_pass()
        runs = self.runs_of("nightly")
        self.assertEqual([r[1] for r in runs], ["succeeded"], runs)
        self.assertEqual(c.rows("SELECT last_run_id, last_status, next_run_at - "
                                f"'{next_run}'::timestamptz FROM cdw_backup.schedules "
                                "WHERE name = 'nightly'"),
                         [[runs[0][0], "succeeded", "1 day"]])

    def test_2_long_downtime_catches_up_the_latest_only(self):
        """Down for days: the latest 03:00 (less than a period ago) runs once,
        the earlier ones are recorded as missed in one row."""
        c = self.cluster
        self.schedule("nightly2", "0 3 * * *")
        self.launcher_pass()
        self.restart_with_offset(self.seconds_until_next_run("nightly2") + 3 * DAY + 3600)
        wait_until(lambda: self.runs_of("nightly2", TERMINAL + ("running",)), timeout=30,
                   what="the catch-up run")
        self.wait_runs_settled("nightly2")
        self.launcher_pass()
        runs = self.runs_of("nightly2")
        self.assertEqual(sorted(r[1] for r in runs), ["missed", "succeeded"], runs)
        missed = [r for r in runs if r[1] == "missed"][0]
        self.assertIn("were missed while the server was not running", missed[2])

    def test_3_too_late_is_missed(self):
        """Back on a Sunday: the weekday job's Friday run is more than a
        period old, and the nightly job with a 30 minute window is 9 hours
        late: both are recorded as missed, nothing runs."""
        c = self.cluster
        self.schedule("weekdays", "0 3 * * 1-5")
        self.schedule("nightly-window", "0 3 * * *", catch_up_window="30 minutes")
        self.launcher_pass()
        clock = self.launcher_clock()
        sunday = (clock + datetime.timedelta(days=8)).replace(hour=12, minute=0, second=0,
                                                              microsecond=0)
        while sunday.weekday() != 6:
            sunday += datetime.timedelta(days=1)
        self.restart_with_offset(self.offset_to(sunday))
        for name, latest in (("weekdays", sunday - datetime.timedelta(days=2, hours=9)),
                             ("nightly-window", sunday - datetime.timedelta(hours=9))):
            with self.subTest(schedule=name):
                wait_until(lambda: len(self.runs_of(name)) == 2, timeout=30,
                           what=f"missed rows of {name}")
                self.launcher_pass()
                runs = self.runs_of(name)
                self.assertEqual([r[1] for r in runs], ["missed", "missed"], runs)
                latest_row = c.rows(f"SELECT error, started_at = '{latest.isoformat()}+00' "
                                    f"FROM cdw_backup.runs WHERE schedule_name = '{name}' "
                                    "AND error LIKE 'the run due at%'")
                self.assertEqual(len(latest_row), 1, runs)
                self.assertEqual(latest_row[0][1], "t", latest_row)
                self.assertEqual(c.value("SELECT next_run_at > now() + "
                                         f"interval '{type(self).offset} seconds' "
                                         f"FROM cdw_backup.schedules WHERE name = '{name}'"), "t")
        self.assertEqual(c.value("SELECT count(*) FROM cdw_backup.runs "
                                 "WHERE schedule_name IN ('weekdays', 'nightly-window') "
                                 "AND status <> 'missed'"), "0")


# ---------------------------------------------------------------------------
# 6. Dropped owner / target; 8. visibility


class OwnershipTest(ScheduleCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        # Non-superusers back up through the FDW installed by a superuser.
        c.sql("CREATE EXTENSION cdw_backup_fdw", db=SOURCE_DATABASE)
        for role in ("alice", "bob", "carol"):
            c.sql(f"CREATE ROLE {role} LOGIN; GRANT cdw_backup_operator TO {role}; "
                  f"GRANT pg_write_server_files TO {role}")
            c.sql(f"GRANT SELECT ON t TO {role}", db=SOURCE_DATABASE)
            directory = cls.shared_dir(role)
            c.sql(f"SELECT cdw_backup_add_target('{role}_t', 'file://{directory}')", user=role)

    def test_1_users_see_only_their_schedules(self):
        c = self.cluster
        self.schedule("bob_s", "0 3 * * *", user="bob", target="bob_t")
        self.schedule("carol_s", "0 3 * * *", user="carol", target="carol_t")
        for user, expected in (("bob", ["bob_s"]), ("carol", ["carol_s"]),
                               ("postgres", [HEARTBEAT, "bob_s", "carol_s"])):
            with self.subTest(user=user):
                self.assertEqual(c.value("SELECT string_agg(name, ',' ORDER BY name) "
                                         "FROM cdw_backup.schedules", user=user),
                                 ",".join(expected))
        self.assertEqual(c.value("SELECT owner FROM cdw_backup.schedules WHERE name = 'bob_s'"),
                         "bob")
        # Others' schedules are out of reach.
        for sql in ("SELECT cdw_backup_unschedule('carol_s')",
                    "SELECT cdw_backup_run_schedule('carol_s')"):
            with self.subTest(sql=sql):
                error = c.sql_error(sql, user="bob")
                self.assertEqual(sqlstate_of(error), "42704", error)

    def test_2_schedules_and_targets_of_others_cannot_be_taken_over(self):
        c = self.cluster
        self.schedule("carol_s2", "0 3 * * *", user="carol", target="carol_t")
        self.addCleanup(self.unschedule_quietly, "bob_2")
        with self.subTest("bob redefines carol's schedule"):
            code, out = run_sql(c, "SELECT cdw_backup_schedule('carol_s2', '0 5 * * *', "
                                   "target => 'bob_t', enabled => false)", user="bob")
            row = c.rows("SELECT cron, target, enabled, owner FROM cdw_backup.schedules "
                         "WHERE name = 'carol_s2'")
            self.assertEqual(row, [["0 3 * * *", "carol_t", "t", "carol"]],
                             f"bob changed carol's schedule; his call gave: {out!r}")
            self.assertEqual(sqlstate_of(out), "42710", out)
        with self.subTest("bob schedules backups to carol's target"):
            code, out = run_sql(c, "SELECT cdw_backup_schedule('bob_2', '0 5 * * *', "
                                   "target => 'carol_t')", user="bob")
            self.assertEqual(c.rows("SELECT owner, target FROM cdw_backup.schedules "
                                    "WHERE name = 'bob_2'"), [],
                             f"bob scheduled backups to carol's target; his call gave: {out!r}")
            self.assertEqual(sqlstate_of(out), "42501", out)

    def test_3_dropped_owner_and_target_disable_schedules(self):
        c = self.cluster
        self.schedule("alice_s", "0 3 * * *", user="alice", target="alice_t")
        # Runs execute as the schedule's owner, also when fired by the launcher.
        run_id = self.fire("alice_s")
        self.assertEqual(self.wait_run(run_id), "succeeded")
        self.assertEqual(c.value(f"SELECT role_name FROM cdw_backup.runs WHERE run_id = {run_id}"),
                         "alice")
        self.schedule("su_s", "0 3 * * *")
        c.sql("SELECT cdw_backup_add_target('doomed', "
              f"'file://{self.shared_dir('doomed')}')")
        self.schedule("doomed_s", "0 3 * * *", target="doomed")
        launcher = self.launcher_pid()
        self.assertTrue(launcher)

        c.sql("REVOKE SELECT ON t FROM alice", db=SOURCE_DATABASE)
        c.sql("DROP ROLE alice")
        c.sql("SELECT cdw_backup_drop_target('doomed')")
        su_before = self.last_run_id("su_s")
        self.advance_past_next_run("su_s")
        wait_until(lambda: c.value("SELECT count(*) FROM cdw_backup.schedules "
                                   "WHERE NOT enabled") == "2", timeout=30,
                   what="two disabled schedules")
        rows = dict((r[0], r[1:]) for r in c.rows(
            "SELECT name, enabled, disabled_reason, next_run_at IS NULL FROM cdw_backup.schedules "
            "ORDER BY name"))
        self.assertEqual(rows["alice_s"][0], "f")
        self.assertIn("alice", rows["alice_s"][1])
        self.assertIn("no longer exists", rows["alice_s"][1])
        self.assertEqual(rows["doomed_s"][0], "f")
        self.assertIn('"doomed"', rows["doomed_s"][1])
        # The launcher lives on (same process) and other schedules fire.
        wait_until(lambda: self.last_run_id("su_s") not in (None, su_before), timeout=30,
                   what="su_s fired")
        self.assertEqual(self.wait_run(self.last_run_id("su_s")), "succeeded")
        self.assertEqual(self.launcher_pid(), launcher)
        log = c.server_log()
        self.assertIn('schedule "alice_s" disabled', log)
        self.assertIn('schedule "doomed_s" disabled', log)
        self.assertNotIn("terminated by signal", log)
        # No runs were attempted for the disabled schedules.
        self.assertEqual(len(self.runs_of("alice_s")), 1)
        self.assertEqual(len(self.runs_of("doomed_s")), 0)
        # Enabling it again needs an existing owner: running it says why.
        error = c.sql_error("SELECT cdw_backup_run_schedule('alice_s')")
        self.assertEqual(sqlstate_of(error), "42704", error)
        self.assertIn("alice", error)


# ---------------------------------------------------------------------------
# 7. Crash


class CrashTest(ScheduleCase):

    def test_immediate_restart_during_a_scheduled_run(self):
        c = self.cluster
        self.schedule("crashy", "0 3 * * *")
        holder = LockHolder(c, "t")
        try:
            run_id = self.fire("crashy")
            wait_until(holder.has_waiter, timeout=30, what="the run waiting for the table lock")
            self.assertEqual(self.status(run_id), "running")
            c.restart(mode="immediate")
        finally:
            holder.kill()
        wait_until(lambda: self.status(run_id) == "interrupted", timeout=60,
                   what="the run marked interrupted")
        row = c.rows(f"SELECT error IS NOT NULL, finished_at IS NOT NULL FROM cdw_backup.runs "
                     f"WHERE run_id = {run_id}")
        self.assertEqual(row, [["t", "t"]])
        self.assertEqual(c.value("SELECT last_status FROM cdw_backup.schedules "
                                 "WHERE name = 'crashy'"), "interrupted")
        # No run of the same due time again; the next one fires normally.
        self.launcher_pass()
        self.assertEqual(len(self.runs_of("crashy")), 1)
        second = self.fire("crashy")
        self.assertEqual(self.wait_run(second), "succeeded")
        self.assertEqual([r[1] for r in self.runs_of("crashy")], ["interrupted", "succeeded"])


if __name__ == "__main__":
    unittest.main()
