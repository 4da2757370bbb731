extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "utils/guc.h"
}

#include "extension/pg/search_path.h"

namespace cdw::pg {

int PinSearchPath() {
  int nest_level = NewGUCNestLevel();
  (void)set_config_option("search_path", kPinnedSearchPath, PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_SAVE, true, 0, false);
  if (!SearchPathPinned())
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("cdw_backup could not set search_path to %s", kPinnedSearchPath),
                    errdetail("search_path is \"%s\".",
                              namespace_search_path ? namespace_search_path : ""),
                    errhint("Report this as a bug of cdw_backup.")));
  return nest_level;
}

void UnpinSearchPath(int nest_level) {
  AtEOXact_GUC(true, nest_level);
}

bool SearchPathPinned() {
  return namespace_search_path != nullptr && strcmp(namespace_search_path, kPinnedSearchPath) == 0;
}

}  // namespace cdw::pg
