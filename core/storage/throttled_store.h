// An ObjectStore whose object bytes go through a RateLimiter: what is
// written to an object is paid for before it is handed to the store, what is
// read from one right after it arrives. Listings, removals and the small
// requests around them are not counted.
//
// On s3:// and cos:// a writer hands complete parts to a background upload,
// so the network sees a part sent at full speed once its bytes were paid
// for: over any few seconds the transfer stays at the limit, with bursts of
// up to one part (part_size). On file:// the writes themselves are paced.
#pragma once

#include <memory>

#include "common/rate_limiter.h"
#include "storage/object_store.h"

namespace cdw {

// Wraps `inner` (with its interrupt check already set); `bucket` (not owned)
// must outlive the result. `interrupted` is polled while waiting.
std::unique_ptr<ObjectStore> ThrottleStore(std::unique_ptr<ObjectStore> inner, RateBucket *bucket,
                                           InterruptCheck interrupted);

}  // namespace cdw
