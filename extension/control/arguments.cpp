extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
}

#include "bgworker/shared_state.h"
#include "extension/control/arguments.h"
#include "extension/pg/bounded_copy.h"

namespace cdw::control {

void RequireArgument(FunctionCallInfo fcinfo, int arg, const char *name, const char *example) {
  if (!PG_ARGISNULL(arg)) return;
  ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name),
                  errhint("%s", example)));
}

char *TextArgument(FunctionCallInfo fcinfo, int arg, const char *fallback) {
  if (PG_ARGISNULL(arg)) return fallback ? pstrdup(fallback) : nullptr;
  return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

char *NameArgument(FunctionCallInfo fcinfo, int arg, const char *name, const char *example) {
  RequireArgument(fcinfo, arg, name, example);
  char *value = text_to_cstring(PG_GETARG_TEXT_PP(arg));
  pg::CheckNameLength(value, name);
  return value;
}

void CheckDatabaseList(ArrayType *list, const char *parameter, bool allow_empty) {
  if (ARR_NDIM(list) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                    errmsg("%s must be a one-dimensional array", parameter),
                    errhint("Pass %s => '{sales,crm}'.", parameter)));
  Datum *elements;
  bool *nulls;
  int count;
  deconstruct_array(list, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
  if (count == 0 && !allow_empty)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must not be empty", parameter),
             errdetail("An empty list names no database: the run would back up nothing."),
             errhint("Name the databases, as in %s => '{sales,crm}', or leave %s out to back up "
                     "every database.",
                     parameter, parameter)));
  for (int i = 0; i < count; i++) {
    if (nulls[i])
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                      errmsg("%s must not contain NULL", parameter),
                      errdetail("Element %d of %s is NULL.", i + 1, parameter),
                      errhint("Name each database, as in %s => '{sales,crm}'.", parameter)));
    char *name = TextDatumGetCString(elements[i]);
    if (name[0] == '\0')
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("%s must not contain an empty name", parameter),
                      errdetail("Element %d of %s is the empty string.", i + 1, parameter),
                      errhint("Name each database, as in %s => '{sales,crm}'.", parameter)));
    pg::CheckNameLength(name, psprintf("database name in %s", parameter));
  }
  // The list reaches the run's coordinator as an array literal in shared
  // memory (bgworker/shared_state.h).
  char *literal = OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(list));
  if (strlen(literal) >= bgworker::kListBytes)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("%s lists too many databases", parameter),
                    errdetail("The list takes %zu bytes; at most %d are supported.",
                              strlen(literal), bgworker::kListBytes - 1),
                    errhint("Use exclude_databases, or run several backups.")));
}

void CheckInterval(const Interval *interval, const char *parameter, bool allow_zero) {
  // Added up as PostgreSQL adds an interval to a timestamp (months of 30
  // days), so a mixed-sign interval such as '1 day -25 hours' is negative.
  double total = static_cast<double>(interval->month) * DAYS_PER_MONTH * USECS_PER_DAY +
                 static_cast<double>(interval->day) * USECS_PER_DAY +
                 static_cast<double>(interval->time);
  if (total > 0 || (allow_zero && total == 0)) return;
  ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                  errmsg("%s must be %s", parameter, allow_zero ? "zero or positive" : "positive"),
                  errhint("Pass a positive interval such as %s => '6 hours', or leave it NULL.",
                          parameter)));
}

}  // namespace cdw::control
