// Entry points each folder exposes to _PG_init (see extension/module.cpp).
#pragma once

namespace cdw::control {
// GUCs: cdw_backup.database, cdw_backup.max_workers, ...
void DefineSettings();
}  // namespace cdw::control

namespace cdw::fdw {
// Removes committed parts of aborted (sub)transactions.
void RegisterTransactionCallbacks();
}  // namespace cdw::fdw

namespace cdw::bgworker {
// Shared memory and the static launcher; only under shared_preload_libraries.
void InitializeSharedState();
}  // namespace cdw::bgworker
