extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "catalog/pg_collation.h"
#include "regex/regex.h"
#include "utils/lsyscache.h"
}

#include <string>

#include "filter/name_pattern.h"
#include "extension/pg/cpp_boundary.h"

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

namespace {

// Compiles `regex` with the server's engine (as the workers' ~ will, under
// the C collation of name); a pattern whose regular-expression characters
// outside quotes do not form a valid expression is the caller's error, with
// the pattern and the engine's reason. No C++ object lives in this frame.
void CheckRegex(const char *regex, const char *parameter, const char *pattern) {
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  { (void)RE_compile_and_cache(cstring_to_text(regex), REG_ADVANCED, C_COLLATION_OID); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
             errmsg("%s holds an invalid pattern", parameter),
             errdetail("Pattern %s: %s.", pattern, error->message),
             errhint("Outside double quotes, characters such as ( ) [ ] { } | + ^ keep their "
                     "regular-expression meaning, as with pg_dump -t; put a name that holds them "
                     "in double quotes, as in ARRAY['\"odd(name)\"'].")));
  }
  PG_END_TRY();
}

}  // namespace

void CheckPatternList(ArrayType *list, int kind, bgworker::PatternList *out) {
  const char *parameter = bgworker::FilterParameterName(kind);
  bool schema_list = kind == bgworker::kFilterSchemas || kind == bgworker::kFilterExcludeSchemas;
  const char *example = schema_list ? "ARRAY['sales', '\"Archive\"', 'tmp_*']"
                                    : "ARRAY['public.orders', '\"Sales\".\"Q1\"', 'log_*']";
  if (ARR_NDIM(list) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                    errmsg("%s must be a one-dimensional array", parameter),
                    errhint("Pass %s => %s.", parameter, example)));
  Datum *elements;
  bool *nulls;
  int count;
  deconstruct_array(list, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
  if (count == 0)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must not be empty", parameter),
             errdetail("An empty list of patterns would be ambiguous: nothing, or no filter."),
             errhint("Pass patterns, as in %s => %s, or leave %s NULL for no filter.", parameter,
                     example, parameter)));
  if (count > bgworker::kMaxFilterPatterns)
    ereport(
        ERROR,
        (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("%s holds too many patterns", parameter),
         errdetail("It holds %d; at most %d are supported.", count, bgworker::kMaxFilterPatterns),
         errhint("Combine names with wildcards (* and ?).")));
  Size used = 0;
  for (int i = 0; i < count; i++) {
    if (nulls[i])
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                      errmsg("%s must not contain NULL", parameter),
                      errdetail("Element %d of %s is NULL.", i + 1, parameter),
                      errhint("Pass patterns, as in %s => %s.", parameter, example)));
    char *pattern = TextDatumGetCString(elements[i]);
    char *schema_regex = nullptr, *table_regex = nullptr;
    pg::CallCpp([&] {
      if (schema_list) {
        schema_regex = pg::PallocCopy(TranslateSchemaPattern(pattern, parameter));
      } else {
        TableNamePattern translated = TranslateTablePattern(pattern, parameter);
        schema_regex = pg::PallocCopy(translated.schema_regex);
        table_regex = pg::PallocCopy(translated.table_regex);
      }
    });
    if (schema_regex && schema_regex[0]) CheckRegex(schema_regex, parameter, pattern);
    if (table_regex && table_regex[0]) CheckRegex(table_regex, parameter, pattern);
    Size length = strlen(pattern) + 1;
    if (used + length > sizeof out->text)
      ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                      errmsg("%s holds too many patterns", parameter),
                      errdetail("Its patterns take more than %zu bytes.", sizeof out->text),
                      errhint("Combine names with wildcards (* and ?).")));
    if (out) memcpy(out->text + used, pattern, length);
    used += length;
  }
  if (out) out->count = count;
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
