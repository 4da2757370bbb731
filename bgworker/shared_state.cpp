// Shared memory of the control plane and registration of the launcher.
extern "C" {
#include "postgres.h"
}

#include "extension/module.h"

namespace cdw::bgworker {

void InitializeSharedState() {}

}  // namespace cdw::bgworker
