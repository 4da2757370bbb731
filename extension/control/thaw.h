// Thawing a run's archived objects before cdw_backup_restore() or
// cdw_backup_verify() reads them (core/storage/thaw.h does the store side).
//
// Every object under the tables' prefixes is checked (a HEAD on object
// storage: lifecycle rules may have moved objects that were written
// STANDARD); the thaw of each archived one is requested once; then, with
// wait => true, the objects are checked again with growing pauses (0.5 s up
// to 30 s) until all are readable, while cdw_backup.progress shows a
// 'thaw' row with objects thawed / total. Past thaw_timeout the call fails
// (55000); the requests stay with the store, so the next call finds them
// under way instead of requesting them again. Include after postgres.h;
// call inside SPI.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

#include "extension/control/target_store.h"

namespace cdw::control {

struct ThawArguments {
  bool wait;         // wait for the thaw, else report it and return
  long timeout_ms;   // bound of the wait
  const char *tier;  // NULL: the target's restore_tier
  int days;          // 0: the target's restore_days
};

// wait, thaw_timeout, restore_tier, restore_days: arguments `first` ..
// `first + 3` of restore and verify (NULL: the defaults).
ThawArguments ThawArgumentsFrom(FunctionCallInfo fcinfo, int first);

// What happened to one table's objects.
struct TableThaw {
  int archived;   // objects that were not readable when checked
  int thawing;    // still thawing
  int requested;  // thaws this call requested
  char *message;  // the first refusal of the store (NULL: none) ...
  char *detail;
  char *hint;
  int sqlstate;
};

struct ThawSummary {
  int archived;
  int thawing;
  int requested;
  int failed;
  char *tier;  // as requested
  int days;
};

// Thaws what the tables under `prefixes` (count entries, NULL ones skipped)
// need; returns one TableThaw per entry (palloc'd). With wait, returns only
// once nothing is thawing (or errors at the timeout). `run_id` and
// `database` (may be NULL) label the progress row.
TableThaw *ThawTables(const Target &target, int count, char *const *prefixes,
                      const ThawArguments &args, int64 run_id, const char *database,
                      ThawSummary *summary);

// "the thaw of N archived objects was requested (tier T, readable for D
// days): call again in ..." for a NOTICE and result rows.
char *ThawPendingDetail(const ThawSummary &summary, int table_thawing, int table_archived);
char *ThawPendingHint(const char *function);

}  // namespace cdw::control
