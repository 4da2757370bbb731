#include "extension/control/settings.h"

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "utils/guc.h"
}

#include "extension/module.h"

namespace cdw::control {

char *g_home_database = nullptr;
int g_max_workers = 2;
int g_history_days = 90;
int g_test_time_offset = 0;
int g_lock_wait_timeout_ms = 5000;
int g_progress_log_s = 0;

namespace {

char *g_progress_log_text = nullptr;

// cdw_backup.progress_log: an interval in seconds or larger units ('60s',
// '5min'), or 0 / off.
bool CheckProgressLog(char **newval, void **extra, GucSource) {
  const char *value = *newval ? *newval : "0";
  int seconds = 0;
  if (pg_strcasecmp(value, "off") != 0) {
    const char *hint = nullptr;
    if (!parse_int(value, &seconds, GUC_UNIT_S, &hint) || seconds < 0) {
      GUC_check_errdetail(
          "cdw_backup.progress_log must be an interval such as '60s' or '5min', "
          "or 0 / off.");
      if (hint) GUC_check_errhint("%s", hint);
      return false;
    }
    // The log is written in whole seconds: '500ms' would round to 0 and
    // silently turn the lines off.
    double exact = 0;
    if (parse_real(value, &exact, GUC_UNIT_S, nullptr) && exact > 0 && exact < 1) {
      GUC_check_errdetail("cdw_backup.progress_log is at least 1 s (got \"%s\").", value);
      GUC_check_errhint("Set an interval such as '1s' or '60s', or 0 / off for no progress lines.");
      return false;
    }
  }
  int *parsed = static_cast<int *>(malloc(sizeof(int)));  // freed by guc.c
  if (!parsed) return false;
  *parsed = seconds;
  *extra = parsed;
  return true;
}

void AssignProgressLog(const char *, void *extra) {
  g_progress_log_s = extra ? *static_cast<int *>(extra) : 0;
}

}  // namespace

void DefineSettings() {
  DefineCustomStringVariable(
      "cdw_backup.database", "Database that holds the cdw_backup schedule and history.",
      "The launcher connects to it; CREATE EXTENSION cdw_backup there.", &g_home_database,
      "postgres",
      // PGC_POSTMASTER variables can only be created while preloading.
      process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP, 0, nullptr,
      nullptr, nullptr);
  DefineCustomIntVariable("cdw_backup.max_workers",
                          "Maximum number of tables a backup run exports at the same time.",
                          "Each runs in its own background worker; max_worker_processes must leave "
                          "room for them.",
                          &g_max_workers, 2, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("cdw_backup.history_days",
                          "Days that finished runs stay in the cdw_backup history tables.",
                          "The launcher deletes older history rows; backups on the target are "
                          "expired by each schedule's keep_days / keep_runs instead.",
                          &g_history_days, 90, 1, 36500, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "cdw_backup.lock_wait_timeout", "Longest wait of a backup run for the lock on one table.",
      "Like pg_dump --lock-wait-timeout: a table whose ACCESS SHARE lock cannot be had in this "
      "time fails (SQLSTATE 55P03) and the run goes on. 0 takes only locks that are free.",
      &g_lock_wait_timeout_ms, 5000, 0, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
      nullptr);
  DefineCustomStringVariable(
      "cdw_backup.progress_log", "How often a backup run logs its progress.",
      "An interval such as '60s' or '5min': every so often, and when it ends, a run writes a LOG "
      "line with tables and bytes done and total, rate and ETA (as cdw_backup.run_progress shows "
      "them). 0 or off: never.",
      &g_progress_log_text, "0", PGC_SIGHUP, 0, CheckProgressLog, AssignProgressLog, nullptr);
  DefineCustomIntVariable(
      "cdw_backup.test_time_offset", "For tests only: seconds added to the launcher's clock.",
      "Lets tests see schedules fire, skip and catch up without waiting.", &g_test_time_offset, 0,
      -1000000000, 1000000000, PGC_SIGHUP, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_UNIT_S,
      nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("cdw_backup");
}

}  // namespace cdw::control
