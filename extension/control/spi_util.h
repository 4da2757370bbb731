// Small helpers for the control plane's catalog access through SPI
// (parameterized statements only, as pg_cron's metadata API). Include after
// postgres.h; call between SPI_connect() and SPI_finish().
#pragma once

extern "C" {
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/timestamp.h"
}

namespace cdw::control {

// The parameters of one statement, $1, $2, ... in the order they are added;
// each records its own NULL, so no hand-counted nulls string. Plain arrays
// only (it lives in frames where PostgreSQL may longjmp). Text and name
// values are converted when added, in the current memory context.
class SpiParams {
 public:
  static constexpr int kMax = 24;

  SpiParams &Add(Oid type, Datum value, bool is_null = false);
  SpiParams &Null(Oid type) { return Add(type, (Datum)0, true); }
  SpiParams &Text(const char *value);  // NULL for nullptr
  SpiParams &Name(const char *value);  // NULL for nullptr
  SpiParams &Int4(int32 value);
  SpiParams &Int8(int64 value);
  SpiParams &Bool(bool value);
  SpiParams &Timestamp(TimestampTz value);
  // Argument `arg` of the calling SQL function, NULL if it is NULL.
  SpiParams &Arg(FunctionCallInfo fcinfo, int arg, Oid type);

  int count() const { return count_; }
  Oid *types() { return types_; }
  Datum *values() { return values_; }
  const char *nulls() const { return nulls_; }

 private:
  int count_ = 0;
  Oid types_[kMax];
  Datum values_[kMax];
  char nulls_[kMax + 1] = {0};
};

// Runs a parameterized statement; ERROR on failure. `nulls` may be NULL.
int SpiRun(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
           bool read_only = false);
int SpiRun(const char *sql, SpiParams &params, bool read_only = false);

// First column of the first row as text (palloc'd in the caller's context),
// or NULL when there is no row or the value is NULL.
char *SpiText(int row, int column);

// Every row of the last result as text, cells[row][column] (0-based;
// NULL for SQL NULL), palloc'd in the current memory context so it
// outlives the next SPI call.
char ***SpiTextRows();

// The control plane's own tables are not writable by the roles that call
// its functions: the statements that read or write them run as the
// extension's owner (pg_extension.extowner, not the bootstrap superuser)
// between these two calls, with search_path pinned (extension/pg/search_path.h)
// and as a restricted operation (no SET ROLE, no temporary objects). Wrap only
// those statements; everything else runs as the caller. Plain functions
// rather than an RAII guard, because an ERROR between them longjmps past C++
// destructors; transaction abort restores the user and the search_path.
struct SavedUser {
  Oid user;
  int security_context;
  int nest_level;
};
SavedUser BecomeExtensionOwner();
void RestoreUser(SavedUser saved);

// The owner of extension cdw_backup (the role that created it).
Oid ExtensionOwner();

// "schema.function" for one of our SQL functions (they live in the
// extension's schema, not in pg_catalog): SQL we issue names them qualified.
const char *ExtensionFunction(const char *function);

// Parameters $1 (text: the row's name), $2 (oid: the current user) and $3
// (bool: is superuser) for statements on rows of the control plane that only
// their owner or a superuser may touch: "... WHERE name OPERATOR(pg_catalog.=)
// $1 AND (owner OPERATOR(pg_catalog.=) $2 OR $3)" (owner is a regrole: role
// OIDs are compared, never names). Call before BecomeExtensionOwner().
void OwnedRowParams(Datum name, Oid types[3], Datum values[3]);

// Raises 42501 with a hint unless the current user is a superuser or a
// member of cdw_backup_operator.
void RequireOperator(const char *action);

// Raises an error with a hint unless this is the database that holds the
// cdw_backup history (cdw_backup.database).
void RequireHomeDatabase(const char *function_name);

}  // namespace cdw::control
