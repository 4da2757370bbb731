// The run's entry in the target's "_runs/" index (see format/layout.h),
// written by the coordinator when the run has finished.
// Include after postgres.h.
#pragma once

#include "bgworker/run/run_context.h"
#include "extension/pg/cpp_boundary.h"

namespace cdw::bgworker::coordinator {

// Writes the run index from the run's history rows as the current
// transaction sees them. Restores find runs through it, so a run is not
// backed up without it: a storage failure returns false with `pending` set
// (FailRunForIndex records it); other errors are raised. Inside SPI.
bool WriteRunIndex(Run *run, pg::PendingError *pending);

}  // namespace cdw::bgworker::coordinator
