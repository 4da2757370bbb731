// The static launcher worker (home database): marks runs interrupted by a
// crash or restart, and (with schedules) starts runs on time.
#pragma once

namespace cdw::bgworker {

void RegisterLauncher();

}  // namespace cdw::bgworker

extern "C" {
PGDLLEXPORT void cdw_backup_launcher_main(Datum arg);
}
