// Opening a target's ObjectStore from the text forms the control plane passes
// between processes (location, "key\tvalue\n" option lines, secrets), with
// PostgreSQL's cancel check installed. Include after postgres.h; may throw
// cdw::Error, so call inside CallCpp() or a try block.
#pragma once

#include <memory>

#include "storage/object_store.h"

namespace cdw::pg {

// NULL option lines or secrets count as empty.
std::unique_ptr<ObjectStore> OpenTargetStore(const char *location, const char *option_lines,
                                             const char *secret_id, const char *secret_key,
                                             const char *session_token);

}  // namespace cdw::pg
