// GUCs of the control plane. Include after postgres.h.
#pragma once

namespace cdw::control {

extern char *g_home_database;  // cdw_backup.database
extern int g_max_workers;      // cdw_backup.max_workers

}  // namespace cdw::control
