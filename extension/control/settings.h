// GUCs of the control plane. Include after postgres.h.
#pragma once

namespace cdw::control {

extern char *g_home_database;       // cdw_backup.database
extern int g_max_workers;           // cdw_backup.max_workers
extern int g_history_days;          // cdw_backup.history_days
extern int g_lock_wait_timeout_ms;  // cdw_backup.lock_wait_timeout
extern int g_progress_log_s;        // cdw_backup.progress_log (seconds; 0: off)
extern int g_test_time_offset;      // cdw_backup.test_time_offset (seconds; tests only)

}  // namespace cdw::control
