#include "storage/run_cleanup.h"

#include <algorithm>
#include <exception>
#include <unordered_set>

#include "common/error.h"

namespace cdw {

std::vector<std::string> UnlistedObjects(const std::vector<ObjectInfo> &objects,
                                         const std::vector<KeptDatabase> &kept) {
  std::unordered_set<std::string> listed;
  for (const auto &database : kept)
    if (database.listing_known) listed.insert(database.keys.begin(), database.keys.end());
  std::vector<std::string> unlisted;
  for (const auto &object : objects) {
    if (listed.count(object.key)) continue;
    bool kept_whole = false;
    for (const auto &database : kept)
      kept_whole |= !database.listing_known && !database.prefix.empty() &&
                    object.key.compare(0, database.prefix.size(), database.prefix) == 0;
    if (!kept_whole) unlisted.push_back(object.key);
  }
  std::sort(unlisted.begin(), unlisted.end());
  return unlisted;
}

std::vector<std::string> UnreferencedObjects(const std::vector<ObjectInfo> &candidates,
                                             const std::vector<std::string> &referenced) {
  std::unordered_set<std::string> kept(referenced.begin(), referenced.end());
  std::vector<std::string> unreferenced;
  for (const auto &object : candidates)
    if (!kept.count(object.key)) unreferenced.push_back(object.key);
  std::sort(unreferenced.begin(), unreferenced.end());
  return unreferenced;
}

RemovalOutcome RemoveObjects(ObjectStore *store, const std::vector<std::string> &keys,
                             std::chrono::steady_clock::time_point deadline) {
  RemovalOutcome outcome;
  for (size_t i = 0; i < keys.size(); i++) {
    if (std::chrono::steady_clock::now() >= deadline) {
      outcome.out_of_time = true;
      outcome.left.insert(outcome.left.end(), keys.begin() + static_cast<long>(i), keys.end());
      break;
    }
    try {
      store->Remove(keys[i]);
      outcome.removed++;
    } catch (const Interrupted &) {
      throw;
    } catch (const std::exception &e) {
      if (outcome.error.empty()) outcome.error = e.what();
      outcome.left.push_back(keys[i]);
    }
  }
  return outcome;
}

}  // namespace cdw
