// Opening a target's ObjectStore from the text forms the control plane passes
// between processes (location, "key\tvalue\n" option lines, secrets), with
// PostgreSQL's cancel check installed and the bandwidth limit applied.
// Include after postgres.h; may throw cdw::Error, so call inside CallCpp()
// or a try block.
#pragma once

#include <memory>
#include <string>

#include "common/rate_limiter.h"
#include "storage/object_store.h"
#include "storage/store_factory.h"

namespace cdw::pg {

// The WARNING for a store whose TLS certificates are not verified (option
// tls_verify false), naming `what` (e.g. target "x" or a location URL).
// A PostgreSQL-side function: call it from C frames, or inside PgCall.
void WarnTlsVerifyOff(const char *what);

// WarnTlsVerifyOff for a location, once per process (C++ side; inside CallCpp).
void WarnTlsVerifyOffOnce(const std::string &location, const StoreOptions &options);

// NULL option lines or secrets count as empty. Warns (WarnTlsVerifyOff) once
// per process and location when the location skips TLS verification. With
// the option encryption => 'on' the store encrypts to the first key of
// `encryption_keys` (one key a line) and decrypts with any of them
// (storage/encrypted_store.h).
std::unique_ptr<ObjectStore> OpenTargetStore(const char *location, const char *option_lines,
                                             const char *secret_id, const char *secret_key,
                                             const char *session_token,
                                             const char *sse_customer_key,
                                             const char *encryption_keys);

// The bandwidth limit of every store this process opens from now on
// (OpenTargetStore and the FDW): the run's bucket in shared memory
// (bgworker/shared_state.h), shared with the run's other workers. It
// replaces the stores' own max_rate option, even when its rate is 0 (a run
// started with max_rate => '0'). NULL: back to the option.
void SetProcessRateBucket(RateBucket *bucket);

// `store` paced by the process's run bucket if one is set, else by its
// option max_rate (a bucket of this process), else returned as it is.
std::unique_ptr<ObjectStore> ApplyRateLimit(std::unique_ptr<ObjectStore> store,
                                            const StoreOptions &options);

}  // namespace cdw::pg
