extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

#include "bgworker/restore/column_types.h"
#include "extension/pg/search_path.h"

namespace cdw::bgworker::restore {
namespace {

constexpr const char *kPinnedPath = pg::kPinnedSearchPath;
// Manifests written before backups pinned their search_path name types of
// schema public unqualified ("mood"), as format_type() printed them under
// the default "$user", public. Such a name is looked up in public only, and
// spliced in its qualified form.
constexpr const char *kLegacyPath = "public, pg_catalog, pg_temp";

struct Resolved {
  Oid type;
  int32 typmod;
  char *printed;    // format_type() under the path it was resolved with
  char *canonical;  // format_type() under the pinned path
};

// Resolves `text` under `path`. Errors (syntax, permissions) propagate.
Resolved ResolveUnder(const char *text, const char *path) {
  Resolved result{InvalidOid, -1, nullptr, nullptr};
  int nest_level = NewGUCNestLevel();
  (void)set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                          false);
  parseTypeString(text, &result.type, &result.typmod, true);
  if (OidIsValid(result.type))
    result.printed = format_type_extended(result.type, result.typmod, FORMAT_TYPE_TYPEMOD_GIVEN);
  AtEOXact_GUC(true, nest_level);
  if (OidIsValid(result.type)) {
    nest_level = NewGUCNestLevel();
    (void)set_config_option("search_path", kPinnedPath, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                            true, 0, false);
    result.canonical = format_type_extended(result.type, result.typmod, FORMAT_TYPE_TYPEMOD_GIVEN);
    AtEOXact_GUC(true, nest_level);
  }
  return result;
}

}  // namespace

void PinSearchPathForTransaction() {
  (void)pg::PinSearchPath();  // ends with the transaction
}

TypeCheck ResolveColumnType(const char *text, char **canonical, char **reason, int *sqlstate) {
  MemoryContext context = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  volatile TypeCheck check = TypeCheck::kOk;
  // A subtransaction, as PL/pgSQL's exception blocks: the parser's errors
  // (syntax, permission on a schema) are caught and the transaction goes on.
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(context);
  PG_TRY();
  {
    Resolved found = ResolveUnder(text, kPinnedPath);
    bool qualified = strchr(text, '.') != nullptr;
    if (!OidIsValid(found.type) && !qualified) found = ResolveUnder(text, kLegacyPath);
    if (!OidIsValid(found.type)) {
      check = TypeCheck::kUnavailable;
      *sqlstate = ERRCODE_UNDEFINED_OBJECT;
      *reason = psprintf("type %s does not exist in this database", text);
    } else if (strcmp(found.printed, text) != 0) {
      check = TypeCheck::kInvalid;
      *sqlstate = ERRCODE_DATA_CORRUPTED;
      *reason = psprintf("\"%s\" is not a type as format_type() prints it (that would be \"%s\")",
                         text, found.printed);
    } else {
      *canonical = found.canonical;
    }
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    *sqlstate = error->sqlerrcode;
    bool syntax = error->sqlerrcode == ERRCODE_SYNTAX_ERROR ||
                  ERRCODE_TO_CATEGORY(error->sqlerrcode) == ERRCODE_DATA_EXCEPTION;
    check = syntax ? TypeCheck::kInvalid : TypeCheck::kUnavailable;
    *reason = syntax ? psprintf("\"%s\" is not a type name: %s", text, error->message)
                     : psprintf("type %s cannot be used: %s", text, error->message);
    FreeErrorData(error);
  }
  PG_END_TRY();
  return check;
}

}  // namespace cdw::bgworker::restore
