// Checks of the arguments of the SQL functions: every function rejects a
// NULL, an empty list or an over-long name with a clear error (22004 /
// 22023 / 42622 and a hint showing a correct call) instead of returning
// NULL, doing nothing, or truncating. Include after postgres.h.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/timestamp.h"
}

#include "bgworker/shared_state.h"

namespace cdw::control {

// Errors with 22004 unless argument `arg` is non-NULL; `example` is a
// correct call shown in the hint.
void RequireArgument(FunctionCallInfo fcinfo, int arg, const char *name, const char *example);

// The text argument `arg` as a C string, or `fallback` when it is NULL.
char *TextArgument(FunctionCallInfo fcinfo, int arg, const char *fallback);

// A text argument that must be a name: RequireArgument() and at most
// NAMEDATALEN - 1 bytes (42622).
char *NameArgument(FunctionCallInfo fcinfo, int arg, const char *name, const char *example);

// A list of database names: no NULL element (22004), not empty (22023:
// an empty list would be a run of nothing), each a valid name (42622).
// `allow_empty` for lists that only narrow (exclude_databases).
void CheckDatabaseList(ArrayType *list, const char *parameter, bool allow_empty);

// A list of table or schema name patterns (tables, exclude_tables, schemas,
// exclude_schemas, exclude_table_data; bgworker/shared_state.h FilterKind):
// one-dimensional, not empty, no NULL or empty element (22004 / 22023), each
// a valid pattern of pg_dump's -t / -n syntax (core/filter/name_pattern.h)
// whose regular expression compiles (2201B), at most kMaxFilterPatterns of
// them in kFilterBytes (54000). Packs them into `out` when it is not NULL.
void CheckPatternList(ArrayType *list, int kind, bgworker::PatternList *out);

// Errors with 22023 when `interval` is negative (or, unless `allow_zero`,
// zero).
void CheckInterval(const Interval *interval, const char *parameter, bool allow_zero);

}  // namespace cdw::control
