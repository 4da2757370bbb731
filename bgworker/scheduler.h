// The launcher's scheduling pass (see launcher.cpp). Include after postgres.h.
#pragma once

extern "C" {
#include "utils/timestamp.h"
}

namespace cdw::bgworker {

// Starts due runs (or records them skipped / missed), disables schedules
// whose owner or target disappeared, cancels runs past max_run_time,
// expires old backups and bounds history. Runs its own transactions.
// Returns when the launcher should look again (0: nothing scheduled).
TimestampTz ProcessSchedules();

}  // namespace cdw::bgworker

namespace cdw::control {
// The launcher's clock: now, shifted by cdw_backup.test_time_offset.
TimestampTz SchedulerNow();
}  // namespace cdw::control
