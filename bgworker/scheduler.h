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

// The launcher's clock: now, shifted by cdw_backup.test_time_offset. Runs'
// started_at / finished_at use it too, since schedules, retention and
// max_run_time compare them with it.
TimestampTz SchedulerNow();

}  // namespace cdw::bgworker
