// The run's entry in the target's "_runs/" index (see format/layout.h),
// written by the coordinator when the run has finished.
// Include after postgres.h.
#pragma once

#include "bgworker/run/run_context.h"

namespace cdw::bgworker::coordinator {

// Writes the run index from the run's history rows. The run is complete
// without it, so a storage failure is a WARNING. Runs its own transaction.
void WriteRunIndex(Run *run);

}  // namespace cdw::bgworker::coordinator
