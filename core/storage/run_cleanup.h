// What settling a run removes from its target: every object under the run's
// prefix that no kept manifest lists (finished parts of an interrupted,
// cancelled or failed database, manifests of databases that did not
// succeed, parts of failed ranges). Nothing outside the run's prefix is ever
// touched, so other runs' objects are safe. PostgreSQL-free.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "storage/object_store.h"

namespace cdw {

// A database of the run whose backup is kept (the history says succeeded
// or partial and its manifest was written).
struct KeptDatabase {
  std::string prefix;  // key of the database directory, ends in '/'
  // False when its manifest could not be read or parsed: then everything
  // under `prefix` is kept (never remove what may be a backup).
  bool listing_known = false;
  // Keys (relative to the store root) its manifest lists, the manifest
  // itself included.
  std::vector<std::string> keys;
};

// The keys of `objects` that no kept database accounts for, sorted.
std::vector<std::string> UnlistedObjects(const std::vector<ObjectInfo> &objects,
                                         const std::vector<KeptDatabase> &kept);

// Retention with references (incremental runs): of `candidates` (the
// objects under the prefixes of expired runs), the keys that no kept
// manifest references, sorted. `referenced` holds every object key the
// target's remaining manifests list (ManifestObjectKeys), own objects and
// references alike; an expired run's object that a newer run still
// references stays until that run expires too.
std::vector<std::string> UnreferencedObjects(const std::vector<ObjectInfo> &candidates,
                                             const std::vector<std::string> &referenced);

struct RemovalOutcome {
  size_t removed = 0;
  std::vector<std::string> left;  // keys not removed (failed, or no time left)
  std::string error;              // the first storage error, empty if none
  bool out_of_time = false;
};

// Removes `keys` one by one until `deadline`. A storage error on one object
// is recorded and the next is tried; what could not be removed, or was not
// tried in time, is returned in `left`. Throws only cdw::Interrupted.
RemovalOutcome RemoveObjects(ObjectStore *store, const std::vector<std::string> &keys,
                             std::chrono::steady_clock::time_point deadline);

}  // namespace cdw
