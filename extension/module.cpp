// _PG_init and the functions every part of the library shares.
//
// One library serves two extensions: cdw_backup_fdw (the external table,
// loaded on demand in any database) and cdw_backup (the control plane, which
// needs shared_preload_libraries for its shared memory and launcher).
#include "extension/module.h"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
}

#include "extension/pg/cpp_boundary.h"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

void _PG_init(void) {
  cdw::control::DefineSettings();
  cdw::fdw::RegisterTransactionCallbacks();
  if (process_shared_preload_libraries_in_progress) cdw::bgworker::InitializeSharedState();
}

CDW_SQL_FUNCTION(cdw_backup_version) {
  (void)fcinfo;
  PG_RETURN_TEXT_P(cstring_to_text(CDW_BACKUP_VERSION));
}
